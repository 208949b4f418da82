//! Workspaces and their API keys, on SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::adapters::local::db::{from_ms, ms};
use crate::domain::{Workspace, WorkspaceId};
use crate::ports::{StoreError, StoreResult, WorkspaceStore};

fn read_workspace(row: &rusqlite::Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(row.get::<_, String>(0)?),
        name: row.get(1)?,
        wrapped_key: row.get(2)?,
        created_at: from_ms(row.get(3)?),
    })
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn create_workspace(&self, workspace: &Workspace, api_key_hash: &str) -> StoreResult<()> {
        let w = workspace.clone();
        let hash = api_key_hash.to_owned();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO workspaces (id, name, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![w.id.as_str(), w.name, w.wrapped_key, ms(w.created_at)],
                    )?;
                if n == 0 {
                    return Err(StoreError::Conflict);
                }
                tx.execute(
                    "INSERT INTO api_keys (hash, workspace_id) VALUES (?1, ?2)",
                    params![hash, w.id.as_str()],
                )?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT id, name, wrapped_key, created_at FROM workspaces WHERE id = ?1",
                    [id],
                    read_workspace,
                )
                .optional()
                .map_err(StoreError::from)
            })
            .await
    }

    async fn workspace_for_key(&self, api_key_hash: &str) -> StoreResult<Option<WorkspaceId>> {
        let hash = api_key_hash.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT workspace_id FROM api_keys WHERE hash = ?1",
                    [hash],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map(|o| o.map(WorkspaceId::from_trusted))
                .map_err(StoreError::from)
            })
            .await
    }

    async fn add_api_key(&self, id: &WorkspaceId, api_key_hash: &str) -> StoreResult<()> {
        let (id, hash) = (id.to_string(), api_key_hash.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO api_keys (hash, workspace_id) SELECT ?1, id FROM workspaces WHERE id = ?2",
                    params![hash, id],
                )
                .map_err(StoreError::from)
                .and_then(|n| if n == 1 { Ok(()) } else { Err(StoreError::NotFound) })
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
                    "accounts",
                    "tokens",
                    "posts",
                    "deliveries",
                    "idempotency",
                    "audit",
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
                let mut st = c.prepare(
                    "SELECT id, name, wrapped_key, created_at FROM workspaces ORDER BY id",
                )?;
                let rows = st.query_map([], read_workspace)?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::from)
            })
            .await
    }
}
