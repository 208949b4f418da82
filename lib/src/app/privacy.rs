//! A workspace owner's own rights over its data: take all of it away (export), read what happened to it (the audit
//! log), and have all of it erased.

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::{Account, AccountStatus, AuditEntry, WorkspaceId};
use crate::error::{Error, Result};
use crate::ports::{Page, PostFilter, PostRecord, StoreError};

/// Posts and audit entries read per store call while exporting.
const EXPORT_PAGE: usize = 200;

/// Everything a workspace holds, as its owner may take it away. Nothing secret is read into it: no token, no
/// ciphertext, no key.
#[derive(Clone, Debug)]
pub struct WorkspaceExport {
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub exported_at: DateTime<Utc>,
    /// Every account, deleted ones included (as their scrubbed rows).
    pub accounts: Vec<Account>,
    /// Every post with its deliveries, newest first.
    pub posts: Vec<PostRecord>,
    /// The whole audit log, newest first.
    pub audit: Vec<AuditEntry>,
}

/// What erasing a workspace did.
#[derive(Clone, Debug)]
pub struct WorkspaceErased {
    pub workspace_id: WorkspaceId,
    pub erased_at: DateTime<Utc>,
    pub accounts_disconnected: usize,
}

impl App {
    pub async fn export_workspace(&self, ws: &WorkspaceId) -> Result<WorkspaceExport> {
        let workspace = self
            .stores
            .workspaces
            .get_workspace(ws)
            .await?
            .ok_or(Error::NotFound("workspace"))?;
        let accounts = self.stores.accounts.list_accounts(ws).await?;
        let mut posts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .stores
                .posts
                .list_posts(ws, &PostFilter::default(), EXPORT_PAGE, cursor.as_deref())
                .await?;
            posts.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut audit = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .stores
                .records
                .list_audit(ws, EXPORT_PAGE, cursor.as_deref())
                .await?;
            audit.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(WorkspaceExport {
            workspace_id: workspace.id,
            name: workspace.name,
            created_at: workspace.created_at,
            exported_at: self.now(),
            accounts,
            posts,
            audit,
        })
    }

    /// One page of the workspace's audit log, newest first.
    pub async fn list_audit(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>> {
        match self.stores.records.list_audit(ws, limit, cursor).await {
            Err(StoreError::NotFound) => Err(Error::invalid(
                "cursor",
                "is not a cursor this API returned",
            )),
            other => Ok(other?),
        }
    }

    /// Erases a workspace: every account is disconnected first (revoked at its platform where it can be, tokens
    /// deleted, pending deliveries canceled), then everything of the workspace goes, its data key is forgotten, and
    /// the audit log keeps one minimal tombstone. Running it again after a failure finishes the work.
    pub async fn erase_workspace(&self, ws: &WorkspaceId) -> Result<WorkspaceErased> {
        if self.stores.workspaces.get_workspace(ws).await?.is_none() {
            return Err(Error::NotFound("workspace"));
        }
        let mut disconnected = 0;
        for account in self.stores.accounts.list_accounts(ws).await? {
            if account.status == AccountStatus::Deleted {
                self.stores.accounts.delete_tokens(ws, &account.id).await?;
                continue;
            }
            match self.disconnect_account(ws, &account.id).await {
                Ok(_) => disconnected += 1,
                // Deleted by someone else in the meantime: nothing left to disconnect.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.stores.workspaces.erase_workspace(ws).await?;
        self.vault.forget(ws);
        let erased_at = self.now();
        self.audit(AuditEntry::new(
            ws.clone(),
            erased_at,
            "workspace.erased",
            serde_json::json!({}),
        ))
        .await;
        tracing::info!(workspace = %ws, accounts_disconnected = disconnected, "a workspace was erased");
        Ok(WorkspaceErased {
            workspace_id: ws.clone(),
            erased_at,
            accounts_disconnected: disconnected,
        })
    }
}
