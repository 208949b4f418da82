//! The guarded fetcher: a GET to an address a person supplied, made so that it cannot be turned against Postora's
//! own network. Only `http` and `https`, no credentials in the address, every host checked against the
//! [`AddressPolicy`] (IP literals before sending, names through the [`GuardedResolver`] the connection uses),
//! redirects followed by hand and checked again at every hop, and the whole fetch, body included, held to a size and
//! a deadline. No proxy, no cookies.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use tokio::time::Instant;
use url::{Host, Url};

pub use super::error::FetchError;
use super::guard::AddressPolicy;
use super::resolve::GuardedResolver;
use crate::ports::ByteStream;

/// How many redirects a fetch follows by default.
pub const DEFAULT_MAX_REDIRECTS: u8 = 3;

/// The user agent fetches are made with, the shared client's.
const USER_AGENT: &str = concat!("postora/", env!("CARGO_PKG_VERSION"));

/// The longest deadline a fetch is given, whatever its limits say: far beyond any real fetch, and short enough that
/// no clock arithmetic overflows.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// What a fetch is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// The most bytes of body read; a `Content-Length` above it is refused before reading, and a body that streams
    /// past it is cut off.
    pub max_bytes: u64,
    /// The whole fetch: resolving, connecting, every redirect, and reading the body to its end. At most a day.
    pub timeout: Duration,
    /// Connecting to one address.
    pub connect_timeout: Duration,
    /// The most redirects followed.
    pub max_redirects: u8,
}

impl FetchLimits {
    /// `max_bytes`, with a minute for the whole fetch, ten seconds to connect and [`DEFAULT_MAX_REDIRECTS`].
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }
}

/// A successful answer, its body not yet read.
pub struct Fetched {
    /// Where the body came from, after redirects.
    pub url: Url,
    /// The `Content-Length` the server declared. Informational only: the body is counted as it arrives.
    pub content_length: Option<u64>,
    /// The `Content-Type` the server declared. Informational only: what a file is comes from its bytes.
    pub content_type: Option<String>,
    /// The body, cut off with [`FetchError::TooLarge`] past the limit and with [`FetchError::Timeout`] at the
    /// deadline (each inside an `io::Error`; [`FetchError::from_io`] finds it).
    pub body: ByteStream,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("host", &self.url.host_str())
            .field("content_length", &self.content_length)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// Fetches from addresses people supply, under an [`AddressPolicy`] and [`FetchLimits`]. Cheap to clone; build
/// one and share it.
#[derive(Clone, Debug)]
pub struct GuardedFetcher {
    client: reqwest::Client,
    policy: AddressPolicy,
    limits: FetchLimits,
}

impl GuardedFetcher {
    /// A fetcher resolving names through the system's resolver.
    pub fn new(limits: FetchLimits, policy: AddressPolicy) -> Result<Self, FetchError> {
        Self::with_resolver(limits, GuardedResolver::new(policy))
    }

    /// A fetcher resolving names through `resolver` (whose policy is the fetcher's), e.g. one over a fixed table in
    /// tests.
    pub fn with_resolver(
        limits: FetchLimits,
        resolver: GuardedResolver,
    ) -> Result<Self, FetchError> {
        // The process's TLS crypto provider is aws-lc, as for the shared client; one already installed is kept.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let policy = resolver.policy();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            // A proxy would be resolved and connected to instead of the host, bypassing the checks.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(limits.connect_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|_| FetchError::Setup)?;
        Ok(Self {
            client,
            policy,
            limits,
        })
    }

    /// The limits fetches are held to.
    pub fn limits(&self) -> FetchLimits {
        self.limits
    }

    /// GETs `url`, following at most `max_redirects` redirects, each checked like the first address. Answers once
    /// the final response's headers have arrived; the body is read from [`Fetched::body`], within the same deadline.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.get_within(url, self.limits.max_bytes).await
    }

