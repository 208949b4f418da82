//! Fake platform servers. Each keeps its state in a plain value and answers requests from it (`serve(world,
//! request)`), reachable over real HTTP on a loopback port, so the real adapters run against it unchanged.

pub mod linkedin;
pub mod mastodon;
pub mod meta;
pub mod received;
pub mod tiktok;
pub mod x;
pub mod youtube;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;

/// A fake's HTTP server on a free loopback port. Dropping it stops the server.
pub struct Served {
    pub origin: url::Url,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Serves `router` on 127.0.0.1 with a free port.
    pub async fn start(router: axum::Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("a local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Served {
            origin: url::Url::parse(&format!("http://{addr}")).expect("an origin"),
            task,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An answer whose head goes out with `status` and whose body then breaks off: the call was carried out, but the
/// client never sees what it answered.
pub fn cut_off(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "64")
        .body(Body::from_stream(Cut))
        .unwrap_or_default()
}

/// A body that fails at once.
struct Cut;

impl futures_core::Stream for Cut {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::other("connection cut"))))
    }
}
