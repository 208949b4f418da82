//! People, sessions, links, sign-ins, attempt counters, memberships and invitations on DynamoDB.
//!
//! Not written yet: every call answers that the store is unavailable.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use crate::domain::{
    EmailAddress, Invitation, InvitationId, Membership, OneTimeLink, Person, PersonId, Session,
    SessionFlags, SignIn, Workspace, WorkspaceId,
};
use crate::ports::{MemberStore, PeopleStore, SessionLookup, StoreError, StoreResult};

fn missing<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable(
        "people are not stored on DynamoDB yet".into(),
    ))
}

#[async_trait]
impl PeopleStore for DynamoStore {
    async fn create_person(&self, _: &Person) -> StoreResult<()> {
        missing()
    }
    async fn get_person(&self, _: &PersonId) -> StoreResult<Option<Person>> {
        missing()
    }
    async fn find_person_by_email(&self, _: &EmailAddress) -> StoreResult<Option<Person>> {
        missing()
    }
    async fn update_person(&self, _: &Person, _: u64) -> StoreResult<()> {
        missing()
    }
    async fn delete_person(&self, _: &PersonId) -> StoreResult<()> {
        missing()
    }
    async fn put_session(&self, _: &Session) -> StoreResult<()> {
        missing()
    }
    async fn session_in_workspace(
        &self,
        _: &str,
        _: &PersonId,
        _: Option<&WorkspaceId>,
    ) -> StoreResult<SessionLookup> {
        missing()
    }
    async fn set_session_flags(&self, _: &PersonId, _: SessionFlags) -> StoreResult<()> {
        missing()
    }
    async fn touch_session(
        &self,
        _: &PersonId,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> StoreResult<bool> {
        missing()
    }
    async fn list_sessions(&self, _: &PersonId) -> StoreResult<Vec<Session>> {
        missing()
    }
    async fn delete_session(&self, _: &PersonId, _: &str) -> StoreResult<()> {
        missing()
    }
    async fn delete_sessions(&self, _: &PersonId, _: Option<&str>) -> StoreResult<u64> {
        missing()
    }
    async fn put_link(&self, _: &OneTimeLink) -> StoreResult<()> {
        missing()
    }
    async fn take_link(&self, _: &str, _: DateTime<Utc>) -> StoreResult<Option<OneTimeLink>> {
        missing()
    }
    async fn delete_links(&self, _: &PersonId) -> StoreResult<()> {
        missing()
    }
    async fn record_sign_in(&self, _: &SignIn) -> StoreResult<()> {
        missing()
    }
    async fn list_sign_ins(&self, _: &PersonId, _: usize) -> StoreResult<Vec<SignIn>> {
        missing()
    }
    async fn count_attempt(&self, _: &str, _: DateTime<Utc>, _: DateTime<Utc>) -> StoreResult<u32> {
        missing()
    }
    async fn attempts(&self, _: &str, _: DateTime<Utc>) -> StoreResult<u32> {
        missing()
    }
    async fn clear_attempts(&self, _: &str) -> StoreResult<()> {
        missing()
    }
}

#[async_trait]
impl MemberStore for DynamoStore {
    async fn create_workspace_with_owner(&self, _: &Workspace, _: &Membership) -> StoreResult<()> {
        missing()
    }
    async fn add_membership(&self, _: &Membership) -> StoreResult<()> {
        missing()
    }
    async fn get_membership(
        &self,
        _: &WorkspaceId,
        _: &PersonId,
    ) -> StoreResult<Option<Membership>> {
        missing()
    }
    async fn list_members(&self, _: &WorkspaceId) -> StoreResult<Vec<Membership>> {
        missing()
    }
    async fn memberships_of(&self, _: &PersonId) -> StoreResult<Vec<Membership>> {
        missing()
    }
    async fn update_membership(&self, _: &Membership, _: u64) -> StoreResult<()> {
        missing()
    }
    async fn update_memberships(&self, _: &[(Membership, u64)]) -> StoreResult<()> {
        missing()
    }
    async fn delete_membership(&self, _: &WorkspaceId, _: &PersonId) -> StoreResult<()> {
        missing()
    }
    async fn put_invitation(&self, _: &Invitation) -> StoreResult<()> {
        missing()
    }
    async fn find_invitation(&self, _: &str, _: DateTime<Utc>) -> StoreResult<Option<Invitation>> {
        missing()
    }
    async fn take_invitation(&self, _: &str, _: DateTime<Utc>) -> StoreResult<Option<Invitation>> {
        missing()
    }
    async fn list_invitations(
        &self,
        _: &WorkspaceId,
        _: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        missing()
    }
    async fn delete_invitation(&self, _: &WorkspaceId, _: &InvitationId) -> StoreResult<()> {
        missing()
    }
}
