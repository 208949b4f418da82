//! Hardening: what comes from outside cannot take a process down. A platform's absurd wait hint is a day and the
//! process keeps serving and publishing; a panic while handling one delivery stays with that delivery, whose message
//! comes back; platform answers are read with a size cap; and a filtered post listing reads a bounded amount per
//! request on both backends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postora::app::publish::PANIC_RETRY;
use postora::app::{App, Deps};
use postora::config::{Env, Settings};
use postora::domain::{
    Account, AccountId, Delivery, DeliveryError, DeliveryStatus, PlatformKind, Post, PostId,
    TokenSet, WorkspaceId,
};
use postora::platforms::http::{read_body_max, BodyError};
use postora::platforms::meta::{ThreadsConfig, ThreadsPlatform};
use postora::ports::{
    AuthorizeRequest, CodeExchange, Connection, NoProgress, Platform, PlatformError, Platforms,
    Progress, PublishJob, Published, Recovery,
};
use postora::ports::{
    DeadLetter, Outgoing, PostFilter, PostRecord, Queue, QueueError, Received, Stores, SystemClock,
};
use postora::runtime::aws::{publish_batch, SqsBatch, SqsRecord};
use postora::runtime::{self, local::LocalBackend};
use postora::sandbox::SandboxPlatform;
use postora::sandbox::{Fault, FaultKind, Idempotency};
use postora_test_support::faults::PlatformServer;
use secrecy::SecretString;
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(30);

