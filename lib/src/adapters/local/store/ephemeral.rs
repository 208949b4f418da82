//! Short-lived records on SQLite: OAuth states (consumed once) and idempotency keys, each with an expiry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{take_once, SqliteStore};
use crate::adapters::local::db::{from_ms, ms, to_json};
use crate::domain::{IdempotencyRecord, OAuthState, PostId, WorkspaceId};
use crate::ports::{EphemeralStore, StoreError, StoreResult};

#[async_trait]
impl EphemeralStore for SqliteStore {
    async fn put_oauth_state(&self, state: &OAuthState) -> StoreResult<()> {
        let s = state.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO oauth_states (state, data, expires_at) VALUES (?1, ?2, ?3)",
                    params![s.state, to_json(&s)?, ms(s.expires_at)],
                )
                .map(|_| ())
                .map_err(StoreError::from)
            })
            .await
    }

    async fn take_oauth_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OAuthState>> {
        let state = state.to_owned();
        self.db
            .call(move |c| take_once(c, "oauth_states", "state", &state, now))
            .await
    }

    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let r = record.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "DELETE FROM idempotency WHERE workspace_id = ?1 AND key = ?2 AND expires_at <= ?3",
                    params![r.workspace_id.as_str(), r.key, ms(now)],
                )?;
                let existing = tx
                    .query_row(
                        "SELECT request_hash, post_id, expires_at FROM idempotency WHERE workspace_id = ?1 AND key = ?2",
                        params![r.workspace_id.as_str(), r.key],
                        |row| {
                            Ok(IdempotencyRecord {
                                workspace_id: r.workspace_id.clone(),
                                key: r.key.clone(),
                                request_hash: row.get(0)?,
                                post_id: PostId::from_trusted(row.get::<_, String>(1)?),
                                expires_at: from_ms(row.get(2)?),
                            })
                        },
                    )
                    .optional()?;
                if existing.is_none() {
                    tx.execute(
                        "INSERT INTO idempotency (workspace_id, key, request_hash, post_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![r.workspace_id.as_str(), r.key, r.request_hash, r.post_id.as_str(), ms(r.expires_at)],
                    )?;
                }
                tx.commit()?;
                Ok(existing)
            })
            .await
    }

    async fn delete_idempotency(&self, ws: &WorkspaceId, key: &str) -> StoreResult<()> {
        let (ws, key) = (ws.to_string(), key.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM idempotency WHERE workspace_id = ?1 AND key = ?2",
                    [ws, key],
                )
                .map(|_| ())
                .map_err(StoreError::from)
            })
            .await
    }
}
