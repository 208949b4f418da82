//! Meta's `signed_request`: how Facebook, Instagram and Threads sign their data-deletion and deauthorize callbacks.
//!
//! As Meta documents it: `<encoded signature>.<encoded payload>`, split on the first dot, both parts base64url without
//! padding. The signature is HMAC-SHA256 keyed with the app secret over the payload exactly as it was sent (still
//! encoded); the payload is a JSON object with `algorithm` (`HMAC-SHA256`), `issued_at`, sometimes `expires`, and the
//! app-scoped `user_id`. Nothing in the payload is trusted before the signature has been checked, and the check takes
//! the same time whatever the signature holds.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The longest `signed_request` accepted. Meta's are a few hundred characters; anything near this is not from Meta.
pub const MAX_SIGNED_REQUEST_LEN: usize = 8 * 1024;

/// How far in the future `issued_at` may be before the request is refused: clocks differ a little, never by much.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// How old `issued_at` may be before the request is refused: one hour.
///
/// Meta issues a callback when the person acts and posts it at once, so a genuine one arrives seconds old. An hour
/// leaves room for a slow delivery, a retry after Postora was briefly unreachable, and clocks that differ, while a
/// request captured on the way (from a log, a proxy, a browser) cannot be replayed days later. Meta's requests carry
/// no nonce, so within the hour a replay is harmless rather than impossible: the callbacks are idempotent, and one
/// issued before an account's latest connection never acts on that connection (see `crate::app::deletion`).
pub const MAX_AGE: chrono::Duration = chrono::Duration::hours(1);

/// The longest user id accepted. Meta's app-scoped ids are decimal numbers of about twenty digits.
pub const MAX_USER_ID_LEN: usize = 128;

/// base64url exactly as documented: no padding, and no stray bits in the last character, so one value has one
/// encoding and a changed character never decodes to the same bytes.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// A verified callback: who it names and when Meta issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped id of the person the callback is about.
    pub user_id: String,
    pub issued_at: DateTime<Utc>,
    /// When the request stops being valid, if Meta said (`expires` absent or 0 means it did not).
    pub expires: Option<DateTime<Utc>>,
}

/// Why a `signed_request` was refused. Every variant is the sender's fault: a 400, never a 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("signed_request is empty")]
    Empty,
    #[error("signed_request is longer than {MAX_SIGNED_REQUEST_LEN} characters")]
    TooLong,
    #[error("signed_request must be two parts joined by a dot: <signature>.<payload>")]
    NotTwoParts,
    #[error("the signature part is not base64url without padding")]
    SignatureEncoding,
    #[error("the payload part is not base64url without padding")]
    PayloadEncoding,
    #[error("the signature does not match the payload and the app secret")]
    WrongSignature,
    #[error("the payload is not a JSON object")]
    PayloadNotJson,
    #[error("the payload has no valid `{0}`")]
    MissingField(&'static str),
    #[error("the payload's algorithm is not HMAC-SHA256")]
    UnsupportedAlgorithm,
    #[error("issued_at is more than 5 minutes in the future")]
    IssuedInFuture,
    #[error("the request has expired")]
    Expired,
    #[error("issued_at is more than an hour ago; a callback is accepted only within an hour of being issued")]
    TooOld,
}

impl SignedRequestError {
    /// A stable snake_case code for the error body.
    pub fn code(self) -> &'static str {
        match self {
            SignedRequestError::Empty => "signed_request_missing",
            SignedRequestError::TooLong => "signed_request_too_long",
            SignedRequestError::NotTwoParts => "signed_request_malformed",
            SignedRequestError::SignatureEncoding | SignedRequestError::PayloadEncoding => {
                "signed_request_bad_base64"
            }
            SignedRequestError::WrongSignature => "signature_mismatch",
            SignedRequestError::PayloadNotJson | SignedRequestError::MissingField(_) => {
                "signed_request_bad_payload"
            }
            SignedRequestError::UnsupportedAlgorithm => "unsupported_algorithm",
            SignedRequestError::IssuedInFuture => "issued_in_future",
            SignedRequestError::Expired => "signed_request_expired",
            SignedRequestError::TooOld => "signed_request_too_old",
        }
    }
}

