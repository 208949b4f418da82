//! A connected social account, and the tokens that let Postora act for it.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, WorkspaceId};
use super::platform::PlatformKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Connected and able to publish.
    Active,
    /// The platform no longer accepts its tokens; the person must connect it again.
    NeedsReauth,
    /// The person removed Postora's access at the platform (deauthorize callback).
    Revoked,
    /// Deleted at the person's request (disconnect or a platform data-deletion request); only an audit trace remains.
    Deleted,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReauth => "needs_reauth",
            AccountStatus::Revoked => "revoked",
            AccountStatus::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Active,
            Self::NeedsReauth,
            Self::Revoked,
            Self::Deleted,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Who the account is on its platform, as the platform's profile endpoint reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub platform_user_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub picture_url: Option<String>,
    pub biography: Option<String>,
    /// The platform user who granted Postora access, when that is not the account itself: a Facebook Page or an
    /// Instagram account is reached through a person's login, and Meta's data-deletion and deauthorize callbacks
    /// name that person (by their app-scoped id), never the Page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by: Option<String>,
}

impl Profile {
    /// The platform user whose deletion or deauthorize callback covers this account.
    pub fn grantor_id(&self) -> &str {
        self.granted_by.as_deref().unwrap_or(&self.platform_user_id)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub workspace_id: WorkspaceId,
    pub platform: PlatformKind,
    pub profile: Profile,
    pub status: AccountStatus,
    /// Platform-specific, non-secret facts the adapter needs (an Instagram login variant, a Page id, an instance).
    pub settings: serde_json::Value,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the person last granted access (the latest connect or reconnect). `updated_at` moves with every refresh
    /// and status change; this moves only with a new grant. Absent on accounts stored before it was kept: see
    /// [`Account::connected_since`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<DateTime<Utc>>,
    pub version: u64,
}

impl Account {
    /// When the grant itself ends, whatever is refreshed, where the adapter knows (`grant_expires_at` in its
    /// settings: LinkedIn's refresh token lasts a year from the first consent, and a LinkedIn token without one
    /// ends with the token).
    pub fn grant_expires_at(&self) -> Option<DateTime<Utc>> {
        self.settings
            .get("grant_expires_at")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn can_publish(&self) -> bool {
        self.status == AccountStatus::Active
    }

    /// When the current grant began: the latest connection, or the account's creation when that was not recorded.
    pub fn connected_since(&self) -> DateTime<Utc> {
        self.connected_at.unwrap_or(self.created_at)
    }

    /// Whether a platform callback issued at `issued_at` may be about the current grant. Meta's `issued_at` is in
    /// whole seconds, so only a callback issued in a second before the one the grant began in is known to be about
    /// an earlier grant; one issued in the same second is taken to be about this one.
    pub fn callback_concerns_current_grant(&self, issued_at: DateTime<Utc>) -> bool {
        issued_at.timestamp() >= self.connected_since().timestamp()
    }

    /// The same account with its personal profile data removed (after a deletion request). Only the platform's ids
    /// stay, so a repeated request still finds the rows it already emptied.
    pub fn scrubbed(&self, status: AccountStatus, now: DateTime<Utc>) -> Account {
        let mut a = self.clone();
        a.status = status;
        a.profile = Profile {
            platform_user_id: self.profile.platform_user_id.clone(),
            granted_by: self.profile.granted_by.clone(),
            ..Profile::default()
        };
        a.settings = serde_json::Value::Null;
        a.token_expires_at = None;
        a.updated_at = now;
        a.version += 1;
        a
    }
}

/// The tokens of one account, in the clear. Lives only in memory; `Debug` never shows a secret.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
    /// When this set was issued: some platforms refuse to refresh a token younger than a day.
    pub issued_at: DateTime<Utc>,
    /// The private key the tokens are bound to, where the platform binds them (Bluesky's OAuth tokens are DPoP-bound
    /// to a key of the session): as secret as the tokens.
    pub dpop_key: Option<SecretString>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("scope", &self.scope)
            .field("issued_at", &self.issued_at)
            .field("dpop_key", &self.dpop_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The serialized form sealed inside a ciphertext. Never stored or sent anywhere in the clear.
#[derive(Serialize, Deserialize)]
struct TokenWire {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    refresh_expires_at: Option<DateTime<Utc>>,
    scope: Option<String>,
    issued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_key: Option<String>,
}

impl TokenSet {
    pub fn new(access_token: impl Into<String>, issued_at: DateTime<Utc>) -> Self {
        Self {
            access_token: SecretString::from(access_token.into()),
            refresh_token: None,
            expires_at: None,
            refresh_expires_at: None,
            scope: None,
            issued_at,
            dpop_key: None,
        }
    }

    /// True when the access token expires within `margin` of `now`.
    pub fn expires_within(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|e| e <= now + margin)
    }

    /// Bytes to seal. The caller must zeroize them after use.
    pub fn to_plaintext(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let wire = TokenWire {
            access_token: self.access_token.expose_secret().to_owned(),
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            expires_at: self.expires_at,
            refresh_expires_at: self.refresh_expires_at,
            scope: self.scope.clone(),
            issued_at: self.issued_at,
            dpop_key: self.dpop_key.as_ref().map(|k| k.expose_secret().to_owned()),
        };
        let bytes = serde_json::to_vec(&wire).unwrap_or_default();
        let mut wire = wire;
        zeroize::Zeroize::zeroize(&mut wire.access_token);
        if let Some(r) = wire.refresh_token.as_mut() {
            zeroize::Zeroize::zeroize(r);
        }
        if let Some(k) = wire.dpop_key.as_mut() {
            zeroize::Zeroize::zeroize(k);
        }
        zeroize::Zeroizing::new(bytes)
    }

    pub fn from_plaintext(bytes: &[u8]) -> Option<Self> {
        let mut wire: TokenWire = serde_json::from_slice(bytes).ok()?;
        let set = TokenSet {
            access_token: SecretString::from(std::mem::take(&mut wire.access_token)),
            refresh_token: wire.refresh_token.take().map(SecretString::from),
            expires_at: wire.expires_at,
            refresh_expires_at: wire.refresh_expires_at,
            scope: wire.scope.take(),
            issued_at: wire.issued_at,
            dpop_key: wire.dpop_key.take().map(SecretString::from),
        };
        Some(set)
    }
}

/// A token set sealed under the workspace's data key, as stored. `version` serializes refreshes of one account.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub ciphertext: Vec<u8>,
    pub version: u64,
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedTokens")
            .field(
                "ciphertext",
                &format_args!("[{} bytes]", self.ciphertext.len()),
            )
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_token() {
        let mut t = TokenSet::new("very-secret-access", Utc::now());
        t.refresh_token = Some(SecretString::from("very-secret-refresh".to_owned()));
        let shown = format!("{t:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        let sealed = SealedTokens {
            ciphertext: b"very-secret".to_vec(),
            version: 1,
            expires_at: None,
        };
        assert!(!format!("{sealed:?}").contains("very-secret"));
    }

    #[test]
    fn token_sets_round_trip_through_plaintext() {
        let mut t = TokenSet::new("a", Utc::now());
        t.refresh_token = Some(SecretString::from("r".to_owned()));
        let back = TokenSet::from_plaintext(&t.to_plaintext()).unwrap();
        assert_eq!(back.access_token.expose_secret(), "a");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "r");
    }
}
