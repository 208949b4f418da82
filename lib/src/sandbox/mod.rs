//! The sandbox: a small social network built into Postora, so anyone can connect an account, schedule a post and
//! watch it publish without credentials. It is a platform like any other to the rest of Postora: its server
//! ([`server`]) keeps what it accepts in its own database file ([`store`]), and Postora reaches it over HTTP through
//! its adapter ([`adapter`]). It honours `Idempotency-Key` the way Mastodon does, lists its posts at
//! `GET /sandbox/posts`, and can be told to fail in chosen ways ([`faults`]).
//!
//! Like a real network, it knows its registered client: the client id [`CLIENT_ID`], a secret made at random for
//! each data directory, and the redirect URIs registered for it; a consent that names another redirect URI is
//! refused.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod adapter;
pub mod faults;
mod server;
pub mod store;

pub use adapter::SandboxPlatform;
pub use faults::{parse_faults, Fault, FaultKind, Faults, LimitScope};
pub use store::RegisteredClient;
use store::SandboxStore;

use crate::ports::StoreError;

/// The client id Postora is registered under.
pub const CLIENT_ID: &str = "postora-sandbox";

/// The most characters a sandbox post may have.
pub const MAX_CHARS: usize = 500;

/// The largest file the sandbox takes, by upload or by URL.
pub const MAX_MEDIA_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// How the sandbox treats `Idempotency-Key`, so it can stand in for each kind of platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Idempotency {
    /// A repeated key returns the first post, and posts can be looked up by key (Mastodon).
    #[default]
    Dedupe,
    /// Every request makes a new post, but posts can be looked up by key (a platform that lets a publisher check,
    /// as Meta's containers or TikTok's publish ids do). A publisher that repeats itself shows up as two posts.
    Lookup,
    /// Every request makes a new post and nothing can be looked up (X, LinkedIn).
    None,
}

impl std::str::FromStr for Idempotency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("`{s}` is not one of dedupe, lookup, none"))
    }
}

/// The guarded fetcher for media named by an outside URL: files up to [`MAX_MEDIA_BYTES`], ten minutes each.
fn guarded(policy: crate::net::AddressPolicy) -> std::sync::Arc<dyn crate::ports::RemoteFiles> {
    let limits = crate::net::FetchLimits {
        max_bytes: MAX_MEDIA_BYTES,
        timeout: Duration::from_secs(600),
        connect_timeout: Duration::from_secs(10),
        max_redirects: crate::net::DEFAULT_MAX_REDIRECTS,
    };
    match crate::net::GuardedFetcher::new(limits, policy) {
        Ok(f) => std::sync::Arc::new(f),
        Err(e) => std::sync::Arc::new(crate::net::Refusing(e.to_string())),
    }
}

/// A post as the sandbox shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxPost {
    pub id: String,
    /// The sandbox user (the account) it was published to.
    pub account: String,
    pub idempotency_key: Option<String>,
    pub text: String,
    pub media: serde_json::Value,
    pub accepted_at: chrono::DateTime<chrono::Utc>,
    pub url: String,
    /// The post it replies to, for a thread's later parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// The sandbox's state: its database, its faults, how long its access tokens live and how it treats idempotency
/// keys.
#[derive(Clone)]
pub struct Sandbox {
    store: SandboxStore,
    faults: Faults,
    token_ttl: Duration,
    public_url: String,
    idempotency: Idempotency,
    /// Fetches the media a post names by a link of this Postora's own, as a platform that downloads media does.
    fetcher: reqwest::Client,
    /// Fetches media a post names by any other URL: a person holding a sandbox token could name any address, so
    /// those go through the same guard as media import.
    outside: std::sync::Arc<dyn crate::ports::RemoteFiles>,
    /// Refreshes answered, per user, and how many were in flight at once (for tests that watch rotation).
    refreshes: std::sync::Arc<std::sync::Mutex<RefreshStats>>,
}

struct RefreshInFlight(std::sync::Arc<std::sync::Mutex<RefreshStats>>);

impl Drop for RefreshInFlight {
    fn drop(&mut self) {
        let mut stats = self.0.lock().unwrap_or_else(|e| e.into_inner());
        stats.in_flight = stats.in_flight.saturating_sub(1);
    }
}

/// What the sandbox saw of token refreshes.
#[derive(Debug, Default)]
struct RefreshStats {
    answered: std::collections::HashMap<String, usize>,
    in_flight: usize,
    max_in_flight: usize,
}

