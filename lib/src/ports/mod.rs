//! The ports: what the use cases need from the outside world. Each has an AWS adapter and a local one, and one
//! conformance suite (in the `postora-test-support` crate) that both must pass.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

mod mail;
mod media;
mod people;
mod platform;
mod registrations;

pub use media::{
    Admission, BlobError, BlobStore, ByteStream, CompletedPart, FetchError, MediaStore, ObjectKey,
    RemoteFiles, StoredPart, MAX_LINK_TTL, MAX_PARTS, MAX_PART_BYTES, MIN_PART_BYTES,
};

pub use mail::{Email, MailError, Mailer};
pub use people::{MemberStore, PeopleStore, SessionLookup};

pub use registrations::{
    ClientRegistration, ClientRegistrationStore, ClientRegistrations, RegistrationError,
    StoredRegistration,
};

pub use platform::{
    new_pkce_verifier, Authorization, AuthorizeRequest, CodeExchange, Connection, MediaBytes,
    NoProgress, Platform, PlatformError, Platforms, Progress, PublishJob, PublishMedia, Published,
    Recovery,
};

use crate::domain::{
    Account, AccountId, ApiKeyRecord, AuditEntry, DeletionRequest, Delivery, DeliveryKey,
    DeliveryStatus, Event, IdempotencyRecord, OAuthState, PlatformKind, Post, PostId, SealedTokens,
    Workspace, WorkspaceId,
};

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found another version or status than expected: someone else got there first.
    #[error("the record changed underneath this write")]
    Conflict,
    /// The item to change does not exist.
    #[error("not found")]
    NotFound,
    /// The store refused for load; safe to retry later.
    #[error("the store is busy: {0}")]
    Throttled(#[source] Cause),
    /// Anything else: the store could not be reached or answered strangely.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Cause),
}

