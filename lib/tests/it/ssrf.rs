//! The guarded fetcher against real servers on 127.0.0.1: loopback refused by literal and by name unless the policy
//! allows it, redirects checked at every hop and counted, bodies cut at the size limit and fetches cut at the
//! deadline, and addresses that are not plain http(s) refused before anything is sent. Each server counts the
//! requests it saw, so "refused" means nothing reached it.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use postora::net::{
    AddressPolicy, FetchError, FetchLimits, Fetched, GuardedFetcher, GuardedResolver, Refusal,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const CAP: u64 = 4000;

/// An axum server on 127.0.0.1 and the number of requests it saw.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = Router::new()
            .route("/ok", get(|| async { "hello" }))
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route(
                "/redirect/{n}",
                get(|Path(n): Path<u32>| async move {
                    if n == 0 {
                        "done".into_response()
                    } else {
                        Redirect::to(&format!("/redirect/{}", n - 1)).into_response()
                    }
                }),
            )
            .route(
                "/to-metadata",
                get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
            )
            .route(
                "/to-private",
                get(|| async { Redirect::permanent("http://10.0.0.1/") }),
            )
            .route(
                "/to-v6-mapped",
                get(|| async { Redirect::temporary("http://[::ffff:192.168.0.1]/") }),
            )
            .route(
                "/to-internal-name",
                get(move || async move { Redirect::to(&format!("http://internal.test:{port}/ok")) }),
            )
            .route(
                "/to-files-name",
                get(move || async move { Redirect::to(&format!("http://files.test:{port}/ok")) }),
            )
            .route(
                "/to-ftp",
                get(|| async { Redirect::to("ftp://files.example/a.jpg") }),
            )
            .route(
                "/to-credentials",
                get(move || async move { Redirect::to(&format!("http://me:pw@127.0.0.1:{port}/ok")) }),
            )
            .route(
                "/no-location",
                get(|| async { StatusCode::FOUND }),
            )
            .route("/chunked/{n}", get(|Path(n): Path<usize>| async move { chunked(n) }))
            .route(
                "/declared/{n}",
                get(|Path(n): Path<usize>| async move { vec![b'x'; n] }),
            )
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                let hits = counted.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    next.run(req).await
                }
            }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, hits }
    }

    fn url(&self, path: &str) -> Url {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `n` bytes in chunks of 1000, with no `Content-Length`.
fn chunked(n: usize) -> Response {
    let chunks: Vec<Result<Bytes, io::Error>> = (0..n)
        .step_by(1000)
        .map(|start| Ok(Bytes::from(vec![b'x'; (n - start).min(1000)])))
        .collect();
    let response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
    response
}

/// A raw TCP server that reads the request, writes `answer`, and then holds the connection open without another
/// byte. Counts connections.
async fn stalling_server(answer: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
                let _ = socket.flush().await;
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(socket);
            });
        }
    });
    (addr, hits)
}

fn limits() -> FetchLimits {
    FetchLimits {
        max_bytes: CAP,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        max_redirects: 3,
    }
}

fn fetcher(policy: AddressPolicy) -> GuardedFetcher {
    GuardedFetcher::new(limits(), policy).unwrap()
}

/// A fetcher whose names resolve through a fixed table (no DNS), loopback allowed.
fn fetcher_with_names(limits: FetchLimits, names: &[(&str, &[&str])]) -> GuardedFetcher {
    let table: HashMap<String, Vec<IpAddr>> = names
        .iter()
        .map(|(h, ips)| {
            (
                (*h).to_owned(),
                ips.iter().map(|s| s.parse().unwrap()).collect(),
            )
        })
        .collect();
    let resolver = GuardedResolver::with_lookup(
        AddressPolicy::allowing_loopback(),
        move |host: String| {
            let found = table.get(&host).cloned();
            async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host")) }
        },
    );
    GuardedFetcher::with_resolver(limits, resolver).unwrap()
}

/// Reads the whole body, or the error that cut it, with the bytes that came before.
async fn read(fetched: Fetched) -> (Vec<u8>, Option<io::Error>) {
    let mut body = fetched.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(e) => return (bytes, Some(e)),
        }
    }
    (bytes, None)
}

fn refused_for(result: Result<Fetched, FetchError>) -> (String, IpAddr, Refusal) {
    match result {
        Err(FetchError::Forbidden { host, ip, reason }) => (host, ip, reason),
        other => panic!("expected a refused address, got {other:?}"),
    }
}

