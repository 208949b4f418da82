//! How domain values become items and back. Most records are stored whole as JSON in the `data` attribute (what the
//! due index copies), next to the key and index attributes and the few plain attributes that condition
//! expressions test (`version`, `status`, expiry numbers). Secrets and wrapped keys are Binary attributes of their own,
//! never part of `data`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::Blob;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys;
use crate::adapters::aws::table::{DATA, DUE_INDEX, LOOKUP_INDEX, TABLE};
use crate::domain::people::SIGN_IN_RETENTION;
use crate::domain::workspace::legacy_api_key_id;
use crate::domain::{
    Account, AccountStatus, ApiKeyRecord, Delivery, DeliveryStatus, IdempotencyRecord, Invitation,
    MediaItem, Membership, OneTimeLink, Person, PostId, Role, SealedTokens, Session, SessionFlags,
    SignIn, UploadSession, Workspace, WorkspaceId, WorkspaceSettings,
};
use crate::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub const VERSION: &str = "version";
pub const KIND: &str = "kind";
/// Exact expiry in nanoseconds, for conditions; `expires_at` (seconds) is only for DynamoDB's time to live.
pub const EXPIRES_NS: &str = "expires_ns";
const WRAPPED_KEY: &str = "wrapped_key";
const CIPHERTEXT: &str = "ciphertext";
/// Named so as not to be the table's TTL attribute: an expired access token must not delete its refresh token.
const TOKEN_EXPIRES: &str = "token_expires_at";
pub const REF_ACCOUNT: &str = "account_id";
pub const REF_WORKSPACE: &str = "workspace_id";
pub const REF_CODE: &str = "confirmation_code";

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An item that could not be read back: the store holds something this code did not write.
pub fn unreadable(what: &str) -> StoreError {
    StoreError::Unavailable(format!("a stored {what} could not be read").into())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        (TABLE.partition_key.name.to_owned(), s(pk)),
        (TABLE.sort_key.name.to_owned(), s(sk)),
    ])
}

/// The partition and sort key of an item read back.
pub fn key_of(item: &Item) -> Item {
    [TABLE.partition_key.name, TABLE.sort_key.name]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub fn sort_key(item: &Item) -> Option<&str> {
    get_s(item, TABLE.sort_key.name)
}

fn json<T: Serialize>(value: &T, what: &str) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|_| StoreError::Unavailable(format!("a {what} could not be encoded").into()))
}

/// The record in an item's `data` attribute.
pub fn data<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, StoreError> {
    get_s(item, DATA)
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| unreadable(what))
}

fn index_keys(
    item: &mut Item,
    index: &crate::adapters::aws::table::IndexDefinition,
    pk: String,
    sk: String,
) {
    item.insert(index.partition_key.name.to_owned(), s(pk));
    item.insert(index.sort_key.name.to_owned(), s(sk));
}

#[derive(Serialize, Deserialize)]
struct WorkspaceData {
    id: WorkspaceId,
    name: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    settings: WorkspaceSettings,
}

pub fn workspace_item(w: &Workspace) -> Result<Item, StoreError> {
    let mut item = key(keys::workspace_pk(&w.id), keys::WORKSPACE_SK);
    item.insert(KIND.into(), s("workspace"));
    let data = WorkspaceData {
        id: w.id.clone(),
        name: w.name.clone(),
        created_at: w.created_at,
        settings: w.settings.clone(),
    };
    item.insert(DATA.into(), json(&data, "workspace")?);
    item.insert(
        WRAPPED_KEY.into(),
        AttributeValue::B(Blob::new(w.wrapped_key.clone())),
    );
    index_keys(
        &mut item,
        &LOOKUP_INDEX,
        keys::WORKSPACES_INDEX.into(),
        w.id.to_string(),
    );
    Ok(item)
}

pub fn workspace_from(item: &Item) -> Result<Workspace, StoreError> {
    let data: WorkspaceData = data(item, "workspace")?;
    let wrapped_key = item
        .get(WRAPPED_KEY)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref().to_vec())
        .ok_or_else(|| unreadable("workspace"))?;
    Ok(Workspace {
        id: data.id,
        name: data.name,
        wrapped_key,
        created_at: data.created_at,
        settings: data.settings,
    })
}

