//! Fault injection: a sandbox platform that outlives Postora, Postora nodes that can crash, a store that fails writes
//! on command, a platform wrapper that stalls or stops the publisher, a queue that duplicates and reorders, and the
//! ledger that counts what the platform accepted.
//!
//! A [`Node`] is one Postora process: its own tokio runtime, HTTP server, dispatcher and publishers over a data
//! directory. [`Node::crash`] drops that runtime at once, as `kill -9` would: tasks stop at their next await, and a
//! new node started on the same directory recovers. The sandbox platform runs apart from any node (a
//! [`PlatformServer`]), so what it accepted survives every crash and is the only thing the tests count.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postora::adapters::local::{Db, SqliteQueue};
use postora::app::{App, Deps};
use postora::config::{Env, Settings};
use postora::domain::{
    Account, Delivery, DeliveryKey, DeliveryStatus, PlatformKind, PostId, TokenSet, WorkspaceId,
};
use postora::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Platforms, Progress,
    PublishJob, Published, Recovery,
};
use postora::ports::{
    Clock, DeadLetter, Outgoing, Page, PostFilter, PostRecord, PostStore, PublishInputs, Queue,
    QueueError, Received, StoreError, StoreResult, Stores, SystemClock,
};
use postora::runtime::{self, local::LocalBackend};
use postora::sandbox::{Idempotency, Sandbox, SandboxPost};
use serde_json::{json, Value};

/// How long the fault tests wait for anything before they fail.
pub const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------------------------
// The platform side

/// The sandbox platform on its own port, with its own database file: it stays up while Postora nodes crash.
pub struct PlatformServer {
    pub sandbox: Sandbox,
    pub origin: String,
    /// How the network treats idempotency keys; Postora's sandbox adapter is configured to match.
    pub mode: Idempotency,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl PlatformServer {
    pub async fn start(dir: &Path, mode: Idempotency) -> PlatformServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let sandbox = Sandbox::open(&dir.join("platform.db"), &origin, Duration::from_secs(3600))
            .unwrap()
            .with_idempotency(mode);
        let router = sandbox.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        PlatformServer {
            sandbox,
            origin,
            mode,
            http: reqwest::Client::new(),
            task,
        }
    }

    /// Tells the sandbox to fail, through its own fault endpoint (`POST /sandbox/faults`).
    pub async fn fault(&self, fault: Value) {
        let resp = self
            .http
            .post(format!("{}/sandbox/faults", self.origin))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }

    /// Faults not used up yet.
    pub async fn pending_faults(&self) -> usize {
        let body: Value = self
            .http
            .get(format!("{}/sandbox/faults", self.origin))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["faults"].as_array().unwrap().len()
    }

    /// Every post the platform accepted (`GET /sandbox/posts`).
    pub async fn accepted(&self) -> Vec<SandboxPost> {
        let body: Value = self
            .http
            .get(format!("{}/sandbox/posts", self.origin))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(body["posts"].clone()).unwrap()
    }

    /// What the platform accepted, grouped by idempotency key.
    pub async fn ledger(&self) -> Ledger {
        Ledger::of(self.accepted().await)
    }
}

impl Drop for PlatformServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The platform's posts grouped by the idempotency key they came with.
#[derive(Debug)]
pub struct Ledger {
    pub by_key: HashMap<String, Vec<SandboxPost>>,
}

/// How the deliveries checked by [`Ledger::assert_exactly_once`] ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub published: usize,
    pub in_doubt: usize,
    pub failed: usize,
}

impl Ledger {
    pub fn of(posts: Vec<SandboxPost>) -> Ledger {
        let mut by_key: HashMap<String, Vec<SandboxPost>> = HashMap::new();
        for p in posts {
            by_key
                .entry(p.idempotency_key.clone().unwrap_or_default())
                .or_default()
                .push(p);
        }
        Ledger { by_key }
    }

    pub fn count(&self, key: &str) -> usize {
        self.by_key.get(key).map_or(0, Vec::len)
    }

