//! Records kept for people and operators on SQLite: data-deletion requests and the audit log.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{decode_cursor, encode_cursor, insert_audit, SqliteStore};
use crate::adapters::local::db::{from_json, to_json};
use crate::domain::{AccountId, AuditEntry, DeletionRequest, WorkspaceId};
use crate::ports::{Page, RecordStore, StoreError, StoreResult};

#[async_trait]
impl RecordStore for SqliteStore {
    async fn put_deletion_request(
        &self,
        request: &DeletionRequest,
    ) -> StoreResult<DeletionRequest> {
        let r = request.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT OR IGNORE INTO deletion_requests (code, platform, platform_user_id, data) VALUES (?1, ?2, ?3, ?4)",
                    params![r.confirmation_code, r.platform.as_str(), r.platform_user_id, to_json(&r)?],
                )?;
                let data: String = tx
                    .query_row(
                        "SELECT data FROM deletion_requests WHERE platform = ?1 AND platform_user_id = ?2",
                        params![r.platform.as_str(), r.platform_user_id],
                        |row| row.get(0),
                    )?;
                tx.commit()?;
                from_json(&data)
            })
            .await
    }

    async fn update_deletion_request(&self, request: &DeletionRequest) -> StoreResult<()> {
        let r = request.clone();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE deletion_requests SET data = ?2 WHERE code = ?1",
                    params![r.confirmation_code, to_json(&r)?],
                )?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            })
            .await
    }

    async fn get_deletion_request(&self, code: &str) -> StoreResult<Option<DeletionRequest>> {
        let code = code.to_owned();
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM deletion_requests WHERE code = ?1",
                        [code],
                        |r| r.get(0),
                    )
                    .optional()?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let e = entry.clone();
        self.db.call(move |c| insert_audit(c, &e)).await
    }

    async fn redact_audit(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        detail: &serde_json::Value,
    ) -> StoreResult<u64> {
        let (ws, account, detail) = (ws.to_string(), account.to_string(), detail.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let rows: Vec<(String, String)> = {
                    let mut st =
                        tx.prepare("SELECT id, data FROM audit WHERE workspace_id = ?1")?;
                    let rows = st.query_map([&ws], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect::<Result<_, _>>()?
                };
                let mut redacted = 0;
                for (id, data) in rows {
                    let mut entry: AuditEntry = from_json(&data)?;
                    if entry.account_id.as_deref() != Some(account.as_str())
                        || entry.detail == detail
                    {
                        continue;
                    }
                    entry.detail = detail.clone();
                    tx.execute(
                        "UPDATE audit SET data = ?3 WHERE workspace_id = ?1 AND id = ?2",
                        params![ws, id, to_json(&entry)?],
                    )?;
                    redacted += 1;
                }
                tx.commit()?;
                Ok(redacted)
            })
            .await
    }

    async fn list_audit(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEntry>> {
        let ws = ws.to_string();
        let before = cursor
            .map(|c| decode_cursor(c, 1))
            .transpose()?
            .map(|mut v| v.remove(0));
        let limit = limit.clamp(1, 500);
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT id, data FROM audit WHERE workspace_id = ?1 AND (?2 IS NULL OR id < ?2)
                         ORDER BY id DESC LIMIT ?3",
                )?;
                let rows = st.query_map(params![ws, before, (limit + 1) as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?;
                let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
                let more = rows.len() > limit;
                let mut items = Vec::new();
                for (_, data) in rows.iter().take(limit) {
                    items.push(from_json(data)?);
                }
                let next_cursor = if more {
                    rows.get(limit - 1).map(|(id, _)| encode_cursor(&[id]))
                } else {
                    None
                };
                Ok(Page { items, next_cursor })
            })
            .await
    }
}