    /// [`get`](Self::get), with the body cut at `max_bytes` when that is below the fetcher's own limit.
    pub async fn get_within(&self, url: &Url, max_bytes: u64) -> Result<Fetched, FetchError> {
        let max_bytes = max_bytes.min(self.limits.max_bytes);
        let timeout = self.limits.timeout.min(LONGEST_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let timed_out = FetchError::Timeout { after: timeout };
        let mut current = url.clone();
        let mut redirects: u8 = 0;
        loop {
            let host = self.check(&current)?;
            let sent = tokio::time::timeout_at(deadline, self.client.get(current.clone()).send());
            let response = match sent.await {
                Err(_) => return Err(timed_out),
                Ok(Err(e)) => return Err(transport_error(&e, &host, timeout)),
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if is_followed_redirect(status) {
                if redirects >= self.limits.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        max: self.limits.max_redirects,
                    });
                }
                let bad = || FetchError::BadRedirect { host: host.clone() };
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(bad)?;
                current = current.join(location).map_err(|_| bad())?;
                redirects += 1;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    host,
                    status: status.as_u16(),
                });
            }
            let content_length = response.content_length();
            if content_length.is_some_and(|n| n > max_bytes) {
                return Err(FetchError::TooLarge { limit: max_bytes });
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok(Fetched {
                url: current,
                content_length,
                content_type,
                body: body_stream(response, host, max_bytes, deadline, timeout),
            });
        }
    }

    /// Checks an address before anything is sent to it: the scheme, credentials, and a literal IP host against the
    /// policy (reqwest does not resolve literals, so the resolver never sees them). Names are checked when they are
    /// resolved. Answers the host, for messages.
    fn check(&self, url: &Url) -> Result<String, FetchError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(FetchError::Scheme {
                    scheme: other.to_owned(),
                })
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Credentials);
        }
        let ip = match url.host() {
            None => return Err(FetchError::NoHost),
            Some(Host::Domain(name)) => return Ok(name.to_owned()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        self.policy
            .check(ip)
            .map_err(|reason| FetchError::Forbidden {
                host: ip.to_string(),
                ip,
                reason,
            })?;
        Ok(ip.to_string())
    }
}

/// The redirects a GET follows. `300`, `304` and `305` are not: they are answered as statuses.
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Maps a failure to get an answer. A refusal from the resolver travels inside reqwest's error and is answered as
/// it is.
fn transport_error(e: &reqwest::Error, host: &str, timeout: Duration) -> FetchError {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(ours) = cause.downcast_ref::<FetchError>() {
            return ours.clone();
        }
        source = cause.source();
    }
    if e.is_timeout() {
        FetchError::Timeout { after: timeout }
    } else if e.is_connect() {
        FetchError::Connect {
            host: host.to_owned(),
        }
    } else {
        FetchError::Broken {
            host: host.to_owned(),
        }
    }
}

/// The body as a stream of chunks that ends with an error once more than `max_bytes` have arrived or the deadline
/// has passed; dropping it closes the connection.
fn body_stream(
    response: reqwest::Response,
    host: String,
    max_bytes: u64,
    deadline: Instant,
    timeout: Duration,
) -> ByteStream {
    struct Reading {
        response: reqwest::Response,
        read: u64,
    }
    let start = Some(Reading { response, read: 0 });
    Box::pin(futures_util::stream::unfold(start, move |state| {
        let host = host.clone();
        async move {
            let mut reading = state?;
            let next = tokio::time::timeout_at(deadline, reading.response.chunk()).await;
            let chunk: Bytes = match next {
                Err(_) => {
                    return Some((Err(FetchError::Timeout { after: timeout }.into_io()), None))
                }
                Ok(Err(_)) => return Some((Err(FetchError::Broken { host }.into_io()), None)),
                Ok(Ok(None)) => return None,
                Ok(Ok(Some(chunk))) => chunk,
            };
            reading.read = reading
                .read
                .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
            if reading.read > max_bytes {
                let e = FetchError::TooLarge { limit: max_bytes };
                return Some((Err(e.into_io()), None));
            }
            Some((Ok(chunk), Some(reading)))
        }
    }))
}