    /// Every delivery is published exactly once on the platform (the post Postora recorded), or in doubt and on the
    /// platform at most once, or failed and not on the platform at all; and the platform holds nothing else.
    pub fn assert_exactly_once(&self, deliveries: &[Delivery]) -> Tally {
        let mut tally = Tally::default();
        for d in deliveries {
            let key = d.idempotency_key();
            let landed = self.by_key.get(&key).cloned().unwrap_or_default();
            match d.status {
                DeliveryStatus::Published => {
                    assert_eq!(
                        landed.len(),
                        1,
                        "{} is published, and the platform holds {} posts for it",
                        d.key(),
                        landed.len()
                    );
                    assert_eq!(
                        d.platform_post_id.as_deref(),
                        Some(landed[0].id.as_str()),
                        "{} records another post than the one on the platform",
                        d.key()
                    );
                    tally.published += 1;
                }
                DeliveryStatus::InDoubt => {
                    assert!(
                        landed.len() <= 1,
                        "{} is in doubt, and the platform holds {} posts for it",
                        d.key(),
                        landed.len()
                    );
                    tally.in_doubt += 1;
                }
                DeliveryStatus::Failed => {
                    assert!(
                        landed.is_empty(),
                        "{} is failed, and yet the platform holds its post",
                        d.key()
                    );
                    tally.failed += 1;
                }
                other => panic!("{} did not settle: it is {}", d.key(), other.as_str()),
            }
        }
        let known: std::collections::HashSet<String> =
            deliveries.iter().map(Delivery::idempotency_key).collect();
        let strays: Vec<&String> = self.by_key.keys().filter(|k| !known.contains(*k)).collect();
        assert!(
            strays.is_empty(),
            "posts no delivery accounts for: {strays:?}"
        );
        tally
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Stopping the publisher at a step

/// A step of one publish at which the publisher can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The message was received; the claim is about to be written.
    BeforeClaim,
    /// The claim was written; nothing was sent to the platform.
    AfterClaim,
    /// The platform accepted the post; its answer has not been looked at.
    AfterAccept,
    /// The result is known and about to be written.
    BeforeResult,
}

/// Freezes the publisher the first time it reaches the armed step, and tells the test.
pub struct Tripwire {
    armed: Mutex<Option<Step>>,
    tripped: tokio::sync::watch::Sender<bool>,
}

impl Tripwire {
    pub fn armed_at(step: Step) -> Arc<Tripwire> {
        Arc::new(Tripwire {
            armed: Mutex::new(Some(step)),
            tripped: tokio::sync::watch::channel(false).0,
        })
    }

    /// Passes `step`; if it is the armed one, never returns (the node is about to be crashed).
    pub async fn pass(&self, step: Step) {
        let hit = {
            let mut armed = self.armed.lock().unwrap();
            if *armed == Some(step) {
                *armed = None;
                true
            } else {
                false
            }
        };
        if hit {
            self.tripped.send_replace(true);
            std::future::pending::<()>().await;
        }
    }

    /// Waits until the publisher is frozen at the armed step.
    pub async fn wait(&self) {
        let mut rx = self.tripped.subscribe();
        tokio::time::timeout(PATIENCE, rx.wait_for(|t| *t))
            .await
            .expect("the publisher never reached the step")
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The store

/// The kinds of delivery write the store can be told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Write {
    /// The dispatcher queues a delivery (or sends one again after its deadline).
    Dispatch,
    /// A publisher claims a delivery.
    Claim,
    /// The attempt holding the claim marks a call as sent, renews its lease or records a checkpoint.
    Progress,
    /// The attempt holding the claim records how it ended (published, retry, failed, in doubt).
    Result,
    /// Anything else (a person's cancel or retry).
    Other,
}

/// How a write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The condition fails, as if another writer got there first; nothing is written.
    Conflict,
    /// The store refuses for load; nothing is written.
    Throttled,
    /// The write is applied, but the answer says the store was busy (an ambiguous timeout).
    AppliedButThrottled,
}

#[derive(Debug)]
struct Planned {
    write: Write,
    failure: Failure,
    left: u32,
}

/// What the store should fail next, and what it did fail.
#[derive(Default)]
pub struct StoreFaults {
    planned: Mutex<Vec<Planned>>,
    reads_to_throttle: Mutex<u32>,
    injected: Mutex<Vec<(Write, Failure)>>,
}

impl StoreFaults {
    pub fn new() -> Arc<StoreFaults> {
        Arc::new(StoreFaults::default())
    }

    /// The next `count` writes of kind `write` fail as `failure`.
    pub fn fail(&self, write: Write, failure: Failure, count: u32) {
        self.planned.lock().unwrap().push(Planned {
            write,
            failure,
            left: count,
        });
    }

    /// The next `count` delivery reads are throttled.
    pub fn throttle_reads(&self, count: u32) {
        *self.reads_to_throttle.lock().unwrap() += count;
    }

