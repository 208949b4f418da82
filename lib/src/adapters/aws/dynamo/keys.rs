//! The key of every item kind, in one place. Keys are strings built from typed ids; times in sort keys are
//! zero-padded milliseconds so that string order is time order.
//!
//! An account's tokens live at `TOKEN#<account>` rather than under the account's own
//! key (`ACC#<account>#TOKEN`), so a `begins_with(sk, "ACC#")` listing of accounts never reads a token item at all (a filter
//! would still read them and pay for it).

use chrono::{DateTime, Utc};

use crate::domain::{
    AccountId, DeliveryKey, InvitationId, MediaId, PersonId, PlatformKind, PostId, UploadId,
    WorkspaceId,
};

/// How many partitions the due index spreads deliveries over. A busy minute writes to all of them; the dispatcher
/// queries each and merges. Raising it is safe (old items keep their shard, queries cover all shards below the
/// count); lowering it would hide deliveries in the dropped shards.
pub const DUE_SHARDS: u32 = 8;

pub fn workspace_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

pub const WORKSPACE_SK: &str = "WS";

/// The API key item, found by the hash of a presented key.
pub fn api_key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}

pub const API_KEY_SK: &str = "KEY";

/// A reference to an API key kept in its workspace's partition, so erasing the workspace finds its keys.
pub fn api_key_ref_sk(hash: &str) -> String {
    format!("KEY#{hash}")
}

pub const API_KEY_REF_PREFIX: &str = "KEY#";

pub fn account_sk(acc: &AccountId) -> String {
    format!("ACC#{acc}")
}

pub const ACCOUNT_PREFIX: &str = "ACC#";

pub fn token_sk(acc: &AccountId) -> String {
    format!("TOKEN#{acc}")
}

/// Marks that a workspace already holds an account for this platform user (reconnecting updates it).
pub fn platform_user_sk(platform: PlatformKind, user: &str) -> String {
    format!("PU#{}#{user}", platform.as_str())
}

pub fn platform_user_index(platform: PlatformKind, user: &str) -> String {
    format!("PU#{}#{user}", platform.as_str())
}

pub fn account_index_sk(ws: &WorkspaceId, acc: &AccountId) -> String {
    format!("{ws}#{acc}")
}

pub const TOKEN_EXPIRY_INDEX: &str = "TOKEXP";

pub fn token_expiry_sk(at: DateTime<Utc>, ws: &WorkspaceId, acc: &AccountId) -> String {
    format!("{}#{ws}#{acc}", padded_millis(at))
}

pub fn post_sk(post: &PostId) -> String {
    format!("POST#{post}")
}

/// The lowest and highest sort keys of posts and deliveries in a workspace partition.
pub const POSTS_FROM: &str = "POST#";
pub const POSTS_TO: &str = "POST$";

/// The highest sort key of one post's deliveries (`#` sorts below every character an id may hold).
pub fn post_items_to(post: &PostId) -> String {
    format!("POST#{post}#~")
}

pub fn delivery_sk(post: &PostId, acc: &AccountId) -> String {
    format!("POST#{post}#DLV#{acc}")
}

pub fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{key}")
}

pub fn oauth_state_pk(state: &str) -> String {
    format!("STATE#{state}")
}

pub const OAUTH_STATE_SK: &str = "STATE";

pub fn deletion_pk(code: &str) -> String {
    format!("DEL#{code}")
}

pub const DELETION_SK: &str = "DEL";

/// Marks that a platform user already has a deletion request, and names its confirmation code.
pub fn deletion_user_pk(platform: PlatformKind, user: &str) -> String {
    format!("DELU#{}#{user}", platform.as_str())
}

/// The OAuth client Postora registered with a server (a Mastodon instance), one per platform and server.
pub fn registration_pk(platform: PlatformKind, server: &str) -> String {
    format!("REG#{}#{server}", platform.as_str())
}

pub const REGISTRATION_SK: &str = "REG";

pub fn audit_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}#AUDIT")
}

pub fn audit_sk(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", padded_millis(at))
}

/// The due index proper: scheduled deliveries by due time.
pub fn due_pk(shard: u32) -> String {
    format!("DUE#{shard}")
}

/// Queued and publishing deliveries by the end of their requeue deadline or lease, kept apart from the due index so
/// that a busy minute of scheduled deliveries never hides an expired lease, nor the reverse.
pub fn timer_pk(shard: u32) -> String {
    format!("TIMER#{shard}")
}

/// The sort key in the due and timer listings: the time, then the delivery.
pub fn due_sk(wake_at: DateTime<Utc>, key: &DeliveryKey) -> String {
    format!(
        "{}#{}#{}#{}",
        padded_millis(wake_at),
        key.workspace_id,
        key.post_id,
        key.account_id
    )
}

