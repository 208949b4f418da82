//! How every call to LinkedIn's versioned REST API is made and how its answers map to the publisher's error
//! classes: the bearer token, `LinkedIn-Version` and `X-Restli-Protocol-Version: 2.0.0` on every call, errors read
//! from LinkedIn's `{"message","serviceErrorCode","status"}` body (with Rest.li's `code` where it gives one).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::platforms::http::{read_body, retry_after, transport_error};
use crate::ports::PlatformError;

/// The setting that names the API version, quoted in the error a retired version gets.
pub const VERSION_SETTING: &str = "POSTORA_LINKEDIN_VERSION";

/// What a call may have changed, which decides what a lost or broken answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A read, or an upload step that publishes nothing: safe to repeat.
    Read,
    /// The creation of a post: a lost answer may hide a published post.
    Publish,
}

/// LinkedIn's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub service_error_code: Option<i64>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
}

/// A refusal LinkedIn explained.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub body: ErrorBody,
}

impl Refusal {
    pub fn message(&self) -> String {
        self.body
            .message
            .clone()
            .unwrap_or_else(|| format!("HTTP {}", self.status))
            .chars()
            .take(500)
            .collect()
    }

    pub fn is_duplicate(&self) -> bool {
        self.status == 422
            && (self.body.code.as_deref() == Some("DUPLICATE_POST")
                || self
                    .body
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("DUPLICATE_POST") || m.contains("duplicate")))
    }
}

/// The request headers every versioned call carries.
pub fn versioned(
    request: reqwest::RequestBuilder,
    token: &SecretString,
    version: &str,
) -> reqwest::RequestBuilder {
    request
        .bearer_auth(token.expose_secret())
        .header("LinkedIn-Version", version)
        .header("X-Restli-Protocol-Version", "2.0.0")
}

/// A successful answer: its headers and body.
pub struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, PlatformError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            PlatformError::Transient(format!("{what}: LinkedIn answered something unreadable"))
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// How long to hold an account after a 429: LinkedIn's answer says nothing (its limits are daily and reset at
/// midnight UTC), so a `Retry-After` is honoured where one comes, and the configured wait applies otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub rate_limit_wait: Duration,
}

/// Sends a call and maps a refusal to an error class; `Err(Ok(refusal))` for the refusals a caller reads itself
/// (a 422 on a post), through [`send_raw`].
pub async fn send(
    request: reqwest::RequestBuilder,
    kind: CallKind,
    version: &str,
    limits: Limits,
    what: &str,
) -> Result<Answer, PlatformError> {
    match send_raw(request, kind, what).await? {
        Ok(a) => Ok(a),
        Err((refusal, headers)) => Err(classify(&refusal, &headers, kind, version, limits, what)),
    }
}

type Refused = (Refusal, reqwest::header::HeaderMap);

/// Sends a call; a refusal comes back as it is.
pub async fn send_raw(
    request: reqwest::RequestBuilder,
    kind: CallKind,
    what: &str,
) -> Result<Result<Answer, Refused>, PlatformError> {
    let resp = request.send().await.map_err(|e| match kind {
        CallKind::Publish => transport_error(&e, what),
        CallKind::Read => crate::platforms::http::read_transport_error(&e, what),
    })?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = read_body(resp)
        .await
        .map_err(|e| e.into_platform(what, kind == CallKind::Publish && status < 300))?;
    if (200..300).contains(&status) {
        return Ok(Ok(Answer { headers, body }));
    }
    let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
    Ok(Err((
        Refusal {
            status,
            body: parsed,
        },
        headers,
    )))
}

