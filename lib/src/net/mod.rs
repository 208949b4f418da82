//! Fetching from addresses people supply (a media URL to import, and later a Mastodon instance or a Bluesky
//! handle's host) without letting them point Postora at its own network: the address rules ([`guard`]), the
//! resolver that applies them to every address a name resolves to ([`resolve`]), and the fetcher built on both
//! ([`fetch`]). Every such fetch goes through [`GuardedFetcher`]; nothing else in Postora fetches from an address a
//! person typed.

pub mod fetch;
pub mod guard;
pub mod resolve;

pub use fetch::{FetchError, FetchLimits, Fetched, GuardedFetcher, DEFAULT_MAX_REDIRECTS};
pub use guard::{AddressPolicy, Refusal};
pub use resolve::{GuardedResolver, Lookup};