/// The public id of a key, on its key item and its reference; absent on keys stored before keys had ids.
const KEY_ID: &str = "key_id";
/// When the key was last used, epoch milliseconds: a plain number so that the touch can be conditioned on it.
pub const LAST_USED: &str = "last_used_at";

#[derive(Serialize, Deserialize, Default)]
struct ApiKeyData {
    label: Option<String>,
    created_at: Option<DateTime<Utc>>,
    /// Absent on keys stored before keys had roles: owners' keys.
    #[serde(default)]
    role: Option<Role>,
}

pub fn api_key_item(k: &ApiKeyRecord) -> Result<Item, StoreError> {
    let mut item = key(keys::api_key_pk(&k.hash), keys::API_KEY_SK);
    item.insert(KIND.into(), s("api_key"));
    item.insert(REF_WORKSPACE.into(), s(k.workspace_id.as_str()));
    if !k.legacy {
        item.insert(KEY_ID.into(), s(&k.id));
    }
    let data = ApiKeyData {
        label: k.label.clone(),
        created_at: k.created_at,
        role: Some(k.role),
    };
    item.insert(DATA.into(), json(&data, "api key")?);
    if let Some(t) = k.last_used_at {
        item.insert(LAST_USED.into(), n(t.timestamp_millis()));
    }
    Ok(item)
}

/// A key item read back. Items written before keys had ids hold only the workspace: their id comes from the hash.
pub fn api_key_from(item: &Item) -> Result<ApiKeyRecord, StoreError> {
    let hash = get_s(item, TABLE.partition_key.name)
        .and_then(|pk| pk.strip_prefix("KEY#"))
        .ok_or_else(|| unreadable("api key"))?;
    let workspace_id = get_s(item, REF_WORKSPACE).ok_or_else(|| unreadable("api key"))?;
    let data: ApiKeyData = match get_s(item, DATA) {
        Some(_) => data(item, "api key")?,
        None => ApiKeyData::default(),
    };
    let key_id = get_s(item, KEY_ID);
    Ok(ApiKeyRecord {
        workspace_id: WorkspaceId::from_trusted(workspace_id),
        id: key_id.map_or_else(|| legacy_api_key_id(hash), str::to_owned),
        hash: hash.to_owned(),
        label: data.label,
        role: data.role.unwrap_or(Role::Owner),
        created_at: data.created_at,
        last_used_at: get_n::<i64>(item, LAST_USED).and_then(DateTime::from_timestamp_millis),
        legacy: key_id.is_none(),
    })
}

pub fn api_key_ref_item(k: &ApiKeyRecord) -> Item {
    let mut item = key(
        keys::workspace_pk(&k.workspace_id),
        keys::api_key_ref_sk(&k.hash),
    );
    item.insert(KIND.into(), s("api_key_ref"));
    if !k.legacy {
        item.insert(KEY_ID.into(), s(&k.id));
    }
    item
}

/// The hash and public id a key reference names.
pub fn api_key_ref_from(item: &Item) -> Option<(String, String)> {
    let hash = sort_key(item)?.strip_prefix(keys::API_KEY_REF_PREFIX)?;
    let id = get_s(item, KEY_ID).map_or_else(|| legacy_api_key_id(hash), str::to_owned);
    Some((hash.to_owned(), id))
}

pub fn account_item(a: &Account) -> Result<Item, StoreError> {
    let mut item = key(keys::workspace_pk(&a.workspace_id), keys::account_sk(&a.id));
    item.insert(KIND.into(), s("account"));
    item.insert(DATA.into(), json(a, "account")?);
    item.insert(VERSION.into(), n(a.version));
    index_keys(
        &mut item,
        &LOOKUP_INDEX,
        keys::platform_user_index(a.platform, a.profile.grantor_id()),
        keys::account_index_sk(&a.workspace_id, &a.id),
    );
    if let (AccountStatus::Active, Some(expires)) = (a.status, a.token_expires_at) {
        index_keys(
            &mut item,
            &DUE_INDEX,
            keys::TOKEN_EXPIRY_INDEX.into(),
            keys::token_expiry_sk(expires, &a.workspace_id, &a.id),
        );
    }
    Ok(item)
}

