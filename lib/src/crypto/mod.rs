//! Envelope encryption of tokens, and signature checks.

pub mod vault;

pub use vault::{Vault, VaultError};
