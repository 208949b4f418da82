//! Two-factor authentication: TOTP codes (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step either side
//! accepted, a step accepted once), one-time recovery codes stored as SHA-256, and the shared secret sealed so it is
//! never kept in the clear.
//!
//! The secret belongs to a person, not a workspace, so it is sealed like a client registration
//! ([`crate::crypto::registrations`]): a data key of its own from the key service, bound to the service scope, and
//! AES-256-GCM with the person's id as associated data (a sealed secret copied onto another person does not open).
//! Stored as `v1.<wrapped key>.<sealed secret>` (URL-safe base64).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::crypto::vault::{open_with, seal_with};
use crate::domain::{PersonId, WorkspaceId};
use crate::error::{Error, Result};
use crate::ports::KeyService;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds in a time step.
pub const STEP_SECS: u64 = 30;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes in a set.
pub const RECOVERY_CODES: usize = 10;

fn totp(secret: &[u8], label: &str, issuer: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.replace(':', " ")),
        label.replace(':', " "),
    )
}

/// A new random secret.
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    use rand::RngCore;
    let mut secret = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The secret in base32 (what a person types into an authenticator app) and the `otpauth://` URI (what a QR code
/// holds), labelled with the person's address and the operator's name.
pub fn enrolment(secret: &[u8], label: &str, issuer: &str) -> (String, String) {
    let t = totp(secret, label, issuer);
    (t.get_secret_base32(), t.get_url())
}

/// The time step a code is for at `unix` seconds.
pub fn step_at(unix: u64) -> u64 {
    unix / STEP_SECS
}

/// The code for one time step.
pub fn code_for_step(secret: &[u8], step: u64) -> String {
    totp(secret, "", "Postora").generate(step * STEP_SECS)
}

/// The step `code` is good for at `unix` seconds (the current step, or one either side), if it is later than
/// `last_step` (a code is accepted once). Compared in constant time.
pub fn accept(secret: &[u8], code: &str, unix: u64, last_step: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix);
    let mut found = None;
    for step in [now.saturating_sub(1), now, now + 1] {
        let expected = code_for_step(secret, step);
        if bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            code.as_bytes(),
        )) && step > last_step
            && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

/// A new set of recovery codes: the codes to show once, and their hashes to store.
pub fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = crate::domain::ids::random_token(5);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes = codes.iter().map(|c| hash_recovery_code(c)).collect();
    (codes, hashes)
}

/// SHA-256 (hex) of a recovery code as typed: spaces and dashes dropped, lowercased.
pub fn hash_recovery_code(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(
        format!("postora-recovery:{norm}").as_bytes(),
    ))
}

/// Takes `code` out of `stored` if it is one of them: whether it was.
pub fn use_recovery_code(stored: &mut Vec<String>, code: &str) -> bool {
    let hashed = hash_recovery_code(code);
    let before = stored.len();
    stored.retain(|h| {
        !bool::from(subtle::ConstantTimeEq::ct_eq(
            h.as_bytes(),
            hashed.as_bytes(),
        ))
    });
    stored.len() < before
}

/// The key service scope two-factor secrets are sealed in, where a workspace id would be: a scope of their own, so a
/// function that opens them can open nothing else (not the app registrations of `ws_service`, nor a workspace's
/// tokens).
pub const PEOPLE_SCOPE: &str = "ws_people";

fn scope() -> WorkspaceId {
    WorkspaceId::from_trusted(PEOPLE_SCOPE)
}

fn aad(person: &PersonId) -> Vec<u8> {
    format!("postora/totp-secret/v1|{person}").into_bytes()
}

/// Seals a person's secret under a new service-scope data key.
pub async fn seal(keys: &dyn KeyService, person: &PersonId, secret: &[u8]) -> Result<String> {
    let (key, wrapped) = keys.generate_data_key(&scope()).await?;
    let sealed = seal_with(&key, &aad(person), secret)
        .map_err(|_| Error::Unavailable("the secret could not be sealed".into()))?;
    Ok(format!(
        "v1.{}.{}",
        URL_SAFE_NO_PAD.encode(wrapped),
        URL_SAFE_NO_PAD.encode(sealed)
    ))
}

/// Opens what [`seal`] made for the same person.
pub async fn open(
    keys: &dyn KeyService,
    person: &PersonId,
    stored: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let corrupt = || Error::Unavailable("the two-factor secret could not be opened".into());
    let mut parts = stored.split('.');
    let (Some("v1"), Some(wrapped), Some(sealed), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let wrapped = URL_SAFE_NO_PAD.decode(wrapped).map_err(|_| corrupt())?;
    let sealed = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| corrupt())?;
    let key = keys.decrypt_data_key(&scope(), &wrapped).await?;
    open_with(&key, &aad(person), &sealed).map_err(|_| corrupt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret and its 8-digit codes at the listed times.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890".to_vec();
        let t = TOTP::new_unchecked(Algorithm::SHA1, 8, 1, 30, secret, None, String::new());
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(t.generate(time), code, "at {time}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_once() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = code_for_step(secret, step_at(now));
        // Six digits: the last six of the RFC's eight.
        assert_eq!(code, "050471");
        assert_eq!(accept(secret, &code, now, 0), Some(step_at(now)));
        assert_eq!(accept(secret, &code, now + 30, 0), Some(step_at(now)));
        assert_eq!(accept(secret, &code, now - 30, 0), Some(step_at(now)));
        assert_eq!(accept(secret, &code, now + 90, 0), None);
        // Once accepted, the same step is not accepted again.
        assert_eq!(accept(secret, &code, now, step_at(now)), None);
        assert_eq!(accept(secret, "000000", now, 0), None);
        assert_eq!(accept(secret, "12345", now, 0), None);
        assert_eq!(accept(secret, "abcdef", now, 0), None);
        assert_eq!(accept(secret, "050 471", now, 0), Some(step_at(now)));
    }

    #[test]
    fn recovery_codes_are_stored_hashed_and_usable_once() {
        let (codes, mut hashes) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(hashes.iter().all(|h| !codes.iter().any(|c| h.contains(c))));
        assert!(use_recovery_code(&mut hashes, &codes[3].to_uppercase()));
        assert!(!use_recovery_code(&mut hashes, &codes[3]));
        assert_eq!(hashes.len(), RECOVERY_CODES - 1);
    }

    #[test]
    fn the_enrolment_uri_names_the_issuer_and_secret() {
        let (b32, uri) = enrolment(b"12345678901234567890", "ann@example.com", "Acme: Postora");
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(uri.starts_with("otpauth://totp/Acme%20%20Postora:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{uri}");
    }
}