    /// The faults that fired, in order.
    pub fn injected(&self) -> Vec<(Write, Failure)> {
        self.injected.lock().unwrap().clone()
    }

    fn take(&self, write: Write) -> Option<Failure> {
        let mut planned = self.planned.lock().unwrap();
        let i = planned
            .iter()
            .position(|p| p.write == write && p.left > 0)?;
        planned[i].left -= 1;
        let failure = planned[i].failure;
        self.injected.lock().unwrap().push((write, failure));
        Some(failure)
    }

    fn take_read(&self) -> bool {
        let mut n = self.reads_to_throttle.lock().unwrap();
        if *n > 0 {
            *n -= 1;
            true
        } else {
            false
        }
    }
}

/// Classifies a delivery write by comparing it with what is stored.
fn classify(stored: &Delivery, next: &Delivery) -> Write {
    use DeliveryStatus::*;
    match (stored.status, next.status) {
        (Scheduled | Queued, Queued) => Write::Dispatch,
        (_, Publishing) if stored.attempt_id != next.attempt_id => Write::Claim,
        (Publishing, Publishing) if stored.lease_until == next.lease_until => Write::Dispatch,
        (Publishing, Publishing) => Write::Progress,
        (Publishing, _) => Write::Result,
        _ => Write::Other,
    }
}

/// The post store over the local one, failing writes on command and freezing at a tripwire.
pub struct FaultyPosts {
    inner: Arc<dyn PostStore>,
    faults: Arc<StoreFaults>,
    tripwire: Option<Arc<Tripwire>>,
}

impl FaultyPosts {
    async fn pass(&self, step: Step) {
        if let Some(t) = &self.tripwire {
            t.pass(step).await;
        }
    }

    /// Fails or freezes a delivery write as planned, else applies it.
    async fn guarded(
        &self,
        delivery: &Delivery,
        apply: impl std::future::Future<Output = StoreResult<()>>,
    ) -> StoreResult<()> {
        let stored = self.inner.get_delivery(&delivery.key()).await?;
        let write = stored
            .as_ref()
            .map_or(Write::Other, |s| classify(s, delivery));
        match write {
            Write::Claim => self.pass(Step::BeforeClaim).await,
            Write::Result if delivery.status == DeliveryStatus::Published => {
                self.pass(Step::BeforeResult).await
            }
            _ => {}
        }
        let failure = self.faults.take(write);
        match failure {
            Some(Failure::Conflict) => return Err(StoreError::Conflict),
            Some(Failure::Throttled) => {
                return Err(StoreError::Throttled("throttled on purpose".into()))
            }
            _ => {}
        }
        apply.await?;
        if failure == Some(Failure::AppliedButThrottled) {
            return Err(StoreError::Throttled(
                "applied, but the answer was lost on purpose".into(),
            ));
        }
        if write == Write::Claim {
            self.pass(Step::AfterClaim).await;
        }
        Ok(())
    }
}

#[async_trait]
impl PostStore for FaultyPosts {
    async fn create_post(&self, record: &PostRecord) -> StoreResult<()> {
        self.inner.create_post(record).await
    }

    async fn get_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<Option<PostRecord>> {
        self.inner.get_post(ws, id).await
    }

    async fn list_posts(
        &self,
        ws: &WorkspaceId,
        filter: &PostFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<PostRecord>> {
        self.inner.list_posts(ws, filter, limit, cursor).await
    }

    async fn update_post(
        &self,
        post: &postora::domain::Post,
        expected_version: u64,
        upsert: &[(Delivery, Option<u64>)],
        remove: &[(postora::domain::AccountId, u64)],
    ) -> StoreResult<()> {
        self.inner
            .update_post(post, expected_version, upsert, remove)
            .await
    }

    async fn delete_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<()> {
        self.inner.delete_post(ws, id).await
    }

    async fn get_delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>> {
        if self.faults.take_read() {
            return Err(StoreError::Throttled("throttled on purpose".into()));
        }
        self.inner.get_delivery(key).await
    }

    async fn publish_inputs(&self, key: &DeliveryKey) -> StoreResult<Option<PublishInputs>> {
        if self.faults.take_read() {
            return Err(StoreError::Throttled("throttled on purpose".into()));
        }
        self.inner.publish_inputs(key).await
    }

    async fn save_delivery(&self, delivery: &Delivery, expected_version: u64) -> StoreResult<()> {
        self.guarded(
            delivery,
            self.inner.save_delivery(delivery, expected_version),
        )
        .await
    }

    async fn save_delivery_with_audit(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        audit: &postora::domain::AuditEntry,
    ) -> StoreResult<()> {
        self.guarded(
            delivery,
            self.inner
                .save_delivery_with_audit(delivery, expected_version, audit),
        )
        .await
    }

    /// A batch is one request: it meets at most one planned dispatch fault, as a whole.
    async fn save_deliveries(&self, changes: &[(Delivery, u64)]) -> StoreResult<()> {
        let failure = if changes.is_empty() {
            None
        } else {
            self.faults.take(Write::Dispatch)
        };
        match failure {
            Some(Failure::Conflict) => return Err(StoreError::Conflict),
            Some(Failure::Throttled) => {
                return Err(StoreError::Throttled("throttled on purpose".into()))
            }
            _ => {}
        }
        self.inner.save_deliveries(changes).await?;
        if failure == Some(Failure::AppliedButThrottled) {
            return Err(StoreError::Throttled(
                "applied, but the answer was lost on purpose".into(),
            ));
        }
        Ok(())
    }

    async fn due_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.inner.due_deliveries(before, limit).await
    }

