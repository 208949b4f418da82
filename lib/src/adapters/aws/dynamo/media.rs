//! Media items, their uploads and each workspace's usage. All live in the workspace's partition: an item at
//! `MEDIA#<media>`, the usage counter at `USAGE#MEDIA`, an upload at `UPLOAD#<upload>`. Adding, changing or removing
//! an item is one transaction with the counter, whose condition keeps the usage within the quota. The sweeps read
//! the due index: `UNATTACHED` holds items no post uses yet (the keys are removed when a post first uses one), and
//! `UPLOADEXP` uploads by expiry.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::items::{self, Item, ATTACHED_AT, POSTS, STORED_BYTES, USAGE_BYTES, VERSION};
use super::{
    decode_cursor, encode_cursor, failure, is_condition_failure, keys, Condition, DynamoStore,
    Query, SortRange, TransactionError,
};
use crate::adapters::aws::table::{DATA, DUE_INDEX};
use crate::domain::{MediaId, MediaItem, PostId, UploadId, UploadSession, WorkspaceId};
use crate::ports::{Admission, MediaStore, Page, StoreError, StoreResult};

fn usage_key(ws: &WorkspaceId) -> Item {
    items::key(keys::workspace_pk(ws), keys::MEDIA_USAGE_SK)
}

fn media_key(ws: &WorkspaceId, id: &MediaId) -> Item {
    items::key(keys::workspace_pk(ws), keys::media_sk(id))
}

