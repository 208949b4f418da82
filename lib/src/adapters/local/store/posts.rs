//! Posts and their deliveries, on SQLite: the timers of live deliveries, conditional writes on their version, and
//! writes that go together in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{decode_cursor, encode_cursor, insert_audit, SqliteStore};
use crate::adapters::local::db::{from_json, from_ms, ms, to_json};
use crate::domain::{
    AccountId, AuditEntry, Delivery, DeliveryKey, DeliveryStatus, Post, PostId, SealedTokens,
    WorkspaceId,
};
use crate::ports::{
    Page, PostFilter, PostRecord, PostStore, PublishInputs, StoreError, StoreResult,
    MAX_DELIVERY_BATCH,
};

fn insert_delivery(tx: &Transaction<'_>, d: &Delivery) -> StoreResult<()> {
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO deliveries (workspace_id, post_id, account_id, status, wake_at, version, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                d.workspace_id.as_str(),
                d.post_id.as_str(),
                d.account_id.as_str(),
                d.status.as_str(),
                d.wake_at.map(ms),
                d.version as i64,
                to_json(d)?
            ],
        )?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

fn update_delivery(conn: &rusqlite::Connection, d: &Delivery, expected: u64) -> StoreResult<()> {
    let n = conn.execute(
        "UPDATE deliveries SET status = ?4, wake_at = ?5, version = ?6, data = ?7
             WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3 AND version = ?8",
        params![
            d.workspace_id.as_str(),
            d.post_id.as_str(),
            d.account_id.as_str(),
            d.status.as_str(),
            d.wake_at.map(ms),
            d.version as i64,
            to_json(d)?,
            expected as i64
        ],
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Appends an audit entry; one with the same id is the same entry, written already.
fn deliveries_of(conn: &rusqlite::Connection, ws: &str, post: &str) -> StoreResult<Vec<Delivery>> {
    let mut st = conn.prepare_cached(
        "SELECT data FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 ORDER BY account_id",
    )?;
    let rows = st.query_map([ws, post], |r| r.get::<_, String>(0))?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
        .collect()
}

/// The most posts one post listing reads: ten times a page and one. A filter that matches nothing reads that many
/// and answers with an empty page and a cursor, as the DynamoDB store does.
fn list_budget(limit: usize) -> usize {
    limit.saturating_add(1).saturating_mul(10)
}

#[async_trait]
impl PostStore for SqliteStore {
    async fn create_post(&self, record: &PostRecord) -> StoreResult<()> {
        let r = record.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let p = &r.post;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO posts (workspace_id, id, scheduled_at, version, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![p.workspace_id.as_str(), p.id.as_str(), ms(p.scheduled_at), p.version as i64, to_json(p)?],
                    )?;
                if n == 0 {
                    return Err(StoreError::Conflict);
                }
                for d in &r.deliveries {
                    insert_delivery(&tx, d)?;
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn get_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<Option<PostRecord>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM posts WHERE workspace_id = ?1 AND id = ?2",
                        [&ws, &id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(data) = data else { return Ok(None) };
                let post: Post = from_json(&data)?;
                let deliveries = deliveries_of(c, &ws, &id)?;
                Ok(Some(PostRecord { post, deliveries }))
            })
            .await
    }

    async fn list_posts(
        &self,
        ws: &WorkspaceId,
        filter: &PostFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<PostRecord>> {
        let ws = ws.to_string();
        let filter = filter.clone();
        let after = cursor.map(|c| decode_cursor(c, 2)).transpose()?;
        let limit = limit.clamp(1, 200);
        // The same contract as on DynamoDB: a request reads a bounded number of posts, and a status filter that
        // matches few answers with a short page (even an empty one) and a cursor after the last post it read.
        let budget = list_budget(limit);
        self.db
            .call(move |c| {
                // Newest scheduled first; the cursor is the (scheduled_at, id) of the last post read before.
                let (cur_t, cur_id) = match &after {
                    Some(p) => (p[0].parse::<i64>().map_err(|_| StoreError::NotFound)?, p[1].clone()),
                    None => (i64::MAX, String::new()),
                };
                let mut st = c
                    .prepare(
                        "SELECT p.id, p.scheduled_at, p.data,
                                (?6 IS NULL OR EXISTS (SELECT 1 FROM deliveries d WHERE d.workspace_id = p.workspace_id
                                 AND d.post_id = p.id AND d.status = ?6)) AS hit
                         FROM posts p
                         WHERE p.workspace_id = ?1
                           AND (p.scheduled_at < ?2 OR (p.scheduled_at = ?2 AND p.id < ?3) OR ?3 = '')
                           AND p.scheduled_at <= ?2
                           AND (?4 IS NULL OR p.scheduled_at >= ?4)
                           AND (?5 IS NULL OR p.scheduled_at <= ?5)
                         ORDER BY p.scheduled_at DESC, p.id DESC LIMIT ?7",
                    )?;
                let rows = st
                    .query_map(
                        params![
                            ws,
                            cur_t,
                            cur_id,
                            filter.from.map(ms),
                            filter.to.map(ms),
                            filter.status.map(|s| s.as_str()),
                            i64::try_from(budget + 1).unwrap_or(i64::MAX)
                        ],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, bool>(3)?,
                            ))
                        },
                    )?;
                let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
                // More posts lie beyond what this request may read.
                let mut more = rows.len() > budget;
                let mut items = Vec::new();
                let mut last = None;
                for (id, t, data, hit) in rows.into_iter().take(budget) {
                    if hit {
                        if items.len() == limit {
                            more = true;
                            break;
                        }
                        let post: Post = from_json(&data)?;
                        let deliveries = deliveries_of(c, &ws, &id)?;
                        items.push(PostRecord { post, deliveries });
                    }
                    last = Some((t, id));
                }
                let next_cursor = match (more, last) {
                    (true, Some((t, id))) => Some(encode_cursor(&[&t.to_string(), &id])),
                    _ => None,
                };
                Ok(Page { items, next_cursor })
            })
            .await
    }

    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
        upsert: &[(Delivery, Option<u64>)],
        remove: &[(AccountId, u64)],
    ) -> StoreResult<()> {
        let (p, upsert, remove) = (post.clone(), upsert.to_vec(), remove.to_vec());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let n = tx
                    .execute(
                        "UPDATE posts SET scheduled_at = ?3, version = ?4, data = ?5 WHERE workspace_id = ?1 AND id = ?2 AND version = ?6",
                        params![p.workspace_id.as_str(), p.id.as_str(), ms(p.scheduled_at), p.version as i64, to_json(&p)?, expected_version as i64],
                    )?;
                if n != 1 {
                    return Err(StoreError::Conflict);
                }
                for (d, expected) in &upsert {
                    match expected {
                        Some(v) => update_delivery(&tx, d, *v)?,
                        None => insert_delivery(&tx, d)?,
                    }
                }
                for (acc, v) in &remove {
                    let n = tx
                        .execute(
                            "DELETE FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3 AND version = ?4",
                            params![p.workspace_id.as_str(), p.id.as_str(), acc.as_str(), *v as i64],
                        )?;
                    if n != 1 {
                        return Err(StoreError::Conflict);
                    }
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn delete_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "DELETE FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2",
                    [&ws, &id],
                )?;
                tx.execute(
                    "DELETE FROM posts WHERE workspace_id = ?1 AND id = ?2",
                    [&ws, &id],
                )?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn get_delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>> {
        let k = key.clone();
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3",
                        [k.workspace_id.as_str(), k.post_id.as_str(), k.account_id.as_str()],
                        |r| r.get(0),
                    )
                    .optional()?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    /// The plain queries, in one read transaction so the four records are seen at one moment.
    async fn publish_inputs(&self, key: &DeliveryKey) -> StoreResult<Option<PublishInputs>> {
        let k = key.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let (ws, post, acc) = (k.workspace_id.as_str(), k.post_id.as_str(), k.account_id.as_str());
                let one = |sql: &str, params: &[&str]| -> StoreResult<Option<String>> {
                    tx.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0))
                        .optional()
                        .map_err(StoreError::from)
                };
                let Some(delivery) = one(
                    "SELECT data FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3",
                    &[ws, post, acc],
                )?
                else {
                    return Ok(None);
                };
                let post = one("SELECT data FROM posts WHERE workspace_id = ?1 AND id = ?2", &[ws, post])?;
                let account = one("SELECT data FROM accounts WHERE workspace_id = ?1 AND id = ?2", &[ws, acc])?;
                let tokens = tx
                    .query_row(
                        "SELECT ciphertext, version, expires_at FROM tokens WHERE workspace_id = ?1 AND account_id = ?2",
                        [ws, acc],
                        |r| {
                            Ok(SealedTokens {
                                ciphertext: r.get(0)?,
                                version: r.get::<_, i64>(1)? as u64,
                                expires_at: r.get::<_, Option<i64>>(2)?.map(from_ms),
                            })
                        },
                    )
                    .optional()?;
                Ok(Some(PublishInputs {
                    delivery: from_json(&delivery)?,
                    post: post.map(|p| from_json(&p)).transpose()?,
                    account: account.map(|a| from_json(&a)).transpose()?,
                    tokens,
                }))
            })
            .await
    }

    async fn save_delivery(&self, delivery: &Delivery, expected_version: u64) -> StoreResult<()> {
        let d = delivery.clone();
        self.db
            .call(move |c| update_delivery(c, &d, expected_version))
            .await
    }

    async fn save_delivery_with_audit(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let (d, e) = (delivery.clone(), audit.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                update_delivery(&tx, &d, expected_version)?;
                insert_audit(&tx, &e)?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn save_deliveries(&self, changes: &[(Delivery, u64)]) -> StoreResult<()> {
        if changes.len() > MAX_DELIVERY_BATCH {
            return Err(StoreError::Unavailable(
                format!("one batch may write at most {MAX_DELIVERY_BATCH} deliveries").into(),
            ));
        }
        let changes = changes.to_vec();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (d, expected) in &changes {
                    update_delivery(&tx, d, *expected)?;
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn due_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.timers("status = 'scheduled'", before, limit).await
    }

    async fn expired_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.timers("status IN ('queued', 'publishing')", before, limit)
            .await
    }

    async fn live_deliveries_for_account(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
    ) -> StoreResult<Vec<Delivery>> {
        let (ws, acc) = (ws.to_string(), account.to_string());
        let live: Vec<&'static str> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .map(|s| s.as_str())
            .collect();
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare(
                        "SELECT data FROM deliveries WHERE workspace_id = ?1 AND account_id = ?2 AND status IN (?3, ?4, ?5, ?6)",
                    )?;
                let rows = st
                    .query_map(params![ws, acc, live[0], live[1], live[2], live[3]], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s))).collect()
            })
            .await
    }
}
