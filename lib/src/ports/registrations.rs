//! Client registrations: the OAuth client Postora registers with a server it was not configured for (one Mastodon
//! instance), kept once per platform and server so every process and every restart reuses it.
//!
//! Two ports. [`ClientRegistrationStore`] keeps the sealed form (a store adapter on each backend, covered by the
//! conformance suite); [`ClientRegistrations`] is what a platform adapter uses, with the secret in the clear in
//! memory only (`crate::crypto::registrations` seals and opens it).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::StoreResult;
use crate::domain::PlatformKind;

/// A registration as a store keeps it: the client secret sealed under its own data key, which is itself wrapped by
/// the key service. Nothing here opens without the key service.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredRegistration {
    pub platform: PlatformKind,
    /// The server, as the adapter names it (a normalised origin such as `https://mastodon.social`).
    pub server: String,
    pub client_id: String,
    /// The redirect URI the client was registered with; a different one needs a new registration.
    pub redirect_uri: String,
    /// The client secret, sealed (AES-256-GCM, the platform and server as associated data).
    pub sealed_secret: Vec<u8>,
    /// The data key the secret is sealed under, wrapped by the key service.
    pub wrapped_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for StoredRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredRegistration")
            .field("platform", &self.platform)
            .field("server", &self.server)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Where registrations are kept, one per platform and server.
#[async_trait]
pub trait ClientRegistrationStore: Send + Sync {
    async fn get_registration(
        &self,
        platform: PlatformKind,
        server: &str,
    ) -> StoreResult<Option<StoredRegistration>>;

    /// Stores `registration` unless one is kept for its platform and server already; answers the one kept either
    /// way, so of two processes registering at once, both go on with the winner's.
    async fn put_registration_if_absent(
        &self,
        registration: &StoredRegistration,
    ) -> StoreResult<StoredRegistration>;

    /// Removes the registration of the platform and server if it is still the one with `client_id` (the server
    /// forgot it, or it was made for another redirect URI); answers whether it removed one.
    async fn remove_registration(
        &self,
        platform: PlatformKind,
        server: &str,
        client_id: &str,
    ) -> StoreResult<bool>;
}

/// A registration in the clear, as an adapter uses it. The secret never shows in `Debug`.
#[derive(Clone)]
pub struct ClientRegistration {
    pub platform: PlatformKind,
    pub server: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("platform", &self.platform)
            .field("server", &self.server)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Why a registration could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Store(#[from] super::StoreError),
    #[error("the key service could not seal or open the registration: {0}")]
    Key(String),
    /// The stored secret does not open (tampered with, or moved to another server's row).
    #[error("the stored registration could not be opened")]
    Corrupt,
}

/// The registrations an adapter reads and keeps, secrets in the clear.
#[async_trait]
pub trait ClientRegistrations: Send + Sync {
    async fn get(
        &self,
        platform: PlatformKind,
        server: &str,
    ) -> Result<Option<ClientRegistration>, RegistrationError>;

    /// Keeps `registration` unless one is kept already; answers the one kept (the winner's, after a race).
    async fn put_if_absent(
        &self,
        registration: ClientRegistration,
    ) -> Result<ClientRegistration, RegistrationError>;

    /// Forgets the registration with `client_id`, if it is still the one kept.
    async fn remove(
        &self,
        platform: PlatformKind,
        server: &str,
        client_id: &str,
    ) -> Result<bool, RegistrationError>;
}
