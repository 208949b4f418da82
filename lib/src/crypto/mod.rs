//! Envelope encryption of tokens, and signature checks.

pub mod signed_request;
pub mod vault;

pub use signed_request::{SignedRequest, SignedRequestError};
pub use vault::{Vault, VaultError};
