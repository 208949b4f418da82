//! Passwords: the rules a new one must meet, hashing with Argon2id, and checking one against its stored hash.
//!
//! A hash is kept as a PHC string, which names the algorithm, version, parameters and salt; checking reads the
//! parameters from the string, so hashes made with older (lower) parameters still verify, and are replaced at the
//! next sign-in ([`needs_rehash`]).

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Result};

/// Memory per hash, in KiB: OWASP's minimum for Argon2id (19 MiB).
pub const M_COST_KIB: u32 = 19_456;
/// Passes over the memory.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

/// The fewest characters a password may have.
pub const MIN_CHARS: usize = 12;
/// The most characters a password may have (bounds the hashing work a request can ask for).
pub const MAX_CHARS: usize = 256;

const COMMON: &str = include_str!("common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// How many passwords the shipped list of common ones holds.
pub fn common_count() -> usize {
    common().len()
}

/// Whether `password` is on the list of common passwords, or is one of them with only digits or punctuation after it
/// (`dragon123456`), or one of them repeated (`qwertyqwerty`): all are among the first things a guesser tries.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let list = common();
    if list.contains(lower.as_str()) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if stem.chars().count() >= 4 && list.contains(stem) {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    (1..=chars.len() / 2).any(|n| {
        chars.len().is_multiple_of(n)
            && chars.chunks(n).all(|c| c == &chars[..n])
            && (n < 4 || list.contains(chars[..n].iter().collect::<String>().as_str()))
    })
}

/// Checks a new password: [`MIN_CHARS`] to [`MAX_CHARS`] characters, no composition rules, not a common one.
/// `field` names the request field in the error.
pub fn check_new(field: &str, password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(Error::invalid(
            field,
            format!("a password has at least {MIN_CHARS} characters"),
        ));
    }
    if n > MAX_CHARS {
        return Err(Error::invalid(
            field,
            format!("a password has at most {MAX_CHARS} characters"),
        ));
    }
    if is_common(password) {
        return Err(Error::invalid(
            field,
            "this password is one of the most common ones, which are guessed first; choose another",
        ));
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with Argon2id and a fresh salt, as a PHC string. CPU- and memory-bound: call it off the async
/// threads ([`hash_blocking`]).
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::Unavailable("the password could not be hashed".into()))
}

/// Whether `password` matches the PHC string `phc`, with the parameters the string names. A string that does not
/// parse matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash was made with parameters below today's (or another algorithm): it is replaced at the next
/// successful sign-in.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != argon2::ARGON2ID_IDENT
        || params.m_cost() < M_COST_KIB
        || params.t_cost() < T_COST
        || params.p_cost() < P_COST
}

/// A hash of no one's password (a random one, thrown away), made with today's parameters, checked when a sign-in names
/// an unknown address so that answer takes as long as a wrong password does, from the very first one.
const DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$N5CIm6Ju2Ldc5KCdgx3pxw$oJgb7GdWFg1NpZsUNIszWmzdo1wf2O47oiyr0LvuIck";

/// [`hash`] on a blocking thread.
pub async fn hash_blocking(password: &str) -> Result<String> {
    let password = zeroize::Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|_| Error::Unavailable("the password could not be hashed".into()))?
}

/// [`verify`] on a blocking thread; with no hash (an unknown address), checks the decoy and answers false.
pub async fn verify_blocking(password: &str, phc: Option<&str>) -> bool {
    let password = zeroize::Zeroizing::new(password.to_owned());
    let phc = phc.map(str::to_owned);
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify(&password, &phc),
        None => {
            let _ = verify(&password, DECOY);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_the_chosen_parameters_and_verifies() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!needs_rehash(&h));
        // The decoy costs what a real hash costs: raise it with the parameters.
        assert!(!needs_rehash(DECOY));
        assert!(!verify("correct horse battery staple", DECOY));
    }

    #[test]
    fn a_hash_with_lower_parameters_still_verifies_and_asks_to_be_redone() {
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"an older password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify("an older password", &weak));
        assert!(needs_rehash(&weak));
        assert!(!verify("an older password", "not a hash"));
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"an older password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(!verify("an older password", &argon2i));
    }

    #[test]
    fn length_counts_characters_and_common_passwords_are_refused() {
        assert!(common_count() >= 10_000);
        assert!(check_new("password", "short one").is_err());
        // Twelve characters, each two bytes: long enough.
        assert!(check_new("password", "éèàùçôîâêûëï").is_ok());
        assert!(check_new("password", &"x".repeat(257)).is_err());
        assert!(check_new("password", "correct horse battery staple").is_ok());
        for weak in [
            "1qaz2wsx3edc",
            "PASSWORD1234",
            "dragon123456",
            "qwertyqwerty",
            "aaaaaaaaaaaa",
            "abcabcabcabc",
        ] {
            assert!(check_new("password", weak).is_err(), "{weak}");
        }
    }
}
