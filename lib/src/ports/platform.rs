//! The platform port: what the use cases need from a social network (connect, refresh, publish, recover), and the
//! set of platforms switched on. The adapters live in `crate::platforms`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    Account, ContentLimits, MediaFormat, MediaId, MediaKind, MediaRules, PlatformKind, Profile,
    TargetOptions, TokenSet,
};
use crate::ports::ByteStream;

/// A fresh PKCE code verifier, kept with the OAuth state for a platform that takes PKCE (RFC 7636 asks for 43 to
/// 128 unreserved characters: these are 64 hex digits, 256 bits of randomness).
pub fn new_pkce_verifier() -> String {
    crate::domain::ids::random_token(32)
}

/// How a platform call went wrong, in the classes the publisher acts on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    /// The access token expired: refresh it and try once more.
    #[error("the access token has expired")]
    TokenExpired,
    /// The grant is gone: the account must be connected again.
    #[error("the account must be reconnected: {0}")]
    Reauth(String),
    /// Too many requests; nothing was accepted. Wait `retry_after` if the platform said how long.
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Too many requests from Postora's app as a whole (every account on this platform); nothing was accepted. Every
    /// delivery to the platform waits `retry_after` if the platform said how long.
    #[error("the platform limits this app: {message}")]
    AppRateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Nothing was accepted and trying again may work.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The platform refused the content or the permission for good.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The request may have been accepted. Never retried blindly.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Postora lost its claim on the delivery mid-publish; another attempt owns it now.
    #[error("the publishing attempt was interrupted")]
    Interrupted,
    /// The platform is still processing what this attempt sent (a media container), and the attempt has no time
    /// left to wait for it. What it sent is checkpointed, nothing was published, and the delivery continues from
    /// the checkpoint after `retry_after`. An adapter returns this only with a checkpoint recorded, and bounds the
    /// total wait itself (a wait that never ends is `Transient`).
    #[error("the platform is still processing: {message}")]
    Processing {
        retry_after: Duration,
        message: String,
    },
}

impl PlatformError {
    /// A stable snake_case code for APIs and records.
    pub fn code(&self) -> &'static str {
        match self {
            PlatformError::TokenExpired => "token_expired",
            PlatformError::Reauth(_) => "needs_reauth",
            PlatformError::RateLimited { .. } => "rate_limited",
            PlatformError::AppRateLimited { .. } => "app_rate_limited",
            PlatformError::Transient(_) => "transient",
            PlatformError::Rejected(_) => "rejected",
            PlatformError::Unknown(_) => "unknown_outcome",
            PlatformError::Interrupted => "interrupted",
            PlatformError::Processing { .. } => "processing",
        }
    }
}

/// Where to send a person for consent.
#[derive(Clone)]
pub struct AuthorizeRequest<'a> {
    pub state: &'a str,
    pub redirect_uri: &'a str,
    /// The PKCE verifier kept with the state, when [`Platform::uses_pkce`]; the adapter sends its S256 challenge.
    pub pkce_verifier: Option<&'a str>,
    /// The server the person named, for a platform of many servers: a Mastodon instance, a Bluesky handle (whose
    /// server is looked up). Untrusted input: an adapter reaches it only through the SSRF guard.
    pub server: Option<&'a str>,
}

/// Where to send the person for consent, and what the adapter must know again at the callback (the instance and
/// its client id, an authorization server's issuer). The context is kept with the OAuth state, in plain text: it
/// must hold nothing secret.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub url: url::Url,
    pub context: Option<serde_json::Value>,
}

impl fmt::Debug for AuthorizeRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("redirect_uri", &self.redirect_uri)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A code to exchange at the callback.
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub pkce_verifier: Option<&'a str>,
    /// What [`Platform::authorize`] asked to keep, if anything.
    pub context: Option<&'a serde_json::Value>,
    /// The `iss` parameter of the callback, where the authorization server sent one (RFC 9207).
    pub issuer: Option<&'a str>,
}

impl fmt::Debug for CodeExchange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeExchange")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// One identity a consent gave Postora access to (a person, or each of their Facebook Pages).
#[derive(Debug, Clone)]
pub struct Connection {
    pub profile: Profile,
    pub tokens: TokenSet,
    /// Non-secret facts the adapter will need again (stored on the account as `settings`).
    pub settings: serde_json::Value,
}

/// Reads the bytes of one media item's rendition, a range at a time (for uploads in chunks and resumable uploads),
/// never the whole of a video at once.
#[async_trait]
pub trait MediaBytes: Send + Sync {
    /// The bytes in `range` (end exclusive).
    async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError>;
}