    async fn expired_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.inner.expired_deliveries(before, limit).await
    }

    async fn live_deliveries_for_account(
        &self,
        ws: &WorkspaceId,
        account: &postora::domain::AccountId,
    ) -> StoreResult<Vec<Delivery>> {
        self.inner.live_deliveries_for_account(ws, account).await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The queue

/// Sends every message `copies` times, each batch in reverse order: the publisher sees duplicates, out of order.
pub struct DuplicatingQueue {
    inner: Arc<dyn Queue>,
    copies: usize,
}

#[async_trait]
impl Queue for DuplicatingQueue {
    async fn send(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        let mut out = Vec::with_capacity(messages.len() * self.copies);
        for _ in 0..self.copies {
            out.extend(messages.iter().rev().cloned());
        }
        self.inner.send(&out).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.inner.receive(max, wait).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.retry_later(receipt, delay).await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.inner.dead_letters(max).await
    }

    async fn redrive(&self) -> Result<usize, QueueError> {
        self.inner.redrive().await
    }
}

/// Puts a raw body on a data directory's local queue, as a foreign or corrupted sender would.
pub async fn put_raw_message(dir: &Path, body: &str) {
    let db = Db::open(&dir.join("postora.db")).unwrap();
    let body = body.to_owned();
    db.call(move |c| {
        c.execute(
            "INSERT INTO queue (body, visible_at) VALUES (?1, 0)",
            [body],
        )
        .map(|_| ())
        .map_err(postora::ports::StoreError::from)
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------------------------
// The platform, as the publisher sees it

/// One publish call as the probe saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The platform user of the account (`sbx-<user>`).
    pub user: String,
    /// `ok`, or the error code.
    pub result: String,
    pub at: DateTime<Utc>,
}

/// Wraps a platform adapter: counts publish calls, can stall or stretch them, can pose as another platform, and
/// freezes at [`Step::AfterAccept`].
pub struct Probe {
    inner: Arc<dyn Platform>,
    kind: PlatformKind,
    calls: Mutex<Vec<Call>>,
    stall_first: Mutex<Option<Duration>>,
    stretch: Mutex<Option<(u32, Duration)>>,
    refresh_pause: Option<Duration>,
    refreshes: std::sync::atomic::AtomicUsize,
    tripwire: Option<Arc<Tripwire>>,
}

/// How a test shapes the probe around the sandbox adapter.
#[derive(Default, Clone)]
pub struct ProbeSettings {
    /// The first publish call waits this long before it reaches the platform (a call slower than its lease).
    pub stall_first: Option<Duration>,
    /// Every publish call records a checkpoint, waits, this many times before it reaches the platform (a slow
    /// multi-step publish that keeps making progress).
    pub stretch: Option<(u32, Duration)>,
    /// Every token refresh waits this long before it reaches the platform (refreshes that overlap).
    pub refresh_pause: Option<Duration>,
}

impl Probe {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Token refreshes that reached the platform.
    pub fn refreshes(&self) -> usize {
        self.refreshes.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn calls_for(&self, user: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.user == format!("sbx-{user}"))
            .collect()
    }
}

#[async_trait]
impl Platform for Probe {
    fn kind(&self) -> PlatformKind {
        self.kind
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
        if let Some(pause) = self.refresh_pause {
            tokio::time::sleep(pause).await;
        }
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.refresh(account, tokens).await
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let stall = self.stall_first.lock().unwrap().take();
        if let Some(pause) = stall {
            tokio::time::sleep(pause).await;
        }
        let stretch = *self.stretch.lock().unwrap();
        if let Some((steps, pause)) = stretch {
            for step in 0..steps {
                progress.checkpoint(json!({ "step": step })).await?;
                tokio::time::sleep(pause).await;
            }
        }
        let result = self.inner.publish(job, progress).await;
        self.calls.lock().unwrap().push(Call {
            user: job.account.profile.platform_user_id.clone(),
            result: match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.code().to_owned(),
            },
            at: Utc::now(),
        });
        if result.is_ok() {
            if let Some(t) = &self.tripwire {
                t.pass(Step::AfterAccept).await;
            }
        }
        result
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        self.inner.recover(job).await
    }

    async fn revoke(&self, account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        self.inner.revoke(account, tokens).await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Postora nodes

/// How to start a [`Node`].
#[derive(Default, Clone)]
pub struct NodeOptions {
    /// Extra environment, over the fast defaults of [`fast_env`].
    pub env: Vec<(String, String)>,
    /// Run the dispatcher and publishers (otherwise only the HTTP server).
    pub idle: bool,
    pub tripwire: Option<Arc<Tripwire>>,
    pub store_faults: Option<Arc<StoreFaults>>,
    /// Send every queue message this many times, in reverse order.
    pub copies: Option<usize>,
    pub probe: ProbeSettings,
    /// Also serve the sandbox adapter as this platform (a second platform on the same network).
    pub also_as: Option<PlatformKind>,
    pub clock: Option<Arc<dyn Clock>>,
}

impl NodeOptions {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Short leases, deadlines and backoffs, so recovery happens within seconds.
pub fn fast_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("POSTORA_PUBLISH_LEASE_SECS", "3"),
        ("POSTORA_REQUEUE_AFTER_SECS", "2"),
        ("POSTORA_QUEUE_VISIBILITY_SECS", "2"),
        ("POSTORA_BACKOFF_BASE_SECS", "1"),
        ("POSTORA_BACKOFF_MAX_SECS", "1"),
        ("POSTORA_HTTP_TIMEOUT_SECS", "2"),
    ]
}

/// One Postora process on a data directory, in a runtime of its own so that it can be crashed.
pub struct Node {
    pub app: Arc<App>,
    pub base_url: String,
    pub queue: Arc<SqliteQueue>,
    /// The sandbox adapter as the publisher calls it.
    pub probe: Arc<Probe>,
    /// The same adapter posing as [`NodeOptions::also_as`], if asked for.
    pub other: Option<Arc<Probe>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Node {
    pub async fn start(dir: &Path, platform: &PlatformServer, options: NodeOptions) -> Node {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let mut env = Env::from_pairs(fast_env());
        env.set("POSTORA_PUBLIC_URL", &base_url);
        env.set("POSTORA_SANDBOX_AUTH_URL", &platform.origin);
        env.set("POSTORA_SANDBOX_API_URL", &platform.origin);
        let mode = match platform.mode {
            Idempotency::Dedupe => "dedupe",
            Idempotency::Lookup => "lookup",
            Idempotency::None => "none",
        };
        env.set("POSTORA_SANDBOX_IDEMPOTENCY", mode);
        for (k, v) in &options.env {
            env.set(k, v.as_str());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let local = LocalBackend::open(dir, &env).unwrap();
        let mut stores: Stores = local.backend.stores.clone();
        if options.store_faults.is_some() || options.tripwire.is_some() {
            stores.posts = Arc::new(FaultyPosts {
                inner: stores.posts.clone(),
                faults: options.store_faults.clone().unwrap_or_default(),
                tripwire: options.tripwire.clone(),
            });
        }
        let queue: Arc<dyn Queue> = match options.copies {
            Some(copies) => Arc::new(DuplicatingQueue {
                inner: local.backend.queue.clone(),
                copies,
            }),
            None => local.backend.queue.clone(),
        };
        let settings = Settings::from_env(&env, &base_url).unwrap();
        let sandbox: Arc<dyn Platform> = Arc::new(
            runtime::local::sandbox_platform(&env, &settings, &platform.sandbox)
                .await
                .unwrap(),
        );
        let probe_for = |kind: PlatformKind| {
            Arc::new(Probe {
                inner: sandbox.clone(),
                kind,
                calls: Mutex::new(Vec::new()),
                stall_first: Mutex::new(options.probe.stall_first),
                stretch: Mutex::new(options.probe.stretch),
                refresh_pause: options.probe.refresh_pause,
                refreshes: std::sync::atomic::AtomicUsize::new(0),
                tripwire: options.tripwire.clone(),
            })
        };
        let probe = probe_for(PlatformKind::Sandbox);
        let mut platforms = Platforms::new().with(probe.clone());
        let other = options.also_as.map(probe_for);
        if let Some(kind) = options.also_as {
            // The sandbox posing as another platform sends consents back to that platform's callback too.
            platform
                .sandbox
                .register_client(&settings.redirect_uri(kind))
                .await
                .unwrap();
        }
        if let Some(o) = &other {
            platforms = platforms.with(o.clone());
        }
        let app = Arc::new(App::new(Deps {
            stores,
            keys: local.backend.keys.clone(),
            queue,
            bus: local.backend.bus.clone(),
            blobs: local.backend.blobs.clone(),
            mailer: local.backend.mailer.clone(),
            clock: options
                .clock
                .clone()
                .unwrap_or_else(|| Arc::new(SystemClock)),
            remote: postora::net::media_fetcher(&settings.media),
            platforms,
            settings,
        }));
        let router = postora::http::full_router(app.clone(), axum::Router::new());
        let serving = app.clone();
        let idle = options.idle;
        {
            let _inside = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            runtime.spawn(async move {
                if idle {
                    let _ = axum::serve(listener, router).await;
                } else {
                    let _ =
                        runtime::serve(serving, router, listener, 8, std::future::pending()).await;
                }
            });
        }
        Node {
            app,
            base_url,
            queue: local.queue.clone(),
            probe,
            other,
            runtime: Some(runtime),
        }
    }

    /// Stops the process at once: no task gets to finish what it was doing.
    pub fn crash(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Creates a workspace; returns (workspace id, API key).
    pub async fn workspace(&self) -> (WorkspaceId, String) {
        let (ws, key) = self.app.create_workspace("faults").await.unwrap();
        (ws.id, key.reveal().to_owned())
    }

    /// Connects a sandbox account for `user` (through `platform`'s consent page); returns the account id.
    pub async fn connect(&self, key: &str, platform: PlatformKind, user: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap();
        let start: Value = http
            .post(self.url(&format!("/v1/accounts/connect/{platform}")))
            .bearer_auth(key)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let authorize = format!("{}&user={user}", start["authorize_url"].as_str().unwrap());
        let page = http.get(authorize).send().await.unwrap();
        assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
        let accounts: Value = http
            .get(self.url("/v1/accounts"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["platform_user_id"] == format!("sbx-{user}") && a["platform"] == platform.as_str()
            })
            .expect("the connected account is listed")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a post for `accounts`, due now unless `body` says otherwise; returns its id.
    pub async fn post(&self, key: &str, text: &str, accounts: &[&str]) -> PostId {
        self.post_with(key, json!({ "text": text }), accounts).await
    }

    pub async fn post_with(&self, key: &str, mut body: Value, accounts: &[&str]) -> PostId {
        body["targets"] = accounts
            .iter()
            .map(|a| json!({ "account_id": a }))
            .collect();
        let resp = reqwest::Client::new()
            .post(self.url("/v1/posts"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 201, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        PostId::parse(v["id"].as_str().unwrap()).unwrap()
    }

    /// The deliveries of some posts, as stored.
    pub async fn deliveries(&self, ws: &WorkspaceId, posts: &[PostId]) -> Vec<Delivery> {
        let mut out = Vec::new();
        for p in posts {
            let record = self
                .app
                .stores
                .posts
                .get_post(ws, p)
                .await
                .unwrap()
                .unwrap();
            out.extend(record.deliveries);
        }
        out
    }

    /// Waits until every delivery of `posts` is terminal; returns them.
    pub async fn settled(&self, ws: &WorkspaceId, posts: &[PostId]) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let all = self.deliveries(ws, posts).await;
            if all.iter().all(|d| d.status.is_terminal()) {
                return all;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "deliveries did not settle: {:?}",
                all.iter()
                    .map(|d| (d.key().to_string(), d.status, d.error.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `check` holds for the deliveries of `posts`; returns them.
    pub async fn until(
        &self,
        ws: &WorkspaceId,
        posts: &[PostId],
        what: &str,
        check: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let all = self.deliveries(ws, posts).await;
            if check(&all) {
                return all;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never saw {what}: {all:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
