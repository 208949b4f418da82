//! Calls to the X API v2 and how its answers map to the publisher's error classes: problem+json bodies
//! (`{title, detail, type, status}`, or `{errors: [...]}`), and the `x-rate-limit-*` headers (X sends no
//! `Retry-After`; `x-rate-limit-reset` is the epoch second the window resets).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::domain::bounds;
use crate::platforms::http::{read_body, read_transport_error, transport_error};
use crate::ports::PlatformError;

/// What a call does, which decides what a failure without a clear answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A read: always safe to repeat.
    Read,
    /// A media upload step or metadata: nothing anyone sees; a 5xx or a lost answer is transient.
    Media,
    /// `POST /2/tweets`: a lost answer or a 5xx may have published.
    Publish,
}

/// The rate-limit window an answer reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window resets.
    pub reset: Option<DateTime<Utc>>,
    /// The app's 24-hour posting allowance (`x-app-limit-24hour-remaining` / `-reset`), on `POST /2/tweets`.
    pub app_remaining: Option<u64>,
    pub app_reset: Option<DateTime<Utc>>,
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let raw = headers.get(name)?.to_str().ok()?.trim();
    if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn epoch(secs: Option<u64>) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(i64::try_from(secs?).ok()?, 0)
}

impl RateWindow {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        RateWindow {
            limit: header_u64(headers, "x-rate-limit-limit"),
            remaining: header_u64(headers, "x-rate-limit-remaining"),
            reset: epoch(header_u64(headers, "x-rate-limit-reset")),
            app_remaining: header_u64(headers, "x-app-limit-24hour-remaining"),
            app_reset: epoch(header_u64(headers, "x-app-limit-24hour-reset")),
        }
    }

    /// How long from `now` until `reset`, at most a day ([`bounds::wait_hint`]); a reset in the past is a second.
    pub fn wait_until(reset: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
        let reset = reset?;
        let wait = (reset - now).to_std().unwrap_or(Duration::ZERO);
        Some(bounds::wait_hint(wait.max(Duration::from_secs(1))))
    }

    /// Whether the app as a whole used up its 24-hour allowance (every account waits), rather than this account.
    pub fn app_exhausted(&self) -> bool {
        self.app_remaining == Some(0)
    }
}

/// One problem of an `errors` array, or a whole problem+json body.
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<Problem>,
}

impl Problem {
    /// The most telling words: the detail, else the first listed error's, else the title.
    fn text(&self) -> Option<String> {
        let own = self
            .detail
            .clone()
            .or_else(|| self.message.clone())
            .filter(|s| !s.trim().is_empty());
        let listed = self.errors.iter().find_map(Problem::text);
        // A generic detail ("One or more parameters to your request was invalid.") says less than the listed error.
        match (own, listed) {
            (Some(o), Some(l))
                if self
                    .kind
                    .as_deref()
                    .is_some_and(|k| k.ends_with("invalid-request")) =>
            {
                Some(format!("{o} {l}"))
            }
            (Some(o), _) => Some(o),
            (None, Some(l)) => Some(l),
            (None, None) => self.title.clone(),
        }
    }

    fn is_usage_cap(&self) -> bool {
        let t = self.kind.as_deref().unwrap_or("");
        t.ends_with("usage-capped") || self.title.as_deref() == Some("UsageCapExceeded")
    }
}

/// X's words, safe to record: no secret of the request in them, at most 300 characters.
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

/// A failed answer, as an error class.
pub fn failure(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    kind: CallKind,
    what: &str,
    secrets: &[&str],
) -> PlatformError {
    let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    let said = problem
        .text()
        .map(|t| scrub(&t, secrets))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let message = format!("{what}: X answered {}: {said}", status.as_u16());
    let window = RateWindow::from_headers(headers);
    let now = Utc::now();
    match status.as_u16() {
        401 => PlatformError::TokenExpired,
        429 if problem.is_usage_cap() || window.app_exhausted() => PlatformError::AppRateLimited {
            retry_after: RateWindow::wait_until(window.app_reset.or(window.reset), now),
            message,
        },
        429 => PlatformError::RateLimited {
            retry_after: RateWindow::wait_until(window.reset, now),
            message,
        },
        // Refused for good: forbidden (duplicate content, a missing permission, a suspended account), bad requests,
        // a reply target that is gone.
        400..=499 => PlatformError::Rejected(format!("{what}: {said}")),
        500..=599 if kind == CallKind::Publish => PlatformError::Unknown(message),
        _ => PlatformError::Transient(message),
    }
}

