//! XRPC over HTTP as a PDS speaks it: `GET`/`POST /xrpc/<method>`, errors as `{"error","message"}`, write budgets
//! in `RateLimit-*` headers, and (for OAuth sessions) DPoP-bound tokens with the server's nonce.
//!
//! Every address here comes from a person's input (their handle's DID document names their PDS), so calls go
//! through a client that connects only to addresses the SSRF guard allows ([`crate::net`]), with no redirects and
//! no proxy. No message is built from a `reqwest::Error` or a URL, and tokens are only ever in headers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::dpop::DpopKey;
use crate::domain::bounds;
use crate::net::{AddressPolicy, GuardedResolver};
use crate::platforms::http::{read_body_max, read_transport_error, transport_error};
use crate::ports::PlatformError;

/// The most bytes of an XRPC answer read (records and sessions are a few KiB).
const MAX_ANSWER: usize = 1 << 20;

/// How a call authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// An app-password session's access JWT, or a service-auth token.
    Bearer(&'a SecretString),
    /// An OAuth access token bound to a DPoP key.
    Dpop(&'a SecretString, &'a DpopKey),
    /// No token, but a DPoP proof (the authorization server's PAR and token endpoints).
    DpopOnly(&'a DpopKey),
}

/// What a call sends.
#[derive(Clone)]
pub enum Body {
    Empty,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
    Bytes {
        bytes: bytes::Bytes,
        content_type: String,
    },
}

/// Whether a failed call may have changed something a person sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads, sessions, blob uploads: nothing visible changes, retrying is safe.
    Read,
    /// Creating the post record: a failure after it was sent may hide a post that landed.
    Publish,
}

/// An answer, whatever its status.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, PlatformError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            PlatformError::Transient(format!("{what}: the answer was not what XRPC documents"))
        })
    }
}

/// An XRPC error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrpcError {
    pub status: u16,
    /// The `error` name (`ExpiredToken`, `InvalidRequest`, `RecordNotFound`, ...), empty when the body had none.
    pub error: String,
    pub message: String,
    /// When the write budget comes back, from `RateLimit-Reset` or `Retry-After`.
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl XrpcError {
    fn from_reply(reply: &Reply, now: DateTime<Utc>) -> Self {
        let wire: Option<WireError> = serde_json::from_slice(&reply.body).ok();
        let (error, message) = match wire {
            Some(w) => (
                w.error.unwrap_or_default(),
                w.message.or(w.error_description).unwrap_or_default(),
            ),
            None => (String::new(), String::new()),
        };
        XrpcError {
            status: reply.status.as_u16(),
            error: error.chars().take(100).collect(),
            message: message.chars().take(500).collect(),
            retry_after: rate_reset(&reply.headers, now)
                .or_else(|| crate::platforms::http::retry_after(&reply.headers)),
        }
    }

    /// The message, or the error name, or the status, for a person.
    pub fn describe(&self) -> String {
        match (self.error.is_empty(), self.message.is_empty()) {
            (_, false) if !self.error.is_empty() => format!("{}: {}", self.error, self.message),
            (_, false) => self.message.clone(),
            (false, true) => self.error.clone(),
            (true, true) => format!("HTTP {}", self.status),
        }
    }

    /// Whether the access token is no longer good (expired, revoked, or the session gone).
    pub fn is_auth(&self) -> bool {
        matches!(
            self.error.as_str(),
            "ExpiredToken"
                | "InvalidToken"
                | "AuthRequired"
                | "AuthenticationRequired"
                | "invalid_token"
        ) || self.status == 401
    }

    /// The publisher's class for this answer to a call with `effect`.
    pub fn classify(&self, effect: Effect) -> PlatformError {
        let message = self.describe();
        if self.status == 429 || self.error == "RateLimitExceeded" {
            return PlatformError::RateLimited {
                retry_after: self.retry_after,
                message,
            };
        }
        if self.error == "ExpiredToken" || self.is_auth() {
            return PlatformError::TokenExpired;
        }
        match self.error.as_str() {
            "AccountTakedown" | "AccountDeactivated" | "AccountSuspended" => {
                return PlatformError::Reauth(message)
            }
            _ => {}
        }
        if self.status >= 500 {
            return match effect {
                Effect::Publish => PlatformError::Unknown(message),
                Effect::Read => PlatformError::Transient(message),
            };
        }
        if self.status == 408 {
            return PlatformError::Transient(message);
        }
        PlatformError::Rejected(message)
    }
}

/// `RateLimit-Reset` (epoch seconds) as a wait from `now`, at most a day.
pub fn rate_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let reset: i64 = header_number(headers, "ratelimit-reset")?;
    let secs = reset.saturating_sub(now.timestamp()).max(0);
    Some(bounds::wait_hint_secs(u64::try_from(secs).unwrap_or(0)))
}