#[async_trait::async_trait]
impl crate::ports::RemoteFiles for GuardedFetcher {
    async fn fetch(
        &self,
        url: &Url,
        max_bytes: u64,
    ) -> Result<ByteStream, crate::ports::FetchError> {
        use crate::ports::FetchError as Port;
        match self.get_within(url, max_bytes).await {
            Ok(fetched) => Ok(fetched.body),
            Err(
                e @ (FetchError::Connect { .. }
                | FetchError::Broken { .. }
                | FetchError::Timeout { .. }
                | FetchError::NotFound { .. }
                | FetchError::Setup),
            ) => Err(Port::Unreachable(e.to_string())),
            Err(e) => Err(Port::Refused(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::net::guard::Refusal;

    fn fetcher() -> GuardedFetcher {
        GuardedFetcher::new(FetchLimits::with_max_bytes(1000), AddressPolicy::default()).unwrap()
    }

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    #[test]
    fn only_http_and_https_without_credentials_are_fetched() {
        let f = fetcher();
        for bad in [
            "ftp://example.com/a.jpg",
            "file:///etc/passwd",
            "gopher://example.com/",
        ] {
            assert!(
                matches!(f.check(&url(bad)), Err(FetchError::Scheme { .. })),
                "{bad}"
            );
        }
        for bad in [
            "http://user@example.com/",
            "https://user:secret@example.com/",
            "https://:secret@example.com/",
        ] {
            assert_eq!(f.check(&url(bad)), Err(FetchError::Credentials), "{bad}");
        }
        assert_eq!(
            f.check(&url("https://example.com/a.jpg")),
            Ok("example.com".into())
        );
    }

    #[test]
    fn literal_ips_are_checked_in_every_spelling_the_url_parser_accepts() {
        let f = fetcher();
        for (literal, ip) in [
            ("http://127.0.0.1/", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://[::1]/", "::1"),
            ("http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1"),
            ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
            ),
            ("http://0/", "0.0.0.0"),
        ] {
            match f.check(&url(literal)) {
                Err(FetchError::Forbidden { ip: got, .. }) => {
                    assert_eq!(got, ip.parse::<IpAddr>().unwrap(), "{literal}")
                }
                other => panic!("{literal}: {other:?}"),
            }
        }
        assert_eq!(f.check(&url("http://8.8.8.8/")), Ok("8.8.8.8".into()));
    }

    #[test]
    fn messages_name_the_problem_without_the_url() {
        let forbidden = FetchError::Forbidden {
            host: "files.example".into(),
            ip: "10.0.0.5".parse().unwrap(),
            reason: Refusal::Private,
        };
        assert_eq!(
            forbidden.to_string(),
            "files.example resolves to a private network address (10.0.0.5), which Postora does not fetch from"
        );
        let literal = FetchError::Forbidden {
            host: "169.254.169.254".into(),
            ip: "169.254.169.254".parse().unwrap(),
            reason: Refusal::CloudMetadata,
        };
        assert_eq!(
            literal.to_string(),
            "169.254.169.254 is a cloud metadata address, which Postora does not fetch from"
        );
        assert_eq!(
            FetchError::Timeout {
                after: Duration::from_secs(30)
            }
            .to_string(),
            "the server did not answer within 30 seconds"
        );
        assert_eq!(
            FetchError::Timeout {
                after: Duration::from_millis(250)
            }
            .to_string(),
            "the server did not answer within 250 milliseconds"
        );
        assert_eq!(
            FetchError::Status {
                host: "files.example".into(),
                status: 404
            }
            .to_string(),
            "the server answered 404"
        );
        assert_eq!(
            FetchError::TooLarge { limit: 1000 }.to_string(),
            "the file is larger than 1000 bytes"
        );
        assert_eq!(
            FetchError::TooManyRedirects { max: 3 }.to_string(),
            "more than 3 redirects"
        );
    }

    #[test]
    fn a_body_error_carries_the_fetch_error() {
        let e = FetchError::TooLarge { limit: 5 }.into_io();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            FetchError::from_io(&e),
            Some(&FetchError::TooLarge { limit: 5 })
        );
        assert_eq!(FetchError::from_io(&io::Error::other("x")), None);
    }
}