/// The shard of a delivery in the due and timer listings: stable for the delivery's whole life, spread evenly.
pub fn due_shard(key: &DeliveryKey) -> u32 {
    let h = fnv1a(
        [
            key.workspace_id.as_str(),
            key.post_id.as_str(),
            key.account_id.as_str(),
        ]
        .iter()
        .flat_map(|s| s.bytes().chain(std::iter::once(b'#'))),
    );
    u32::try_from(h % u64::from(DUE_SHARDS)).unwrap_or(0)
}

/// A media item, in its workspace's partition.
pub fn media_sk(id: &MediaId) -> String {
    format!("MEDIA#{id}")
}

/// The lowest and highest sort keys of media items in a workspace partition.
pub const MEDIA_FROM: &str = "MEDIA#";
pub const MEDIA_TO: &str = "MEDIA#~";

/// The bytes the workspace's media take, one counter in its partition.
pub const MEDIA_USAGE_SK: &str = "USAGE#MEDIA";

/// A resumable upload, in its workspace's partition.
pub fn upload_sk(id: &UploadId) -> String {
    format!("UPLOAD#{id}")
}

/// Media items no post uses yet, by creation time (in the due index while unattached).
pub const UNATTACHED_INDEX: &str = "UNATTACHED";

pub fn unattached_sk(created: DateTime<Utc>, ws: &WorkspaceId, media: &MediaId) -> String {
    format!("{}#{ws}#{media}", padded_millis(created))
}

/// Uploads by expiry (in the due index while the upload item exists).
pub const UPLOAD_EXPIRY_INDEX: &str = "UPLOADEXP";

pub fn upload_expiry_sk(expires: DateTime<Utc>, ws: &WorkspaceId, upload: &UploadId) -> String {
    format!("{}#{ws}#{upload}", padded_millis(expires))
}

pub fn live_index(ws: &WorkspaceId, acc: &AccountId) -> String {
    format!("LIVE#{ws}#{acc}")
}

pub const WORKSPACES_INDEX: &str = "WORKSPACES";

/// A person: `PERSON#<id>` / `PROFILE`. Their sessions, sign-ins, references to their links and the mirrors of their
/// memberships share the partition, so one query lists each and deleting the person finds them all.
pub fn person_pk(id: &PersonId) -> String {
    format!("PERSON#{id}")
}

pub const PERSON_SK: &str = "PROFILE";

/// The claim on an address, by its lookup key (a hash: a key never shows an address), naming the person who holds
/// it. Written in the same transaction as the person, so two people cannot hold one address.
pub fn email_pk(lookup_key: &str) -> String {
    format!("EMAIL#{lookup_key}")
}

pub const EMAIL_SK: &str = "EMAIL";

/// A session, in its person's partition, by the hash of its token.
pub fn session_sk(token_hash: &str) -> String {
    format!("SESSION#{token_hash}")
}

pub const SESSION_PREFIX: &str = "SESSION#";

/// A single-use link, found by the hash of its token.
pub fn link_pk(token_hash: &str) -> String {
    format!("LINK#{token_hash}")
}

pub const LINK_SK: &str = "LINK";

/// A reference to a link in its person's partition, so a new password can remove every link of the person.
pub fn link_ref_sk(token_hash: &str) -> String {
    format!("LINK#{token_hash}")
}

pub const LINK_REF_PREFIX: &str = "LINK#";

/// A sign-in, in its person's partition, by time (then a random suffix, so two in one millisecond both stay).
pub fn sign_in_sk(at: DateTime<Utc>, unique: &str) -> String {
    format!("SIGNIN#{}#{unique}", padded_millis(at))
}

pub const SIGN_IN_PREFIX: &str = "SIGNIN#";

/// An attempt counter (sign-in, reset, verification guesses), by its key.
pub fn attempt_pk(key: &str) -> String {
    format!("ATTEMPT#{key}")
}

pub const ATTEMPT_SK: &str = "ATTEMPT";

/// A membership, in its workspace's partition (which erasing the workspace clears, and which the session check reads
/// beside the workspace item).
pub fn member_sk(person: &PersonId) -> String {
    format!("MEMBER#{person}")
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

/// The mirror of a membership in its person's partition, written in the same transaction as the membership, so a
/// person's workspaces are one strongly consistent query.
pub fn membership_sk(ws: &WorkspaceId) -> String {
    format!("MEMBERSHIP#{ws}")
}

pub const MEMBERSHIP_PREFIX: &str = "MEMBERSHIP#";

/// An invitation, found by the hash of its token.
pub fn invitation_pk(token_hash: &str) -> String {
    format!("INVITE#{token_hash}")
}

pub const INVITATION_SK: &str = "INVITE";

/// An invitation's listing item in its workspace's partition, by the invitation's public id.
pub fn invitation_ref_sk(id: &InvitationId) -> String {
    format!("INVITE#{id}")
}

pub const INVITATION_REF_PREFIX: &str = "INVITE#";

/// The highest sort key that begins with `prefix` (every id and hash sorts below `~`).
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}~")
}

