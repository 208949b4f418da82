//! Media items, their uploads and each workspace's usage, on SQLite. An item is JSON in `media.data` beside the
//! columns that queries and conditions need; `attached_at` and `version` are the columns' own, since attaching an
//! item changes them without rewriting the record. Adding, changing and removing an item moves the usage in the
//! same transaction, which checks the quota.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{decode_cursor, encode_cursor, SqliteStore};
use crate::adapters::local::db::{from_json, from_ms, ms, to_json};
use crate::domain::{MediaId, MediaItem, PostId, UploadId, UploadSession, WorkspaceId};
use crate::ports::{Admission, MediaStore, Page, StoreError, StoreResult};

/// The most items one listing page holds.
const MAX_PAGE: usize = 500;

/// A byte count as SQLite stores it (a signed 64-bit integer); no real count comes near the limit.
fn db_bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_db_bytes(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// An item read back: the record, with the columns' attachment time and version.
fn read_item(data: &str, attached_at: Option<i64>, version: i64) -> StoreResult<MediaItem> {
    let mut item: MediaItem = from_json(data)?;
    item.attached_at = attached_at.map(from_ms);
    item.version = u64::try_from(version).unwrap_or_default();
    Ok(item)
}

fn usage(c: &Connection, ws: &str) -> StoreResult<u64> {
    let bytes: Option<i64> = c
        .query_row(
            "SELECT bytes FROM media_usage WHERE workspace_id = ?1",
            [ws],
            |r| r.get(0),
        )
        .optional()?;
    Ok(bytes.map(from_db_bytes).unwrap_or(0))
}

/// Moves the workspace's usage by `delta` bytes, never below zero.
fn move_usage(c: &Connection, ws: &str, delta: i64) -> StoreResult<()> {
    c.execute(
        "INSERT INTO media_usage (workspace_id, bytes) VALUES (?1, MAX(?2, 0))
         ON CONFLICT (workspace_id) DO UPDATE SET bytes = MAX(bytes + ?2, 0)",
        params![ws, delta],
    )?;
    Ok(())
}

/// Whether `used + delta` stays within `quota`.
fn fits(used: u64, delta: u64, quota: u64) -> bool {
    used.checked_add(delta).is_some_and(|total| total <= quota)
}

/// The stored size and version of an item, if it exists.
fn stored(c: &Connection, ws: &str, id: &str) -> StoreResult<Option<(u64, u64)>> {
    let row: Option<(i64, i64)> = c
        .query_row(
            "SELECT stored_bytes, version FROM media WHERE workspace_id = ?1 AND id = ?2",
            [ws, id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(b, v)| (from_db_bytes(b), u64::try_from(v).unwrap_or_default())))
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media(&self, item: &MediaItem, quota: u64) -> StoreResult<Admission> {
        let item = item.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let ws = item.workspace_id.as_str();
                if stored(&tx, ws, item.id.as_str())?.is_some() {
                    return Err(StoreError::Conflict);
                }
                let used = usage(&tx, ws)?;
                let bytes = item.stored_bytes();
                if !fits(used, bytes, quota) {
                    return Ok(Admission::OverQuota { used });
                }
                tx.execute(
                    "INSERT INTO media (workspace_id, id, stored_bytes, created_at, attached_at, version, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        ws,
                        item.id.as_str(),
                        db_bytes(bytes),
                        ms(item.created_at),
                        item.attached_at.map(ms),
                        db_bytes(item.version),
                        to_json(&item)?
                    ],
                )?;
                move_usage(&tx, ws, db_bytes(bytes))?;
                tx.commit()?;
                Ok(Admission::Stored)
            })
            .await
    }

    async fn get_media(&self, ws: &WorkspaceId, id: &MediaId) -> StoreResult<Option<MediaItem>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let row: Option<(String, Option<i64>, i64)> = c
                    .query_row(
                        "SELECT data, attached_at, version FROM media WHERE workspace_id = ?1 AND id = ?2",
                        [ws, id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                row.map(|(d, a, v)| read_item(&d, a, v)).transpose()
            })
            .await
    }

    async fn list_media(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<MediaItem>> {
        let ws = ws.to_string();
        let before = cursor
            .map(|c| decode_cursor(c, 1))
            .transpose()?
            .map(|mut v| v.remove(0));
        let limit = limit.clamp(1, MAX_PAGE);
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, data, attached_at, version FROM media
                     WHERE workspace_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                )?;
                let rows = st.query_map(params![ws, before, (limit + 1) as i64], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?;
                let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
                let more = rows.len() > limit;
                let items = rows
                    .iter()
                    .take(limit)
                    .map(|(_, d, a, v)| read_item(d, *a, *v))
                    .collect::<StoreResult<Vec<_>>>()?;
                let next_cursor = if more {
                    rows.get(limit - 1).map(|(id, ..)| encode_cursor(&[id]))
                } else {
                    None
                };
                Ok(Page { items, next_cursor })
            })
            .await
    }

    async fn update_media(
        &self,
        item: &MediaItem,
        expected_version: u64,
        quota: u64,
    ) -> StoreResult<Admission> {
        let item = item.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let ws = item.workspace_id.as_str();
                let (old_bytes, version) =
                    stored(&tx, ws, item.id.as_str())?.ok_or(StoreError::NotFound)?;
                if version != expected_version {
                    return Err(StoreError::Conflict);
                }
                let new_bytes = item.stored_bytes();
                if new_bytes > old_bytes {
                    let used = usage(&tx, ws)?;
                    if !fits(used, new_bytes - old_bytes, quota) {
                        return Ok(Admission::OverQuota { used });
                    }
                }
                let n = tx.execute(
                    "UPDATE media SET stored_bytes = ?3, version = ?4, data = ?5
                     WHERE workspace_id = ?1 AND id = ?2 AND version = ?6",
                    params![
                        ws,
                        item.id.as_str(),
                        db_bytes(new_bytes),
                        db_bytes(item.version),
                        to_json(&item)?,
                        db_bytes(expected_version)
                    ],
                )?;
                if n != 1 {
                    return Err(StoreError::Conflict);
                }
                move_usage(
                    &tx,
                    ws,
                    db_bytes(new_bytes).saturating_sub(db_bytes(old_bytes)),
                )?;
                tx.commit()?;
                Ok(Admission::Stored)
            })
            .await
    }

    async fn attach_media(
        &self,
        ws: &WorkspaceId,
        ids: &[MediaId],
        post: &PostId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (ws, post) = (ws.to_string(), post.to_string());
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for id in &ids {
                    let n = tx.execute(
                        "UPDATE media SET attached_at = COALESCE(attached_at, ?3), version = version + 1
                         WHERE workspace_id = ?1 AND id = ?2",
                        params![ws, id, ms(at)],
                    )?;
                    if n == 1 {
                        tx.execute(
                            "INSERT OR IGNORE INTO media_posts (workspace_id, media_id, post_id) VALUES (?1, ?2, ?3)",
                            params![ws, id, post],
                        )?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn posts_using(&self, ws: &WorkspaceId, id: &MediaId) -> StoreResult<Vec<PostId>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT post_id FROM media_posts WHERE workspace_id = ?1 AND media_id = ?2 ORDER BY post_id",
                )?;
                let rows = st.query_map([ws, id], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map(PostId::from_trusted).map_err(StoreError::from))
                    .collect()
            })
            .await
    }

    async fn delete_media(
        &self,
        ws: &WorkspaceId,
        id: &MediaId,
        expected_version: u64,
    ) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let (bytes, version) = stored(&tx, &ws, &id)?.ok_or(StoreError::NotFound)?;
                if version != expected_version {
                    return Err(StoreError::Conflict);
                }
                tx.execute(
                    "DELETE FROM media WHERE workspace_id = ?1 AND id = ?2",
                    [&ws, &id],
                )?;
                tx.execute(
                    "DELETE FROM media_posts WHERE workspace_id = ?1 AND media_id = ?2",
                    [&ws, &id],
                )?;
                move_usage(&tx, &ws, -db_bytes(bytes))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn media_usage(&self, ws: &WorkspaceId) -> StoreResult<u64> {
        let ws = ws.to_string();
        self.db.call(move |c| usage(c, &ws)).await
    }

    async fn unattached_media(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MediaItem>> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT data, attached_at, version FROM media WHERE attached_at IS NULL AND created_at < ?1
                     ORDER BY created_at, workspace_id, id LIMIT ?2",
                )?;
                let rows = st.query_map(params![ms(before), limit as i64], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                rows.map(|r| {
                    let (d, a, v) = r?;
                    read_item(&d, a, v)
                })
                .collect()
            })
            .await
    }

    async fn put_upload(&self, upload: &UploadSession) -> StoreResult<()> {
        let u = upload.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO media_uploads (workspace_id, id, expires_at, data) VALUES (?1, ?2, ?3, ?4)",
                    params![u.workspace_id.as_str(), u.id.as_str(), ms(u.expires_at), to_json(&u)?],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_upload(
        &self,
        ws: &WorkspaceId,
        id: &UploadId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UploadSession>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM media_uploads WHERE workspace_id = ?1 AND id = ?2 AND expires_at > ?3",
                        params![ws, id, ms(now)],
                        |r| r.get(0),
                    )
                    .optional()?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    async fn delete_upload(&self, ws: &WorkspaceId, id: &UploadId) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM media_uploads WHERE workspace_id = ?1 AND id = ?2",
                    [ws, id],
                )?;
                Ok(())
            })
            .await
    }

    async fn expired_uploads(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<UploadSession>> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT data FROM media_uploads WHERE expires_at < ?1
                     ORDER BY expires_at, workspace_id, id LIMIT ?2",
                )?;
                let rows =
                    st.query_map(params![ms(before), limit as i64], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map_err(StoreError::from).and_then(|d| from_json(&d)))
                    .collect()
            })
            .await
    }
}
