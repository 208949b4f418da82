//! Calling an instance: sending through the guarded client, reading the answer with the body cap, and mapping
//! Mastodon's answers to the publisher's error classes (docs/platforms/mastodon.md, "Errors").

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

use super::instance::{transport_error, Instance};
use crate::domain::bounds;
use crate::platforms::http::{read_body, retry_after};
use crate::ports::PlatformError;

/// Whether a call can change something on the instance (then a lost answer or a 5xx is an unknown outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Reads, registrations, token requests and media uploads: nothing a person sees, safe to repeat.
    Safe,
    /// Posting a status.
    Publishes,
}

/// An answer, its body read.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        call: Call,
    ) -> Result<T, PlatformError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            let m = format!("{what}: the instance answered something unreadable");
            match call {
                Call::Safe => PlatformError::Transient(m),
                Call::Publishes => PlatformError::Unknown(m),
            }
        })
    }
}

/// Sends `request` and reads its answer (any status).
pub async fn send(
    request: reqwest::RequestBuilder,
    instance: &Instance,
    what: &str,
    call: Call,
) -> Result<Answer, PlatformError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(&e, instance, call == Call::Publishes))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(response)
        .await
        .map_err(|e| e.into_platform(what, call == Call::Publishes))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// The instance's own words about an error (`{"error": "..."}`), cut to a readable length.
pub fn error_text(body: &[u8]) -> Option<String> {
    let e: ErrorBody = serde_json::from_slice(body).ok()?;
    let text = match (e.error, e.error_description) {
        (_, Some(d)) if !d.trim().is_empty() => d,
        (Some(e), _) if !e.trim().is_empty() => e,
        _ => return None,
    };
    Some(text.chars().take(300).collect())
}

/// How long a 429 says to wait: `X-RateLimit-Reset` (an ISO 8601 time) from now, else `Retry-After`, at most a day.
pub fn rate_limit_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .map(|t| t.with_timezone(&Utc));
    match reset {
        Some(at) => {
            let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
            Some(bounds::wait_hint(wait))
        }
        None => retry_after(headers),
    }
}

/// Maps an answer that is not a success. 401 means the token was revoked (Mastodon's tokens do not expire); 429 is
/// a rate limit; 422 and other 4xx are refusals in the instance's words; a 5xx (or 408) is a failure that left
/// nothing behind for a safe call, and an unknown outcome for a status.
pub fn failure(answer: &Answer, what: &str, call: Call) -> PlatformError {
    let status = answer.status.as_u16();
    let said = error_text(&answer.body);
    let words = || {
        said.clone()
            .unwrap_or_else(|| format!("the instance answered {status}"))
    };
    match status {
        401 => PlatformError::Reauth(format!(
            "the instance no longer accepts Postora's access ({}); connect the account again",
            words()
        )),
        429 => PlatformError::RateLimited {
            retry_after: rate_limit_wait(&answer.headers, Utc::now()),
            message: format!("{what}: {}", words()),
        },
        408 | 500..=599 => {
            let m = format!("{what}: {}", words());
            match call {
                Call::Safe => PlatformError::Transient(m),
                Call::Publishes => PlatformError::Unknown(m),
            }
        }
        _ => PlatformError::Rejected(words()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn answer(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Answer {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_map_to_the_publishers_classes() {
        let e = failure(
            &answer(
                422,
                r#"{"error":"Validation failed: Text character limit of 500 exceeded"}"#,
                &[],
            ),
            "posting",
            Call::Publishes,
        );
        assert_eq!(
            e,
            PlatformError::Rejected(
                "Validation failed: Text character limit of 500 exceeded".into()
            )
        );
        let e = failure(
            &answer(401, r#"{"error":"The access token was revoked"}"#, &[]),
            "x",
            Call::Safe,
        );
        assert_eq!(e.code(), "needs_reauth");
        assert!(e.to_string().contains("revoked"));
        assert_eq!(
            failure(&answer(503, "", &[]), "x", Call::Publishes).code(),
            "unknown_outcome"
        );
        assert_eq!(
            failure(&answer(500, "<html>", &[]), "x", Call::Safe).code(),
            "transient"
        );
        assert_eq!(
            failure(
                &answer(404, r#"{"error":"Record not found"}"#, &[]),
                "x",
                Call::Publishes
            )
            .code(),
            "rejected"
        );
    }

    #[test]
    fn a_429_waits_until_the_reset_time() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let h = answer(
            429,
            "",
            &[("x-ratelimit-reset", "2024-05-01T12:04:30.123Z")],
        )
        .headers;
        assert_eq!(
            rate_limit_wait(&h, now),
            Some(Duration::from_millis(270_123))
        );
        let past = answer(429, "", &[("x-ratelimit-reset", "2024-05-01T11:00:00Z")]).headers;
        assert_eq!(rate_limit_wait(&past, now), Some(Duration::ZERO));
        let far = answer(429, "", &[("x-ratelimit-reset", "9999-01-01T00:00:00Z")]).headers;
        assert_eq!(rate_limit_wait(&far, now), Some(bounds::MAX_WAIT_HINT));
        let secs = answer(429, "", &[("retry-after", "30")]).headers;
        assert_eq!(rate_limit_wait(&secs, now), Some(Duration::from_secs(30)));
        let junk = answer(429, "", &[("x-ratelimit-reset", "soon")]).headers;
        assert_eq!(rate_limit_wait(&junk, now), None);
        let e = failure(
            &answer(
                429,
                r#"{"error":"Too many requests"}"#,
                &[("retry-after", "5")],
            ),
            "posting",
            Call::Publishes,
        );
        assert!(
            matches!(e, PlatformError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(5))
        );
    }
}
