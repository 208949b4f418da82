//! The HTTP client every adapter shares, the one way adapters read an answer's body (with a size cap), and helpers
//! to classify transport failures.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    // The process's TLS crypto provider is aws-lc, which the AWS SDK uses too; one already installed is kept.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

/// Reads a `Retry-After` header given in seconds, at most a day ([`crate::domain::bounds::MAX_WAIT_HINT`]). A number too
/// large for any integer is a day too; anything that is not a number of seconds is no hint.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if raw.is_empty() || raw.len() > 40 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = raw.parse::<u64>().unwrap_or(u64::MAX);
    Some(crate::domain::bounds::wait_hint_secs(secs))
}

/// The most bytes of a platform's answer read by default: 1 MiB, far above any JSON answer a platform documents.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

static MAX_BODY_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_BODY_BYTES);

/// Sets the most bytes of a platform's answer [`read_body`] reads (`POSTORA_HTTP_MAX_BODY_BYTES`), for the process.
pub fn set_max_body_bytes(limit: usize) {
    MAX_BODY_BYTES.store(limit.max(1), Ordering::Relaxed);
}

/// The most bytes of a platform's answer [`read_body`] reads.
pub fn max_body_bytes() -> usize {
    MAX_BODY_BYTES.load(Ordering::Relaxed)
}

/// Why an answer's body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The answer is (or says it is) larger than the cap; reading stopped there.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection broke while the body arrived.
    #[error("the connection broke while the answer arrived")]
    Broken,
}

impl BodyError {
    /// The error class for a body that could not be read. `may_have_landed` is whether the request could have
    /// published something (then the outcome is unknown), as opposed to a read, which is safe to repeat.
    pub fn into_platform(self, what: &str, may_have_landed: bool) -> PlatformError {
        let message = format!("{what}: {self}");
        if may_have_landed {
            PlatformError::Unknown(message)
        } else {
            PlatformError::Transient(message)
        }
    }
}

/// Reads an answer's body, at most [`max_body_bytes`]. Every adapter reads platform answers through this.
pub async fn read_body(resp: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    read_body_max(resp, max_body_bytes()).await
}

/// Reads an answer's body, at most `limit` bytes: a `Content-Length` above it is refused before reading, and a body
/// that streams past it is cut off as soon as it does, so an endless answer costs `limit` bytes of memory at most.
pub async fn read_body_max(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| BodyError::Broken)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The HTTP client the `oauth2` crate calls token endpoints with: the shared client, reading answers through
/// [`read_body`] so a token endpoint cannot send an unbounded body either.
pub struct CappedClient<'a>(pub &'a reqwest::Client);

type OAuthHttpError = oauth2::HttpClientError<reqwest::Error>;

impl<'c> oauth2::AsyncHttpClient<'c> for CappedClient<'_> {
    type Error = OAuthHttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        let client = self.0;
        Box::pin(async move {
            let request: reqwest::Request = request.try_into().map_err(Box::new)?;
            let response = client.execute(request).await.map_err(Box::new)?;
            let mut builder = oauth2::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = read_body(response)
                .await
                .map_err(|e| oauth2::HttpClientError::Other(e.to_string()))?;
            builder.body(body).map_err(oauth2::HttpClientError::Http)
        })
    }
}

/// Joins an origin from configuration with a documented path.
pub fn endpoint(origin: &url::Url, path: &str) -> url::Url {
    let mut u = origin.clone();
    u.set_path(path);
    u.set_query(None);
    u
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn with_retry_after(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(raw) {
            h.insert(RETRY_AFTER, v);
        }
        h
    }

    #[test]
    fn retry_after_is_at_most_a_day() {
        assert_eq!(
            retry_after(&with_retry_after("30")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(retry_after(&with_retry_after("10000000000000")), Some(DAY));
        assert_eq!(
            retry_after(&with_retry_after("99999999999999999999999999")),
            Some(DAY)
        );
        for odd in [
            "-1",
            "NaN",
            "1e9",
            "",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "3.5",
        ] {
            assert_eq!(retry_after(&with_retry_after(odd)), None, "{odd}");
        }
    }

    fn response(status: u16, body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(
            axum::http::Response::builder()
                .status(status)
                .body(body)
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_cap() {
        assert_eq!(
            read_body_max(response(200, b"{}".to_vec()), 2).await,
            Ok(b"{}".to_vec())
        );
        assert_eq!(
            read_body_max(response(200, vec![b' '; 3]), 2).await,
            Err(BodyError::TooLarge { limit: 2 })
        );
        let e = BodyError::TooLarge { limit: 2 };
        assert_eq!(
            e.clone().into_platform("x", true),
            PlatformError::Unknown("x: the answer is larger than 2 bytes".into())
        );
        assert_eq!(e.into_platform("x", false).code(), "transient");
    }

    proptest! {
        #[test]
        fn any_retry_after_is_no_hint_or_at_most_a_day(raw in prop_oneof![
            "[0-9]{1,60}", "-[0-9]{1,30}", ".{0,40}", any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
        ]) {
            let wait = retry_after(&with_retry_after(&raw));
            prop_assert!(wait.is_none_or(|w| w <= DAY));
        }
    }
}