/// One image or video as a platform gets it: the rendition that fits the platform (the original where it fits as
/// it is), a short-lived link to it for platforms that fetch, and its bytes for platforms that take uploads.
#[derive(Clone)]
pub struct PublishMedia {
    pub id: MediaId,
    pub kind: MediaKind,
    pub format: MediaFormat,
    pub alt: Option<String>,
    pub width: u32,
    pub height: u32,
    pub duration_ms: Option<u64>,
    /// Size of what is sent.
    pub bytes: u64,
    /// SHA-256 of what is sent, hex.
    pub sha256: String,
    /// A link anyone may fetch the bytes from for a short while. It is a credential while it lasts: never logged.
    pub url: String,
    pub content: Arc<dyn MediaBytes>,
}

impl PublishMedia {
    /// An item reached only through `url`, whose bytes cannot be read here (a platform adapter's unit tests).
    pub fn from_link(url: &str, kind: MediaKind) -> Self {
        struct Unreadable;
        #[async_trait]
        impl MediaBytes for Unreadable {
            async fn read(&self, _: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
                Err(PlatformError::Rejected(
                    "this item is only reachable by its link".into(),
                ))
            }
        }
        PublishMedia {
            id: MediaId::generate(),
            kind,
            format: match kind {
                MediaKind::Image => MediaFormat::Jpeg,
                MediaKind::Video => MediaFormat::Mp4,
            },
            alt: None,
            width: 0,
            height: 0,
            duration_ms: None,
            bytes: 0,
            sha256: String::new(),
            url: url.to_owned(),
            content: Arc::new(Unreadable),
        }
    }
}

impl fmt::Debug for PublishMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishMedia")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("format", &self.format)
            .field("bytes", &self.bytes)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// Everything an adapter needs to publish one delivery.
#[derive(Debug, Clone, Copy)]
pub struct PublishJob<'a> {
    pub account: &'a Account,
    pub tokens: &'a TokenSet,
    /// The text of this part (the whole post's, for a post that is not a thread).
    pub text: &'a str,
    pub media: &'a [PublishMedia],
    /// For a thread's later parts, the parts already published, first (the root) to last (the parent this part
    /// replies to); empty for a single post and for a thread's first part.
    pub thread: &'a [Published],
    /// What the person chose for this target beyond text and media, if anything.
    pub options: Option<&'a TargetOptions>,
    /// When the delivery was due: a platform without idempotency keys looks for a lost post from about then.
    pub due_at: DateTime<Utc>,
    /// Stable for the delivery and the part; platforms that honour idempotency keys get it.
    pub idempotency_key: &'a str,
    /// What an earlier attempt recorded through [`Progress::checkpoint`], if any.
    pub checkpoint: Option<&'a serde_json::Value>,
}

pub use crate::domain::Published;

/// What recovery found out about an earlier attempt whose outcome was never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// It landed: record it, publish nothing.
    Published(Published),
    /// It certainly did not land (or the platform dedupes a retry): publish again.
    NotPublished,
    /// The platform offers no way to tell: the delivery is in doubt.
    Unknowable(String),
}

/// Lets an adapter persist what it learned mid-publish (a container id, a publish id) before going on, so that a
/// crash after that point can be recovered. Fails with [`PlatformError::Interrupted`] if the claim was lost.
#[async_trait]
pub trait Progress: Send + Sync {
    async fn checkpoint(&self, value: serde_json::Value) -> Result<(), PlatformError>;

    /// How long the attempt may still wait on the platform before it must stop and record what it has, if it is
    /// bounded. An adapter that would wait longer (on a platform's processing) checkpoints and returns
    /// [`PlatformError::Processing`] instead. Calls still running then are cut off by the attempt.
    fn time_left(&self) -> Option<Duration> {
        None
    }
}

/// A progress sink that records nothing (tests, previews).
pub struct NoProgress;

#[async_trait]
impl Progress for NoProgress {
    async fn checkpoint(&self, _value: serde_json::Value) -> Result<(), PlatformError> {
        Ok(())
    }
}

/// One social platform.
#[async_trait]
pub trait Platform: Send + Sync {
    fn kind(&self) -> PlatformKind;

    /// What a post may contain. Defaults to the documented limits.
    fn limits(&self) -> ContentLimits {
        self.kind().limits()
    }

    /// What a post to this account may contain: [`limits`](Self::limits) unless the account's own server says
    /// otherwise (a Mastodon instance's limits, read when it was connected and kept in its settings).
    fn limits_for(&self, _account: &Account) -> ContentLimits {
        self.limits()
    }