/// An upper bound (exclusive) for time-ordered sort keys at or before `t`, to the millisecond.
pub fn millis_upper_bound(t: DateTime<Utc>) -> String {
    format!("{:015}", millis(t).saturating_add(1))
}

/// Milliseconds since the epoch, never negative, zero-padded so that string order is numeric order.
pub fn padded_millis(t: DateTime<Utc>) -> String {
    format!("{:015}", millis(t))
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().max(0)
}

/// Nanoseconds since the epoch, for exact expiry comparisons inside condition expressions.
pub fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() > 0 {
        i64::MAX
    } else {
        i64::MIN
    })
}

/// FNV-1a: tiny, stable across Rust releases (unlike `DefaultHasher`), good enough to spread keys.
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DeliveryKey {
        DeliveryKey {
            workspace_id: WorkspaceId::generate(),
            post_id: PostId::generate(),
            account_id: AccountId::generate(),
        }
    }

    #[test]
    fn due_keys_sort_by_time() {
        let k = key();
        let early = DateTime::from_timestamp_millis(999).unwrap_or_default();
        let late = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap_or_default();
        assert!(due_sk(early, &k) < due_sk(late, &k));
        assert!(due_sk(late, &k) < millis_upper_bound(late));
        assert!(due_sk(late, &k) > padded_millis(late));
    }

    #[test]
    fn shards_are_stable_and_spread() {
        let k = key();
        assert_eq!(due_shard(&k), due_shard(&k.clone()));
        let used: std::collections::HashSet<_> = (0..200).map(|_| due_shard(&key())).collect();
        assert_eq!(used.len(), DUE_SHARDS as usize);
    }

    #[test]
    fn a_posts_items_fall_between_its_bounds_and_no_other_posts_do() {
        let a = PostId::from_trusted("post_ab");
        let b = PostId::from_trusted("post_abc");
        let acc = AccountId::generate();
        let (from, to) = (post_sk(&a), post_items_to(&a));
        assert!(from.as_str() <= delivery_sk(&a, &acc).as_str());
        assert!(delivery_sk(&a, &acc) < to);
        assert!(post_sk(&b) > to);
        assert!(delivery_sk(&b, &acc) > to);
        assert!(POSTS_FROM < from.as_str() && to.as_str() < POSTS_TO);
    }

    #[test]
    fn media_items_fall_between_their_bounds_and_nothing_else_of_a_workspace_does() {
        let m = media_sk(&MediaId::generate());
        assert!(MEDIA_FROM < m.as_str() && m.as_str() < MEDIA_TO);
        for other in [
            MEDIA_USAGE_SK.to_owned(),
            upload_sk(&UploadId::generate()),
            post_sk(&PostId::generate()),
            account_sk(&AccountId::generate()),
            WORKSPACE_SK.to_owned(),
            member_sk(&PersonId::generate()),
            invitation_ref_sk(&InvitationId::generate()),
        ] {
            assert!(
                other.as_str() < MEDIA_FROM || other.as_str() > MEDIA_TO,
                "{other}"
            );
        }
    }

    #[test]
    fn a_workspaces_members_and_invitations_fall_outside_its_other_listings() {
        for sk in [
            member_sk(&PersonId::generate()),
            invitation_ref_sk(&InvitationId::generate()),
        ] {
            assert!(sk.as_str() < POSTS_FROM || sk.as_str() > POSTS_TO, "{sk}");
            assert!(!sk.starts_with(API_KEY_REF_PREFIX) && !sk.starts_with(ACCOUNT_PREFIX));
        }
        let session = session_sk(&"a".repeat(64));
        assert!(SESSION_PREFIX < session.as_str() && session < prefix_end(SESSION_PREFIX));
        let signin = sign_in_sk(Utc::now(), "x");
        assert!(signin.as_str() > SIGN_IN_PREFIX && signin < prefix_end(SIGN_IN_PREFIX));
        assert!(!signin.starts_with(SESSION_PREFIX) && !signin.starts_with(MEMBERSHIP_PREFIX));
    }

    #[test]
    fn accounts_and_tokens_do_not_share_a_prefix() {
        assert!(!token_sk(&AccountId::generate()).starts_with(ACCOUNT_PREFIX));
    }
}