fn expression(
    expression: &str,
    names: &[(&str, &str)],
    values: Vec<(&str, AttributeValue)>,
) -> Condition {
    Condition {
        expression: expression.to_owned(),
        names: (!names.is_empty()).then(|| {
            names
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        }),
        values: (!values.is_empty())
            .then(|| values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
    }
}

/// The counter's update that adds `delta` bytes, if the usage stays within `quota`: `None` when `delta` alone is over
/// it. A counter that does not exist yet counts as zero.
fn usage_increase(delta: u64, quota: u64) -> Option<(Condition, Condition)> {
    let room = quota.checked_sub(delta)?;
    Some((
        expression(
            "SET #b = if_not_exists(#b, :zero) + :delta",
            &[("#b", USAGE_BYTES)],
            vec![(":zero", items::n(0)), (":delta", items::n(delta))],
        ),
        expression(
            "attribute_not_exists(#b) OR #b <= :room",
            &[("#b", USAGE_BYTES)],
            vec![(":room", items::n(room))],
        ),
    ))
}

/// The counter's update that gives `bytes` back.
fn usage_decrease(bytes: u64) -> Condition {
    expression(
        "ADD #b :delta",
        &[("#b", USAGE_BYTES)],
        vec![(":delta", AttributeValue::N(format!("-{bytes}")))],
    )
}

/// The stored version and size of an item read back.
fn version_and_bytes(item: &Item) -> StoreResult<(u64, u64)> {
    let version = items::get_n(item, VERSION).ok_or_else(|| items::unreadable("media item"))?;
    let bytes = items::get_n(item, STORED_BYTES).ok_or_else(|| items::unreadable("media item"))?;
    Ok((version, bytes))
}

impl DynamoStore {
    async fn usage(&self, ws: &WorkspaceId) -> StoreResult<u64> {
        Ok(items::usage_from(self.get(usage_key(ws)).await?.as_ref()))
    }

    /// Why a conditional write on an item failed: it is gone, or it moved on.
    async fn media_gone_or_moved(&self, ws: &WorkspaceId, id: &MediaId) -> StoreError {
        match self.get(media_key(ws, id)).await {
            Ok(None) => StoreError::NotFound,
            Ok(Some(_)) => StoreError::Conflict,
            Err(e) => e,
        }
    }
}

#[async_trait]
impl MediaStore for DynamoStore {
    async fn insert_media(&self, item: &MediaItem, quota: u64) -> StoreResult<Admission> {
        let ws = &item.workspace_id;
        let Some((update, condition)) = usage_increase(item.stored_bytes(), quota) else {
            // The item alone is over the quota: nothing to write, but an id that is taken says so first.
            if self.get(media_key(ws, &item.id)).await?.is_some() {
                return Err(StoreError::Conflict);
            }
            return Ok(Admission::OverQuota {
                used: self.usage(ws).await?,
            });
        };
        let writes = vec![
            self.tx_put(items::media_item(item)?, Some(Condition::absent()))?,
            self.tx_update(usage_key(ws), update, Some(condition))?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(Admission::Stored),
            Err(TransactionError::Condition(failed)) if failed.contains(&0) => {
                Err(StoreError::Conflict)
            }
            Err(TransactionError::Condition(_)) => Ok(Admission::OverQuota {
                used: self.usage(ws).await?,
            }),
            Err(TransactionError::Store(e)) => Err(e),
        }
    }

    async fn get_media(&self, ws: &WorkspaceId, id: &MediaId) -> StoreResult<Option<MediaItem>> {
        self.get(media_key(ws, id))
            .await?
            .map(|item| items::media_from(&item))
            .transpose()
    }

    async fn list_media(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<MediaItem>> {
        // The cursor is the sort key of the last item handed out; the next page reads from it down (BETWEEN is
        // inclusive, so that item itself is skipped).
        let after = cursor.map(decode_cursor).transpose()?;
        if after
            .as_deref()
            .is_some_and(|a| !a.starts_with(keys::MEDIA_FROM) || !a.is_ascii())
        {
            return Err(StoreError::NotFound);
        }
        let limit = limit.clamp(1, 500);
        let upper = after.clone().unwrap_or_else(|| keys::MEDIA_TO.to_owned());
        let query = Query::table(keys::workspace_pk(ws))
            .range(SortRange::Between(keys::MEDIA_FROM.to_owned(), upper))
            .newest_first()
            .page_size(limit + 1);
        let mut found: Vec<Item> = Vec::new();
        let mut start = None;
        let mut exhausted = false;
        while found.len() <= limit {
            let (page, next) = self.query_page(&query, start).await?;
            found.extend(
                page.into_iter()
                    .filter(|i| items::sort_key(i) != after.as_deref()),
            );
            match next {
                Some(n) => start = Some(n),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        let more = found.len() > limit || !exhausted;
        found.truncate(limit);
        let next_cursor = if more {
            found.last().and_then(items::sort_key).map(encode_cursor)
        } else {
            None
        };
        Ok(Page {
            items: found
                .iter()
                .map(items::media_from)
                .collect::<StoreResult<Vec<_>>>()?,
            next_cursor,
        })
    }

    async fn update_media(
        &self,
        item: &MediaItem,
        expected_version: u64,
        quota: u64,
    ) -> StoreResult<Admission> {
        let ws = &item.workspace_id;
        let key = media_key(ws, &item.id);
        let stored = self.get(key.clone()).await?.ok_or(StoreError::NotFound)?;
        let (version, old_bytes) = version_and_bytes(&stored)?;
        if version != expected_version {
            return Err(StoreError::Conflict);
        }
        let new_bytes = item.stored_bytes();
        // Attachment is not the caller's to change: `attached_at`, `posts` and the index keys stay as stored.
        let write = expression(
            "SET #data = :data, #v = :v, #bytes = :bytes",
            &[("#data", DATA), ("#v", VERSION), ("#bytes", STORED_BYTES)],
            vec![
                (":data", items::s(to_json(item)?)),
                (":v", items::n(item.version)),
                (":bytes", items::n(new_bytes)),
            ],
        );
        let mut writes =
            vec![self.tx_update(key, write, Some(Condition::at_version(expected_version)))?];
        if new_bytes > old_bytes {
            let Some((update, condition)) = usage_increase(new_bytes - old_bytes, quota) else {
                return Ok(Admission::OverQuota {
                    used: self.usage(ws).await?,
                });
            };
            writes.push(self.tx_update(usage_key(ws), update, Some(condition))?);
        } else if new_bytes < old_bytes {
            writes.push(self.tx_update(
                usage_key(ws),
                usage_decrease(old_bytes - new_bytes),
                None,
            )?);
        }
        match self.transact(writes).await {
            Ok(()) => Ok(Admission::Stored),
            Err(TransactionError::Condition(failed)) if failed.contains(&0) => {
                Err(self.media_gone_or_moved(ws, &item.id).await)
            }
            Err(TransactionError::Condition(_)) => Ok(Admission::OverQuota {
                used: self.usage(ws).await?,
            }),
            Err(TransactionError::Store(e)) => Err(e),
        }
    }

    async fn attach_media(
        &self,
        ws: &WorkspaceId,
        ids: &[MediaId],
        post: &PostId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        for id in ids {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(media_key(ws, id)))
                .update_expression(
                    "SET #att = if_not_exists(#att, :at), #v = #v + :one ADD #posts :post REMOVE #ipk, #isk",
                )
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#att", ATTACHED_AT)
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_names("#posts", POSTS)
                .expression_attribute_names("#ipk", DUE_INDEX.partition_key.name)
                .expression_attribute_names("#isk", DUE_INDEX.sort_key.name)
                .expression_attribute_values(":at", items::n(at.timestamp_millis()))
                .expression_attribute_values(":one", items::n(1))
                .expression_attribute_values(":post", AttributeValue::Ss(vec![post.to_string()]))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // An item that does not exist is skipped.
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(failure("UpdateItem", &e)),
            }
        }
        Ok(())
    }

    async fn posts_using(&self, ws: &WorkspaceId, id: &MediaId) -> StoreResult<Vec<PostId>> {
        Ok(self
            .get(media_key(ws, id))
            .await?
            .map(|item| items::media_posts(&item))
            .unwrap_or_default())
    }

    async fn delete_media(
        &self,
        ws: &WorkspaceId,
        id: &MediaId,
        expected_version: u64,
    ) -> StoreResult<()> {
        let key = media_key(ws, id);
        let stored = self.get(key.clone()).await?.ok_or(StoreError::NotFound)?;
        let (version, bytes) = version_and_bytes(&stored)?;
        if version != expected_version {
            return Err(StoreError::Conflict);
        }
        let writes = vec![
            self.tx_delete(key, Some(Condition::at_version(expected_version)))?,
            self.tx_update(usage_key(ws), usage_decrease(bytes), None)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(_)) => Err(self.media_gone_or_moved(ws, id).await),
            Err(TransactionError::Store(e)) => Err(e),
        }
    }

    async fn media_usage(&self, ws: &WorkspaceId) -> StoreResult<u64> {
        self.usage(ws).await
    }

    async fn unattached_media(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MediaItem>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The index names the candidates; the table, read consistently, says whether each is still unattached.
        let query = Query::index(DUE_INDEX.name, keys::UNATTACHED_INDEX.into())
            .range(SortRange::Below(keys::padded_millis(before)))
            .page_size(limit);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_page(&query, start).await?;
            let read = self
                .batch_get(page.iter().map(items::key_of).collect())
                .await?;
            for item in &read {
                let m = items::media_from(item)?;
                if m.attached_at.is_none() && m.created_at < before {
                    found.push(m);
                }
            }
            match next {
                Some(n) if found.len() < limit => start = Some(n),
                _ => break,
            }
        }
        found.sort_by(|a, b| {
            (a.created_at, &a.workspace_id, &a.id).cmp(&(b.created_at, &b.workspace_id, &b.id))
        });
        found.truncate(limit);
        Ok(found)
    }

    async fn put_upload(&self, upload: &UploadSession) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::upload_item(upload)?))
            .send()
            .await
            .map_err(|e| failure("PutItem", &e))?;
        Ok(())
    }

    async fn get_upload(
        &self,
        ws: &WorkspaceId,
        id: &UploadId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UploadSession>> {
        let Some(item) = self
            .get(items::key(keys::workspace_pk(ws), keys::upload_sk(id)))
            .await?
        else {
            return Ok(None);
        };
        let live =
            items::get_n::<i64>(&item, items::EXPIRES_NS).is_some_and(|exp| exp > keys::nanos(now));
        if !live {
            return Ok(None);
        }
        items::data(&item, "upload").map(Some)
    }

    async fn delete_upload(&self, ws: &WorkspaceId, id: &UploadId) -> StoreResult<()> {
        self.delete(items::key(keys::workspace_pk(ws), keys::upload_sk(id)))
            .await
    }

    async fn expired_uploads(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<UploadSession>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The index copies each upload's record, which never changes once written.
        let query = Query::index(DUE_INDEX.name, keys::UPLOAD_EXPIRY_INDEX.into())
            .range(SortRange::Below(keys::padded_millis(before)))
            .page_size(limit);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_page(&query, start).await?;
            for item in &page {
                let u: UploadSession = items::data(item, "upload")?;
                if u.expires_at < before {
                    found.push(u);
                }
            }
            match next {
                Some(n) if found.len() < limit => start = Some(n),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}

fn to_json(item: &MediaItem) -> StoreResult<String> {
    serde_json::to_string(item)
        .map_err(|_| StoreError::Unavailable("a media item could not be encoded".into()))
}