impl Sandbox {
    /// Opens the sandbox's database at `path` (a file of its own beside Postora's). `public_url` is the origin the
    /// sandbox answers at.
    pub fn open(path: &Path, public_url: &str, token_ttl: Duration) -> Result<Self, StoreError> {
        let public_url = public_url.trim_end_matches('/');
        Ok(Self::with_store(
            SandboxStore::open(path, public_url)?,
            public_url,
            token_ttl,
        ))
    }

    pub fn in_memory(public_url: &str, token_ttl: Duration) -> Result<Self, StoreError> {
        let public_url = public_url.trim_end_matches('/');
        Ok(Self::with_store(
            SandboxStore::in_memory(public_url)?,
            public_url,
            token_ttl,
        ))
    }

    fn with_store(store: SandboxStore, public_url: &str, token_ttl: Duration) -> Self {
        Self {
            store,
            faults: Faults::default(),
            token_ttl,
            public_url: public_url.to_owned(),
            idempotency: Idempotency::default(),
            fetcher: crate::platforms::http::client(crate::platforms::http::HttpTimeouts {
                connect: Duration::from_secs(5),
                request: Duration::from_secs(600),
            }),
            outside: guarded(crate::net::AddressPolicy::default()),
            refreshes: Default::default(),
        }
    }

    /// How many refreshes the sandbox answered for `user`, and the most it had in flight at once (of anyone's).
    pub fn refreshes(&self, user: &str) -> (usize, usize) {
        let stats = self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
        (
            stats.answered.get(user).copied().unwrap_or(0),
            stats.max_in_flight,
        )
    }

    /// Counts a refresh in flight until the guard is dropped.
    fn refresh_started(&self) -> RefreshInFlight {
        let mut stats = self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
        stats.in_flight += 1;
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        RefreshInFlight(self.refreshes.clone())
    }

    fn refresh_answered(&self, user: &str) {
        let mut stats = self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
        *stats.answered.entry(user.to_owned()).or_default() += 1;
    }

    /// The same sandbox, fetching media from outside addresses under `policy` (tests allow loopback, as they do for
    /// media import).
    pub fn with_fetch_policy(mut self, policy: crate::net::AddressPolicy) -> Self {
        self.outside = guarded(policy);
        self
    }

    /// The same sandbox, treating idempotency keys as `mode` says.
    pub fn with_idempotency(mut self, mode: Idempotency) -> Self {
        self.idempotency = mode;
        self
    }

    pub fn idempotency(&self) -> Idempotency {
        self.idempotency
    }

    /// Registers Postora as the sandbox's client, adding a redirect URI its consents may send people back to, and
    /// answers the client's credentials (the secret is kept from one start to the next).
    pub async fn register_client(
        &self,
        redirect_uri: &str,
    ) -> Result<RegisteredClient, StoreError> {
        self.store.register_client(CLIENT_ID, redirect_uri).await
    }

    pub fn add_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.add(faults);
    }

    /// Every post the sandbox accepted, oldest first.
    pub async fn posts(&self) -> Result<Vec<SandboxPost>, StoreError> {
        self.store.posts().await
    }

    /// The sandbox's routes, under `/sandbox/`.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_modes_parse_by_name() {
        assert_eq!("lookup".parse::<Idempotency>(), Ok(Idempotency::Lookup));
        assert!("sometimes".parse::<Idempotency>().is_err());
    }

    #[tokio::test]
    async fn the_client_secret_is_random_and_kept_across_registrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.db");
        let a = Sandbox::open(&path, "http://x", Duration::from_secs(60)).unwrap();
        let first = a
            .register_client("http://x/oauth/sandbox/callback")
            .await
            .unwrap();
        let again = a
            .register_client("http://y/oauth/sandbox/callback")
            .await
            .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(first.secret.expose_secret(), again.secret.expose_secret());
        let other_dir = tempfile::tempdir().unwrap();
        let b = Sandbox::open(
            &other_dir.path().join("sandbox.db"),
            "http://x",
            Duration::from_secs(60),
        )
        .unwrap();
        let other = b
            .register_client("http://x/oauth/sandbox/callback")
            .await
            .unwrap();
        assert_ne!(first.secret.expose_secret(), other.secret.expose_secret());
        assert!(first.secret.expose_secret().len() >= 40);
    }
}