/// What lies under a [`StoreError`]: a message for people, and the error that caused it, kept for
/// [`std::error::Error::source`] so a log can show the whole chain.
#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Cause {
    /// A cause with the error underneath it; the message is that error's own.
    pub fn from_error(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Most deliveries one [`PostStore::save_deliveries`] call may write (what one DynamoDB transaction holds).
pub const MAX_DELIVERY_BATCH: usize = 100;

/// Filters for listing posts.
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    /// Only posts with at least one delivery in this status.
    pub status: Option<DeliveryStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page of results and the opaque cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A post and all its deliveries, as read together.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRecord {
    pub post: Post,
    pub deliveries: Vec<Delivery>,
}

/// Everything one publish reads, as read together by [`PostStore::publish_inputs`].
#[derive(Debug, Clone, PartialEq)]
pub struct PublishInputs {
    pub delivery: Delivery,
    /// The post alone: its other deliveries are not read.
    pub post: Option<Post>,
    pub account: Option<Account>,
    pub tokens: Option<SealedTokens>,
}

/// Workspaces and their API keys.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates a workspace with its first API key (its hash and public id, never the key).
    async fn create_workspace(&self, workspace: &Workspace, key: &ApiKeyRecord) -> StoreResult<()>;
    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>>;
    /// Writes a workspace's name and settings (its key and creation time never change); `NotFound` if it is gone.
    async fn update_workspace(&self, workspace: &Workspace) -> StoreResult<()>;
    /// The stored key with this hash, strongly consistent: a revoked key is gone at once.
    async fn find_api_key(&self, api_key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    async fn workspace_for_key(&self, api_key_hash: &str) -> StoreResult<Option<WorkspaceId>> {
        Ok(self
            .find_api_key(api_key_hash)
            .await?
            .map(|k| k.workspace_id))
    }
    /// Adds a key to `key.workspace_id`: [`StoreError::NotFound`] if the workspace does not exist,
    /// [`StoreError::Conflict`] if the hash is stored already.
    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The workspace's keys, oldest first (legacy keys, without a creation time, before the others).
    async fn list_api_keys(&self, ws: &WorkspaceId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Deletes the workspace's key with this public id and returns it; [`StoreError::NotFound`] if it has none.
    async fn revoke_api_key(&self, ws: &WorkspaceId, key_id: &str) -> StoreResult<ApiKeyRecord>;
    /// Records that the key was used at `at`, with one conditional write that happens only while the key exists and
    /// its stored `last_used_at` is absent or before `stale_before`. Returns whether it wrote.
    async fn touch_api_key(
        &self,
        api_key_hash: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Removes the workspace and everything in it: keys, memberships and invitations, accounts, tokens, posts,
    /// deliveries, idempotency records, media records, uploads and usage, and its audit log (the media's bytes are removed through
    /// [`BlobStore::delete_workspace`]). The caller writes the tombstone afterwards.
    async fn erase_workspace(&self, id: &WorkspaceId) -> StoreResult<()>;
    /// All workspace ids (admin listings and maintenance sweeps).
    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>>;
}

/// Accounts and their sealed tokens. Tokens live apart from the account, so listing accounts never reads a secret.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts a new account, or updates the one with the same workspace, platform and platform user id
    /// (reconnecting). Returns the stored account, whose id is the existing one on a reconnect.
    async fn upsert_account(&self, account: &Account) -> StoreResult<Account>;
    async fn get_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self, ws: &WorkspaceId) -> StoreResult<Vec<Account>>;
    /// Every account one platform user granted access to, in every workspace: the accounts whose
    /// [`Profile::grantor_id`](crate::domain::Profile::grantor_id) is `platform_user_id` (the person's own account,
    /// and the Pages and Instagram accounts they connected through their login). Meta's data-deletion and
    /// deauthorize callbacks name only that person.
    async fn accounts_by_platform_user(
        &self,
        platform: PlatformKind,
        platform_user_id: &str,
    ) -> StoreResult<Vec<Account>>;
    /// Writes `account` if the stored version is `expected_version`.
    async fn update_account(&self, account: &Account, expected_version: u64) -> StoreResult<()>;
    /// Removes an account row entirely (workspace erase uses `erase_workspace`; this is for tests and admin).
    async fn delete_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<()>;
    /// Writes sealed tokens. With `expected_version` the write happens only if the stored tokens have that version
    /// (serialized refresh); with `None` it overwrites. The new version is `tokens.version`.
    async fn put_tokens(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
        tokens: &SealedTokens,
        expected_version: Option<u64>,
    ) -> StoreResult<()>;
    async fn get_tokens(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
    ) -> StoreResult<Option<SealedTokens>>;
    async fn delete_tokens(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<()>;
    /// Active accounts whose tokens expire before `before`, soonest first, at most `limit` per page, for the token
    /// refresher. Pass a page's `next_cursor` to read on from the last account it held; the listing is complete once
    /// `next_cursor` is `None` (a page may be short, even empty, and still have one). An account whose expiry moves
    /// while the listing is read may be met again on a later page, or not at all if it moved before the cursor.
    async fn accounts_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Account>>;
}

/// Posts and their deliveries.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Writes a new post and all its deliveries at once.
    async fn create_post(&self, record: &PostRecord) -> StoreResult<()>;
    async fn get_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<Option<PostRecord>>;
    /// Posts matching `filter`, newest first, at most `limit`. One call reads a bounded amount (about ten times
    /// `limit` posts), so a page may hold fewer than `limit` posts, or none, while `next_cursor` is set: a filter
    /// that matches little is answered page by page, never by reading the whole workspace. The listing is complete
    /// once `next_cursor` is `None`.
    async fn list_posts(
        &self,
        ws: &WorkspaceId,
        filter: &PostFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<PostRecord>>;
    /// Replaces a post and its deliveries at once: each delivery in `upsert` is written if its stored version is the
    /// one before it (or it is new), each key in `remove` is deleted if it is still at the given version, and the post
    /// itself must still be at `expected_version`. All or nothing.
    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
        upsert: &[(Delivery, Option<u64>)],
        remove: &[(AccountId, u64)],
    ) -> StoreResult<()>;
    /// Deletes a post and its deliveries (workspace erase and admin only; users cancel instead).
    async fn delete_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<()>;
    async fn get_delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>>;
    /// The delivery with its post (the post alone), its account and the account's sealed tokens, all strongly
    /// consistent; `None` if the delivery does not exist. This reaches past the post aggregate on purpose: it is the
    /// publisher's only read per delivery, and the four records share the workspace's partition, so DynamoDB serves
    /// them in one request where separate reads would cost four.
    async fn publish_inputs(&self, key: &DeliveryKey) -> StoreResult<Option<PublishInputs>>;
    /// Writes `delivery` if the stored one is at `expected_version`: every status change goes through here.
    async fn save_delivery(&self, delivery: &Delivery, expected_version: u64) -> StoreResult<()>;
    /// [`save_delivery`](Self::save_delivery) and [`RecordStore::append_audit`] all or nothing: the delivery is
    /// written if the stored one is at `expected_version` (a failed condition is `Conflict`, or `NotFound` if the
    /// delivery is gone, exactly as `save_delivery` answers), and `audit` is appended with it. A publishing attempt
    /// records its result and the audit entry about it in one request instead of two, and the log never shows a
    /// result that was not written.
    async fn save_delivery_with_audit(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// Writes each delivery if its stored one is at the version paired with it, all or nothing: `Conflict` (and
    /// nothing written) if any condition fails. At most [`MAX_DELIVERY_BATCH`] at once. The dispatcher queues a run's
    /// deliveries this way in one request instead of one each, and falls back to single writes on a conflict.
    async fn save_deliveries(&self, changes: &[(Delivery, u64)]) -> StoreResult<()>;
    /// Scheduled deliveries due at or before `before`, earliest first, at most `limit` (the due index).
    async fn due_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;
    /// Queued or publishing deliveries whose timer (the requeue deadline, the end of the lease) ran out at or before
    /// `before`, earliest first, at most `limit`. Kept apart from the due index so that a busy minute of scheduled
    /// deliveries never hides an expired lease, and the reverse.
    async fn expired_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;
    /// The deliveries of one account that are not yet terminal.
    async fn live_deliveries_for_account(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
    ) -> StoreResult<Vec<Delivery>>;
}

/// Short-lived records: OAuth states, Idempotency-Key records.
#[async_trait]
pub trait EphemeralStore: Send + Sync {
    async fn put_oauth_state(&self, state: &OAuthState) -> StoreResult<()>;
    /// Removes and returns the state if it exists and has not expired at `now`; a second call returns `None`.
    async fn take_oauth_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OAuthState>>;
    /// Stores the record unless one with the same workspace and key exists and has not expired; returns the existing
    /// one in that case.
    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    async fn delete_idempotency(&self, ws: &WorkspaceId, key: &str) -> StoreResult<()>;
}

/// Data-deletion requests and the audit log.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Stores the request unless one for the same platform user exists; returns the stored one either way.
    async fn put_deletion_request(&self, request: &DeletionRequest)
        -> StoreResult<DeletionRequest>;
    async fn update_deletion_request(&self, request: &DeletionRequest) -> StoreResult<()>;
    async fn get_deletion_request(&self, code: &str) -> StoreResult<Option<DeletionRequest>>;
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Reduces every audit entry about `account` to what happened and when: its `detail` (platform ids,
    /// permalinks, the platform's answers) becomes `detail`. A data-deletion request leaves only such minimal
    /// records. Returns how many entries were rewritten.
    async fn redact_audit(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        detail: &serde_json::Value,
    ) -> StoreResult<u64>;
    /// Newest first.
    async fn list_audit(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEntry>>;
}

/// Everything the use cases store, each aggregate behind its own port.
#[derive(Clone)]
pub struct Stores {
    pub workspaces: Arc<dyn WorkspaceStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub posts: Arc<dyn PostStore>,
    pub ephemeral: Arc<dyn EphemeralStore>,
    pub records: Arc<dyn RecordStore>,
    /// Media items, their uploads and each workspace's usage (the bytes themselves are behind [`BlobStore`]).
    pub media: Arc<dyn MediaStore>,
    /// OAuth clients Postora registered with servers it was not configured for (Mastodon instances).
    pub registrations: Arc<dyn ClientRegistrationStore>,
    /// People, their sessions, links, sign-ins and attempt counters.
    pub people: Arc<dyn PeopleStore>,
    /// Memberships of workspaces and invitations.
    pub members: Arc<dyn MemberStore>,
}

impl Stores {
    /// One adapter that implements every store port.
    pub fn from_one<T>(store: Arc<T>) -> Self
    where
        T: WorkspaceStore
            + AccountStore
            + PostStore
            + EphemeralStore
            + RecordStore
            + MediaStore
            + ClientRegistrationStore
            + PeopleStore
            + MemberStore
            + 'static,
    {
        Stores {
            workspaces: store.clone(),
            accounts: store.clone(),
            posts: store.clone(),
            ephemeral: store.clone(),
            records: store.clone(),
            registrations: store.clone(),
            people: store.clone(),
            members: store.clone(),
            media: store,
        }
    }
}

/// Wraps and unwraps per-workspace data keys (KMS on AWS, a master key file locally).
#[async_trait]
pub trait KeyService: Send + Sync {
    /// A fresh 256-bit data key, in the clear and wrapped, bound to the workspace.
    async fn generate_data_key(
        &self,
        ws: &WorkspaceId,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), KeyError>;
    /// Unwraps a data key; fails if it was wrapped for another workspace.
    async fn decrypt_data_key(
        &self,
        ws: &WorkspaceId,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError>;
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key service refused: {0}")]
    Refused(String),
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
}

/// A message on the delivery queue: which delivery to publish now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub account_id: AccountId,
}

/// The most bytes a delivery message's body may have: three ids and their names take about 200.
pub const MAX_MESSAGE_BYTES: usize = 4096;

impl QueueMessage {
    /// Reads a message body from the queue. Whatever is there is outside input: a body that is too long, not this
    /// JSON, or names an id of the wrong shape is refused, saying why (never echoing the body).
    pub fn parse(body: &str) -> Result<QueueMessage, String> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(format!(
                "the message has {} bytes, more than {MAX_MESSAGE_BYTES}",
                body.len()
            ));
        }
        let m: QueueMessage = serde_json::from_str(body).map_err(|e| {
            let why = if e.is_data() {
                "it does not name a delivery"
            } else {
                "it is not JSON"
            };
            format!(
                "unreadable delivery message: {why} (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        if WorkspaceId::parse(m.workspace_id.as_str()).is_none() {
            return Err("the message's workspace_id is not a workspace id".into());
        }
        if PostId::parse(m.post_id.as_str()).is_none() {
            return Err("the message's post_id is not a post id".into());
        }
        if AccountId::parse(m.account_id.as_str()).is_none() {
            return Err("the message's account_id is not an account id".into());
        }
        Ok(m)
    }

    pub fn key(&self) -> DeliveryKey {
        DeliveryKey {
            workspace_id: self.workspace_id.clone(),
            post_id: self.post_id.clone(),
            account_id: self.account_id.clone(),
        }
    }
}

impl From<DeliveryKey> for QueueMessage {
    fn from(k: DeliveryKey) -> Self {
        QueueMessage {
            workspace_id: k.workspace_id,
            post_id: k.post_id,
            account_id: k.account_id,
        }
    }
}

/// A message to send, visible after `delay` (at most 15 minutes, as SQS allows).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message: QueueMessage,
    pub delay: Duration,
}

/// A received message: its body (raw, since a malformed body must fail only itself) and the handle to settle it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub body: String,
    pub receipt: String,
    pub receive_count: u32,
}

/// A message parked in the dead-letter queue.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
}

