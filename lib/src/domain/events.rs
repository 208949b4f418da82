//! Domain events, sent to the event bus for other systems to react to. Never carry a token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::WorkspaceId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "post.published")]
    PostPublished,
    #[serde(rename = "post.failed")]
    PostFailed,
    #[serde(rename = "post.in_doubt")]
    PostInDoubt,
    /// An editor's post waits for approval (created, or changed after it was approved or rejected).
    #[serde(rename = "post.approval_requested")]
    PostApprovalRequested,
    #[serde(rename = "post.approved")]
    PostApproved,
    #[serde(rename = "post.rejected")]
    PostRejected,
    #[serde(rename = "account.needs_reauth")]
    AccountNeedsReauth,
    /// The account's grant ends soon whatever Postora refreshes (LinkedIn's year-long refresh token, or a token
    /// that cannot be refreshed): the person must connect it again before `grant_expires_at`.
    #[serde(rename = "account.grant_expiring")]
    AccountGrantExpiring,
    #[serde(rename = "deletion.completed")]
    DeletionCompleted,
    /// A person joined a workspace (accepting an invitation).
    #[serde(rename = "member.joined")]
    MemberJoined,
    /// A member's role changed (by another member, or in a transfer of ownership).
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged,
    /// A member left or was removed.
    #[serde(rename = "member.removed")]
    MemberRemoved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PostPublished => "post.published",
            EventKind::PostFailed => "post.failed",
            EventKind::PostInDoubt => "post.in_doubt",
            EventKind::PostApprovalRequested => "post.approval_requested",
            EventKind::PostApproved => "post.approved",
            EventKind::PostRejected => "post.rejected",
            EventKind::AccountNeedsReauth => "account.needs_reauth",
            EventKind::AccountGrantExpiring => "account.grant_expiring",
            EventKind::DeletionCompleted => "deletion.completed",
            EventKind::MemberJoined => "member.joined",
            EventKind::MemberRoleChanged => "member.role_changed",
            EventKind::MemberRemoved => "member.removed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub kind: EventKind,
    pub workspace_id: Option<WorkspaceId>,
    pub at: DateTime<Utc>,
    pub detail: serde_json::Value,
}

impl Event {
    pub fn new(
        kind: EventKind,
        workspace_id: Option<WorkspaceId>,
        at: DateTime<Utc>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            workspace_id,
            at,
            detail,
        }
    }
}
