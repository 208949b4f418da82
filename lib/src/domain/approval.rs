//! Approval of posts: in a workspace that requires it, a post an editor creates or changes waits until an owner, an
//! admin or a client approves it (only then is it dispatched) or rejects it with a comment.
//!
//! `pending → approved`, `pending → rejected`; an editor's change to an approved or rejected post is a new request
//! (`pending` again). The deliveries of a post that waits are `pending_approval` (see `domain::delivery`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::PersonId;
use super::roles::Role;
use super::workspace::WorkspaceSettings;

/// Who did something to a post: a member, or one of the workspace's API keys (by its public id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum By {
    Person(PersonId),
    ApiKey(String),
}

impl By {
    /// `person:<id>` or `api_key:<id>`, for audit entries and event details.
    pub fn label(&self) -> String {
        match self {
            By::Person(id) => format!("person:{id}"),
            By::ApiKey(id) => format!("api_key:{id}"),
        }
    }
}

/// Where a post stands in approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
        }
    }
}

/// A post's approval: who asked and when, and who decided, when, and why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub state: ApprovalState,
    pub requested_by: By,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<By>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<By>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_at: Option<DateTime<Utc>>,
    /// Why it was rejected: a [`RejectionComment`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The longest rejection comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// A rejection's comment: 1 to [`MAX_COMMENT_CHARS`] characters, not only spaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectionComment(String);

impl RejectionComment {
    pub fn parse(raw: &str) -> Option<Self> {
        let n = raw.chars().count();
        (n <= MAX_COMMENT_CHARS && !raw.trim().is_empty()).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An approval decision that does not apply to the post's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the post is {state}, not waiting for approval")]
pub struct NotPending {
    /// `none` when the post never needed approval.
    pub state: &'static str,
}

impl Approval {
    /// A new request for approval (a post an editor created or changed).
    pub fn request(by: By, now: DateTime<Utc>) -> Self {
        Approval {
            state: ApprovalState::Pending,
            requested_by: by,
            requested_at: now,
            approved_by: None,
            approved_at: None,
            rejected_by: None,
            rejected_at: None,
            comment: None,
        }
    }

    fn pending(&self) -> Result<(), NotPending> {
        match self.state {
            ApprovalState::Pending => Ok(()),
            other => Err(NotPending {
                state: other.as_str(),
            }),
        }
    }

    /// Approved: the post's deliveries may be dispatched.
    pub fn approve(&self, by: By, now: DateTime<Utc>) -> Result<Self, NotPending> {
        self.pending()?;
        Ok(Approval {
            state: ApprovalState::Approved,
            approved_by: Some(by),
            approved_at: Some(now),
            ..self.clone()
        })
    }

    /// Rejected with a comment: the deliveries stay held until an editor changes the post (a new request).
    pub fn reject(
        &self,
        by: By,
        comment: RejectionComment,
        now: DateTime<Utc>,
    ) -> Result<Self, NotPending> {
        self.pending()?;
        Ok(Approval {
            state: ApprovalState::Rejected,
            rejected_by: Some(by),
            rejected_at: Some(now),
            comment: Some(comment.0),
            ..self.clone()
        })
    }
}

/// Whether a post created or changed by a caller in `role` must wait for approval in a workspace with `settings`:
/// only an editor's, and only where the workspace requires approval. Owners and admins never wait.
pub fn needs_approval(role: Role, settings: &WorkspaceSettings) -> bool {
    settings.approval_required && role == Role::Editor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by() -> By {
        By::Person(PersonId::generate())
    }

    #[test]
    fn a_request_is_decided_once() {
        let now = Utc::now();
        let r = Approval::request(by(), now);
        let ok = r.approve(by(), now).unwrap();
        assert_eq!(ok.state, ApprovalState::Approved);
        assert!(ok.approve(by(), now).is_err());
        let comment = RejectionComment::parse("too early").unwrap();
        assert!(ok.reject(by(), comment.clone(), now).is_err());
        let no = r.reject(by(), comment, now).unwrap();
        assert_eq!(no.state, ApprovalState::Rejected);
        assert_eq!(no.comment.as_deref(), Some("too early"));
        assert_eq!(no.approve(by(), now).unwrap_err().state, "rejected");
    }

    #[test]
    fn a_comment_is_one_to_two_thousand_characters() {
        assert!(RejectionComment::parse("").is_none());
        assert!(RejectionComment::parse("   ").is_none());
        assert!(RejectionComment::parse(&"é".repeat(2000)).is_some());
        assert!(RejectionComment::parse(&"a".repeat(2001)).is_none());
    }

    #[test]
    fn only_an_editor_waits_and_only_where_approval_is_required() {
        let mut settings = WorkspaceSettings::default();
        assert!(!needs_approval(Role::Editor, &settings));
        settings.approval_required = true;
        assert!(needs_approval(Role::Editor, &settings));
        for r in [Role::Owner, Role::Admin] {
            assert!(!needs_approval(r, &settings));
        }
    }
}
