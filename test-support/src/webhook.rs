//! A webhook receiver on a loopback port: it answers 503 to the first attempts it is told to fail (or to all of
//! them), 200 afterwards, and keeps what it accepted; and a check of Postora's webhook signature as a receiver does
//! it.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A delivery the receiver accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Vec<u8>,
    pub signature: String,
    pub event_id: Option<String>,
}

#[derive(Default)]
struct Inner {
    fail_first: usize,
    attempts: usize,
    accepted: Vec<Received>,
}

/// The receiver; it stops when dropped.
pub struct WebhookReceiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    /// A receiver that fails the first `fail_first` attempts (`usize::MAX`: every one).
    pub async fn start(fail_first: usize) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            fail_first,
            ..Inner::default()
        }));
        let router = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        }
    }

    /// Every attempt that reached it, failed or accepted.
    pub fn attempts(&self) -> usize {
        self.inner.lock().unwrap().attempts
    }

    /// What it accepted, in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.inner.lock().unwrap().accepted.clone()
    }

    /// From now on, fail this many more attempts.
    pub fn fail_next(&self, n: usize) {
        let mut inner = self.inner.lock().unwrap();
        inner.fail_first = inner.attempts.saturating_add(n);
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().unwrap();
    inner.attempts += 1;
    if inner.attempts <= inner.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    inner.accepted.push(Received {
        body: body.to_vec(),
        signature: header("postora-signature").unwrap_or_default(),
        event_id: header("postora-event-id"),
    });
    StatusCode::OK
}

/// Whether `signature` (`t=<unix>,v1=<hex>`) is `secret`'s HMAC-SHA256 of `<t>.<body>`, made within `tolerance_secs`
/// of now, as a receiver checks it.
pub fn verify(secret: &str, signature: &str, body: &[u8], tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex_decode(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - t).abs() > tolerance_secs {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
