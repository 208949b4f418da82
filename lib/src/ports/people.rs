//! Where people, their sessions, single-use links, sign-ins, attempt counters, memberships and invitations are
//! kept. DynamoDB on AWS, SQLite on one machine; both pass the same conformance scenarios.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{
    EmailAddress, Invitation, InvitationId, Membership, OneTimeLink, Person, PersonId, Session,
    SessionFlags, SignIn, Workspace, WorkspaceId, WorkspaceSettings,
};

/// What [`PeopleStore::session_in_workspace`] read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionLookup {
    pub session: Option<Session>,
    pub membership: Option<Membership>,
    /// The named workspace's settings, if it exists.
    pub settings: Option<WorkspaceSettings>,
}

/// People and what belongs to each person alone.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Stores a new person and claims their address ([`EmailAddress::lookup_key`]) in one write:
    /// [`StoreError::Conflict`](super::StoreError::Conflict) if a person already has that address.
    async fn create_person(&self, person: &Person) -> StoreResult<()>;
    async fn get_person(&self, id: &PersonId) -> StoreResult<Option<Person>>;
    /// The person with this address, compared by its lookup key (case folded).
    async fn find_person_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Person>>;
    /// Writes `person` if the stored one is at `expected_version` (`person.version` is the new one). When the
    /// address changed, the claim moves with it in the same write: `Conflict` (and nothing written) if another
    /// person holds the new address or the version moved; `NotFound` if the person is gone.
    async fn update_person(&self, person: &Person, expected_version: u64) -> StoreResult<()>;
    /// Removes the person, their address claim, sessions, links and sign-ins. Memberships are the
    /// [`MemberStore`]'s. Removing a person who does not exist is not an error.
    async fn delete_person(&self, id: &PersonId) -> StoreResult<()>;

    /// Stores a new session (expiring by itself at `session.expires_at`).
    async fn put_session(&self, session: &Session) -> StoreResult<()>;
    /// The session with this token hash, if it belongs to `person`, and when a workspace is named, `person`'s
    /// membership of it and the workspace's settings: in one read (one request on DynamoDB, one query on SQLite), so
    /// checking a request costs no more. A session past `expires_at` may still be returned (TTL removes it lazily);
    /// the caller checks the time.
    async fn session_in_workspace(
        &self,
        token_hash: &str,
        person: &PersonId,
        workspace: Option<&WorkspaceId>,
    ) -> StoreResult<SessionLookup>;
    /// Rewrites the flags on every session of the person (after they verify their address or turn two-factor
    /// authentication on or off).
    async fn set_session_flags(&self, person: &PersonId, flags: SessionFlags) -> StoreResult<()>;
    /// Records activity on a session with one conditional write that happens only while the session exists and its
    /// stored `last_seen_at` is before `stale_before`. Returns whether it wrote.
    async fn touch_session(
        &self,
        person: &PersonId,
        token_hash: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The person's sessions, newest first (expired ones included until removed).
    async fn list_sessions(&self, person: &PersonId) -> StoreResult<Vec<Session>>;
    /// Ends one session; `NotFound` if the person has no session with that hash.
    async fn delete_session(&self, person: &PersonId, token_hash: &str) -> StoreResult<()>;
    /// Ends all the person's sessions but the one with hash `except`; returns how many ended.
    async fn delete_sessions(&self, person: &PersonId, except: Option<&str>) -> StoreResult<u64>;

    /// Stores a single-use link's record (expiring by itself at `link.expires_at`).
    async fn put_link(&self, link: &OneTimeLink) -> StoreResult<()>;
    /// Removes and returns the link with this token hash if it exists and has not expired at `now`: a second call,
    /// or a concurrent one, gets `None`.
    async fn take_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeLink>>;
    /// Removes every link of the person (a new password makes the old reset links useless).
    async fn delete_links(&self, person: &PersonId) -> StoreResult<()>;

    /// Appends to the person's sign-in record (kept for [`SIGN_IN_RETENTION`](crate::domain::people::SIGN_IN_RETENTION)).
    async fn record_sign_in(&self, entry: &SignIn) -> StoreResult<()>;
    /// The person's sign-ins, newest first, at most `limit`.
    async fn list_sign_ins(&self, person: &PersonId, limit: usize) -> StoreResult<Vec<SignIn>>;

    /// Counts one attempt under `key` (for example `signin:email:<lookup key>`, `signin:ip:<address>`) in the window
    /// that started at `window_start`, and returns the count including this one. A counter from an earlier window
    /// starts again from one. Counters expire by themselves at `expires_at`.
    async fn count_attempt(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<u32>;
    /// The count under `key` in the window that started at `window_start`, without counting (0 if none).
    async fn attempts(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32>;
    /// Forgets the counter under `key` (a successful sign-in clears the account's failures).
    async fn clear_attempts(&self, key: &str) -> StoreResult<()>;
}

/// Who belongs to which workspace, in which role, and who is invited.
#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Creates a workspace with its first member, its owner, in one write (a workspace made by a person has no API
    /// key to begin with).
    async fn create_workspace_with_owner(
        &self,
        workspace: &Workspace,
        owner: &Membership,
    ) -> StoreResult<()>;
    /// Adds a member: `Conflict` if the person is a member already.
    async fn add_membership(&self, membership: &Membership) -> StoreResult<()>;
    async fn get_membership(
        &self,
        ws: &WorkspaceId,
        person: &PersonId,
    ) -> StoreResult<Option<Membership>>;
    /// The workspace's members, oldest first.
    async fn list_members(&self, ws: &WorkspaceId) -> StoreResult<Vec<Membership>>;
    /// The person's memberships, in every workspace, oldest first.
    async fn memberships_of(&self, person: &PersonId) -> StoreResult<Vec<Membership>>;
    /// Writes a changed membership (its role) if the stored one is at `expected_version`.
    async fn update_membership(
        &self,
        membership: &Membership,
        expected_version: u64,
    ) -> StoreResult<()>;
    /// Writes several changed memberships of one workspace all or nothing, each at its expected version (a transfer
    /// of ownership changes two at once).
    async fn update_memberships(&self, changes: &[(Membership, u64)]) -> StoreResult<()>;
    /// Removes a member; `NotFound` if the person is not one.
    async fn delete_membership(&self, ws: &WorkspaceId, person: &PersonId) -> StoreResult<()>;

    /// Stores an invitation (expiring by itself at `invitation.expires_at`).
    async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()>;
    /// The invitation with this token hash if it has not expired at `now`, without using it up.
    async fn find_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>>;
    /// Removes and returns the invitation with this token hash if it has not expired at `now`: single use.
    async fn take_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>>;
    /// The workspace's open invitations, oldest first (expired ones left out).
    async fn list_invitations(
        &self,
        ws: &WorkspaceId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>>;
    /// Withdraws an invitation; `NotFound` if the workspace has none with that id.
    async fn delete_invitation(&self, ws: &WorkspaceId, id: &InvitationId) -> StoreResult<()>;
}