    /// What a post to this account may carry as media: the platform's rules unless the account's own server sets
    /// narrower ones (a Mastodon instance's attachment count and file sizes, kept in its settings).
    fn media_rules_for(&self, _account: &Account) -> MediaRules {
        self.kind().media_rules()
    }

    /// Whether a consent that gives access to several identities (a person's Facebook Pages) is followed by the
    /// person choosing which of them to connect.
    fn person_chooses_accounts(&self) -> bool {
        false
    }

    /// Whether the authorize step takes a PKCE challenge.
    fn uses_pkce(&self) -> bool {
        false
    }

    /// Where to send the person for consent, for a platform whose authorize URL is a fixed address with
    /// parameters. A platform that must first ask a server (register with an instance, push the request) implements
    /// [`authorize`](Self::authorize) instead, and leaves this refusing.
    fn authorize_url(&self, _request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        Err(PlatformError::Rejected(format!(
            "{} has no fixed authorize URL",
            self.kind()
        )))
    }

    /// Prepares the consent: where to send the person, and what to keep for the callback. Defaults to
    /// [`authorize_url`](Self::authorize_url) with nothing kept.
    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Authorization, PlatformError> {
        Ok(Authorization {
            url: self.authorize_url(request)?,
            context: None,
        })
    }

    /// Connects with an identifier and a password made for apps (a Bluesky handle and app password), for a
    /// platform that offers that besides OAuth. Defaults to refusing.
    async fn connect_with_password(
        &self,
        _identifier: &str,
        _password: &secrecy::SecretString,
    ) -> Result<Vec<Connection>, PlatformError> {
        Err(PlatformError::Rejected(format!(
            "{} connects through its sign-in page only",
            self.kind()
        )))
    }

    /// A document the platform asks Postora to serve at a public address, by name (Bluesky's OAuth client
    /// metadata, `client-metadata.json`, and its public keys, `jwks.json`). Defaults to none.
    fn public_document(&self, _name: &str) -> Option<serde_json::Value> {
        None
    }

    /// Exchanges the code (and, where the platform has one, for a long-lived token) and reads the profile.
    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError>;

    /// A fresh token set. Errors: `Reauth` when the grant is gone for good.
    async fn refresh(
        &self,
        account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError>;

    /// Publishes one post.
    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError>;

    /// Whether [`recover`](Self::recover) always answers `Published` or `NotPublished`, never `Unknowable`, for an
    /// attempt that was claimed but may or may not have called. Where it does, the publisher marks the call as sent
    /// in the claim itself and saves a write per delivery: a crash between the claim and the call only costs a
    /// question to the platform. Where it does not (X, LinkedIn), the mark is written apart, just before the call,
    /// so such a crash never leaves a delivery in doubt. Defaults to `false`, the safe answer.
    fn can_recover(&self) -> bool {
        false
    }

    /// Finds out whether an earlier, unrecorded attempt landed.
    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError>;

    /// Revokes Postora's access at the platform, where it offers an endpoint. Defaults to nothing to call.
    async fn revoke(&self, _account: &Account, _tokens: &TokenSet) -> Result<(), PlatformError> {
        Ok(())
    }

    /// What the account may choose when posting, as the platform says now (TikTok's creator info: nickname, privacy
    /// levels, longest video, interactions the creator turned off), for a client's posting screen. Defaults to
    /// `None`: the platform has nothing to show.
    async fn creator_options(
        &self,
        _account: &Account,
        _tokens: &TokenSet,
    ) -> Result<Option<serde_json::Value>, PlatformError> {
        Ok(None)
    }

    /// When a token set should be refreshed ahead of expiry; `None` for tokens that do not expire.
    fn refresh_due(&self, tokens: &TokenSet) -> Option<DateTime<Utc>> {
        let expires = tokens.expires_at?;
        let lifetime = expires - tokens.issued_at;
        // Refresh once 80% of the lifetime has passed, and never later than a day before expiry for long tokens.
        let early = expires - (lifetime / 5).min(chrono::Duration::days(1));
        Some(early)
    }
}

/// The platforms switched on in this deployment.
#[derive(Clone, Default)]
pub struct Platforms {
    by_kind: HashMap<PlatformKind, Arc<dyn Platform>>,
}

impl Platforms {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, platform: Arc<dyn Platform>) -> Self {
        self.by_kind.insert(platform.kind(), platform);
        self
    }

    pub fn get(&self, kind: PlatformKind) -> Option<Arc<dyn Platform>> {
        self.by_kind.get(&kind).cloned()
    }

    pub fn enabled(&self) -> Vec<PlatformKind> {
        let mut v: Vec<_> = self.by_kind.keys().copied().collect();
        v.sort_by_key(|k| k.as_str());
        v
    }
}
