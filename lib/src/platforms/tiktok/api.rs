//! Calls to TikTok's Open API v2 and how its answers map to the publisher's error classes. Every answer carries
//! `{"data": …, "error": {"code", "message", "log_id"}}`, `code` being `"ok"` on success; the token endpoint answers
//! `{"error", "error_description", "log_id"}` instead.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::platforms::http::{read_body, read_transport_error, retry_after, transport_error};
use crate::ports::PlatformError;

/// What a call does, which decides what a failure without a clear answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A read (profile, creator info, status): safe to repeat.
    Read,
    /// An init or an upload whose loss leaves nothing published (a FILE_UPLOAD init publishes nothing until its
    /// bytes arrive): a lost answer is transient.
    Prepare,
    /// A call that may publish (the last chunk of an upload, a PULL_FROM_URL init): a lost answer is unknown.
    Publish,
}

/// TikTok's error object.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub log_id: String,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    #[serde(default)]
    error: Option<ApiError>,
}

/// When TikTok says "too many requests" without saying how long: its limits are per minute.
pub const DEFAULT_RATE_WAIT: Duration = Duration::from_secs(60);

/// TikTok's words, safe to record: no secret of the request in them, at most 300 characters.
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

/// What a person should read for an error code TikTok documents, where TikTok's own message says less.
fn explain(code: &str) -> Option<&'static str> {
    Some(match code {
        "unaudited_client_can_only_post_to_private_accounts" => {
            "this Postora's TikTok app has not passed TikTok's audit yet, so it may only post to private TikTok accounts, and only as \"only me\" (SELF_ONLY): make the TikTok account private, or ask the operator to have the app audited"
        }
        "reached_active_user_cap" => {
            "this Postora's TikTok app has reached the number of people who may post through it each day (an unaudited app allows 5): try again tomorrow, or ask the operator to have the app audited"
        }
        "privacy_level_option_mismatch" => {
            "the privacy level chosen is not one this TikTok account offers now: choose again from the account's options"
        }
        "url_ownership_unverified" => {
            "TikTok fetches photos only from a domain or URL prefix verified in the TikTok developer portal: the operator must verify Postora's media address there"
        }
        "spam_risk_too_many_posts" => "TikTok refused the post: the account posted too many times today",
        "spam_risk_user_banned_from_posting" => "TikTok refused the post: the account may not post at the moment",
        "spam_risk_too_many_pending_share" => {
            "TikTok refused the upload: the account has too many posts waiting in its TikTok inbox; finish or delete them in the app first"
        }
        "spam_risk" => "TikTok refused the post as a spam risk",
        "scope_not_authorized" => {
            "the TikTok account did not grant the permission to post (video.publish / video.upload): connect it again and allow posting"
        }
        "scope_permission_missed" => "the TikTok app lacks a permission TikTok requires for posting",
        _ => return None,
    })
}

/// A failed answer, as an error class.
pub fn failure(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    error: Option<&ApiError>,
    kind: CallKind,
    what: &str,
    secrets: &[&str],
) -> PlatformError {
    let code = error.map(|e| e.code.as_str()).unwrap_or("");
    let said = error
        .map(|e| scrub(&e.message, secrets))
        .filter(|m| !m.trim().is_empty());
    let words = match (explain(code), said) {
        (Some(e), Some(s)) => format!("{e} (TikTok said: {s})"),
        (Some(e), None) => e.to_owned(),
        (None, Some(s)) => s,
        (None, None) if !code.is_empty() => code.to_owned(),
        (None, None) => format!("TikTok answered {status}"),
    };
    let message = format!("{what}: {words}");
    match code {
        "access_token_invalid" | "token_expired" => PlatformError::TokenExpired,
        "scope_not_authorized" => PlatformError::Reauth(message),
        "rate_limit_exceeded" => PlatformError::RateLimited {
            retry_after: Some(retry_after(headers).unwrap_or(DEFAULT_RATE_WAIT)),
            message,
        },
        c if c.starts_with("spam_risk") => PlatformError::Rejected(message),
        "unaudited_client_can_only_post_to_private_accounts"
        | "reached_active_user_cap"
        | "privacy_level_option_mismatch"
        | "url_ownership_unverified"
        | "invalid_param"
        | "invalid_file_upload"
        | "scope_permission_missed"
        | "duration_check_failed"
        | "file_format_check_failed"
        | "picture_size_check_failed"
        | "frame_rate_check_failed"
        | "video_pull_failed"
        | "photo_pull_failed" => PlatformError::Rejected(message),
        "internal_error" => match kind {
            CallKind::Publish => PlatformError::Unknown(message),
            _ => PlatformError::Transient(message),
        },
        _ => match status {
            401 => PlatformError::TokenExpired,
            429 => PlatformError::RateLimited {
                retry_after: Some(retry_after(headers).unwrap_or(DEFAULT_RATE_WAIT)),
                message,
            },
            400..=499 => PlatformError::Rejected(message),
            500..=599 if kind == CallKind::Publish => PlatformError::Unknown(message),
            _ => PlatformError::Transient(message),
        },
    }
}

