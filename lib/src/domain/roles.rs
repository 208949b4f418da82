//! Members of a workspace, their roles, and what each role may do: the one place a role is checked, for sessions and
//! API keys alike.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{InvitationId, PersonId, WorkspaceId};
use super::people::EmailAddress;

/// A member's role in a workspace (and an API key's).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, erasing the workspace and transferring it included.
    Owner,
    /// Members, accounts and settings.
    Admin,
    /// Posts and media.
    Editor,
    /// Reads everything a member may read; changes nothing.
    Viewer,
    /// An agency's client: sees the workspace's posts and calendar, approves or rejects posts, and nothing else.
    Client,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Editor,
        Role::Viewer,
        Role::Client,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Client => "client",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's place in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub workspace_id: WorkspaceId,
    pub person_id: PersonId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub version: u64,
}

/// An invitation to join a workspace in a role, mailed as a single-use link; stored under the hash of its token,
/// with an expiry (TTL).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: InvitationId,
    /// SHA-256 (hex) of the token in the link.
    pub token_hash: String,
    pub workspace_id: WorkspaceId,
    pub email: EmailAddress,
    pub role: Role,
    pub invited_by: PersonId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How long an invitation is good for.
pub const INVITATION_TTL: chrono::Duration = chrono::Duration::days(7);