/// Verifies a `signed_request` against the app secrets that may have signed it (one per Meta app configured for the
/// callback; an empty list verifies nothing) and reads the payload.
pub fn verify(
    signed_request: &str,
    secrets: &[&[u8]],
    now: DateTime<Utc>,
) -> Result<SignedRequest, SignedRequestError> {
    if signed_request.is_empty() {
        return Err(SignedRequestError::Empty);
    }
    if signed_request.len() > MAX_SIGNED_REQUEST_LEN {
        return Err(SignedRequestError::TooLong);
    }
    let (encoded_sig, payload) = signed_request
        .split_once('.')
        .ok_or(SignedRequestError::NotTwoParts)?;
    let signature = BASE64URL
        .decode(encoded_sig)
        .map_err(|_| SignedRequestError::SignatureEncoding)?;
    let json = BASE64URL
        .decode(payload)
        .map_err(|_| SignedRequestError::PayloadEncoding)?;
    if !secrets
        .iter()
        .any(|secret| signature_matches(secret, payload, &signature))
    {
        return Err(SignedRequestError::WrongSignature);
    }
    read_payload(&json, now)
}

/// HMAC-SHA256 over the still-encoded payload, compared in constant time (`verify_slice` uses `subtle`).
fn signature_matches(secret: &[u8], encoded_payload: &str, signature: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(encoded_payload.as_bytes());
    mac.verify_slice(signature).is_ok()
}

fn read_payload(json: &[u8], now: DateTime<Utc>) -> Result<SignedRequest, SignedRequestError> {
    let serde_json::Value::Object(payload) =
        serde_json::from_slice(json).map_err(|_| SignedRequestError::PayloadNotJson)?
    else {
        return Err(SignedRequestError::PayloadNotJson);
    };
    let algorithm = payload
        .get("algorithm")
        .and_then(|v| v.as_str())
        .ok_or(SignedRequestError::MissingField("algorithm"))?;
    // Meta's own examples compare the algorithm without regard to case.
    if !algorithm.eq_ignore_ascii_case("HMAC-SHA256") {
        return Err(SignedRequestError::UnsupportedAlgorithm);
    }
    let user_id = match payload.get("user_id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err(SignedRequestError::MissingField("user_id")),
    };
    if !is_user_id(&user_id) {
        return Err(SignedRequestError::MissingField("user_id"));
    }
    let issued_at = payload
        .get("issued_at")
        .and_then(|v| v.as_i64())
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or(SignedRequestError::MissingField("issued_at"))?;
    if issued_at > now + MAX_CLOCK_SKEW {
        return Err(SignedRequestError::IssuedInFuture);
    }
    let expires = match payload.get("expires") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_i64() {
            // Meta sends 0 for "does not expire".
            Some(0) => None,
            Some(s) => Some(
                DateTime::from_timestamp(s, 0)
                    .ok_or(SignedRequestError::MissingField("expires"))?,
            ),
            None => return Err(SignedRequestError::MissingField("expires")),
        },
    };
    if expires.is_some_and(|e| now >= e) {
        return Err(SignedRequestError::Expired);
    }
    if issued_at < now - MAX_AGE {
        return Err(SignedRequestError::TooOld);
    }
    Ok(SignedRequest {
        user_id,
        issued_at,
        expires,
    })
}

