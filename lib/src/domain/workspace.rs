//! A workspace: one customer's space. It holds its data key, wrapped, and is reached through API keys.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

use super::ids::{random_token, WorkspaceId};
use super::roles::Role;

#[derive(Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// The workspace's data key, wrapped by the key service. Useless without it.
    pub wrapped_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub settings: WorkspaceSettings,
}

/// What a workspace's owners and admins choose for everyone in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSettings {
    /// The IANA time zone the workspace schedules in (`Europe/Paris`); times are stored in UTC.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Posts by editors wait as `pending_approval` until an owner, admin or client approves them.
    #[serde(default)]
    pub approval_required: bool,
    /// Members must have two-factor authentication to act in the workspace.
    #[serde(default)]
    pub two_factor_required: bool,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        WorkspaceSettings {
            time_zone: utc(),
            approval_required: false,
            two_factor_required: false,
        }
    }
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
            .field("settings", &self.settings)
            .finish()
    }
}

/// Longest workspace name accepted.
pub const MAX_WORKSPACE_NAME: usize = 200;

/// An API key as shown once to its owner. Only [`ApiKey::hash`] is ever stored, with the key's public id beside it.
pub struct ApiKey(String);

/// How many characters after `pk_` make a key's public id: 48 of its 192 random bits, enough to tell a workspace's
/// keys apart, leaving 144 bits unknown.
pub const API_KEY_ID_LEN: usize = 12;

/// Longest API key label accepted, in characters.
pub const MAX_API_KEY_LABEL: usize = 100;

/// How often a key's `last_used_at` is written: a request writes it only when the stored time is older than this,
/// so a busy key costs one conditional write per interval, not one per request.
pub const API_KEY_LAST_USED_EVERY_SECS: i64 = 15 * 60;

impl ApiKey {
    pub fn generate() -> Self {
        ApiKey(format!("pk_{}", random_token(24)))
    }

    /// The key's public id: the first [`API_KEY_ID_LEN`] characters after `pk_`. It names the key in listings and
    /// revocations without revealing it.
    pub fn id(&self) -> String {
        self.0
            .get(3..3 + API_KEY_ID_LEN)
            .unwrap_or_default()
            .to_owned()
    }

    /// What is stored of a new key: its hash, public id, label and role, never the key.
    pub fn record(
        &self,
        ws: &WorkspaceId,
        label: Option<String>,
        role: Role,
        now: DateTime<Utc>,
    ) -> ApiKeyRecord {
        ApiKeyRecord {
            workspace_id: ws.clone(),
            id: self.id(),
            hash: self.hash(),
            label,
            role,
            created_at: Some(now),
            last_used_at: None,
            legacy: false,
        }
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

/// What is stored of an API key: the SHA-256 of the key, its public id, a label, and when it was created and last
/// used. Never the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub workspace_id: WorkspaceId,
    /// The first characters after `pk_` ([`ApiKey::id`]); for a key stored before keys had ids, the first characters
    /// of its hash ([`legacy_api_key_id`]).
    pub id: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    pub label: Option<String>,
    /// What the key may do, as a member in that role may. Keys stored before keys had roles are owners' keys (they
    /// could do everything).
    pub role: Role,
    /// `None` only for keys stored before this was recorded.
    pub created_at: Option<DateTime<Utc>>,
    /// Updated at most once per [`API_KEY_LAST_USED_EVERY_SECS`].
    pub last_used_at: Option<DateTime<Utc>>,
    /// Stored before keys had ids: its id comes from the hash, and it has no prefix to show.
    pub legacy: bool,
}

impl ApiKeyRecord {
    /// The start of the key (`pk_` and the id), to recognise it by; `None` for a legacy key.
    pub fn prefix(&self) -> Option<String> {
        (!self.legacy).then(|| format!("pk_{}", self.id))
    }
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("workspace_id", &self.workspace_id)
            .field("id", &self.id)
            .field("label", &self.label)
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// The public id of a key stored before keys had ids: the first [`API_KEY_ID_LEN`] characters of its hash.
pub fn legacy_api_key_id(hash: &str) -> String {
    hash.chars().take(API_KEY_ID_LEN).collect()
}

/// Whether `raw` has the shape of a key id (lowercase hexadecimal of [`API_KEY_ID_LEN`] characters).
pub fn is_api_key_id(raw: &str) -> bool {
    raw.len() == API_KEY_ID_LEN && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_id_is_the_start_of_the_key_and_never_the_rest() {
        let key = ApiKey::generate();
        let id = key.id();
        assert!(is_api_key_id(&id), "{id}");
        assert!(key.reveal().starts_with(&format!("pk_{id}")));
        let record = key.record(&WorkspaceId::generate(), None, Role::Owner, Utc::now());
        assert_eq!(record.prefix(), Some(format!("pk_{id}")));
        let printed = format!("{record:?}");
        assert!(!printed.contains(key.reveal()) && !printed.contains(&record.hash));
        assert_eq!(legacy_api_key_id(&record.hash).len(), API_KEY_ID_LEN);
    }
}
