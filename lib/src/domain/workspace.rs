//! A workspace: one customer's space. It holds its data key, wrapped, and is reached through API keys.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::ids::{random_token, WorkspaceId};

#[derive(Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// The workspace's data key, wrapped by the key service. Useless without it.
    pub wrapped_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("id", &self.id)
            .field("name", &self.name)
            .field(
                "wrapped_key",
                &format_args!("[{} bytes]", self.wrapped_key.len()),
            )
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Longest workspace name accepted.
pub const MAX_WORKSPACE_NAME: usize = 200;

/// An API key as shown once to its owner. Only [`ApiKey::hash`] is ever stored.
pub struct ApiKey(String);

impl ApiKey {
    pub fn generate() -> Self {
        ApiKey(format!("pk_{}", random_token(24)))
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_api_key(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// SHA-256 of a presented key, hex: what the store looks keys up by.
pub fn hash_api_key(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}
