//! Fetching from addresses people supply (a media URL to import, and later a Mastodon instance or a Bluesky
//! handle's host) without letting them point Postora at its own network: the address rules ([`guard`]), the
//! resolver that applies them to every address a name resolves to ([`resolve`]), and the fetcher built on both
//! ([`fetch`]). Every such fetch goes through [`GuardedFetcher`]; nothing else in Postora fetches from an address a
//! person typed.

mod error;
pub mod fetch;
pub mod guard;
pub mod resolve;

pub use fetch::{FetchError, FetchLimits, Fetched, GuardedFetcher, DEFAULT_MAX_REDIRECTS};
pub use guard::{AddressPolicy, Refusal};
pub use resolve::{GuardedResolver, Lookup};

/// The fetcher media import uses: files up to the largest a workspace may add, a quarter of an hour to arrive, and
/// loopback only where the settings allow it (tests). If no HTTP client can be built, every import is refused with
/// a message that says so, rather than fetched without the guard.
pub fn media_fetcher(
    settings: &crate::config::MediaSettings,
) -> std::sync::Arc<dyn crate::ports::RemoteFiles> {
    let limits = FetchLimits {
        max_bytes: settings.max_file_bytes,
        timeout: std::time::Duration::from_secs(15 * 60),
        connect_timeout: std::time::Duration::from_secs(10),
        max_redirects: DEFAULT_MAX_REDIRECTS,
    };
    let policy = AddressPolicy {
        allow_loopback: settings.import_allow_loopback,
    };
    match GuardedFetcher::new(limits, policy) {
        Ok(fetcher) => std::sync::Arc::new(fetcher),
        Err(e) => std::sync::Arc::new(Refusing(e.to_string())),
    }
}

/// Refuses every fetch, saying why: stands in where the guarded client could not be built, rather than a client
/// without the guard.
pub struct Refusing(pub String);

#[async_trait::async_trait]
impl crate::ports::RemoteFiles for Refusing {
    async fn fetch(
        &self,
        _url: &url::Url,
        _max_bytes: u64,
    ) -> Result<crate::ports::ByteStream, crate::ports::FetchError> {
        Err(crate::ports::FetchError::Unreachable(format!(
            "Postora cannot fetch files now: {}",
            self.0
        )))
    }
}