/// The longest delay a queue message may carry.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends messages, each with its own delay. Fails as a whole or not at all per message chunk.
    async fn send(&self, messages: &[Outgoing]) -> Result<(), QueueError>;
    /// Waits up to `wait` for at most `max` messages that are visible now; they stay invisible for the visibility
    /// timeout unless settled.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError>;
    /// The message was handled: remove it.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
    /// The message should come back after `delay` (counts as a receive; too many go to the dead-letter queue).
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Moves every dead letter back onto the queue; returns how many moved.
    async fn redrive(&self) -> Result<usize, QueueError>;
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// Where domain events go (EventBridge on AWS; a log, a table and optional webhooks locally).
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, events: &[Event]) -> Result<(), BusError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// The time. Injected so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests set by hand.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn queue_messages_name_a_delivery_with_well_formed_ids() {
        let key = DeliveryKey {
            workspace_id: WorkspaceId::generate(),
            post_id: PostId::generate(),
            account_id: AccountId::generate(),
        };
        let body = serde_json::to_string(&QueueMessage::from(key.clone())).unwrap();
        assert_eq!(QueueMessage::parse(&body).unwrap().key(), key);
        for bad in [
            r#"{"workspace_id":"ws_1#POST#x","post_id":"post_1","account_id":"acc_1"}"#.to_owned(),
            r#"{"workspace_id":"","post_id":"post_1","account_id":"acc_1"}"#.to_owned(),
            r#"{"workspace_id":"ws_1","post_id":"acc_1","account_id":"acc_1"}"#.to_owned(),
            r#"{"workspace_id":"ws_1","post_id":"post_1","account_id":7}"#.to_owned(),
            format!(
                r#"{{"workspace_id":"ws_{}","post_id":"post_1","account_id":"acc_1"}}"#,
                "a".repeat(5000)
            ),
            "[]".to_owned(),
            "not json".to_owned(),
        ] {
            let reason = QueueMessage::parse(&bad).unwrap_err();
            assert!(
                !reason.contains("POST#x"),
                "the body is not echoed: {reason}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_body_is_a_message_or_a_reason(body in prop_oneof![
            ".{0,300}",
            ("[a-z_#]{0,20}", "[a-z_#]{0,20}", "[a-z_#]{0,20}").prop_map(|(w, p, a)| format!(
                r#"{{"workspace_id":"{w}","post_id":"{p}","account_id":"{a}"}}"#
            )),
        ]) {
            if let Ok(m) = QueueMessage::parse(&body) {
                prop_assert!(WorkspaceId::parse(m.workspace_id.as_str()).is_some());
                prop_assert!(PostId::parse(m.post_id.as_str()).is_some());
                prop_assert!(AccountId::parse(m.account_id.as_str()).is_some());
            }
        }
    }
}
