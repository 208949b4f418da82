//! Workspaces and API keys.

use super::App;
use crate::domain::workspace::{hash_api_key, MAX_WORKSPACE_NAME};
use crate::domain::{ApiKey, AuditEntry, Workspace, WorkspaceId};
use crate::error::{Error, Result};

impl App {
    /// Creates a workspace and its first API key. The key is returned once; only its hash is stored.
    pub async fn create_workspace(&self, name: &str) -> Result<(Workspace, ApiKey)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_WORKSPACE_NAME {
            return Err(Error::invalid(
                "name",
                format!("a workspace name has 1 to {MAX_WORKSPACE_NAME} characters"),
            ));
        }
        let id = WorkspaceId::generate();
        let wrapped_key = self.vault.new_workspace_key(&id).await?;
        let workspace = Workspace {
            id,
            name: name.to_owned(),
            wrapped_key,
            created_at: self.now(),
        };
        let key = ApiKey::generate();
        self.stores
            .workspaces
            .create_workspace(&workspace, &key.hash())
            .await?;
        self.audit(AuditEntry::new(
            workspace.id.clone(),
            self.now(),
            "workspace.created",
            serde_json::json!({"name": name}),
        ))
        .await;
        Ok((workspace, key))
    }

    /// Adds another API key to a workspace.
    pub async fn add_api_key(&self, ws: &WorkspaceId) -> Result<ApiKey> {
        let key = ApiKey::generate();
        self.stores.workspaces.add_api_key(ws, &key.hash()).await?;
        self.audit(AuditEntry::new(
            ws.clone(),
            self.now(),
            "api_key.created",
            serde_json::json!({}),
        ))
        .await;
        Ok(key)
    }

    /// The workspace a presented API key belongs to.
    pub async fn authenticate(&self, presented: &str) -> Result<WorkspaceId> {
        if presented.is_empty() || presented.len() > 256 {
            return Err(Error::Unauthorized);
        }
        let hash = hash_api_key(presented);
        // Keys are looked up by their SHA-256, an exact match on a value the caller cannot steer byte by byte, so the
        // lookup's timing says nothing useful about a stored key.
        self.stores
            .workspaces
            .workspace_for_key(&hash)
            .await?
            .ok_or(Error::Unauthorized)
    }
}
