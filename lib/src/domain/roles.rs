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

/// Something a caller may do in a workspace. Every workspace route names one (`http::access`), and
/// [`Role::may`] says which roles may do it: the one place a role is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read posts and their deliveries (the calendar).
    ReadPosts,
    /// Create, change, cancel and retry posts.
    WritePosts,
    /// Approve or reject posts waiting for approval.
    ApprovePosts,
    /// Read the connected accounts.
    ReadAccounts,
    /// Connect accounts.
    ConnectAccounts,
    /// Disconnect accounts.
    DisconnectAccounts,
    /// Read the media library.
    ReadMedia,
    /// Upload, import, change and delete media.
    WriteMedia,
    /// Read the workspace's name and settings.
    ReadWorkspace,
    /// Change the workspace's name and settings.
    ManageSettings,
    /// See who the members are.
    ReadMembers,
    /// Invite, remove and change the role of members.
    ManageMembers,
    /// Leave the workspace.
    LeaveWorkspace,
    /// List, add and revoke API keys.
    ManageApiKeys,
    /// Read the audit log.
    ReadAudit,
    /// Export everything the workspace holds.
    Export,
    /// Erase the workspace.
    EraseWorkspace,
    /// Hand the workspace to another member.
    TransferOwnership,
}

impl Action {
    pub const ALL: [Action; 18] = [
        Action::ReadPosts,
        Action::WritePosts,
        Action::ApprovePosts,
        Action::ReadAccounts,
        Action::ConnectAccounts,
        Action::DisconnectAccounts,
        Action::ReadMedia,
        Action::WriteMedia,
        Action::ReadWorkspace,
        Action::ManageSettings,
        Action::ReadMembers,
        Action::ManageMembers,
        Action::LeaveWorkspace,
        Action::ManageApiKeys,
        Action::ReadAudit,
        Action::Export,
        Action::EraseWorkspace,
        Action::TransferOwnership,
    ];

    /// What the action is, in words that finish "a viewer may not …".
    pub fn describe(self) -> &'static str {
        match self {
            Action::ReadPosts => "read posts",
            Action::WritePosts => "create or change posts",
            Action::ApprovePosts => "approve or reject posts",
            Action::ReadAccounts => "read accounts",
            Action::ConnectAccounts => "connect accounts",
            Action::DisconnectAccounts => "disconnect accounts",
            Action::ReadMedia => "read media",
            Action::WriteMedia => "upload or change media",
            Action::ReadWorkspace => "read the workspace's settings",
            Action::ManageSettings => "change the workspace's settings",
            Action::ReadMembers => "see the workspace's members",
            Action::ManageMembers => "invite, remove or change members",
            Action::LeaveWorkspace => "leave the workspace",
            Action::ManageApiKeys => "manage API keys",
            Action::ReadAudit => "read the audit log",
            Action::Export => "export the workspace",
            Action::EraseWorkspace => "erase the workspace",
            Action::TransferOwnership => "transfer the workspace's ownership",
        }
    }
}

impl Role {
    /// Whether this role may do `action`: owners everything; admins everything but erasing and transferring the
    /// workspace; editors posts and media; viewers read only; clients read posts (and the accounts and media that
    /// show them) and approve or reject them. Every member may leave.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Owner => true,
            Role::Admin => !matches!(action, EraseWorkspace | TransferOwnership),
            Role::Editor => matches!(
                action,
                ReadPosts
                    | WritePosts
                    | ReadAccounts
                    | ReadMedia
                    | WriteMedia
                    | ReadWorkspace
                    | ReadMembers
                    | ReadAudit
                    | LeaveWorkspace
            ),
            Role::Viewer => matches!(
                action,
                ReadPosts
                    | ReadAccounts
                    | ReadMedia
                    | ReadWorkspace
                    | ReadMembers
                    | ReadAudit
                    | LeaveWorkspace
            ),
            Role::Client => matches!(
                action,
                ReadPosts
                    | ApprovePosts
                    | ReadAccounts
                    | ReadMedia
                    | ReadWorkspace
                    | LeaveWorkspace
            ),
        }
    }

    /// Whether this role may hand out `other` (to an API key, an invitation or a member): a role no higher than its
    /// own. Roles rank owner > admin > editor > viewer; a client ranks apart and only owners and admins hand it out.
    /// An admin may not make owners; editors, viewers and clients hand out no role above their own (and have no
    /// route that hands out roles at all).
    pub fn may_grant(self, other: Role) -> bool {
        match (self, other) {
            (Role::Owner, _) => true,
            (Role::Admin, Role::Owner) => false,
            (Role::Admin, _) => true,
            (Role::Client, _) | (_, Role::Client) => false,
            (mine, theirs) => theirs.rank() <= mine.rank(),
        }
    }

    /// Owner 3, admin 2, editor 1, viewer 0; clients are not ranked with the others and are given 0.
    fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            Role::Editor => 1,
            Role::Viewer | Role::Client => 0,
        }
    }
}

