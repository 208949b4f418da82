//! Workspaces and API keys.

use super::members::AsMember;
use super::App;
use crate::domain::workspace::{
    hash_api_key, is_api_key_id, API_KEY_LAST_USED_EVERY_SECS, MAX_API_KEY_LABEL,
    MAX_WORKSPACE_NAME,
};
use crate::domain::{
    ActedBy, Actor, ApiKey, ApiKeyRecord, AuditEntry, Role, Workspace, WorkspaceId,
    WorkspaceSettings,
};
use crate::error::{Error, Result};
use crate::ports::StoreError;

/// A label as given (stored as it is): 1 to [`MAX_API_KEY_LABEL`] characters, not all spaces, no control characters.
fn check_label(label: Option<&str>) -> Result<Option<String>> {
    let Some(label) = label else { return Ok(None) };
    if label.trim().is_empty()
        || label.chars().count() > MAX_API_KEY_LABEL
        || label.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "label",
            format!(
                "a key's label has 1 to {MAX_API_KEY_LABEL} characters, not all spaces, and no control characters"
            ),
        ));
    }
    Ok(Some(label.to_owned()))
}

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
            settings: WorkspaceSettings::default(),
        };
        let key = ApiKey::generate();
        self.stores
            .workspaces
            .create_workspace(
                &workspace,
                &key.record(&workspace.id, None, Role::Owner, self.now()),
            )
            .await?;
        self.audit(
            AuditEntry::new(
                workspace.id.clone(),
                self.now(),
                "workspace.created",
                serde_json::json!({"name": name}),
            )
            .by(ActedBy::Operator),
        )
        .await;
        Ok((workspace, key))
    }

    /// Adds another API key to a workspace from the command line, with an optional label and the role it acts in.
    /// The key is returned once, beside what is stored of it.
    pub async fn add_api_key(
        &self,
        ws: &WorkspaceId,
        label: Option<&str>,
        role: Role,
    ) -> Result<(ApiKeyRecord, ApiKey)> {
        self.add_key(ws, label, role, ActedBy::Operator).await
    }

    /// Adds an API key for a caller in the workspace: a key with a role no higher than the caller's own
    /// ([`Role::may_grant`]), else 403 `role_not_grantable`.
    pub async fn add_api_key_as(
        &self,
        ws: &WorkspaceId,
        label: Option<&str>,
        role: Role,
        by: AsMember<'_>,
    ) -> Result<(ApiKeyRecord, ApiKey)> {
        if !by.role.may_grant(role) {
            return Err(Error::forbidden(
                "role_not_grantable",
                format!(
                    "a {} may not create an API key with the role {role}: it is above their own",
                    by.role
                ),
            ));
        }
        self.add_key(ws, label, role, by.actor.acted_by()).await
    }

    async fn add_key(
        &self,
        ws: &WorkspaceId,
        label: Option<&str>,
        role: Role,
        acted_by: ActedBy,
    ) -> Result<(ApiKeyRecord, ApiKey)> {
        let label = check_label(label)?;
        let taken: Vec<String> = self
            .stores
            .workspaces
            .list_api_keys(ws)
            .await?
            .into_iter()
            .map(|k| k.id)
            .collect();
        // Ids are 48 random bits: a clash within one workspace is all but impossible, but a key must be nameable.
        let key = loop {
            let key = ApiKey::generate();
            if !taken.contains(&key.id()) {
                break key;
            }
        };
        let record = key.record(ws, label, role, self.now());
        self.stores
            .workspaces
            .add_api_key(&record)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("workspace"),
                e => e.into(),
            })?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "api_key.created",
                serde_json::json!({"id": record.id, "label": record.label, "role": record.role}),
            )
            .by(acted_by),
        )
        .await;
        Ok((record, key))
    }

    /// The workspace's API keys (never the keys: ids, labels and times).
    pub async fn list_api_keys(&self, ws: &WorkspaceId) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.stores.workspaces.list_api_keys(ws).await?)
    }

    /// Revokes the workspace's key `key_id`: from the next request on it is refused with a 401. `by` is who asks
    /// through the API: a key cannot revoke itself there, so a workspace reached through the API always keeps a key,
    /// and nobody revokes a key whose role is above their own. The CLI passes `None` and may revoke any key, the last
    /// one too (`postora workspace add-key` makes a new one).
    pub async fn revoke_api_key(
        &self,
        ws: &WorkspaceId,
        key_id: &str,
        by: Option<AsMember<'_>>,
    ) -> Result<ApiKeyRecord> {
        if !is_api_key_id(key_id) {
            return Err(Error::NotFound("api key"));
        }
        let caller = by.and_then(|b| match b.actor {
            Actor::Key { id } => Some(id.as_str()),
            Actor::Person { .. } => None,
        });
        if let Some(by) = by {
            let key = self
                .stores
                .workspaces
                .list_api_keys(ws)
                .await?
                .into_iter()
                .find(|k| k.id == key_id)
                .ok_or(Error::NotFound("api key"))?;
            if !by.role.may_grant(key.role) {
                return Err(Error::forbidden(
                    "role_not_grantable",
                    format!(
                        "a {} may not revoke a key with the role {}: it is above their own",
                        by.role, key.role
                    ),
                ));
            }
        }
        if caller == Some(key_id) {
            return Err(Error::conflict(
                "revoking_own_key",
                "a key cannot revoke itself: revoke it with another key of this workspace, or with \
                 `postora workspace revoke-key`",
            ));
        }
        let revoked = self
            .stores
            .workspaces
            .revoke_api_key(ws, key_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("api key"),
                e => e.into(),
            })?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "api_key.revoked",
                serde_json::json!({"id": revoked.id, "label": revoked.label}),
            )
            .by(by.map_or(ActedBy::Operator, |b| b.actor.acted_by())),
        )
        .await;
        Ok(revoked)
    }

    /// The workspace a presented API key belongs to.
    pub async fn authenticate(&self, presented: &str) -> Result<WorkspaceId> {
        Ok(self.authenticate_key(presented).await?.workspace_id)
    }

    /// The stored key a presented API key matches. Records when it was used, at most once per
    /// [`API_KEY_LAST_USED_EVERY_SECS`]: most requests read one item and write nothing.
    pub async fn authenticate_key(&self, presented: &str) -> Result<ApiKeyRecord> {
        if presented.is_empty() || presented.len() > 256 {
            return Err(Error::Unauthorized);
        }
        let hash = hash_api_key(presented);
        // Keys are looked up by their SHA-256, an exact match on a value the caller cannot steer byte by byte, so the
        // lookup's timing says nothing useful about a stored key.
        let key = self
            .stores
            .workspaces
            .find_api_key(&hash)
            .await?
            .ok_or(Error::Unauthorized)?;
        let now = self.now();
        let stale_before = now - chrono::Duration::seconds(API_KEY_LAST_USED_EVERY_SECS);
        if key.last_used_at.is_none_or(|t| t < stale_before) {
            // Conditional on the stored time still being stale, so concurrent requests write it once; a failure
            // costs only the freshness of "last used" and never the request.
            if let Err(e) = self
                .stores
                .workspaces
                .touch_api_key(&hash, now, stale_before)
                .await
            {
                tracing::warn!(workspace = %key.workspace_id, key_id = %key.id, error = %e, "could not record an API key's use");
            }
        }
        Ok(key)
    }
}
