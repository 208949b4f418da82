//! People: the persons who sign in, their sessions, the single-use links mailed to them, and the record of their
//! sign-ins. Pure types; hashing, codes and mail live in `app::people`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::{random_token, PersonId};

/// An email address as Postora keeps it: trimmed, with the domain lowercased. The local part keeps its case (RFC 5321
/// lets a server tell `Ann` from `ann`), but lookups use [`EmailAddress::lookup_key`], which folds it, so one mailbox
/// cannot hold two accounts.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// Longest address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

impl EmailAddress {
    /// Accepts an address with one `@`, a non-empty local part without spaces or control characters, and a domain of
    /// dot-separated labels (letters, digits, hyphens; at least one dot). `None` names nothing about why: the caller
    /// answers "not a valid email address".
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_EMAIL_LEN {
            return None;
        }
        let (local, domain) = raw.rsplit_once('@')?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        (local_ok && domain_ok)
            .then(|| EmailAddress(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// Wraps an address read back from Postora's own store.
    pub fn from_trusted(raw: impl Into<String>) -> Self {
        EmailAddress(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store looks a person up by: SHA-256 (hex) of the address folded to lowercase. Stored instead of the
    /// address in lookup keys, so a key never shows an address.
    pub fn lookup_key(&self) -> String {
        hex::encode(Sha256::digest(self.0.to_lowercase().as_bytes()))
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An address is personal data: logs show its domain only.
        let domain = self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        write!(f, "EmailAddress(…@{domain})")
    }
}

/// A person who signs in to Postora.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub email: EmailAddress,
    /// The name they go by, shown to their teammates.
    pub name: String,
    /// When they proved they read mail at `email`; nothing but verification and signing out works before.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// The Argon2id hash in PHC string form (algorithm, version, parameters, salt and hash), so parameters can be
    /// raised later and old hashes still verify.
    pub password_hash: String,
    /// When the password was last set; sessions started before it are ended.
    pub password_changed_at: DateTime<Utc>,
    /// Two-factor authentication, once the person has confirmed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_factor: Option<TwoFactor>,
    /// A secret the person is enrolling but has not confirmed with a code yet (sealed, like `TwoFactor::secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_two_factor: Option<String>,
    /// SHA-256 (hex) of the device cookies seen at successful sign-ins, newest last, at most
    /// [`MAX_KNOWN_DEVICES`]: a sign-in from any other device is mailed to the person.
    #[serde(default)]
    pub known_devices: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

/// Devices remembered per person.
pub const MAX_KNOWN_DEVICES: usize = 20;

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("verified", &self.email_verified_at.is_some())
            .field("two_factor", &self.two_factor.is_some())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A confirmed TOTP (RFC 6238) second factor.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactor {
    /// The shared secret, sealed under the service's own data key (never stored in the clear).
    pub secret: String,
    /// The last time step a code was accepted for: a code is good once.
    pub last_step: u64,
    /// SHA-256 (hex) of each recovery code not used yet.
    pub recovery_codes: Vec<String>,
    pub enabled_at: DateTime<Utc>,
}

/// A session token as set in the person's cookie: `ps_<person id>.<random>`. The person's id inside it lets the
/// session and the person's membership of the workspace be read in one request; only [`SessionToken::hash`] is
/// stored.
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate(person: &PersonId) -> Self {
        SessionToken(format!("ps_{person}.{}", random_token(32)))
    }

    /// Accepts a presented token if it has the shape of one (the person id is not trusted until the stored session,
    /// found by the whole token's hash, says the same).
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.trim().strip_prefix("ps_")?;
        let (person, secret) = rest.rsplit_once('.')?;
        PersonId::parse(person)?;
        (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SessionToken(raw.trim().to_owned()))
    }

    pub fn person(&self) -> PersonId {
        let rest = self.0.get(3..).unwrap_or_default();
        PersonId::from_trusted(rest.rsplit_once('.').map(|(p, _)| p).unwrap_or_default())
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// SHA-256 (hex) of the token: what the store keeps and looks sessions up by.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The token a cookie-authenticated request that changes something must send in `X-CSRF-Token`: derived from the
    /// session token, so it needs no storage and no one without the cookie can compute it.
    pub fn csrf_token(&self) -> String {
        hex::encode(Sha256::digest(format!("csrf:{}", self.0).as_bytes()))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// A signed-in browser. Stored under the hash of its token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 (hex) of the token: the session's key, never the token.
    pub token_hash: String,
    /// A short public id (the first 12 characters of `token_hash`), naming the session in listings and revocations.
    pub id: String,
    pub person_id: PersonId,
    pub created_at: DateTime<Utc>,
    /// Last request seen, written at most every few minutes.
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end: no activity extends a session past it.
    pub expires_at: DateTime<Utc>,
    /// The browser's own description and the client address at sign-in, to recognise it in a listing.
    pub user_agent: String,
    pub ip: String,
    /// A copy of the person's state that every request needs, so checking a request reads the session alone: whether
    /// their address is verified, and whether they have two-factor authentication. Rewritten on all their sessions
    /// when either changes ([`PeopleStore::set_session_flags`](crate::ports::PeopleStore::set_session_flags)).
    pub flags: SessionFlags,
}

/// What a session knows of its person without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionFlags {
    pub email_verified: bool,
    pub two_factor: bool,
}

impl Session {
    /// When the session ends if no request comes: the idle timeout after the last one, never past `expires_at`.
    pub fn idle_deadline(&self, idle: chrono::Duration) -> DateTime<Utc> {
        (self.last_seen_at + idle).min(self.expires_at)
    }

    pub fn is_live(&self, now: DateTime<Utc>, idle: chrono::Duration) -> bool {
        now < self.idle_deadline(idle)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("person_id", &self.person_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a single-use link mailed to a person is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum LinkPurpose {
    /// Proves the person reads mail at `email` (the address at sign-up, or a new one they asked to change to).
    VerifyEmail { email: EmailAddress },
    /// Lets the person set a new password.
    ResetPassword,
}

/// A single-use link's record, stored under the hash of its token with an expiry (TTL).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeLink {
    /// SHA-256 (hex) of the token in the link.
    pub token_hash: String,
    pub person_id: PersonId,
    #[serde(flatten)]
    pub purpose: LinkPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OneTimeLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeLink")
            .field("person_id", &self.person_id)
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How long a verification link is good for.
pub const VERIFY_LINK_TTL: chrono::Duration = chrono::Duration::hours(24);
/// How long a password-reset link is good for.
pub const RESET_LINK_TTL: chrono::Duration = chrono::Duration::hours(1);

/// SHA-256 (hex) of a token from a link or invitation: what is stored and looked up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// One sign-in attempt that got past the password, or failed it, kept for the person's own listing (90 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub person_id: PersonId,
    pub at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
    pub outcome: SignInOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// Signed in (with the second factor, where the person has one).
    Succeeded,
    /// A wrong password.
    WrongPassword,
    /// The right password and a wrong or missing second factor.
    WrongSecondFactor,
}

/// How long sign-ins are kept.
pub const SIGN_IN_RETENTION: chrono::Duration = chrono::Duration::days(90);
