//! How Google's answers map to the publisher's error classes. Google APIs answer errors as
//! `{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}`; the `reason` says what happened
//! (`quotaExceeded`, `uploadLimitExceeded`, `rateLimitExceeded`, `forbidden`, `invalidTitle`, ...).

use chrono::Utc;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

use super::quota;
use crate::platforms::http::{read_body, retry_after};
use crate::ports::PlatformError;

#[derive(Debug, Default, Deserialize)]
struct Listed {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Inner {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<Listed>,
}

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<Inner>,
}

/// What a Google error answer says: its first listed reason and its most telling message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GoogleError {
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl GoogleError {
    pub fn parse(body: &[u8]) -> Self {
        let inner = serde_json::from_slice::<Envelope>(body)
            .ok()
            .and_then(|e| e.error)
            .unwrap_or_default();
        let first = inner.errors.into_iter().next().unwrap_or_default();
        let message = inner
            .message
            .or(first.message)
            .map(|m| m.chars().take(500).collect::<String>())
            .filter(|m| !m.trim().is_empty());
        GoogleError {
            reason: first.reason,
            message,
        }
    }

    fn text(&self, status: StatusCode) -> String {
        match (&self.message, &self.reason) {
            (Some(m), Some(r)) => format!("{m} ({r})"),
            (Some(m), None) => m.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => format!("YouTube answered {}", status.as_u16()),
        }
    }
}

/// Classifies an error answer. `may_have_landed` is whether the call could have published the video (the last
/// chunk of an upload): then a server error is an unknown outcome rather than a transient one.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
    may_have_landed: bool,
) -> PlatformError {
    let e = GoogleError::parse(body);
    let text = format!("{what}: {}", e.text(status));
    let reason = e.reason.as_deref().unwrap_or("");
    let until_reset = || Some(quota::until_reset(Utc::now()));
    match (status.as_u16(), reason) {
        (401, _) => PlatformError::TokenExpired,
        (_, "quotaExceeded" | "dailyLimitExceeded") => PlatformError::AppRateLimited {
            retry_after: until_reset(),
            message: format!(
                "{text}; Postora's Google project has used its YouTube quota for the day, which resets at midnight Pacific time"
            ),
        },
        (_, "uploadLimitExceeded") => PlatformError::RateLimited {
            retry_after: until_reset(),
            message: format!("{text}; this channel has reached YouTube's upload limit for now"),
        },
        (429, _) | (_, "rateLimitExceeded" | "userRateLimitExceeded") => {
            PlatformError::RateLimited {
                retry_after: retry_after(headers),
                message: text,
            }
        }
        (403, "insufficientPermissions" | "youtubeSignupRequired") => {
            PlatformError::Reauth(format!(
                "{text}; connect the channel again and allow uploads"
            ))
        }
        (500..=599, _) if may_have_landed => PlatformError::Unknown(text),
        (500..=599, _) | (408, _) => PlatformError::Transient(text),
        _ => PlatformError::Rejected(text),
    }
}

/// Reads an error answer's body and classifies it.
pub async fn error_of(resp: reqwest::Response, what: &str, may_have_landed: bool) -> PlatformError {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_body(resp).await.unwrap_or_default();
    classify(status, &headers, &body, what, may_have_landed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, reason: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": code, "message": "Because", "errors": [{"domain": "youtube", "reason": reason, "message": "Because"}]}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn google_reasons_map_to_error_classes() {
        let h = HeaderMap::new();
        let c = |s: u16, r: &str, last: bool| {
            classify(StatusCode::from_u16(s).unwrap(), &h, &body(s, r), "x", last).code()
        };
        assert_eq!(c(401, "authError", false), "token_expired");
        assert_eq!(c(403, "quotaExceeded", false), "app_rate_limited");
        assert_eq!(c(400, "uploadLimitExceeded", false), "rate_limited");
        assert_eq!(c(429, "rateLimitExceeded", false), "rate_limited");
        assert_eq!(c(403, "forbidden", false), "rejected");
        assert_eq!(c(400, "invalidTitle", false), "rejected");
        assert_eq!(c(403, "insufficientPermissions", false), "needs_reauth");
        assert_eq!(c(503, "backendError", false), "transient");
        assert_eq!(c(503, "backendError", true), "unknown_outcome");
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &h, b"<html>", "x", false).code(),
            "transient"
        );
        let e = classify(
            StatusCode::BAD_REQUEST,
            &h,
            &body(400, "invalidTitle"),
            "x",
            false,
        );
        assert!(e.to_string().contains("Because (invalidTitle)"), "{e}");
    }
}
