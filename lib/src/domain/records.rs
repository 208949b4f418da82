//! Small records the use cases keep: OAuth states, idempotency records, deletion requests, audit entries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{PersonId, PostId, WorkspaceId};
use super::platform::PlatformKind;

/// A pending OAuth authorization, consumed exactly once by the callback.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    pub state: String,
    pub workspace_id: WorkspaceId,
    pub platform: PlatformKind,
    pub pkce_verifier: Option<String>,
    pub redirect_uri: String,
    /// Where to send the person afterwards, if the caller asked.
    pub return_url: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// For a choice the person still has to make (which Facebook Pages to connect): the identities the consent
    /// gave access to, sealed under the workspace's data key. Such a record is not an authorization state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// What the platform adapter asked to keep until the callback (nothing secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// Who started connecting. What a person started completes only in the browser session that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<ConnectStarter>,
}

/// Who started connecting an account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConnectStarter {
    /// A member, in one of their sessions (SHA-256 of its token): the callback must come with that session.
    Person {
        person_id: PersonId,
        session_hash: String,
    },
    /// An API key, by its public id.
    ApiKey { key_id: String },
}

impl fmt::Debug for ConnectStarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectStarter::Person { person_id, .. } => f
                .debug_struct("Person")
                .field("person_id", person_id)
                .finish_non_exhaustive(),
            ConnectStarter::ApiKey { key_id } => {
                f.debug_struct("ApiKey").field("key_id", key_id).finish()
            }
        }
    }
}

impl fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthState")
            .field("workspace_id", &self.workspace_id)
            .field("platform", &self.platform)
            .field("expires_at", &self.expires_at)
            .field("started_by", &self.started_by)
            .finish_non_exhaustive()
    }
}

/// How long an OAuth state is good for.
pub const OAUTH_STATE_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// Remembers a `POST /v1/posts` by its Idempotency-Key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub workspace_id: WorkspaceId,
    pub key: String,
    /// SHA-256 of the request body, so the same key with another body can be refused.
    pub request_hash: String,
    pub post_id: PostId,
    pub expires_at: DateTime<Utc>,
}

/// How long an Idempotency-Key is remembered.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionStatus {
    Received,
    Completed,
}

/// A platform's request to delete one of its users' data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRequest {
    pub confirmation_code: String,
    pub platform: PlatformKind,
    pub platform_user_id: String,
    pub status: DeletionStatus,
    pub received_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub accounts_deleted: u32,
    pub deliveries_canceled: u32,
}

/// One line of a workspace's audit log: who did what, when. Never a token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[schema(value_type = String)]
    pub workspace_id: WorkspaceId,
    pub at: DateTime<Utc>,
    /// What happened, for example `account.connected`, `token.refreshed`, `delivery.published`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Who acted, where a person or a key did: `{"person": "psn_…"}`, `{"key": "<key id>"}` or `"operator"` (the
    /// command line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub actor: Option<super::roles::ActedBy>,
}

impl AuditEntry {
    pub fn new(
        workspace_id: WorkspaceId,
        at: DateTime<Utc>,
        action: &str,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().simple().to_string(),
            workspace_id,
            at,
            action: action.to_owned(),
            account_id: None,
            post_id: None,
            detail,
            actor: None,
        }
    }

    /// The same entry, saying who acted.
    pub fn by(mut self, actor: super::roles::ActedBy) -> Self {
        self.actor = Some(actor);
        self
    }

    /// The same entry, saying who acted if that is known.
    pub fn acted_by(mut self, actor: Option<super::roles::ActedBy>) -> Self {
        self.actor = actor;
        self
    }

    pub fn account(mut self, id: impl ToString) -> Self {
        self.account_id = Some(id.to_string());
        self
    }

    pub fn post(mut self, id: impl ToString) -> Self {
        self.post_id = Some(id.to_string());
        self
    }
}