/// An app-scoped id: short, and only characters that are safe in a key and a log line.
fn is_user_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USER_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    const SECRET: &[u8] = b"postora-test-secret";

    /// Meta's documented example payload, signed with `SECRET` by an independent implementation (Python's `hmac` and
    /// `base64.urlsafe_b64encode` with the padding stripped).
    const DOCUMENTED_VECTOR: &str = "4F3q--PMkmQpJddrIdz97I15c6quFGB_eLGnOiOhDfI.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsImV4cGlyZXMiOjEyOTE4NDA0MDAsImlzc3VlZF9hdCI6MTI5MTgzNjgwMCwidXNlcl9pZCI6IjIxODQ3MSJ9";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    /// Signs `payload_json` the way the documentation describes, written out step by step on purpose: encode the
    /// payload, HMAC-SHA256 the encoded string with the secret, encode the digest, join with a dot.
    fn sign(payload_json: &str, secret: &[u8]) -> String {
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let payload = encode(payload_json.as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(payload.as_bytes());
        format!("{}.{payload}", encode(&mac.finalize().into_bytes()))
    }

    fn valid_now() -> String {
        sign(
            r#"{"algorithm":"HMAC-SHA256","expires":0,"issued_at":1795957140,"user_id":"10160000000000001"}"#,
            SECRET,
        )
    }

    #[test]
    fn the_documented_example_verifies() {
        let got = verify(DOCUMENTED_VECTOR, &[SECRET], at(1_291_837_000)).unwrap();
        assert_eq!(
            got,
            SignedRequest {
                user_id: "218471".into(),
                issued_at: at(1_291_836_800),
                expires: Some(at(1_291_840_400)),
            }
        );
        assert_eq!(
            sign(
                r#"{"algorithm":"HMAC-SHA256","expires":1291840400,"issued_at":1291836800,"user_id":"218471"}"#,
                SECRET
            ),
            DOCUMENTED_VECTOR,
            "the test's signer agrees with the independent one"
        );
    }

    #[test]
    fn the_sample_events_verify_with_their_sample_secret() {
        // events/data-deletion/meta-data-deletion.json, signed with the sample Meta app secret, issued ten seconds
        // before the sample's request time.
        let sample = "_FvMxrloGns392TmCyUSPlJbmLK7SXKi4QS9LJwFt2Y.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsImV4cGlyZXMiOjAsImlzc3VlZF9hdCI6MTc5NTk1NzE5MCwidXNlcl9pZCI6IjEwMTYwMDAwMDAwMDAwMDAxIn0";
        let got = verify(
            sample,
            &[b"postora-sample-meta-app-secret"],
            at(1_795_957_200),
        )
        .unwrap();
        assert_eq!(got.user_id, "10160000000000001");
        assert_eq!(got.issued_at, at(1_795_957_190));
        assert_eq!(got.expires, None, "expires 0 means no expiry");
        assert_eq!(
            verify(sample, &[SECRET], at(1_795_957_200)),
            Err(SignedRequestError::WrongSignature)
        );
    }

    #[test]
    fn a_request_is_accepted_only_within_an_hour_of_being_issued() {
        let issued = 1_795_957_140;
        let raw = sign(
            &format!(
                r#"{{"algorithm":"HMAC-SHA256","expires":0,"issued_at":{issued},"user_id":"1"}}"#
            ),
            SECRET,
        );
        let check = |now: i64| verify(&raw, &[SECRET], at(now)).map(|r| r.issued_at);
        assert_eq!(check(issued), Ok(at(issued)));
        assert_eq!(
            check(issued + 3600),
            Ok(at(issued)),
            "an hour old is still in time"
        );
        assert_eq!(check(issued + 3601), Err(SignedRequestError::TooOld));
        assert_eq!(check(issued + 30 * 86_400), Err(SignedRequestError::TooOld));
        assert_eq!(SignedRequestError::TooOld.code(), "signed_request_too_old");
        // A little ahead of this clock is a clock difference; more is refused.
        assert_eq!(check(issued - 300), Ok(at(issued)));
        assert_eq!(check(issued - 301), Err(SignedRequestError::IssuedInFuture));
        assert_eq!(
            check(issued - 86_400),
            Err(SignedRequestError::IssuedInFuture)
        );
    }

    #[test]
    fn absurd_times_are_refused_without_a_panic() {
        let now = at(1_795_957_200);
        for issued in [i64::MAX, i64::MIN, 0, -1, 253_402_300_800] {
            let raw = sign(
                &format!(r#"{{"algorithm":"HMAC-SHA256","issued_at":{issued},"user_id":"1"}}"#),
                SECRET,
            );
            assert!(verify(&raw, &[SECRET], now).is_err(), "{issued}");
        }
    }

    #[test]
    fn any_configured_secret_may_have_signed_it() {
        let now = at(1_795_957_200);
        assert!(verify(&valid_now(), &[b"another app", SECRET], now).is_ok());
        assert_eq!(
            verify(&valid_now(), &[], now),
            Err(SignedRequestError::WrongSignature)
        );
    }

    #[test]
    fn each_malformation_has_its_own_error() {
        let now = at(1_795_957_200);
        let check = |raw: &str| verify(raw, &[SECRET], now).unwrap_err();
        assert_eq!(check(""), SignedRequestError::Empty);
        assert_eq!(
            check(&"a".repeat(MAX_SIGNED_REQUEST_LEN + 1)),
            SignedRequestError::TooLong
        );
        assert_eq!(check("onlyonepart"), SignedRequestError::NotTwoParts);
        assert_eq!(
            check("not*base64.eyJ9"),
            SignedRequestError::SignatureEncoding
        );
        let valid = valid_now();
        let (sig, payload) = valid.split_once('.').unwrap();
        assert_eq!(
            check(&format!("{sig}=.{payload}")),
            SignedRequestError::SignatureEncoding,
            "padding is not part of the format"
        );
        assert_eq!(
            check(&format!("{sig}.{payload}!")),
            SignedRequestError::PayloadEncoding
        );
        assert_eq!(
            check(&format!("{sig}.{payload}.more")),
            SignedRequestError::PayloadEncoding,
            "only the first dot splits"
        );
        let other = sign(
            r#"{"algorithm":"HMAC-SHA256","issued_at":1795957140,"user_id":"1"}"#,
            b"not the secret",
        );
        assert_eq!(check(&other), SignedRequestError::WrongSignature);
        assert_eq!(
            check(&sign("not json", SECRET)),
            SignedRequestError::PayloadNotJson
        );
        assert_eq!(
            check(&sign("[1,2]", SECRET)),
            SignedRequestError::PayloadNotJson
        );
        assert_eq!(
            check(&sign(
                r#"{"algorithm":"HMAC-SHA1","issued_at":1795957140,"user_id":"1"}"#,
                SECRET
            )),
            SignedRequestError::UnsupportedAlgorithm
        );
        assert_eq!(
            check(&sign(r#"{"issued_at":1795957140,"user_id":"1"}"#, SECRET)),
            SignedRequestError::MissingField("algorithm")
        );
        assert_eq!(
            check(&sign(
                r#"{"algorithm":"HMAC-SHA256","issued_at":1795957140}"#,
                SECRET
            )),
            SignedRequestError::MissingField("user_id")
        );
        assert_eq!(
            check(&sign(
                r#"{"algorithm":"HMAC-SHA256","issued_at":1795957140,"user_id":"a/b"}"#,
                SECRET
            )),
            SignedRequestError::MissingField("user_id")
        );
        assert_eq!(
            check(&sign(
                r#"{"algorithm":"HMAC-SHA256","user_id":"1"}"#,
                SECRET
            )),
            SignedRequestError::MissingField("issued_at")
        );
        assert_eq!(
            check(&sign(
                r#"{"algorithm":"HMAC-SHA256","issued_at":1795967140,"user_id":"1"}"#,
                SECRET
            )),
            SignedRequestError::IssuedInFuture
        );
        assert_eq!(
            check(&sign(
                r#"{"algorithm":"HMAC-SHA256","issued_at":1795950000,"expires":1795957000,"user_id":"1"}"#,
                SECRET
            )),
            SignedRequestError::Expired
        );
    }

    #[test]
    fn small_clock_differences_and_numeric_ids_are_accepted() {
        let now = at(1_795_957_200);
        let got = verify(
            &sign(
                r#"{"algorithm":"hmac-sha256","issued_at":1795957260,"user_id":17841400000000000}"#,
                SECRET,
            ),
            &[SECRET],
            now,
        )
        .unwrap();
        assert_eq!(got.user_id, "17841400000000000");
    }

    /// One way to change a string: replace, insert or remove a byte, or cut it short.
    #[derive(Clone, Debug)]
    enum Change {
        Replace(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        // Mostly characters that could appear in a signed_request, so changes reach the signature check.
        let byte = prop_oneof![
            4 => proptest::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".to_vec()
            ),
            1 => any::<u8>().prop_filter("ASCII keeps the string valid UTF-8", u8::is_ascii),
        ];
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(i, b)| Change::Replace(i, b)),
            (any::<usize>(), byte).prop_map(|(i, b)| Change::Insert(i, b)),
            any::<usize>().prop_map(Change::Remove),
            any::<usize>().prop_map(Change::Truncate),
        ]
    }

    fn apply(original: &str, changes: &[Change]) -> String {
        let mut bytes = original.as_bytes().to_vec();
        for c in changes {
            let len = bytes.len().max(1);
            match *c {
                Change::Replace(i, b) if !bytes.is_empty() => bytes[i % len] = b,
                Change::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
                Change::Remove(i) if !bytes.is_empty() => {
                    bytes.remove(i % len);
                }
                Change::Truncate(i) => bytes.truncate(i % len),
                _ => {}
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    proptest! {
        #[test]
        fn any_change_to_a_valid_signed_request_is_refused(
            changes in proptest::collection::vec(change(), 1..4)
        ) {
            let original = valid_now();
            let changed = apply(&original, &changes);
            prop_assume!(changed != original);
            prop_assert!(verify(&changed, &[SECRET], at(1_795_957_200)).is_err());
        }

        #[test]
        fn random_strings_never_verify_and_never_panic(raw in ".{0,300}") {
            prop_assert!(verify(&raw, &[SECRET], at(1_795_957_200)).is_err());
        }
    }
}
