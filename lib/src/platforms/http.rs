//! The HTTP client every adapter shares, and helpers to classify transport failures.

use std::time::Duration;

use crate::ports::PlatformError;

/// Timeouts for platform calls. A call that times out after the request was sent may have been accepted.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
        }
    }
}

/// Builds the client adapters share: no redirects followed (OAuth and APIs answer directly), bounded timeouts.
pub fn client(timeouts: HttpTimeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("postora/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Classifies a failure to get any answer. A request that could not connect was never accepted; one that was sent
/// and then lost (timeout, reset) may have been.
pub fn transport_error(e: &reqwest::Error, what: &str) -> PlatformError {
    if e.is_connect() || e.is_builder() {
        PlatformError::Transient(format!("{what}: could not connect"))
    } else if e.is_timeout() {
        PlatformError::Unknown(format!("{what}: no answer before the timeout"))
    } else {
        PlatformError::Unknown(format!("{what}: the connection broke before an answer"))
    }
}

/// Same as [`transport_error`] for calls that change nothing on the platform (reads, token exchanges): those are
/// always safe to retry.
pub fn read_transport_error(e: &reqwest::Error, what: &str) -> PlatformError {
    match transport_error(e, what) {
        PlatformError::Unknown(m) => PlatformError::Transient(m),
        other => other,
    }
}

/// Reads a `Retry-After` header given in seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Joins an origin from configuration with a documented path.
pub fn endpoint(origin: &url::Url, path: &str) -> url::Url {
    let mut u = origin.clone();
    u.set_path(path);
    u.set_query(None);
    u
}
