//! Posts and their deliveries. A post and its deliveries share the workspace partition, with sort keys `POST#<post>`
//! and `POST#<post>#DLV#<account>`, so one query reads a post whole and a listing reads posts with their deliveries.
//! A delivery carries its timer in GSI1 (under `DUE#` while scheduled, `TIMER#` while queued or publishing), and its
//! account's live listing (GSI2) while it is not terminal.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::items::{self, Item};
use super::{
    decode_cursor, encode_cursor, keys, Condition, DynamoStore, Query, SortRange, TransactionError,
};
use crate::adapters::aws::table::{DUE_INDEX, LOOKUP_INDEX};
use crate::domain::{AccountId, AuditEntry, Delivery, DeliveryKey, Post, PostId, WorkspaceId};
use crate::ports::{
    Page, PostFilter, PostRecord, PostStore, PublishInputs, StoreError, StoreResult,
};

/// The most query pages one post listing reads (each of `4 × (limit + 1)` items): a filter that matches nothing
/// reads at most `20 × (limit + 1)` items per request, and the caller follows the cursor for more.
pub const LIST_PAGES_PER_REQUEST: usize = 5;

/// What one item of a post listing is.
enum PostPart {
    Post(Box<Post>),
    Delivery(Box<Delivery>),
}

fn post_part(item: &Item) -> StoreResult<PostPart> {
    match items::get_s(item, items::KIND) {
        Some("post") => items::data(item, "post").map(|p| PostPart::Post(Box::new(p))),
        Some("delivery") => items::data(item, "delivery").map(|d| PostPart::Delivery(Box::new(d))),
        _ => Err(items::unreadable("post")),
    }
}

fn matches(record: &PostRecord, filter: &PostFilter) -> bool {
    let at = record.post.scheduled_at;
    filter.from.is_none_or(|from| at >= from)
        && filter.to.is_none_or(|to| at <= to)
        && filter
            .status
            .is_none_or(|s| record.deliveries.iter().any(|d| d.status == s))
}

fn record(post: Post, mut deliveries: Vec<Delivery>) -> PostRecord {
    deliveries.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    PostRecord { post, deliveries }
}

