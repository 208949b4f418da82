//! Workspaces and their API keys, on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::adapters::local::db::{from_ms, ms, to_json};
use crate::domain::workspace::legacy_api_key_id;
use crate::domain::{ApiKeyRecord, Role, Workspace, WorkspaceId};
use crate::ports::{StoreError, StoreResult, WorkspaceStore};

const KEY_COLUMNS: &str = "hash, workspace_id, key_id, label, created_at, last_used_at, role";

fn read_key(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let hash: String = row.get(0)?;
    let key_id: Option<String> = row.get(2)?;
    Ok(ApiKeyRecord {
        workspace_id: WorkspaceId::from_trusted(row.get::<_, String>(1)?),
        legacy: key_id.is_none(),
        id: key_id.unwrap_or_else(|| legacy_api_key_id(&hash)),
        hash,
        label: row.get(3)?,
        created_at: row.get::<_, Option<i64>>(4)?.map(from_ms),
        last_used_at: row.get::<_, Option<i64>>(5)?.map(from_ms),
        role: row
            .get::<_, Option<String>>(6)?
            .as_deref()
            .and_then(Role::parse)
            .unwrap_or(Role::Owner),
    })
}

/// Inserts a key row; zero rows when the workspace does not exist.
fn insert_key(c: &rusqlite::Connection, k: &ApiKeyRecord) -> Result<usize, StoreError> {
    c.execute(
        "INSERT INTO api_keys (hash, workspace_id, key_id, label, created_at, last_used_at, role)
         SELECT ?1, id, ?3, ?4, ?5, ?6, ?7 FROM workspaces WHERE id = ?2",
        params![
            k.hash,
            k.workspace_id.as_str(),
            (!k.legacy).then_some(k.id.as_str()),
            k.label,
            k.created_at.map(ms),
            k.last_used_at.map(ms),
            k.role.as_str()
        ],
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict,
        _ => StoreError::from(e),
    })
}

fn read_workspace(row: &rusqlite::Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(row.get::<_, String>(0)?),
        name: row.get(1)?,
        wrapped_key: row.get(2)?,
        created_at: from_ms(row.get(3)?),
        settings: row
            .get::<_, Option<String>>(4)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
    })
}

/// The columns [`read_workspace`] reads.
pub(super) const WORKSPACE_COLUMNS: &str = "id, name, wrapped_key, created_at, settings";

/// Inserts a workspace row; `Conflict` if one with its id exists.
pub(super) fn insert_workspace(c: &rusqlite::Connection, w: &Workspace) -> Result<(), StoreError> {
    let n = c.execute(
        "INSERT OR IGNORE INTO workspaces (id, name, wrapped_key, created_at, settings)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            w.id.as_str(),
            w.name,
            w.wrapped_key,
            ms(w.created_at),
            to_json(&w.settings)?
        ],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn create_workspace(&self, workspace: &Workspace, key: &ApiKeyRecord) -> StoreResult<()> {
        let w = workspace.clone();
        let key = ApiKeyRecord {
            workspace_id: w.id.clone(),
            ..key.clone()
        };
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                insert_workspace(&tx, &w)?;
                insert_key(&tx, &key)?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                c.query_row(
                    &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = ?1"),
                    [id],
                    read_workspace,
                )
                .optional()
                .map_err(StoreError::from)
            })
            .await
    }

    async fn update_workspace(&self, workspace: &Workspace) -> StoreResult<()> {
        let w = workspace.clone();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE workspaces SET name = ?2, settings = ?3 WHERE id = ?1",
                    params![w.id.as_str(), w.name, to_json(&w.settings)?],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn find_api_key(&self, api_key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let hash = api_key_hash.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"),
                    [hash],
                    read_key,
                )
                .optional()
                .map_err(StoreError::from)
            })
            .await
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let key = key.clone();
        self.db
            .call(move |c| match insert_key(c, &key)? {
                1 => Ok(()),
                _ => Err(StoreError::NotFound),
            })
            .await
    }

    async fn list_api_keys(&self, ws: &WorkspaceId) -> StoreResult<Vec<ApiKeyRecord>> {
        let ws = ws.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = ?1"
                ))?;
                let rows = st.query_map([ws], read_key)?;
                let mut keys = rows.collect::<Result<Vec<_>, _>>()?;
                keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                Ok(keys)
            })
            .await
    }

    async fn revoke_api_key(&self, ws: &WorkspaceId, key_id: &str) -> StoreResult<ApiKeyRecord> {
        let (ws, key_id) = (ws.to_string(), key_id.to_owned());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                // A legacy key (no key_id) is named by the start of its hash.
                let found = tx
                    .query_row(
                        &format!(
                            "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = ?1
                             AND COALESCE(key_id, substr(hash, 1, ?3)) = ?2 LIMIT 1"
                        ),
                        params![ws, key_id, crate::domain::workspace::API_KEY_ID_LEN as i64],
                        read_key,
                    )
                    .optional()?
                    .ok_or(StoreError::NotFound)?;
                tx.execute("DELETE FROM api_keys WHERE hash = ?1", [&found.hash])?;
                tx.commit()?;
                Ok(found)
            })
            .await
    }

    async fn touch_api_key(
        &self,
        api_key_hash: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let hash = api_key_hash.to_owned();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE api_keys SET last_used_at = ?2
                     WHERE hash = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
                    params![hash, ms(at), ms(stale_before)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn erase_workspace(&self, id: &WorkspaceId) -> StoreResult<()> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for table in [
                    "api_keys",
                    "memberships",
                    "invitations",
                    "accounts",
                    "tokens",
                    "posts",
                    "deliveries",
                    "idempotency",
                    "audit",
                    "media",
                    "media_posts",
                    "media_usage",
                    "media_uploads",
                ] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE workspace_id = ?1"),
                        [&id],
                    )?;
                }
                tx.execute("DELETE FROM workspaces WHERE id = ?1", [&id])?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>> {
        self.db
            .call(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY id"
                ))?;
                let rows = st.query_map([], read_workspace)?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::from)
            })
            .await
    }
}
