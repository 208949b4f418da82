//! The platform conformance suite: the same scenarios, run end to end through Postora's API against every platform
//! adapter and its peer (a fake server that follows the platform's documentation, or the platform's own reference
//! server), on the local backend and on the AWS one. A platform passes when every scenario its
//! [`Capabilities`] call for passes; adding a platform means an adapter, a peer and a row in `lib/tests/it`.
//!
//! A peer plays both the platform and the person: it approves the consent screen, shows what it holds as
//! published, and misbehaves on command the way the platform documents it does (rate limits with the platform's
//! own headers, a revoked grant, refused content, an answer lost after the post landed).

use std::time::Duration;

use async_trait::async_trait;
use postora::domain::PlatformKind;
use serde_json::Value;

/// How a platform's tokens are renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Tokens do not expire (Mastodon) or cannot be renewed ahead of time.
    Never,
    /// A refresh gives a new access token; the grant stays as it was.
    Renews,
    /// A refresh gives a new pair and the old refresh token is dead (X, Bluesky): refreshes of one account must take
    /// turns and the new pair must be stored before it is used.
    Rotates,
}

/// What Postora can find out about a publish call whose answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostAnswer {
    /// The platform can be asked (an idempotency key, a client-chosen record key, a checkpointed container): the
    /// delivery ends `published`, once.
    Recovered,
    /// The post can be looked for among the account's recent posts (X): `published` when found, never a second post.
    Searched,
    /// Nothing can tell: the delivery ends `in_doubt`, never published twice.
    InDoubt,
}

/// What the suite checks for a platform.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub refresh: Refresh,
    /// Whether the consent sends a PKCE challenge (and the token request its verifier).
    pub pkce: bool,
    /// Whether posts may carry images with alternative text.
    pub images: bool,
    /// Whether posts may carry a video.
    pub video: bool,
    /// Whether the platform publishes threads.
    pub threads: bool,
    pub lost_answer: LostAnswer,
}

/// One post as the peer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPost {
    /// The platform's id for it (what Postora records as `platform_post_id`).
    pub id: String,
    pub text: String,
    /// The id of the post it replies to, for a thread's later parts.
    pub reply_to: Option<String>,
    pub media: Vec<PeerMedia>,
}

/// One image or video attached to a post, as the peer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMedia {
    /// `image` or `video`.
    pub kind: String,
    pub alt: Option<String>,
}

/// A platform under test: what switches it on in Postora, and the control surface of its peer.
#[async_trait]
pub trait PlatformPeer: Send + Sync {
    fn kind(&self) -> PlatformKind;

    fn capabilities(&self) -> Capabilities;

    /// The environment that switches the platform on in Postora and points it at this peer (client id and
    /// secret, endpoint URLs, and `POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK` or the like where the peer is on loopback).
    fn env(&self) -> Vec<(String, String)>;

    /// The body of `POST /v1/accounts/connect/{platform}` for a person called `user` (a Mastodon instance, a
    /// Bluesky handle), if the platform needs one.
    fn connect_body(&self, _user: &str) -> Option<Value> {
        None
    }

    /// Plays the person called `user` at the consent screen: given the authorize URL Postora answered, approves
    /// and returns the URL the platform sends the browser to (Postora's callback, with its code and state). The
    /// peer creates the person on first use.
    async fn consent(&self, authorize_url: &str, user: &str) -> String;

    /// The platform's id for `user`, as Postora lists it in `platform_user_id`.
    async fn user_id(&self, user: &str) -> String;

    /// Every post the peer holds by `user`, oldest first.
    async fn posts(&self, user: &str) -> Vec<PeerPost>;

    /// Revokes the grant of every token issued to `user`: calls with them fail as the platform fails a revoked
    /// grant, and so do refreshes.
    async fn revoke(&self, user: &str);

    /// Makes the access tokens of `user` expire now (the refresh token, if any, stays good).
    async fn expire_access(&self, user: &str);

    /// The next publish call is refused with the platform's rate-limit answer, its headers saying to wait `wait`.
    async fn rate_limit_next(&self, wait: Duration);

    /// The next publish call is refused as the platform refuses content for good, with `message`.
    async fn reject_next(&self, message: &str);

    /// The next publish call lands, but its answer never reaches Postora (the connection drops).
    async fn lose_next_answer(&self);

    /// How many token refreshes of `user` the peer has answered, and the most that were in flight at once.
    async fn refreshes(&self, user: &str) -> (usize, usize);
}