/// Sends a request with the user's token and reads `data` of the answer as `T`.
pub async fn call<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    token: &SecretString,
    kind: CallKind,
    what: &str,
) -> Result<T, PlatformError> {
    let secret = token.expose_secret();
    let resp = request
        .bearer_auth(secret)
        .send()
        .await
        .map_err(|e| match kind {
            CallKind::Publish => transport_error(&e, what),
            _ => read_transport_error(&e, what),
        })?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = read_body(resp)
        .await
        .map_err(|e| e.into_platform(what, kind == CallKind::Publish))?;
    let unreadable = || {
        let m = format!("{what}: TikTok answered {status} with an unreadable body");
        if kind == CallKind::Publish && status < 400 {
            PlatformError::Unknown(m)
        } else {
            PlatformError::Transient(m)
        }
    };
    let envelope: Option<Envelope<T>> = serde_json::from_slice(&body).ok();
    let ok_code = envelope
        .as_ref()
        .and_then(|e| e.error.as_ref())
        .is_none_or(|e| e.code.is_empty() || e.code == "ok");
    if !(200..300).contains(&status) || !ok_code {
        if envelope.is_none() {
            // The error object may not match T's `data`: read it alone.
            #[derive(Deserialize)]
            struct ErrorOnly {
                #[serde(default)]
                error: Option<ApiError>,
            }
            let e: Option<ErrorOnly> = serde_json::from_slice(&body).ok();
            return Err(failure(
                status,
                &headers,
                e.and_then(|e| e.error).as_ref(),
                kind,
                what,
                &[secret],
            ));
        }
        let error = envelope.and_then(|e| e.error);
        return Err(failure(
            status,
            &headers,
            error.as_ref(),
            kind,
            what,
            &[secret],
        ));
    }
    envelope.and_then(|e| e.data).ok_or_else(unreadable)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;

    use super::*;

    fn error(code: &str, message: &str) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
            log_id: "202401010000".into(),
        }
    }

    #[test]
    fn documented_codes_map_to_error_classes() {
        let h = HeaderMap::new();
        let f = |status, code: &str, kind| {
            failure(status, &h, Some(&error(code, "words")), kind, "p", &[])
        };
        assert_eq!(
            f(401, "access_token_invalid", CallKind::Read),
            PlatformError::TokenExpired
        );
        assert_eq!(
            f(401, "scope_not_authorized", CallKind::Read).code(),
            "needs_reauth"
        );
        match f(429, "rate_limit_exceeded", CallKind::Prepare) {
            PlatformError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(DEFAULT_RATE_WAIT))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            f(403, "spam_risk_too_many_posts", CallKind::Prepare).code(),
            "rejected"
        );
        assert_eq!(
            f(500, "internal_error", CallKind::Prepare).code(),
            "transient"
        );
        assert_eq!(
            f(500, "internal_error", CallKind::Publish).code(),
            "unknown_outcome"
        );
        let unaudited = f(
            403,
            "unaudited_client_can_only_post_to_private_accounts",
            CallKind::Prepare,
        );
        assert_eq!(unaudited.code(), "rejected");
        assert!(
            unaudited.to_string().contains("private TikTok accounts"),
            "{unaudited}"
        );
    }

    #[test]
    fn secrets_never_reach_a_message() {
        let e = failure(
            400,
            &HeaderMap::new(),
            Some(&error("invalid_param", "bad token act.123456")),
            CallKind::Read,
            "r",
            &["act.123456"],
        );
        assert!(!e.to_string().contains("act.123456"), "{e}");
    }
}