#[tokio::test]
async fn the_default_policy_refuses_loopback_by_literal_and_by_name_and_sends_nothing() {
    let server = Server::start().await;
    let port = server.addr.port();
    let f = fetcher(AddressPolicy::default());

    let (host, ip, reason) = refused_for(f.get(&server.url("/ok")).await);
    assert_eq!((host.as_str(), reason), ("127.0.0.1", Refusal::Loopback));
    assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());

    let by_name: Url = format!("http://localhost:{port}/ok").parse().unwrap();
    let e = f.get(&by_name).await.unwrap_err();
    let FetchError::Forbidden { host, reason, .. } = &e else {
        panic!("localhost was not refused: {e:?}");
    };
    assert_eq!((host.as_str(), *reason), ("localhost", Refusal::Loopback));
    assert!(
        e.to_string()
            .starts_with("localhost resolves to a loopback address ("),
        "{e}"
    );

    for literal in [
        format!("http://[::1]:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
        format!("http://0.0.0.0:{port}/ok"),
    ] {
        assert!(
            matches!(
                f.get(&literal.parse().unwrap()).await,
                Err(FetchError::Forbidden { .. })
            ),
            "{literal}"
        );
    }
    assert_eq!(server.hits(), 0, "the server saw a request");
}

#[tokio::test]
async fn loopback_is_fetched_when_the_policy_allows_it() {
    let server = Server::start().await;
    let fetched = fetcher(AddressPolicy::allowing_loopback())
        .get(&server.url("/ok"))
        .await
        .unwrap();
    assert_eq!(fetched.url, server.url("/ok"));
    assert_eq!(fetched.content_length, Some(5));
    assert_eq!(
        fetched.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let (body, err) = read(fetched).await;
    assert_eq!((body.as_slice(), err.is_none()), (&b"hello"[..], true));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn names_connect_only_to_the_addresses_the_resolver_checked() {
    let server = Server::start().await;
    let port = server.addr.port();
    let f = fetcher_with_names(
        limits(),
        &[
            ("files.test", &["127.0.0.1"]),
            ("mixed.test", &["127.0.0.1", "10.0.0.7"]),
        ],
    );
    let fetched = f
        .get(&format!("http://files.test:{port}/ok").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(read(fetched).await.0, b"hello");
    assert_eq!(server.hits(), 1);

    let e = f
        .get(&format!("http://mixed.test:{port}/ok").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        FetchError::Forbidden {
            host: "mixed.test".into(),
            ip: "10.0.0.7".parse().unwrap(),
            reason: Refusal::Private,
        }
    );
    assert_eq!(
        e.to_string(),
        "mixed.test resolves to a private network address (10.0.0.7), which Postora does not fetch from"
    );
    assert!(matches!(
        f.get(&format!("http://nowhere.test:{port}/ok").parse().unwrap())
            .await,
        Err(FetchError::NotFound { .. })
    ));
    assert_eq!(server.hits(), 1, "a refused name reached the server");
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_refused_without_connecting() {
    let server = Server::start().await;
    let f = fetcher_with_names(limits(), &[("internal.test", &["10.0.0.1"])]);

    let started = Instant::now();
    let (_, ip, reason) = refused_for(f.get(&server.url("/to-metadata")).await);
    assert_eq!(ip, "169.254.169.254".parse::<IpAddr>().unwrap());
    assert_eq!(reason, Refusal::CloudMetadata);

    let (_, ip, reason) = refused_for(f.get(&server.url("/to-private")).await);
    assert_eq!(ip, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(reason, Refusal::Private);

    let (_, ip, reason) = refused_for(f.get(&server.url("/to-v6-mapped")).await);
    assert_eq!(ip, "::ffff:192.168.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(reason, Refusal::Private);

    let (host, ip, reason) = refused_for(f.get(&server.url("/to-internal-name")).await);
    assert_eq!(host, "internal.test");
    assert_eq!(ip, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(reason, Refusal::Private);

    // Connecting to any of those would have taken the connect timeout (5 s) or failed otherwise.
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.hits(), 4, "only the redirecting requests were made");

    // An allowed name through a redirect is followed.
    let f = fetcher_with_names(limits(), &[("files.test", &["127.0.0.1"])]);
    let fetched = f.get(&server.url("/to-files-name")).await.unwrap();
    assert_eq!(fetched.url.host_str(), Some("files.test"));
    assert_eq!(read(fetched).await.0, b"hello");
}

#[tokio::test]
async fn a_redirect_to_another_scheme_or_to_credentials_is_refused() {
    let server = Server::start().await;
    let f = fetcher(AddressPolicy::allowing_loopback());
    assert!(matches!(
        f.get(&server.url("/to-ftp")).await,
        Err(FetchError::Scheme { .. })
    ));
    assert_eq!(
        f.get(&server.url("/to-credentials")).await.unwrap_err(),
        FetchError::Credentials
    );
    assert!(matches!(
        f.get(&server.url("/no-location")).await,
        Err(FetchError::BadRedirect { .. })
    ));
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn three_redirects_are_followed_and_a_fourth_is_refused() {
    let server = Server::start().await;
    let f = fetcher(AddressPolicy::allowing_loopback());

    let fetched = f.get(&server.url("/redirect/3")).await.unwrap();
    assert_eq!(fetched.url, server.url("/redirect/0"));
    assert_eq!(read(fetched).await.0, b"done");
    assert_eq!(server.hits(), 4);

    let e = f.get(&server.url("/redirect/4")).await.unwrap_err();
    assert_eq!(e, FetchError::TooManyRedirects { max: 3 });
    assert_eq!(e.to_string(), "more than 3 redirects");
    assert_eq!(server.hits(), 4 + 4, "the fourth redirect was followed");

    let none = fetcher_with_names(
        FetchLimits {
            max_redirects: 0,
            ..limits()
        },
        &[],
    );
    assert_eq!(
        none.get(&server.url("/redirect/1")).await.unwrap_err(),
        FetchError::TooManyRedirects { max: 0 }
    );
}

#[tokio::test]
async fn a_body_past_the_limit_without_a_content_length_is_cut_off() {
    let server = Server::start().await;
    let f = fetcher(AddressPolicy::allowing_loopback());

    let at_limit = f.get(&server.url("/chunked/4000")).await.unwrap();
    assert_eq!(at_limit.content_length, None);
    let (body, err) = read(at_limit).await;
    assert_eq!((body.len(), err.map(|e| e.to_string())), (4000, None));

    let over = f.get(&server.url("/chunked/10000")).await.unwrap();
    assert_eq!(over.content_length, None);
    let (body, err) = read(over).await;
    let err = err.expect("the body was not cut off");
    assert!(body.len() as u64 <= CAP, "{} bytes let through", body.len());
    assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    assert_eq!(
        FetchError::from_io(&err),
        Some(&FetchError::TooLarge { limit: CAP })
    );
    assert_eq!(err.to_string(), "the file is larger than 4000 bytes");
}

#[tokio::test]
async fn a_declared_length_past_the_limit_is_refused_before_reading() {
    let server = Server::start().await;
    let f = fetcher(AddressPolicy::allowing_loopback());
    assert_eq!(
        f.get(&server.url("/declared/4001")).await.unwrap_err(),
        FetchError::TooLarge { limit: CAP }
    );
    let fetched = f.get(&server.url("/declared/4000")).await.unwrap();
    assert_eq!(fetched.content_length, Some(4000));
    assert_eq!(read(fetched).await.0.len(), 4000);

    // A server that declares 100 MB and then sends three bytes: refused at once, not after waiting for the rest.
    let (addr, hits) =
        stalling_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nabc").await;
    let started = Instant::now();
    let e = f
        .get(&format!("http://{addr}/big").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e, FetchError::TooLarge { limit: CAP });
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_that_stalls_is_cut_at_the_deadline() {
    let quick = FetchLimits {
        timeout: Duration::from_millis(500),
        ..limits()
    };
    let f = GuardedFetcher::new(quick, AddressPolicy::allowing_loopback()).unwrap();

    // No answer at all.
    let (addr, _) = stalling_server(b"").await;
    let started = Instant::now();
    let e = f
        .get(&format!("http://{addr}/slow").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        FetchError::Timeout {
            after: Duration::from_millis(500)
        }
    );
    assert_eq!(
        e.to_string(),
        "the server did not answer within 500 milliseconds"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // Headers, a little of the body, and then nothing: the deadline covers reading the body too.
    let (addr, _) = stalling_server(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst").await;
    let started = Instant::now();
    let fetched = f
        .get(&format!("http://{addr}/slow-body").parse().unwrap())
        .await
        .unwrap();
    let (body, err) = read(fetched).await;
    assert_eq!(body, b"first");
    let err = err.expect("the stalled body was not cut");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(matches!(
        FetchError::from_io(&err),
        Some(FetchError::Timeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn only_plain_http_and_https_addresses_are_fetched() {
    let server = Server::start().await;
    let port = server.addr.port();
    let f = fetcher(AddressPolicy::allowing_loopback());
    for other in [
        "ftp://127.0.0.1/a.jpg",
        "file:///etc/passwd",
        "data:text/plain,hello",
    ] {
        let e = f.get(&other.parse().unwrap()).await.unwrap_err();
        assert!(matches!(e, FetchError::Scheme { .. }), "{other}: {e:?}");
        assert_eq!(
            e.to_string(),
            "only http and https addresses can be fetched"
        );
    }
    for with_credentials in [
        format!("http://me:secret@127.0.0.1:{port}/ok"),
        format!("http://me@127.0.0.1:{port}/ok"),
    ] {
        let e = f.get(&with_credentials.parse().unwrap()).await.unwrap_err();
        assert_eq!(e, FetchError::Credentials);
        assert!(!e.to_string().contains("secret"));
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_failed_answer_names_its_status_and_not_the_url() {
    let server = Server::start().await;
    let f = fetcher(AddressPolicy::allowing_loopback());
    let mut url = server.url("/missing");
    url.set_query(Some("token=s3cret"));
    let e = f.get(&url).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
    assert_eq!(e.to_string(), "the server answered 404");

    // Nothing listens on a port just freed: a connection error names the host, not the query.
    let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = unused.local_addr().unwrap();
    drop(unused);
    let e = f
        .get(&format!("http://{addr}/x?token=s3cret").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        FetchError::Connect {
            host: "127.0.0.1".into()
        }
    );
    assert!(!e.to_string().contains("s3cret"));
}