impl DynamoStore {
    /// The deliveries in one shard of a timer listing (`DUE#` or `TIMER#`) whose time has come, earliest first.
    async fn timers_in_shard(
        &self,
        partition: String,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let query = Query::index(DUE_INDEX.name, partition)
            .range(SortRange::Below(keys::millis_upper_bound(before)))
            .page_size(limit);
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let (page, next) = self.query_page(&query, start).await?;
            for item in &page {
                let d: Delivery = items::data(item, "delivery")?;
                if d.wake_at.is_some_and(|w| w <= before) {
                    found.push(d);
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
        Ok(found)
    }
}

impl DynamoStore {
    /// Queries every shard of one timer listing at once and merges them, earliest first.
    async fn timers(
        &self,
        partition: fn(u32) -> String,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut shards = JoinSet::new();
        for shard in 0..keys::DUE_SHARDS {
            let store = self.clone();
            let partition = partition(shard);
            shards.spawn(async move { store.timers_in_shard(partition, before, limit).await });
        }
        let mut found = Vec::new();
        while let Some(joined) = shards.join_next().await {
            let shard = joined.map_err(|e| {
                StoreError::Unavailable(format!("a timer query stopped: {e}").into())
            })??;
            found.extend(shard);
        }
        found.sort_by(|a, b| {
            (a.wake_at, &a.workspace_id, &a.post_id, &a.account_id).cmp(&(
                b.wake_at,
                &b.workspace_id,
                &b.post_id,
                &b.account_id,
            ))
        });
        found.truncate(limit);
        Ok(found)
    }
}

#[async_trait]
impl PostStore for DynamoStore {
    async fn create_post(&self, record: &PostRecord) -> StoreResult<()> {
        let mut writes =
            vec![self.tx_put(items::post_item(&record.post)?, Some(Condition::absent()))?];
        for d in &record.deliveries {
            writes.push(self.tx_put(items::delivery_item(d)?, Some(Condition::absent()))?);
        }
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn get_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<Option<PostRecord>> {
        let found = self
            .query_all(
                &Query::table(keys::workspace_pk(ws)).range(SortRange::Between(
                    keys::post_sk(id),
                    keys::post_items_to(id),
                )),
            )
            .await?;
        let mut post = None;
        let mut deliveries = Vec::new();
        for item in &found {
            match post_part(item)? {
                PostPart::Post(p) => post = Some(*p),
                PostPart::Delivery(d) => deliveries.push(*d),
            }
        }
        Ok(post.map(|p| record(p, deliveries)))
    }

    /// Newest post first. Reads the partition backwards: each post's deliveries come just before the post itself.
    /// Reads one matching post past the page, so the last page has no cursor. Reads at most
    /// [`LIST_PAGES_PER_REQUEST`] query pages: a filter that matches little answers with what it found so far and a
    /// cursor after the last post it read, never with the whole workspace read.
    async fn list_posts(
        &self,
        ws: &WorkspaceId,
        filter: &PostFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<PostRecord>> {
        let limit = limit.max(1);
        let to = match cursor {
            Some(c) => {
                let after = decode_cursor(c)?;
                let post = PostId::parse(&after).ok_or(StoreError::NotFound)?;
                keys::post_sk(&post)
            }
            None => keys::POSTS_TO.to_owned(),
        };
        let query = Query::table(keys::workspace_pk(ws))
            .range(SortRange::Between(keys::POSTS_FROM.to_owned(), to.clone()))
            .newest_first()
            .page_size((limit + 1) * 4);
        let mut records: Vec<PostRecord> = Vec::new();
        let mut pending: HashMap<PostId, Vec<Delivery>> = HashMap::new();
        let mut start = None;
        let mut more = false;
        // The last post read whole, where a listing cut short by its budget resumes.
        let mut last_read: Option<PostId> = None;
        let mut pages = 0;
        'pages: loop {
            if pages >= LIST_PAGES_PER_REQUEST && last_read.is_some() {
                more = true;
                break;
            }
            pages += 1;
            let (page, next) = self.query_page(&query, start).await?;
            for item in &page {
                // BETWEEN is inclusive: the cursor's own post was on the previous page.
                if items::sort_key(item) == Some(to.as_str()) {
                    continue;
                }
                match post_part(item)? {
                    PostPart::Delivery(d) => pending.entry(d.post_id.clone()).or_default().push(*d),
                    PostPart::Post(p) => {
                        let id = p.id.clone();
                        let deliveries = pending.remove(&p.id).unwrap_or_default();
                        let r = record(*p, deliveries);
                        if matches(&r, filter) {
                            if records.len() == limit {
                                more = true;
                                break 'pages;
                            }
                            records.push(r);
                        }
                        last_read = Some(id);
                    }
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
        let next_cursor = if more {
            last_read.map(|id| encode_cursor(id.as_str()))
        } else {
            None
        };
        Ok(Page {
            items: records,
            next_cursor,
        })
    }

    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
        upsert: &[(Delivery, Option<u64>)],
        remove: &[(AccountId, u64)],
    ) -> StoreResult<()> {
        let mut writes = vec![self.tx_put(
            items::post_item(post)?,
            Some(Condition::at_version(expected_version)),
        )?];
        for (d, before) in upsert {
            writes.push(self.tx_put(
                items::delivery_item(d)?,
                Some(Condition::at_version_or_absent(*before)),
            )?);
        }
        for (acc, version) in remove {
            writes.push(self.tx_delete(
                items::key(
                    keys::workspace_pk(&post.workspace_id),
                    keys::delivery_sk(&post.id, acc),
                ),
                Some(Condition::at_version(*version)),
            )?);
        }
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn delete_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<()> {
        let found = self
            .query_all(
                &Query::table(keys::workspace_pk(ws))
                    .range(SortRange::Between(
                        keys::post_sk(id),
                        keys::post_items_to(id),
                    ))
                    .keys_only(),
            )
            .await?;
        self.batch_delete(found.iter().map(items::key_of).collect())
            .await
    }

    async fn get_delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>> {
        self.get(items::key(
            keys::workspace_pk(&key.workspace_id),
            keys::delivery_sk(&key.post_id, &key.account_id),
        ))
        .await?
        .map(|item| items::data(&item, "delivery"))
        .transpose()
    }

    /// One BatchGetItem for the four items (all in the workspace's partition), consistent; keys DynamoDB leaves
    /// unprocessed are sent again by `batch_get`.
    async fn publish_inputs(&self, key: &DeliveryKey) -> StoreResult<Option<PublishInputs>> {
        let pk = keys::workspace_pk(&key.workspace_id);
        let found = self
            .batch_get(vec![
                items::key(pk.clone(), keys::delivery_sk(&key.post_id, &key.account_id)),
                items::key(pk.clone(), keys::post_sk(&key.post_id)),
                items::key(pk.clone(), keys::account_sk(&key.account_id)),
                items::key(pk, keys::token_sk(&key.account_id)),
            ])
            .await?;
        let (mut delivery, mut post, mut account, mut tokens) = (None, None, None, None);
        for item in &found {
            match items::get_s(item, items::KIND) {
                Some("delivery") => delivery = Some(items::data(item, "delivery")?),
                Some("post") => post = Some(items::data(item, "post")?),
                Some("account") => account = Some(items::data(item, "account")?),
                Some("tokens") => tokens = Some(items::tokens_from(item)?),
                _ => return Err(items::unreadable("publish input")),
            }
        }
        Ok(delivery.map(|delivery| PublishInputs {
            delivery,
            post,
            account,
            tokens,
        }))
    }

    async fn save_delivery(&self, delivery: &Delivery, expected_version: u64) -> StoreResult<()> {
        self.put_versioned(items::delivery_item(delivery)?, expected_version)
            .await
    }

    /// One TransactWriteItems: the delivery on its version, the audit entry unconditionally (its key holds its
    /// own unique id, so writing it twice writes the same entry). When the condition fails, one read tells a
    /// delivery that moved on from one that is gone, as `save_delivery` does.
    async fn save_delivery_with_audit(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let writes = vec![
            self.tx_put(
                items::delivery_item(delivery)?,
                Some(Condition::at_version(expected_version)),
            )?,
            self.tx_put(items::audit_item(audit)?, None)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(_)) => {
                match self.get_delivery(&delivery.key()).await? {
                    Some(_) => Err(StoreError::Conflict),
                    None => Err(StoreError::NotFound),
                }
            }
            Err(TransactionError::Store(e)) => Err(e),
        }
    }

    /// One TransactWriteItems, each delivery conditional on its version.
    async fn save_deliveries(&self, changes: &[(Delivery, u64)]) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let writes = changes
            .iter()
            .map(|(d, expected)| {
                self.tx_put(
                    items::delivery_item(d)?,
                    Some(Condition::at_version(*expected)),
                )
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact(writes).await.map_err(StoreError::from)
    }

    /// Scheduled deliveries whose due time has come: every shard of the due index at once, merged.
    async fn due_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.timers(keys::due_pk, before, limit).await
    }

    /// Queued and publishing deliveries whose requeue deadline or lease ran out: every timer shard, merged.
    async fn expired_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.timers(keys::timer_pk, before, limit).await
    }

    /// Finds the account's live deliveries in the lookup index (keys only), then reads them from the table, current.
    async fn live_deliveries_for_account(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
    ) -> StoreResult<Vec<Delivery>> {
        let listed = self
            .query_all(&Query::index(
                LOOKUP_INDEX.name,
                keys::live_index(ws, account),
            ))
            .await?;
        let found = self
            .batch_get(listed.iter().map(items::key_of).collect())
            .await?;
        let mut live = found
            .iter()
            .map(|item| items::data::<Delivery>(item, "delivery"))
            .filter(|d| d.as_ref().map_or(true, |d| !d.status.is_terminal()))
            .collect::<StoreResult<Vec<_>>>()?;
        live.sort_by(|a, b| a.post_id.cmp(&b.post_id));
        Ok(live)
    }
}
