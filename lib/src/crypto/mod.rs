//! Envelope encryption of tokens, and signature checks.

pub mod registrations;
pub mod signed_request;
pub mod vault;

pub use registrations::SealedRegistrations;
pub use signed_request::{SignedRequest, SignedRequestError};
pub use vault::{Vault, VaultError};