/// The error class of a refusal.
pub fn classify(
    refusal: &Refusal,
    headers: &reqwest::header::HeaderMap,
    kind: CallKind,
    version: &str,
    limits: Limits,
    what: &str,
) -> PlatformError {
    let message = refusal.message();
    let code = refusal.body.code.as_deref().unwrap_or("");
    if refusal.status == 426
        || matches!(code, "NONEXISTENT_VERSION" | "VERSION_MISSING")
        || message.contains("NONEXISTENT_VERSION")
    {
        // Every call with this version fails the same way until the setting changes: refused at once, saying which.
        return PlatformError::Rejected(format!(
            "{what}: LinkedIn no longer serves API version {version} ({message}); set {VERSION_SETTING} to a current version (YYYYMM)"
        ));
    }
    match refusal.status {
        401 => {
            // 65601: the member revoked the token; 65602: expired; 65600: invalid.
            if refusal.body.service_error_code == Some(65601)
                || message.to_ascii_lowercase().contains("revoked")
            {
                PlatformError::Reauth(format!("LinkedIn: {message}"))
            } else {
                PlatformError::TokenExpired
            }
        }
        429 => PlatformError::RateLimited {
            retry_after: Some(
                retry_after(headers)
                    .unwrap_or_else(|| crate::domain::bounds::wait_hint(limits.rate_limit_wait)),
            ),
            message: format!("{what}: LinkedIn's limit for the day was reached ({message})"),
        },
        400 | 403 | 404 | 409 | 410 | 413 | 415 | 422 => {
            PlatformError::Rejected(format!("LinkedIn refused it: {message}"))
        }
        s if s >= 500 && kind == CallKind::Publish => {
            PlatformError::Unknown(format!("{what}: LinkedIn answered {s}"))
        }
        s => PlatformError::Transient(format!("{what}: LinkedIn answered {s} ({message})")),
    }
}

/// The reserved characters of LinkedIn's "little text" commentary format.
const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

/// The commentary for a text: every reserved character escaped with a backslash, so it shows as typed.
pub fn escape_commentary(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A URN as a path segment (`urn%3Ali%3Ashare%3A1`), as Rest.li 2.0 takes keys.
pub fn urn_segment(urn: &str) -> String {
    url::form_urlencoded::byte_serialize(urn.as_bytes()).collect()
}

/// The first post URN a message names (`urn:li:share:…` or `urn:li:ugcPost:…`).
pub fn named_post(message: &str) -> Option<String> {
    ["urn:li:share:", "urn:li:ugcPost:"].iter().find_map(|p| {
        let at = message.find(p)?;
        let rest = &message[at + p.len()..];
        let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!id.is_empty()).then(|| format!("{p}{id}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_escaped() {
        assert_eq!(escape_commentary("plain text"), "plain text");
        assert_eq!(
            escape_commentary(r"a\b (c) [d] {e} <f> #g @h *i* _j_ ~k~ |l|"),
            r"a\\b \(c\) \[d\] \{e\} \<f\> \#g \@h \*i\* \_j\_ \~k\~ \|l\|"
        );
    }

    #[test]
    fn duplicates_name_the_existing_post() {
        assert_eq!(
            named_post("Content is a duplicate of urn:li:share:6844785523593134080"),
            Some("urn:li:share:6844785523593134080".into())
        );
        assert_eq!(
            named_post("duplicate of urn:li:ugcPost:12."),
            Some("urn:li:ugcPost:12".into())
        );
        assert_eq!(named_post("nothing here"), None);
        assert_eq!(urn_segment("urn:li:share:1"), "urn%3Ali%3Ashare%3A1");
    }

    #[test]
    fn a_retired_version_names_the_setting() {
        let refusal = Refusal {
            status: 426,
            body: ErrorBody {
                message: Some("Requested version 20230101 is not active".into()),
                code: Some("NONEXISTENT_VERSION".into()),
                ..ErrorBody::default()
            },
        };
        let limits = Limits {
            rate_limit_wait: Duration::from_secs(60),
        };
        let e = classify(
            &refusal,
            &Default::default(),
            CallKind::Publish,
            "202301",
            limits,
            "publishing",
        );
        assert!(e.to_string().contains(VERSION_SETTING), "{e}");
    }
}