fn header_number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    let raw = headers.get(name)?.to_str().ok()?.trim();
    if raw.is_empty() || raw.len() > 20 {
        return None;
    }
    raw.parse().ok()
}

/// How a call failed.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server answered with an error.
    Xrpc(XrpcError),
    /// No answer, or an unreadable one; already classed.
    Platform(PlatformError),
}

impl Failure {
    pub fn classify(&self, effect: Effect) -> PlatformError {
        match self {
            Failure::Xrpc(e) => e.classify(effect),
            Failure::Platform(p) => p.clone(),
        }
    }

    pub fn xrpc(&self) -> Option<&XrpcError> {
        match self {
            Failure::Xrpc(e) => Some(e),
            Failure::Platform(_) => None,
        }
    }
}

/// What is left of an account's write budget, as the PDS last said.
#[derive(Debug, Clone, Copy)]
struct Budget {
    remaining: u64,
    reset: DateTime<Utc>,
}

/// Points a post record costs from the write budget.
pub const CREATE_POINTS: u64 = 3;

/// The XRPC client: a guarded HTTP client, the DPoP nonces each server gave, and what each account's write budget
/// was at its last write.
#[derive(Clone)]
pub struct Xrpc {
    http: reqwest::Client,
    policy: AddressPolicy,
    nonces: Arc<Mutex<HashMap<String, String>>>,
    budgets: Arc<Mutex<HashMap<String, Budget>>>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Xrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xrpc")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Xrpc {
    pub fn new(
        policy: AddressPolicy,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(policy)))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("postora/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            http,
            policy,
            nonces: Arc::default(),
            budgets: Arc::default(),
            request_timeout,
        }
    }

    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// Checks an address before anything is sent: `https` (or `http` to loopback where loopback is allowed, for
    /// tests), no credentials, and an IP literal host against the policy (names are checked as they resolve).
    pub fn check_url(&self, url: &url::Url) -> Result<(), PlatformError> {
        let refuse =
            |why: &str| PlatformError::Rejected(format!("the server address is refused: {why}"));
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it carries credentials"));
        }
        let ip = match url.host() {
            None => return Err(refuse("it has no host")),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_loopback => {}
            _ => return Err(refuse("only https servers are reached")),
        }
        if let Some(ip) = ip {
            self.policy.check(ip).map_err(|r| refuse(r.describe()))?;
        }
        Ok(())
    }

    /// Sends one call and answers the reply if its status is a success. A DPoP call refused for want of the
    /// server's nonce is sent once more with it.
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        auth: Auth<'_>,
        body: Body,
        effect: Effect,
        what: &str,
    ) -> Result<Reply, Failure> {
        self.check_url(&url).map_err(Failure::Platform)?;
        let mut retried = false;
        loop {
            let reply = self
                .send_once(method.clone(), &url, auth, body.clone(), effect, what)
                .await?;
            let origin = url.origin().ascii_serialization();
            if let Some(nonce) = reply
                .headers
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .filter(|n| !n.is_empty() && n.len() <= 512)
            {
                if let Ok(mut nonces) = self.nonces.lock() {
                    nonces.insert(origin, nonce.to_owned());
                }
            }
            if reply.status.is_success() {
                return Ok(reply);
            }
            let err = XrpcError::from_reply(&reply, Utc::now());
            let wants_nonce = err.error == "use_dpop_nonce"
                || reply
                    .headers
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("use_dpop_nonce"));
            if wants_nonce && !retried && !matches!(auth, Auth::None | Auth::Bearer(_)) {
                retried = true;
                continue;
            }
            return Err(Failure::Xrpc(err));
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: &url::Url,
        auth: Auth<'_>,
        body: Body,
        effect: Effect,
        what: &str,
    ) -> Result<Reply, Failure> {
        let timeout = match &body {
            // An upload gets a second per 100 KB beyond the usual time.
            Body::Bytes { bytes, .. } => {
                self.request_timeout + Duration::from_secs((bytes.len() / 100_000) as u64)
            }
            _ => self.request_timeout,
        };
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout);
        let nonce = || {
            self.nonces
                .lock()
                .ok()
                .and_then(|n| n.get(&url.origin().ascii_serialization()).cloned())
        };
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                req = req.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", token.expose_secret()),
                );
            }
            Auth::Dpop(token, key) => {
                let proof = key
                    .proof(method.as_str(), url, nonce().as_deref(), Some(token))
                    .map_err(Failure::Platform)?;
                req = req
                    .header(
                        reqwest::header::AUTHORIZATION,
                        format!("DPoP {}", token.expose_secret()),
                    )
                    .header("DPoP", proof);
            }
            Auth::DpopOnly(key) => {
                let proof = key
                    .proof(method.as_str(), url, nonce().as_deref(), None)
                    .map_err(Failure::Platform)?;
                req = req.header("DPoP", proof);
            }
        }
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(&v),
            Body::Form(pairs) => req.form(&pairs),
            Body::Bytes {
                bytes,
                content_type,
            } => req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
        };
        let resp = req.send().await.map_err(|e| {
            Failure::Platform(match effect {
                Effect::Publish => transport_error(&e, what),
                Effect::Read => read_transport_error(&e, what),
            })
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_body_max(resp, MAX_ANSWER)
            .await
            .map_err(|e| Failure::Platform(e.into_platform(what, effect == Effect::Publish)))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Remembers what is left of `did`'s write budget after a write.
    pub fn note_budget(&self, did: &str, headers: &HeaderMap, now: DateTime<Utc>) {
        let (Some(remaining), Some(reset)) = (
            header_number::<u64>(headers, "ratelimit-remaining"),
            rate_reset(headers, now),
        ) else {
            return;
        };
        if let Ok(mut budgets) = self.budgets.lock() {
            budgets.insert(
                did.to_owned(),
                Budget {
                    remaining,
                    reset: bounds::after(now, reset),
                },
            );
        }
    }

    /// Refuses a write of `points` before sending it when `did`'s budget, as last seen, cannot pay for it.
    pub fn check_budget(
        &self,
        did: &str,
        points: u64,
        now: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        let Some(budget) = self.budgets.lock().ok().and_then(|b| b.get(did).copied()) else {
            return Ok(());
        };
        if budget.remaining >= points || budget.reset <= now {
            return Ok(());
        }
        let wait = (budget.reset - now).to_std().unwrap_or_default();
        Err(PlatformError::RateLimited {
            retry_after: Some(bounds::wait_hint(wait)),
            message: format!(
                "the account's write budget is spent ({} points left, a post costs {points})",
                budget.remaining
            ),
        })
    }
}

/// `<origin>/xrpc/<method>` with query parameters.
pub fn method_url(origin: &url::Url, method: &str, query: &[(&str, &str)]) -> url::Url {
    let mut u = origin.clone();
    u.set_path(&format!("/xrpc/{method}"));
    u.set_query(None);
    u.set_fragment(None);
    if !query.is_empty() {
        u.query_pairs_mut().extend_pairs(query.iter().copied());
    }
    u
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn err(status: u16, error: &str) -> XrpcError {
        XrpcError {
            status,
            error: error.into(),
            message: "m".into(),
            retry_after: None,
        }
    }

    #[test]
    fn errors_map_to_the_publishers_classes() {
        assert_eq!(
            err(400, "ExpiredToken").classify(Effect::Publish),
            PlatformError::TokenExpired
        );
        assert_eq!(
            err(401, "AuthRequired").classify(Effect::Read),
            PlatformError::TokenExpired
        );
        assert_eq!(
            err(400, "InvalidRequest").classify(Effect::Publish).code(),
            "rejected"
        );
        assert_eq!(
            err(502, "").classify(Effect::Publish).code(),
            "unknown_outcome"
        );
        assert_eq!(err(502, "").classify(Effect::Read).code(), "transient");
        assert_eq!(
            err(429, "RateLimitExceeded")
                .classify(Effect::Publish)
                .code(),
            "rate_limited"
        );
    }

    #[test]
    fn budgets_refuse_a_write_they_cannot_pay_for() {
        let x = Xrpc::new(
            AddressPolicy::default(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let now = Utc::now();
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", HeaderValue::from_static("2"));
        h.insert(
            "ratelimit-reset",
            HeaderValue::from_str(&(now.timestamp() + 60).to_string()).unwrap(),
        );
        x.note_budget("did:plc:a", &h, now);
        let e = x.check_budget("did:plc:a", CREATE_POINTS, now).unwrap_err();
        assert!(
            matches!(e, PlatformError::RateLimited { retry_after: Some(w), .. } if w <= Duration::from_secs(60))
        );
        assert!(x.check_budget("did:plc:b", CREATE_POINTS, now).is_ok());
        assert!(x
            .check_budget(
                "did:plc:a",
                CREATE_POINTS,
                now + chrono::Duration::seconds(61)
            )
            .is_ok());
        // An absurd reset is a day at most.
        h.insert("ratelimit-reset", HeaderValue::from_static("99999999999"));
        assert_eq!(rate_reset(&h, now), Some(bounds::MAX_WAIT_HINT));
    }

    #[test]
    fn only_https_or_allowed_loopback_is_reached() {
        let x = Xrpc::new(
            AddressPolicy::default(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(x.check_url(&u("https://pds.example.com")).is_ok());
        assert!(x.check_url(&u("http://pds.example.com")).is_err());
        assert!(x.check_url(&u("https://127.0.0.1")).is_err());
        assert!(x.check_url(&u("https://169.254.169.254")).is_err());
        let t = Xrpc::new(
            AddressPolicy::allowing_loopback(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert!(t.check_url(&u("http://127.0.0.1:2583")).is_ok());
        assert!(t.check_url(&u("http://10.0.0.1")).is_err());
    }
}