/// Marks that the workspace has an account for this platform user, and which.
pub fn platform_user_item(a: &Account) -> Item {
    let mut item = key(
        keys::workspace_pk(&a.workspace_id),
        keys::platform_user_sk(a.platform, &a.profile.platform_user_id),
    );
    item.insert(KIND.into(), s("platform_user"));
    item.insert(REF_ACCOUNT.into(), s(a.id.as_str()));
    item
}

pub fn tokens_item(
    ws: &WorkspaceId,
    acc: &crate::domain::AccountId,
    tokens: &SealedTokens,
) -> Item {
    let mut item = key(keys::workspace_pk(ws), keys::token_sk(acc));
    item.insert(KIND.into(), s("tokens"));
    item.insert(
        CIPHERTEXT.into(),
        AttributeValue::B(Blob::new(tokens.ciphertext.clone())),
    );
    item.insert(VERSION.into(), n(tokens.version));
    if let Some(at) = tokens.expires_at {
        item.insert(TOKEN_EXPIRES.into(), s(at.to_rfc3339()));
    }
    item
}

pub fn tokens_from(item: &Item) -> Result<SealedTokens, StoreError> {
    let ciphertext = item
        .get(CIPHERTEXT)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref().to_vec())
        .ok_or_else(|| unreadable("token set"))?;
    let version = get_n(item, VERSION).ok_or_else(|| unreadable("token set"))?;
    let expires_at = match get_s(item, TOKEN_EXPIRES) {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| unreadable("token set"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    Ok(SealedTokens {
        ciphertext,
        version,
        expires_at,
    })
}

pub fn post_item(p: &crate::domain::Post) -> Result<Item, StoreError> {
    let mut item = key(keys::workspace_pk(&p.workspace_id), keys::post_sk(&p.id));
    item.insert(KIND.into(), s("post"));
    item.insert(DATA.into(), json(p, "post")?);
    item.insert(VERSION.into(), n(p.version));
    Ok(item)
}

pub fn delivery_item(d: &Delivery) -> Result<Item, StoreError> {
    let mut item = key(
        keys::workspace_pk(&d.workspace_id),
        keys::delivery_sk(&d.post_id, &d.account_id),
    );
    item.insert(KIND.into(), s("delivery"));
    item.insert(DATA.into(), json(d, "delivery")?);
    item.insert(VERSION.into(), n(d.version));
    item.insert("status".into(), s(d.status.as_str()));
    if let Some(wake_at) = d.wake_at {
        let key = d.key();
        let shard = keys::due_shard(&key);
        let partition = match d.status {
            DeliveryStatus::Scheduled => Some(keys::due_pk(shard)),
            DeliveryStatus::Queued | DeliveryStatus::Publishing => Some(keys::timer_pk(shard)),
            _ => None,
        };
        if let Some(partition) = partition {
            index_keys(
                &mut item,
                &DUE_INDEX,
                partition,
                keys::due_sk(wake_at, &key),
            );
        }
    }
    if !d.status.is_terminal() {
        index_keys(
            &mut item,
            &LOOKUP_INDEX,
            keys::live_index(&d.workspace_id, &d.account_id),
            d.post_id.to_string(),
        );
    }
    Ok(item)
}

/// Sets the time-to-live attribute (whole seconds, rounded up so DynamoDB never removes an item early) and the
/// exact expiry that conditions compare.
fn expiring(item: &mut Item, at: DateTime<Utc>) {
    let secs = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    item.insert(TABLE.ttl_attribute.into(), n(secs));
    item.insert(EXPIRES_NS.into(), n(keys::nanos(at)));
}

pub fn oauth_state_item(st: &crate::domain::OAuthState) -> Result<Item, StoreError> {
    let mut item = key(keys::oauth_state_pk(&st.state), keys::OAUTH_STATE_SK);
    item.insert(KIND.into(), s("oauth_state"));
    item.insert(DATA.into(), json(st, "OAuth state")?);
    expiring(&mut item, st.expires_at);
    Ok(item)
}

#[derive(Serialize, Deserialize)]
struct IdempotencyData {
    workspace_id: WorkspaceId,
    key: String,
    request_hash: String,
    post_id: PostId,
    expires_at: DateTime<Utc>,
}

pub fn idempotency_item(r: &IdempotencyRecord) -> Result<Item, StoreError> {
    let mut item = key(
        keys::workspace_pk(&r.workspace_id),
        keys::idempotency_sk(&r.key),
    );
    item.insert(KIND.into(), s("idempotency"));
    let data = IdempotencyData {
        workspace_id: r.workspace_id.clone(),
        key: r.key.clone(),
        request_hash: r.request_hash.clone(),
        post_id: r.post_id.clone(),
        expires_at: r.expires_at,
    };
    item.insert(DATA.into(), json(&data, "idempotency record")?);
    expiring(&mut item, r.expires_at);
    Ok(item)
}

pub fn idempotency_from(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    let d: IdempotencyData = data(item, "idempotency record")?;
    Ok(IdempotencyRecord {
        workspace_id: d.workspace_id,
        key: d.key,
        request_hash: d.request_hash,
        post_id: d.post_id,
        expires_at: d.expires_at,
    })
}

pub fn deletion_item(r: &crate::domain::DeletionRequest) -> Result<Item, StoreError> {
    let mut item = key(keys::deletion_pk(&r.confirmation_code), keys::DELETION_SK);
    item.insert(KIND.into(), s("deletion_request"));
    item.insert(DATA.into(), json(r, "deletion request")?);
    Ok(item)
}

pub fn deletion_user_item(r: &crate::domain::DeletionRequest) -> Item {
    let mut item = key(
        keys::deletion_user_pk(r.platform, &r.platform_user_id),
        keys::DELETION_SK,
    );
    item.insert(KIND.into(), s("deletion_user"));
    item.insert(REF_CODE.into(), s(r.confirmation_code.as_str()));
    item
}

pub fn audit_item(e: &crate::domain::AuditEntry) -> Result<Item, StoreError> {
    let mut item = key(keys::audit_pk(&e.workspace_id), keys::audit_sk(e.at, &e.id));
    item.insert(KIND.into(), s("audit"));
    item.insert(DATA.into(), json(e, "audit entry")?);
    Ok(item)
}

/// An item's stored bytes (original and renditions), beside its record, for the usage arithmetic.
pub const STORED_BYTES: &str = "stored_bytes";
/// When a post first used the item, epoch milliseconds; absent while no post has. The record's own `attached_at` is
/// read from here, since attaching does not rewrite `data`.
pub const ATTACHED_AT: &str = "attached_at";
/// The posts that ever used the item: a string set of post ids.
pub const POSTS: &str = "posts";
/// The bytes a workspace's media take, on its usage item.
pub const USAGE_BYTES: &str = "bytes";

fn count(v: u64) -> AttributeValue {
    n(v)
}

/// A media item. While no post uses it, it is listed in the due index under `UNATTACHED` by creation time, for the
/// sweep that removes such items; attaching it removes those index keys.
pub fn media_item(m: &MediaItem) -> Result<Item, StoreError> {
    let mut item = key(keys::workspace_pk(&m.workspace_id), keys::media_sk(&m.id));
    item.insert(KIND.into(), s("media"));
    item.insert(DATA.into(), json(m, "media item")?);
    item.insert(VERSION.into(), n(m.version));
    item.insert(STORED_BYTES.into(), count(m.stored_bytes()));
    match m.attached_at {
        Some(at) => {
            item.insert(ATTACHED_AT.into(), n(at.timestamp_millis()));
        }
        None => index_keys(
            &mut item,
            &DUE_INDEX,
            keys::UNATTACHED_INDEX.into(),
            keys::unattached_sk(m.created_at, &m.workspace_id, &m.id),
        ),
    }
    Ok(item)
}

/// A media item read back: the record, with the version and attachment time kept beside it.
pub fn media_from(item: &Item) -> Result<MediaItem, StoreError> {
    let mut m: MediaItem = data(item, "media item")?;
    m.version = get_n(item, VERSION).ok_or_else(|| unreadable("media item"))?;
    m.attached_at = get_n::<i64>(item, ATTACHED_AT).and_then(DateTime::from_timestamp_millis);
    Ok(m)
}

/// The posts an item read back names.
pub fn media_posts(item: &Item) -> Vec<PostId> {
    let mut posts: Vec<PostId> = item
        .get(POSTS)
        .and_then(|v| v.as_ss().ok())
        .map(|ss| ss.iter().map(PostId::from_trusted).collect())
        .unwrap_or_default();
    posts.sort();
    posts
}

/// The bytes a usage item counts (never below zero).
pub fn usage_from(item: Option<&Item>) -> u64 {
    item.and_then(|i| get_n::<i64>(i, USAGE_BYTES))
        .map_or(0, |b| u64::try_from(b).unwrap_or(0))
}

/// An upload session. DynamoDB's time to live removes it a day after it expires, leaving the sweep of expired uploads
/// (the due index under `UPLOADEXP`, by expiry) a day to abort its multipart upload; reads compare the exact expiry.
pub fn upload_item(u: &UploadSession) -> Result<Item, StoreError> {
    let mut item = key(keys::workspace_pk(&u.workspace_id), keys::upload_sk(&u.id));
    item.insert(KIND.into(), s("upload"));
    item.insert(DATA.into(), json(u, "upload")?);
    let removed = u.expires_at + crate::domain::media::UNATTACHED_TTL;
    let secs = removed.timestamp() + i64::from(removed.timestamp_subsec_nanos() > 0);
    item.insert(TABLE.ttl_attribute.into(), n(secs));
    item.insert(EXPIRES_NS.into(), n(keys::nanos(u.expires_at)));
    index_keys(
        &mut item,
        &DUE_INDEX,
        keys::UPLOAD_EXPIRY_INDEX.into(),
        keys::upload_expiry_sk(u.expires_at, &u.workspace_id, &u.id),
    );
    Ok(item)
}

/// The person an address claim or a reference names.
pub const REF_PERSON: &str = "person_id";
/// The token hash an invitation's listing item names.
pub const REF_TOKEN_HASH: &str = "token_hash";
/// When a session last saw a request, epoch milliseconds: a plain number, so that the touch can be conditioned on it.
pub const LAST_SEEN: &str = "last_seen_at";
/// A session's copy of its person's state, as plain attributes rewritten without touching the record.
pub const FLAG_EMAIL_VERIFIED: &str = "email_verified";
pub const FLAG_TWO_FACTOR: &str = "two_factor";
/// An attempt counter's window start (epoch milliseconds) and count.
pub const WINDOW: &str = "window_start";
pub const COUNT: &str = "attempts";

/// A person. The record holds the password hash and the sealed second-factor secret, so the item carries no index
/// keys: no index ever copies it.
pub fn person_item(p: &Person) -> Result<Item, StoreError> {
    let mut item = key(keys::person_pk(&p.id), keys::PERSON_SK);
    item.insert(KIND.into(), s("person"));
    item.insert(DATA.into(), json(p, "person")?);
    item.insert(VERSION.into(), n(p.version));
    Ok(item)
}

pub fn person_from(item: &Item) -> Result<Person, StoreError> {
    let mut p: Person = data(item, "person")?;
    p.version = get_n(item, VERSION).ok_or_else(|| unreadable("person"))?;
    Ok(p)
}

/// The claim on a person's address.
pub fn email_claim_item(p: &Person) -> Item {
    let mut item = key(keys::email_pk(&p.email.lookup_key()), keys::EMAIL_SK);
    item.insert(KIND.into(), s("email_claim"));
    item.insert(REF_PERSON.into(), s(p.id.as_str()));
    item
}

pub fn session_item(session: &Session) -> Result<Item, StoreError> {
    let mut item = key(
        keys::person_pk(&session.person_id),
        keys::session_sk(&session.token_hash),
    );
    item.insert(KIND.into(), s("session"));
    item.insert(DATA.into(), json(session, "session")?);
    item.insert(LAST_SEEN.into(), n(session.last_seen_at.timestamp_millis()));
    item.insert(
        FLAG_EMAIL_VERIFIED.into(),
        AttributeValue::Bool(session.flags.email_verified),
    );
    item.insert(
        FLAG_TWO_FACTOR.into(),
        AttributeValue::Bool(session.flags.two_factor),
    );
    expiring(&mut item, session.expires_at);
    Ok(item)
}

/// A session read back: the record, with the last activity and flags kept beside it.
pub fn session_from(item: &Item) -> Result<Session, StoreError> {
    let mut session: Session = data(item, "session")?;
    if let Some(at) = get_n::<i64>(item, LAST_SEEN).and_then(DateTime::from_timestamp_millis) {
        session.last_seen_at = at;
    }
    let flag = |name: &str| item.get(name).and_then(|v| v.as_bool().ok()).copied();
    session.flags = SessionFlags {
        email_verified: flag(FLAG_EMAIL_VERIFIED).unwrap_or(session.flags.email_verified),
        two_factor: flag(FLAG_TWO_FACTOR).unwrap_or(session.flags.two_factor),
    };
    Ok(session)
}

pub fn link_item(link: &OneTimeLink) -> Result<Item, StoreError> {
    let mut item = key(keys::link_pk(&link.token_hash), keys::LINK_SK);
    item.insert(KIND.into(), s("link"));
    item.insert(DATA.into(), json(link, "link")?);
    expiring(&mut item, link.expires_at);
    Ok(item)
}

/// The reference to a link in its person's partition (expiring with it).
pub fn link_ref_item(link: &OneTimeLink) -> Item {
    let mut item = key(
        keys::person_pk(&link.person_id),
        keys::link_ref_sk(&link.token_hash),
    );
    item.insert(KIND.into(), s("link_ref"));
    expiring(&mut item, link.expires_at);
    item
}

/// A sign-in, removed by the time to live when its retention ends.
pub fn sign_in_item(entry: &SignIn) -> Result<Item, StoreError> {
    let mut item = key(
        keys::person_pk(&entry.person_id),
        keys::sign_in_sk(entry.at, &crate::domain::ids::random_token(6)),
    );
    item.insert(KIND.into(), s("sign_in"));
    item.insert(DATA.into(), json(entry, "sign-in")?);
    expiring(&mut item, entry.at + SIGN_IN_RETENTION);
    Ok(item)
}

/// A membership in its workspace's partition; [`membership_mirror_item`] is its copy in the person's.
pub fn membership_item(m: &Membership) -> Result<Item, StoreError> {
    let mut item = key(
        keys::workspace_pk(&m.workspace_id),
        keys::member_sk(&m.person_id),
    );
    item.insert(KIND.into(), s("membership"));
    item.insert(DATA.into(), json(m, "membership")?);
    item.insert(VERSION.into(), n(m.version));
    Ok(item)
}

pub fn membership_mirror_item(m: &Membership) -> Result<Item, StoreError> {
    let mut item = key(
        keys::person_pk(&m.person_id),
        keys::membership_sk(&m.workspace_id),
    );
    item.insert(KIND.into(), s("membership_mirror"));
    item.insert(DATA.into(), json(m, "membership")?);
    item.insert(VERSION.into(), n(m.version));
    Ok(item)
}

pub fn membership_from(item: &Item) -> Result<Membership, StoreError> {
    let mut m: Membership = data(item, "membership")?;
    m.version = get_n(item, VERSION).ok_or_else(|| unreadable("membership"))?;
    Ok(m)
}

/// An invitation, found by the hash of its token.
pub fn invitation_item(i: &Invitation) -> Result<Item, StoreError> {
    let mut item = key(keys::invitation_pk(&i.token_hash), keys::INVITATION_SK);
    item.insert(KIND.into(), s("invitation"));
    item.insert(DATA.into(), json(i, "invitation")?);
    expiring(&mut item, i.expires_at);
    Ok(item)
}

/// An invitation's listing item in its workspace's partition: the record again, and the hash of its token.
pub fn invitation_ref_item(i: &Invitation) -> Result<Item, StoreError> {
    let mut item = key(
        keys::workspace_pk(&i.workspace_id),
        keys::invitation_ref_sk(&i.id),
    );
    item.insert(KIND.into(), s("invitation_ref"));
    item.insert(DATA.into(), json(i, "invitation")?);
    item.insert(REF_TOKEN_HASH.into(), s(i.token_hash.as_str()));
    expiring(&mut item, i.expires_at);
    Ok(item)
}

/// Whether an item with an exact expiry has expired at `now` (items without one never do).
pub fn expired(item: &Item, now: DateTime<Utc>) -> bool {
    get_n::<i64>(item, EXPIRES_NS).is_some_and(|exp| exp <= keys::nanos(now))
}

/// A workspace's settings, read from its item without its wrapped key.
pub fn workspace_settings_from(item: &Item) -> Result<WorkspaceSettings, StoreError> {
    let data: WorkspaceData = data(item, "workspace")?;
    Ok(data.settings)
}