/// Who acts in a workspace: an API key, or a person through one of their sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An API key, by its public id.
    Key { id: String },
    /// A person, and the public id of the session the request came with.
    Person { id: PersonId, session_id: String },
}

impl Actor {
    /// The person, if a person acts.
    pub fn person(&self) -> Option<&PersonId> {
        match self {
            Actor::Person { id, .. } => Some(id),
            Actor::Key { .. } => None,
        }
    }

    /// Who acted, as the audit log keeps it (never the session).
    pub fn acted_by(&self) -> ActedBy {
        match self {
            Actor::Key { id } => ActedBy::Key(id.clone()),
            Actor::Person { id, .. } => ActedBy::Person(id.clone()),
        }
    }
}

/// Who acted, as an audit entry records it: `{"person": "psn_…"}` or `{"key": "<key id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActedBy {
    Person(PersonId),
    Key(String),
    /// The command line (`postora workspace …`), run by whoever operates Postora.
    Operator,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_may_do_everything() {
        assert!(Action::ALL.iter().all(|a| Role::Owner.may(*a)));
    }

    #[test]
    fn admins_may_do_everything_but_erase_and_transfer() {
        for a in Action::ALL {
            let expected = !matches!(a, Action::EraseWorkspace | Action::TransferOwnership);
            assert_eq!(Role::Admin.may(a), expected, "{a:?}");
        }
    }

    #[test]
    fn editors_write_posts_and_media_and_nothing_of_the_workspace() {
        for a in [
            Action::WritePosts,
            Action::WriteMedia,
            Action::ReadPosts,
            Action::ReadAudit,
        ] {
            assert!(Role::Editor.may(a), "{a:?}");
        }
        for a in [
            Action::ApprovePosts,
            Action::ConnectAccounts,
            Action::DisconnectAccounts,
            Action::ManageMembers,
            Action::ManageApiKeys,
            Action::ManageSettings,
            Action::Export,
            Action::EraseWorkspace,
            Action::TransferOwnership,
        ] {
            assert!(!Role::Editor.may(a), "{a:?}");
        }
    }

    #[test]
    fn viewers_only_read() {
        for a in Action::ALL {
            let reads = matches!(
                a,
                Action::ReadPosts
                    | Action::ReadAccounts
                    | Action::ReadMedia
                    | Action::ReadWorkspace
                    | Action::ReadMembers
                    | Action::ReadAudit
                    | Action::LeaveWorkspace
            );
            assert_eq!(Role::Viewer.may(a), reads, "{a:?}");
        }
    }

    #[test]
    fn clients_read_posts_and_approve_them_and_nothing_else() {
        let allowed: Vec<Action> = Action::ALL
            .into_iter()
            .filter(|a| Role::Client.may(*a))
            .collect();
        assert_eq!(
            allowed,
            vec![
                Action::ReadPosts,
                Action::ApprovePosts,
                Action::ReadAccounts,
                Action::ReadMedia,
                Action::ReadWorkspace,
                Action::LeaveWorkspace
            ]
        );
    }

    #[test]
    fn every_role_may_do_what_the_roles_below_it_may() {
        let chain = [Role::Owner, Role::Admin, Role::Editor, Role::Viewer];
        for pair in chain.windows(2) {
            for a in Action::ALL {
                assert!(!pair[1].may(a) || pair[0].may(a), "{:?} {a:?}", pair[0]);
            }
        }
    }

    #[test]
    fn a_role_grants_nothing_above_itself_and_clients_come_from_owners_and_admins() {
        use Role::*;
        let grants =
            |r: Role| -> Vec<Role> { Role::ALL.into_iter().filter(|o| r.may_grant(*o)).collect() };
        assert_eq!(grants(Owner), vec![Owner, Admin, Editor, Viewer, Client]);
        assert_eq!(grants(Admin), vec![Admin, Editor, Viewer, Client]);
        assert_eq!(grants(Editor), vec![Editor, Viewer]);
        assert_eq!(grants(Viewer), vec![Viewer]);
        assert_eq!(grants(Client), Vec::<Role>::new());
    }
}