async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never saw {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// An absurd wait hint, end to end

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_ten_to_the_thirteen_holds_one_account_a_day_and_the_process_carries_on() {
    let t = postora_test_support::app::spawn_app().await;
    let (_, key) = t.workspace("hints").await;
    let alice = t.connect_sandbox(&key, "alice").await;
    let bob = t.connect_sandbox(&key, "bob").await;

    // The faults endpoint refuses the absurd value, naming the field.
    let refused = t
        .http
        .post(t.url("/sandbox/faults"))
        .json(&json!({"kind": "rate_limit", "retry_after_secs": 10_u64.pow(13)}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["field"], "retry_after_secs", "{body}");
    for (absurd, field) in [
        (json!({"kind": "slow", "delay_ms": u64::MAX}), "delay_ms"),
        (
            json!({"kind": "reject", "count": 4_294_967_296_u64}),
            "count",
        ),
        (json!({"kind": "reject", "count": -1}), "count"),
        (
            json!({"kind": "rate_limit", "retry_after_secs": -1}),
            "retry_after_secs",
        ),
        (
            json!({"kind": "rate_limit", "retry_after_secs": 1e300}),
            "retry_after_secs",
        ),
        (
            json!({"kind": "rate_limit", "retry_after_secs": "NaN"}),
            "retry_after_secs",
        ),
    ] {
        let resp = t
            .http
            .post(t.url("/sandbox/faults"))
            .json(&absurd)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_client_error(), "{absurd}: {status} {body}");
        assert_eq!(body["error"]["field"], field, "{absurd}: {body}");
    }
    let faults: Value = t
        .http
        .get(t.url("/sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["faults"], json!([]), "nothing refused was kept");

    // A platform may still send it: the sandbox is given the fault directly, as a platform's own answer.
    t.sandbox.as_ref().unwrap().add_faults([Fault {
        kind: FaultKind::RateLimit,
        count: 1,
        user: Some("sbx-alice".into()),
        retry_after_secs: Some(10_u64.pow(13)),
        scope: None,
        delay_ms: None,
        after: 0,
        message: None,
    }]);
    let started = Utc::now();
    let limited = t
        .create_post(
            &key,
            &json!({"text": "held", "targets": [{"account_id": alice}]}),
        )
        .await;
    let limited_id = limited["id"].as_str().unwrap().to_owned();
    let held = eventually("the rate-limited delivery rescheduled", async || {
        let post: Value = t
            .get(&key, &format!("/v1/posts/{limited_id}"))
            .await
            .json()
            .await
            .unwrap();
        let d = post["deliveries"][0].clone();
        (d["status"] == "scheduled" && d["error"]["code"] == "rate_limited").then_some(d)
    })
    .await;
    let next: DateTime<Utc> = held["scheduled_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= started + chrono::Duration::hours(23)
            && next <= Utc::now() + chrono::Duration::hours(24) + chrono::Duration::seconds(10),
        "the hint is taken as a day: {held}"
    );

    // The process still answers, and still publishes to other accounts.
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let other = t
        .create_post(
            &key,
            &json!({"text": "not held", "targets": [{"account_id": bob}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, other["id"].as_str().unwrap(), PATIENCE)
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "published", "{settled}");
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    t.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// A panic in one delivery

/// The sandbox adapter, except that publishing a text containing `PANIC` panics, as a bug in an adapter would.
struct Panicky {
    inner: Arc<dyn Platform>,
}

#[async_trait]
impl Platform for Panicky {
    fn kind(&self) -> PlatformKind {
        self.inner.kind()
    }

    fn uses_pkce(&self) -> bool {
        self.inner.uses_pkce()
    }

    fn can_recover(&self) -> bool {
        self.inner.can_recover()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        self.inner.authorize_url(request)
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        self.inner.exchange_code(exchange).await
    }

    async fn refresh(
        &self,
        account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        self.inner.refresh(account, tokens).await
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        assert!(!job.text.contains("PANIC"), "the adapter hit a bug");
        self.inner.publish(job, progress).await
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        self.inner.recover(job).await
    }
}

/// What happened to each message: the local queue, remembering the body behind each receipt and how it was settled.
#[derive(Default)]
struct Settled {
    bodies: HashMap<String, String>,
    acked: Vec<String>,
    retried: Vec<(String, Duration)>,
}

struct RecordingQueue {
    inner: Arc<dyn Queue>,
    settled: Mutex<Settled>,
}

impl RecordingQueue {
    /// How the messages naming `post` were settled: (acks, retries with their delays).
    fn settled_for(&self, post: &str) -> (usize, Vec<Duration>) {
        let s = self.settled.lock().unwrap();
        let mine = |receipt: &String| s.bodies.get(receipt).is_some_and(|b| b.contains(post));
        let acks = s.acked.iter().filter(|r| mine(r)).count();
        let retries = s
            .retried
            .iter()
            .filter(|(r, _)| mine(r))
            .map(|(_, d)| *d)
            .collect();
        (acks, retries)
    }
}

#[async_trait]
impl Queue for RecordingQueue {
    async fn send(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        self.inner.send(messages).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let got = self.inner.receive(max, wait).await?;
        let mut s = self.settled.lock().unwrap();
        for m in &got {
            s.bodies.insert(m.receipt.clone(), m.body.clone());
        }
        Ok(got)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.settled.lock().unwrap().acked.push(receipt.to_owned());
        self.inner.ack(receipt).await
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.settled
            .lock()
            .unwrap()
            .retried
            .push((receipt.to_owned(), delay));
        self.inner.retry_later(receipt, delay).await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.inner.dead_letters(max).await
    }

    async fn redrive(&self) -> Result<usize, QueueError> {
        self.inner.redrive().await
    }
}

/// Postora with the panicking sandbox adapter, on a sandbox network of its own; with the publisher loops running,
/// or only the HTTP server (the Lambda publisher is then driven by hand).
struct Harness {
    app: Arc<App>,
    base_url: String,
    queue: Arc<RecordingQueue>,
    _platform: PlatformServer,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn harness(loops: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let platform = PlatformServer::start(dir.path(), Idempotency::Dedupe).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let env = Env::from_pairs([
        ("POSTORA_PUBLIC_URL", base_url.as_str()),
        ("POSTORA_SANDBOX_AUTH_URL", platform.origin.as_str()),
        ("POSTORA_SANDBOX_API_URL", platform.origin.as_str()),
        ("POSTORA_HTTP_TIMEOUT_SECS", "5"),
    ]);
    let local = LocalBackend::open(dir.path(), &env).unwrap();
    let settings = Settings::from_env(&env, &base_url).unwrap();
    let sandbox: Arc<dyn Platform> = Arc::new(
        runtime::local::sandbox_platform(&env, &settings, &platform.sandbox)
            .await
            .unwrap(),
    );
    let queue = Arc::new(RecordingQueue {
        inner: local.backend.queue.clone(),
        settled: Mutex::default(),
    });
    let app = Arc::new(App::new(Deps {
        stores: local.backend.stores.clone(),
        keys: local.backend.keys.clone(),
        queue: queue.clone(),
        bus: local.backend.bus.clone(),
        blobs: local.backend.blobs.clone(),
        mailer: local.backend.mailer.clone(),
        clock: Arc::new(SystemClock),
        platforms: Platforms::new().with(Arc::new(Panicky { inner: sandbox })),
        remote: postora::net::media_fetcher(&settings.media),
        settings,
    }));
    let router = postora::http::full_router(app.clone(), axum::Router::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = app.clone();
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        if loops {
            let _ = runtime::serve(serving, router, listener, 4, stopped).await;
        } else {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await;
        }
    });
    Harness {
        app,
        base_url,
        queue,
        _platform: platform,
        _dir: dir,
        stop: Some(stop),
    }
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A workspace with one connected sandbox account: (API key, account id).
    async fn account(&self) -> (String, String) {
        let (_, key) = self.app.create_workspace("panics").await.unwrap();
        let key = key.reveal().to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap();
        let start: Value = http
            .post(self.url("/v1/accounts/connect/sandbox"))
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = http
            .get(format!(
                "{}&user=pat",
                start["authorize_url"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
        let accounts: Value = http
            .get(self.url("/v1/accounts"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let account = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();
        (key, account)
    }

    /// Creates a post due now; returns its id.
    async fn post(&self, key: &str, account: &str, text: &str) -> String {
        let resp = reqwest::Client::new()
            .post(self.url("/v1/posts"))
            .bearer_auth(key)
            .json(&json!({"text": text, "targets": [{"account_id": account}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let v: Value = resp.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    async fn status(&self, key: &str, post: &str) -> String {
        let v: Value = reqwest::Client::new()
            .get(self.url(&format!("/v1/posts/{post}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["deliveries"][0]["status"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_delivery_leaves_its_message_to_come_back_and_the_others_publish() {
    let h = harness(true).await;
    let (key, account) = h.account().await;
    let boom = h.post(&key, &account, "PANIC in the adapter").await;
    let fine = h.post(&key, &account, "an ordinary post").await;

    eventually("the ordinary post published", async || {
        (h.status(&key, &fine).await == "published").then_some(())
    })
    .await;
    let retries = eventually("the panicking delivery's message sent back", async || {
        let (acks, retries) = h.queue.settled_for(&boom);
        assert_eq!(acks, 0, "a message whose handling panicked is never acked");
        (!retries.is_empty()).then_some(retries)
    })
    .await;
    assert!(retries.iter().all(|d| *d == PANIC_RETRY), "{retries:?}");
    let health = reqwest::get(h.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // A later post still publishes: the worker the panic happened in was not lost.
    let later = h.post(&key, &account, "another ordinary post").await;
    eventually("a later post published", async || {
        (h.status(&key, &later).await == "published").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_a_panicking_record_is_reported_as_a_batch_item_failure() {
    let h = harness(false).await;
    let (key, account) = h.account().await;
    let boom = h.post(&key, &account, "PANIC in the adapter").await;
    let fine = h.post(&key, &account, "an ordinary post").await;
    // Nothing drains the queue here: take both messages as SQS would hand them to the publisher function.
    let mut received = Vec::new();
    while received.len() < 2 {
        received.extend(h.queue.receive(10, Duration::from_secs(1)).await.unwrap());
    }
    let id_of = |post: &str| {
        received
            .iter()
            .find(|m| m.body.contains(post))
            .unwrap()
            .id
            .clone()
    };
    let (boom_id, fine_id) = (id_of(&boom), id_of(&fine));
    let batch = SqsBatch {
        records: received
            .iter()
            .map(|m| SqsRecord {
                message_id: m.id.clone(),
                receipt_handle: m.receipt.clone(),
                body: m.body.clone(),
            })
            .collect(),
    };
    let answer = publish_batch(h.app.clone(), batch, None).await;
    let failed: Vec<&str> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![boom_id.as_str()],
        "only the panicking record comes back"
    );
    assert_ne!(boom_id, fine_id);
    assert_eq!(h.status(&key, &fine).await, "published");
    let (acks, retries) = h.queue.settled_for(&boom);
    assert_eq!((acks, retries), (0, vec![PANIC_RETRY]));
}

// ---------------------------------------------------------------------------------------------------------------
// Answer bodies with a cap

/// A server whose every answer is an endless JSON-looking body, with the given status.
async fn endless_server(status: u16) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let router = axum::Router::new().fallback(move || async move {
        let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
        let first = axum::body::Bytes::from_static(b"{\"access_token\":\"");
        let stream = futures_stream(first, chunk);
        axum::http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(axum::body::Body::from_stream(stream))
            .unwrap()
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    origin
}

/// An endless stream: `first`, then `chunk` forever.
fn futures_stream(
    first: axum::body::Bytes,
    chunk: axum::body::Bytes,
) -> impl futures_core::Stream<Item = Result<axum::body::Bytes, Infallible>> + Send {
    struct Endless {
        first: Option<axum::body::Bytes>,
        chunk: axum::body::Bytes,
    }
    impl futures_core::Stream for Endless {
        type Item = Result<axum::body::Bytes, Infallible>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            let next = self.first.take().unwrap_or_else(|| self.chunk.clone());
            std::task::Poll::Ready(Some(Ok(next)))
        }
    }
    Endless {
        first: Some(first),
        chunk,
    }
}

fn http() -> reqwest::Client {
    postora::platforms::http::client(Default::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_off_at_the_cap_by_every_adapter() {
    let origin = endless_server(200).await;
    let limit = 256 * 1024;
    let resp = http().get(origin.clone()).send().await.unwrap();
    assert_eq!(
        read_body_max(resp, limit).await,
        Err(BodyError::TooLarge { limit })
    );

    let too_large = |e: &PlatformError| e.to_string().contains("larger than 1048576 bytes");
    let sandbox = SandboxPlatform::new(
        http(),
        &origin,
        &origin,
        "client",
        SecretString::from("secret".to_owned()),
    );
    let account = Account {
        id: AccountId::generate(),
        workspace_id: WorkspaceId::generate(),
        platform: PlatformKind::Sandbox,
        profile: Default::default(),
        status: postora::domain::AccountStatus::Active,
        settings: Value::Null,
        token_expires_at: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        connected_at: Some(Utc::now()),
        version: 1,
    };
    let tokens = TokenSet::new("access-token".to_owned(), Utc::now());
    let job = PublishJob {
        account: &account,
        tokens: &tokens,
        text: "hello",
        media: &[],
        thread: &[],
        options: None,
        due_at: Utc::now(),
        idempotency_key: "key-1",
        checkpoint: None,
    };
    // A publish whose answer never ends may have landed: its outcome is unknown, and it says why.
    let e = sandbox.publish(&job, &NoProgress).await.unwrap_err();
    assert_eq!(e.code(), "unknown_outcome", "{e}");
    assert!(too_large(&e), "{e}");
    // A read is safe to repeat.
    let e = sandbox.recover(&job).await.unwrap_err();
    assert_eq!(e.code(), "transient", "{e}");
    assert!(too_large(&e), "{e}");
    // The token endpoint, through the oauth2 crate.
    let e = sandbox
        .exchange_code(&CodeExchange {
            code: "code",
            redirect_uri: "http://127.0.0.1/callback",
            pkce_verifier: None,
            context: None,
            issuer: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "transient", "{e}");
    assert!(too_large(&e), "{e}");
    // Meta's Graph API.
    let threads = ThreadsPlatform::new(
        http(),
        ThreadsConfig {
            auth_origin: origin.clone(),
            api_origin: origin.clone(),
            ..ThreadsConfig::new(postora::platforms::meta::MetaApp::new(
                "1",
                SecretString::from("app-secret".to_owned()),
            ))
        },
    );
    let e = threads
        .exchange_code(&CodeExchange {
            code: "code",
            redirect_uri: "http://127.0.0.1/callback",
            pkce_verifier: None,
            context: None,
            issuer: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "transient", "{e}");
    assert!(too_large(&e), "{e}");
    assert!(!e.to_string().contains("app-secret"), "{e}");

    // An endless error answer is classified by its status alone.
    let failing = endless_server(503).await;
    let sandbox = SandboxPlatform::new(
        http(),
        &failing,
        &failing,
        "client",
        SecretString::from("secret".to_owned()),
    );
    let e = sandbox.publish(&job, &NoProgress).await.unwrap_err();
    assert_eq!(e.code(), "transient", "{e}");
}

// ---------------------------------------------------------------------------------------------------------------
// Bounded post listings

/// 60 posts with one delivery each, scheduled a minute apart in the order they are created; only the oldest has a
/// canceled delivery. Returns the oldest post's id.
async fn posts_matching_nothing_but_the_oldest(stores: &Stores, ws: &WorkspaceId) -> PostId {
    let base = Utc::now() + chrono::Duration::days(1);
    let mut oldest = None;
    for i in 0..60 {
        let at = base + chrono::Duration::minutes(i);
        let post = Post {
            approval: None,
            id: PostId::generate(),
            workspace_id: ws.clone(),
            text: format!("post {i}"),
            media: vec![],
            thread: vec![],
            scheduled_at: at,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        };
        let mut d = Delivery::new(
            ws.clone(),
            post.id.clone(),
            AccountId::generate(),
            PlatformKind::Sandbox,
            None,
            at,
            Utc::now(),
        );
        if i == 0 {
            d = d
                .cancel(DeliveryError::new("canceled", "by hand"), Utc::now())
                .unwrap();
            oldest = Some(post.id.clone());
        }
        stores
            .posts
            .create_post(&PostRecord {
                post,
                deliveries: vec![d],
            })
            .await
            .unwrap();
    }
    oldest.unwrap()
}

/// Follows the cursors of a listing of canceled posts, one to a page. `reads` says how much the store read since it
/// was last asked; each request may read at most `budget`. Returns (pages, posts found).
async fn follow(
    stores: &Stores,
    ws: &WorkspaceId,
    budget: u64,
    mut reads: impl FnMut() -> u64,
) -> (usize, Vec<PostId>) {
    let canceled = PostFilter {
        status: Some(DeliveryStatus::Canceled),
        ..Default::default()
    };
    let mut cursor: Option<String> = None;
    let mut found = Vec::new();
    let mut pages = 0;
    loop {
        let page = stores
            .posts
            .list_posts(ws, &canceled, 1, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        let read = reads();
        assert!(
            read <= budget,
            "page {pages} read {read}, more than {budget}"
        );
        found.extend(page.items.iter().map(|r| r.post.id.clone()));
        if pages == 1 {
            assert!(
                page.items.is_empty() && page.next_cursor.is_some(),
                "the first request stops after its budget, with a cursor to go on"
            );
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 60, "the listing makes progress");
    }
    (pages, found)
}

#[tokio::test]
async fn on_the_local_store_a_filter_matching_little_is_answered_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalBackend::open(dir.path(), &Env::default()).unwrap();
    let stores = local.backend.stores.clone();
    let ws = WorkspaceId::generate();
    let oldest = posts_matching_nothing_but_the_oldest(&stores, &ws).await;
    let (pages, found) = follow(&stores, &ws, 0, || 0).await;
    assert_eq!(found, vec![oldest]);
    assert!(
        pages >= 3,
        "{pages} pages: each request reads a bounded number of posts"
    );
}

#[tokio::test]
async fn on_dynamodb_a_filter_matching_little_reads_a_bounded_amount_per_request() {
    let emu = postora_test_support::aws::Emulator::fresh().await;
    let stores = emu.adapters.stores();
    let ws = WorkspaceId::generate();
    let oldest = posts_matching_nothing_but_the_oldest(&stores, &ws).await;
    let metrics = emu.metrics.clone();
    let mut before = metrics.snapshot();
    let budget = postora::adapters::aws::dynamo::LIST_PAGES_PER_REQUEST as u64;
    let (pages, found) = follow(&stores, &ws, budget, || {
        let now = metrics.snapshot();
        let queries = now.since(&before).operation("DynamoDB", "Query");
        before = now;
        queries
    })
    .await;
    assert_eq!(found, vec![oldest]);
    assert!(pages >= 3, "{pages} pages");
}