/// A successful answer: its status, the rate window it reported and its body.
pub struct Answer<T> {
    pub value: T,
    pub window: RateWindow,
}

/// Sends a request with the user's token and reads the answer as `T`.
pub async fn call<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    token: &SecretString,
    kind: CallKind,
    what: &str,
) -> Result<Answer<T>, PlatformError> {
    let secret = token.expose_secret();
    let resp = request
        .bearer_auth(secret)
        .send()
        .await
        .map_err(|e| match kind {
            CallKind::Publish => transport_error(&e, what),
            _ => read_transport_error(&e, what),
        })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_body(resp)
        .await
        .map_err(|e| e.into_platform(what, kind == CallKind::Publish))?;
    if !status.is_success() {
        return Err(failure(status, &headers, &body, kind, what, &[secret]));
    }
    let window = RateWindow::from_headers(&headers);
    let value =
        serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }).map_err(|_| {
            let m = format!(
                "{what}: X answered {} with an unreadable body",
                status.as_u16()
            );
            if kind == CallKind::Publish {
                PlatformError::Unknown(m)
            } else {
                PlatformError::Transient(m)
            }
        })?;
    Ok(Answer { value, window })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn problems_map_to_error_classes() {
        let forbidden = br#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#;
        let e = failure(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            forbidden,
            CallKind::Publish,
            "publishing",
            &[],
        );
        assert_eq!(
            e,
            PlatformError::Rejected(
                "publishing: You are not allowed to create a Tweet with duplicate content.".into()
            )
        );
        let e = failure(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            b"{}",
            CallKind::Publish,
            "p",
            &[],
        );
        assert_eq!(e, PlatformError::TokenExpired);
        let e = failure(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>",
            CallKind::Publish,
            "p",
            &[],
        );
        assert_eq!(e.code(), "unknown_outcome");
        let e = failure(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>",
            CallKind::Media,
            "p",
            &[],
        );
        assert_eq!(e.code(), "transient");
        let invalid = br#"{"errors":[{"parameters":{"text":["x"]},"message":"text is too long"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.x.com/2/problems/invalid-request"}"#;
        let e = failure(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            invalid,
            CallKind::Publish,
            "p",
            &[],
        );
        assert!(e.to_string().contains("text is too long"), "{e}");
    }

    #[test]
    fn a_429_waits_until_the_reset_and_no_longer_than_a_day() {
        let now = Utc::now().timestamp();
        let h = headers(&[
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", &(now + 60).to_string()),
        ]);
        match failure(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            b"{}",
            CallKind::Publish,
            "p",
            &[],
        ) {
            PlatformError::RateLimited {
                retry_after: Some(w),
                ..
            } => {
                assert!(
                    w <= Duration::from_secs(61) && w >= Duration::from_secs(58),
                    "{w:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        let far = headers(&[("x-rate-limit-reset", "99999999999999999")]);
        match failure(
            StatusCode::TOO_MANY_REQUESTS,
            &far,
            b"{}",
            CallKind::Publish,
            "p",
            &[],
        ) {
            PlatformError::RateLimited { retry_after, .. } => {
                assert!(retry_after.is_none_or(|w| w <= bounds::MAX_WAIT_HINT))
            }
            other => panic!("{other:?}"),
        }
        let app = headers(&[
            ("x-app-limit-24hour-remaining", "0"),
            ("x-app-limit-24hour-reset", &(now + 3600).to_string()),
        ]);
        assert_eq!(
            failure(
                StatusCode::TOO_MANY_REQUESTS,
                &app,
                b"{}",
                CallKind::Publish,
                "p",
                &[]
            )
            .code(),
            "app_rate_limited"
        );
        for odd in ["-1", "abc", "", "1e9"] {
            assert_eq!(
                RateWindow::from_headers(&headers(&[("x-rate-limit-reset", odd)])).reset,
                None
            );
        }
    }

    #[test]
    fn secrets_never_reach_a_message() {
        let body = br#"{"detail":"bad token tok-123456"}"#;
        let e = failure(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            body,
            CallKind::Read,
            "r",
            &["tok-123456"],
        );
        assert!(!e.to_string().contains("tok-123456"));
    }
}
