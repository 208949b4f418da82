//! A fake Meta: the consent pages, token endpoints and Graph API of Threads, Instagram (both logins) and Facebook
//! Pages, on one local port, following the documented protocol closely enough that the real adapters run against
//! it unchanged (docs/platforms/threads.md, instagram.md and facebook.md).
//!
//! One server plays every Meta host: the paths do not collide, and the app a request names (or the token it
//! carries) says which platform it is talking to. Tests program it: time moves with [`FakeMeta::advance`], new
//! containers follow a [`ContainerScript`], and [`FakeMeta::fail_next`] queues a [`Fault`] for the next call of an
//! [`Op`]. Every post it accepts is recorded, so a test counts real posts, not calls.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use postora::platforms::meta::{
    ContainerPolling, FacebookConfig, InstagramConfig, InstagramLogin, MetaApp, ThreadsConfig,
};
use rand::Rng;
use secrecy::SecretString;
use serde_json::{json, Value};

/// The apps the fake knows: (client id, client secret).
pub const THREADS_APP: (&str, &str) = ("threads-app-1", "threads-secret-0f9e8d7c");
pub const INSTAGRAM_APP: (&str, &str) = ("instagram-app-1", "instagram-secret-1a2b3c4d");
pub const FACEBOOK_APP: (&str, &str) = ("facebook-app-1", "facebook-secret-5e6f7a8b");

/// The people and Pages behind the consent pages.
pub const THREADS_USER: &str = "7001";
pub const THREADS_USERNAME: &str = "pat.writes";
pub const IG_USER: &str = "17841400000000001";
pub const IG_APP_SCOPED: &str = "ig-scoped-42";
pub const IG_USERNAME: &str = "pat.shoots";
pub const FB_USER: &str = "fb-1001";
/// A Page with an Instagram account linked.
pub const PAGE_BAKERY: &str = "page-2001";
pub const IG_BAKERY: &str = "17841400000000002";
/// A Page without one.
pub const PAGE_BOOKS: &str = "page-2002";
/// A Page the person may only read (no CREATE_CONTENT task).
pub const PAGE_READ_ONLY: &str = "page-2003";

/// Which Meta product a token or post belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Threads,
    /// Instagram login (graph.instagram.com).
    Instagram,
    /// Facebook login: Pages, and Instagram accounts linked to them.
    Facebook,
}

/// The calls a fault can be aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Authorize,
    CodeExchange,
    LongLivedExchange,
    Refresh,
    Profile,
    Accounts,
    CreateContainer,
    ContainerStatus,
    /// threads_publish or media_publish.
    Publish,
    PublishingLimit,
    ListMedia,
    Permalink,
    PagePhoto,
    PageFeed,
    PageVideo,
    PagePosts,
}

/// What a programmed failure does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// A Graph error body; nothing is done.
    Graph(GraphFault),
    /// A bare status with an HTML body, as a load balancer answers; nothing is done.
    Bare(u16),
    /// The call is carried out (a publish is recorded), then the connection is cut before an answer.
    AcceptThenDrop,
    /// The call is carried out, and answered after this long.
    SlowAnswer(Duration),
}

/// A Graph error to answer with. Build with [`Fault::graph`].
#[derive(Debug, Clone)]
pub struct GraphFault {
    pub status: u16,
    pub code: i64,
    pub subcode: Option<i64>,
    pub is_transient: Option<bool>,
    pub message: String,
    pub headers: Vec<(String, String)>,
    /// Puts the token the request carried into the message, as a careless server might.
    pub echo_token: bool,
}

impl Fault {
    pub fn graph(code: i64) -> GraphFault {
        let (status, message) = match code {
            1 => (500, "An unknown error occurred"),
            2 => (503, "Service temporarily unavailable"),
            4 => (403, "Application request limit reached"),
            17 => (403, "User request limit reached"),
            32 => (403, "Page request limit reached"),
            102 => (401, "Session key invalid or no longer valid"),
            190 => (401, "Error validating access token"),
            10 | 200..=299 => (
                403,
                "(#10) Application does not have permission for this action",
            ),
            368 => (
                403,
                "The action attempted has been deemed abusive or is otherwise disallowed",
            ),
            506 => (400, "Duplicate status message"),
            613 => (403, "Calls to this api have exceeded the rate limit"),
            80_000..=80_014 => (403, "There have been too many calls for this account"),
            _ => (400, "An error occurred"),
        };
        GraphFault {
            status,
            code,
            subcode: None,
            is_transient: None,
            message: message.to_owned(),
            headers: vec![],
            echo_token: false,
        }
    }
}

impl GraphFault {
    pub fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    pub fn transient(mut self) -> Self {
        self.is_transient = Some(true);
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn echo_token(mut self) -> Self {
        self.echo_token = true;
        self
    }
}

impl From<GraphFault> for Fault {
    fn from(g: GraphFault) -> Self {
        Fault::Graph(g)
    }
}

/// How a container ends once its IN_PROGRESS polls are used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Error(String),
    Expired,
}

/// How new containers behave: `in_progress_polls` status reads answer IN_PROGRESS, then `outcome`.
#[derive(Debug, Clone)]
pub struct ContainerScript {
    pub in_progress_polls: u32,
    pub outcome: Outcome,
}

impl Default for ContainerScript {
    fn default() -> Self {
        Self {
            in_progress_polls: 0,
            outcome: Outcome::Finished,
        }
    }
}

/// A post the fake accepted.
#[derive(Debug, Clone)]
pub struct Post {
    pub family: Family,
    /// The Threads user, Instagram account or Page it was posted as.
    pub owner: String,
    pub id: String,
    /// TEXT, IMAGE, VIDEO, CAROUSEL, REELS; or feed, photos, video on a Page.
    pub kind: String,
    pub text: String,
    pub media: Vec<String>,
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub permalink: String,
    /// The post it replies to (Threads' `reply_to_id`).
    pub reply_to: Option<String>,
    /// Each media item's kind (`IMAGE` or `VIDEO`) and alternative text, in the order of `media`.
    pub items: Vec<(String, Option<String>)>,
}

struct App {
    secret: &'static str,
    family: Family,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    used: bool,
    issued_at: DateTime<Utc>,
}

#[derive(Clone, PartialEq, Eq)]
enum Subject {
    User(String),
    Page(String),
}

#[derive(Clone)]
struct Token {
    client_id: String,
    family: Family,
    subject: Subject,
    long_lived: bool,
    issued_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

struct Container {
    family: Family,
    owner: String,
    media_type: String,
    text: String,
    media: Vec<String>,
    carousel_item: bool,
    created_at: DateTime<Utc>,
    polls_left: u32,
    outcome: Outcome,
    published_as: Option<String>,
    reply_to: Option<String>,
    items: Vec<(String, Option<String>)>,
}

struct Photo {
    page: String,
    url: String,
    alt: Option<String>,
    attached: bool,
}

#[derive(Default)]
struct World {
    offset: chrono::Duration,
    serial: u64,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    containers: HashMap<String, Container>,
    photos: HashMap<String, Photo>,
    posts: Vec<Post>,
    faults: HashMap<Op, VecDeque<Fault>>,
    script: ContainerScript,
    quota_total: u64,
    page_size: usize,
    deny_consent: bool,
    calls: Vec<(Op, String)>,
    /// What each media URL it was given answered when it fetched it, as Meta downloads media itself.
    fetched: HashMap<String, Fetched>,
}

/// A file the fake downloaded from a media URL it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub sha256: String,
    pub bytes: u64,
    pub content_type: Option<String>,
}

/// The parameters that carry a URL Meta downloads: containers' `image_url` and `video_url`, a Page photo's `url`
/// and a Page video's `file_url`.
const MEDIA_URL_PARAMS: [&str; 4] = ["image_url", "video_url", "url", "file_url"];

/// The made-up host the adapter-level tests name media on: the fake answers it itself, with the URL's own bytes as
/// the file, instead of looking up a host that does not exist.
pub const TEST_CDN: &str = "https://cdn.example/";

/// Downloads a media URL as Meta does, keeping only its checksum; `None` if it does not answer 200 with a body.
async fn download(url: &str) -> Option<Fetched> {
    use sha2::Digest;
    if url.starts_with(TEST_CDN) {
        return Some(Fetched {
            sha256: hex_digest(&sha2::Sha256::digest(url.as_bytes())),
            bytes: url.len() as u64,
            content_type: None,
        });
    }
    let resp = reqwest::get(url).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.bytes().await.ok()?;
    if body.is_empty() {
        return None;
    }
    Some(Fetched {
        sha256: hex_digest(&sha2::Sha256::digest(&body)),
        bytes: body.len() as u64,
        content_type,
    })
}

fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl World {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    fn next_id(&mut self) -> String {
        self.serial += 1;
        format!("1790{:011}", self.serial)
    }

    fn secret(prefix: &str) -> String {
        let n: u128 = rand::thread_rng().gen();
        format!("{prefix}{n:032x}")
    }

    fn issue_token(
        &mut self,
        client_id: &str,
        family: Family,
        subject: Subject,
        lifetime: Option<chrono::Duration>,
        long_lived: bool,
    ) -> String {
        let prefix = match family {
            Family::Threads => "THAA",
            Family::Instagram => "IGAA",
            Family::Facebook => "EAAB",
        };
        let token = Self::secret(prefix);
        let now = self.now();
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: client_id.to_owned(),
                family,
                subject,
                long_lived,
                issued_at: now,
                expires_at: lifetime.map(|l| now + l),
                revoked: false,
            },
        );
        token
    }
}

type Shared = Arc<Mutex<World>>;

/// The running fake. Dropping it stops the server.
pub struct FakeMeta {
    server: super::Served,
    world: Shared,
}

impl FakeMeta {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start() -> FakeMeta {
        let world: Shared = Arc::new(Mutex::new(World {
            quota_total: 50,
            page_size: 25,
            ..World::default()
        }));
        let app = Router::new().fallback(handle).with_state(world.clone());
        FakeMeta {
            server: super::Served::start(app).await,
            world,
        }
    }

    /// The origin that stands for every Meta host.
    pub fn origin(&self) -> url::Url {
        self.server.origin.clone()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the fake's clock (token ages and expiry, container expiry, the publishing window).
    pub fn advance(&self, by: chrono::Duration) {
        self.world().offset += by;
    }

    /// Queues a fault for the next call of `op`.
    pub fn fail_next(&self, op: Op, fault: impl Into<Fault>) {
        self.world()
            .faults
            .entry(op)
            .or_default()
            .push_back(fault.into());
    }

    /// How containers created from now on behave.
    pub fn script_containers(&self, script: ContainerScript) {
        self.world().script = script;
    }

    /// Expires a container now (as if it had waited 24 hours).
    pub fn expire_container(&self, id: &str) {
        if let Some(c) = self.world().containers.get_mut(id) {
            c.outcome = Outcome::Expired;
            c.polls_left = 0;
        }
    }

    /// Meta finishes processing every container there is now: its next status read answers FINISHED.
    pub fn finish_containers(&self) {
        for c in self.world().containers.values_mut() {
            c.outcome = Outcome::Finished;
            c.polls_left = 0;
        }
    }

    /// The publishing quota per 24 hours for each account (Instagram says 50 or 100, Threads 250).
    pub fn set_quota(&self, total: u64) {
        self.world().quota_total = total;
    }

    /// How many Pages `/me/accounts` answers at a time.
    pub fn set_page_size(&self, n: usize) {
        self.world().page_size = n.max(1);
    }

    /// The person says no on the consent page.
    pub fn deny_consent(&self) {
        self.world().deny_consent = true;
    }

    /// Revokes a token, as a password change does.
    pub fn revoke(&self, token: &str) {
        if let Some(t) = self.world().tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    /// Revokes every token issued so far, as removing the app from the account does.
    pub fn revoke_all(&self) {
        for t in self.world().tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Every post accepted so far, oldest first.
    pub fn posts(&self) -> Vec<Post> {
        self.world().posts.clone()
    }

    /// What the fake downloaded from a media URL it was given, if it did.
    pub fn fetched(&self, url: &str) -> Option<Fetched> {
        self.world().fetched.get(url).cloned()
    }

    /// The checksums of a post's media, in order, as the fake downloaded them.
    pub fn media_checksums(&self, post: &Post) -> Vec<Option<String>> {
        let w = self.world();
        post.media
            .iter()
            .map(|u| w.fetched.get(u).map(|f| f.sha256.clone()))
            .collect()
    }

    pub fn post_count(&self) -> usize {
        self.world().posts.len()
    }

    /// How many times `op` was called (failed calls included).
    pub fn calls(&self, op: Op) -> usize {
        self.world().calls.iter().filter(|(o, _)| *o == op).count()
    }

    /// How many containers exist.
    pub fn container_count(&self) -> usize {
        self.world().containers.len()
    }

    /// Follows an authorize URL the way a browser would, and returns the redirect it ends at.
    pub async fn consent(&self, authorize: &url::Url) -> url::Url {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let resp = client
            .get(authorize.clone())
            .send()
            .await
            .expect("the consent page answers");
        assert_eq!(
            resp.status(),
            reqwest::StatusCode::FOUND,
            "the consent page refused: {}",
            resp.text().await.unwrap_or_default()
        );
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a redirect")
            .to_owned();
        url::Url::parse(&location).expect("the redirect is a URL")
    }

    /// Consents and returns the code from the redirect.
    pub async fn code_for(&self, authorize: &url::Url) -> String {
        let back = self.consent(authorize).await;
        back.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("the redirect carries a code")
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Adapter configurations pointed at the fake.

/// Polls containers every few milliseconds instead of seconds.
pub fn fast_polling() -> ContainerPolling {
    ContainerPolling {
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        give_up_after: Duration::from_secs(2),
    }
}

fn app((id, secret): (&str, &str)) -> MetaApp {
    MetaApp::new(id, SecretString::from(secret.to_owned()))
}

impl FakeMeta {
    pub fn threads_config(&self) -> ThreadsConfig {
        ThreadsConfig {
            auth_origin: self.origin(),
            api_origin: self.origin(),
            polling: fast_polling(),
            ..ThreadsConfig::new(app(THREADS_APP))
        }
    }

    /// Instagram login uses the Instagram app; Facebook login uses the Facebook app, as at Meta.
    pub fn instagram_config(&self, login: InstagramLogin) -> InstagramConfig {
        let credentials = match login {
            InstagramLogin::Instagram => INSTAGRAM_APP,
            InstagramLogin::Facebook => FACEBOOK_APP,
        };
        InstagramConfig {
            auth_origin: self.origin(),
            api_origin: self.origin(),
            graph_origin: self.origin(),
            polling: fast_polling(),
            ..InstagramConfig::new(app(credentials), login)
        }
    }

    pub fn facebook_config(&self) -> FacebookConfig {
        FacebookConfig {
            auth_origin: self.origin(),
            api_origin: self.origin(),
            ..FacebookConfig::new(app(FACEBOOK_APP))
        }
    }

    /// The environment variables that point Postora's Facebook Pages adapter at this fake.
    pub fn facebook_env(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_FACEBOOK_CLIENT_ID".into(), FACEBOOK_APP.0.into()),
            (
                "POSTORA_FACEBOOK_CLIENT_SECRET".into(),
                FACEBOOK_APP.1.into(),
            ),
            ("POSTORA_FACEBOOK_AUTH_URL".into(), origin.clone()),
            ("POSTORA_FACEBOOK_API_URL".into(), origin),
        ]
    }

    /// The environment variables that point Postora's Instagram adapter (Instagram login) at this fake.
    pub fn instagram_env(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_INSTAGRAM_CLIENT_ID".into(), INSTAGRAM_APP.0.into()),
            (
                "POSTORA_INSTAGRAM_CLIENT_SECRET".into(),
                INSTAGRAM_APP.1.into(),
            ),
            ("POSTORA_INSTAGRAM_AUTH_URL".into(), origin.clone()),
            ("POSTORA_INSTAGRAM_API_URL".into(), origin.clone()),
            ("POSTORA_INSTAGRAM_GRAPH_URL".into(), origin),
        ]
    }

    /// The environment variables that point Postora's Threads adapter at this fake.
    pub fn threads_env(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_THREADS_CLIENT_ID".into(), THREADS_APP.0.into()),
            ("POSTORA_THREADS_CLIENT_SECRET".into(), THREADS_APP.1.into()),
            ("POSTORA_THREADS_AUTH_URL".into(), origin.clone()),
            ("POSTORA_THREADS_API_URL".into(), origin),
        ]
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The server.

/// A request's parameters: the query and, for form posts, the body (Graph reads both).
struct Request {
    method: Method,
    segments: Vec<String>,
    params: HashMap<String, String>,
    bearer: Option<String>,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn token(&self) -> Option<&str> {
        self.param("access_token").or(self.bearer.as_deref())
    }
}

/// An answer before faults that act after the work (drop, slow) are applied.
enum Answer {
    Json(StatusCode, Value),
    Redirect(String),
    Html(StatusCode, String),
}

fn ok(v: Value) -> Answer {
    Answer::Json(StatusCode::OK, v)
}

fn graph_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Answer {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGh123",
    });
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    Answer::Json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({ "error": error }),
    )
}

fn bad_param(message: &str) -> Answer {
    graph_error(400, 100, None, message)
}

fn meta_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

async fn handle(
    State(world): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    // Meta downloads what a media URL points at when the request names it; one it cannot download is refused the
    // way Graph refuses it.
    for name in MEDIA_URL_PARAMS {
        let Some(url) = params.get(name).cloned() else {
            continue;
        };
        if !url.starts_with("http://") && !url.starts_with("https://") {
            continue;
        }
        match download(&url).await {
            Some(f) => {
                world
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .fetched
                    .insert(url, f);
            }
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": {
                        "message": "Media download has failed. The media URI doesn't meet our requirements.",
                        "type": "OAuthException", "code": 9004, "error_subcode": 2207052,
                        "fbtrace_id": "AbCdEfGh123",
                    }})),
                )
                    .into_response()
            }
        }
    }
    let request = Request {
        method,
        segments: uri
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        params,
        bearer,
    };

    let Some(op) = route(&world, &request) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"message": "Unknown path components", "type": "OAuthException", "code": 2500}})),
        )
            .into_response();
    };
    let fault = {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        w.calls.push((op, uri.path().to_owned()));
        w.faults.get_mut(&op).and_then(VecDeque::pop_front)
    };
    match fault {
        Some(Fault::Graph(g)) => {
            let message = if g.echo_token {
                format!(
                    "{} (token {} secret {} code {} exchanged {})",
                    g.message,
                    request.token().unwrap_or("-"),
                    request.param("client_secret").unwrap_or("-"),
                    request.param("code").unwrap_or("-"),
                    request.param("fb_exchange_token").unwrap_or("-"),
                )
            } else {
                g.message.clone()
            };
            let mut error = json!({
                "message": message, "type": "OAuthException", "code": g.code, "fbtrace_id": "AbCdEfGh123",
            });
            if let Some(s) = g.subcode {
                error["error_subcode"] = json!(s);
            }
            if let Some(t) = g.is_transient {
                error["is_transient"] = json!(t);
            }
            let mut resp = (
                StatusCode::from_u16(g.status).unwrap_or(StatusCode::BAD_REQUEST),
                axum::Json(json!({ "error": error })),
            )
                .into_response();
            for (k, v) in &g.headers {
                if let (Ok(name), Ok(value)) = (
                    header::HeaderName::from_bytes(k.as_bytes()),
                    header::HeaderValue::from_str(v),
                ) {
                    resp.headers_mut().insert(name, value);
                }
            }
            return resp;
        }
        Some(Fault::Bare(status)) => {
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>Sorry, something went wrong.</body></html>",
            )
                .into_response();
        }
        _ => {}
    }
    let answer = {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        serve(&mut w, op, &request)
    };
    match fault {
        Some(Fault::AcceptThenDrop) => return super::cut_off(StatusCode::OK),
        Some(Fault::SlowAnswer(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    match answer {
        Answer::Json(status, v) => (status, axum::Json(v)).into_response(),
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Html(status, text) => {
            (status, [(header::CONTENT_TYPE, "text/html")], text).into_response()
        }
    }
}

/// Which operation a request is, from its method and path.
fn route(world: &Shared, r: &Request) -> Option<Op> {
    let s: Vec<&str> = r.segments.iter().map(String::as_str).collect();
    let get = r.method == Method::GET;
    let post = r.method == Method::POST;
    Some(match s.as_slice() {
        ["oauth", "authorize"] if get => Op::Authorize,
        [_, "dialog", "oauth"] if get => Op::Authorize,
        ["oauth", "access_token"] if post => Op::CodeExchange,
        [_, "oauth", "access_token"] if get => {
            if r.param("grant_type") == Some("fb_exchange_token") {
                Op::LongLivedExchange
            } else {
                Op::CodeExchange
            }
        }
        ["access_token"] if get => Op::LongLivedExchange,
        ["refresh_access_token"] if get => Op::Refresh,
        [_, "me"] if get => Op::Profile,
        [_, "me", "accounts"] if get => Op::Accounts,
        [_, _, "threads" | "media"] if post => Op::CreateContainer,
        [_, _, "threads" | "media"] if get => Op::ListMedia,
        [_, _, "threads_publish" | "media_publish"] if post => Op::Publish,
        [_, _, "threads_publishing_limit" | "content_publishing_limit"] if get => {
            Op::PublishingLimit
        }
        [_, _, "photos"] if post => Op::PagePhoto,
        [_, _, "feed"] if post => Op::PageFeed,
        [_, _, "videos"] if post => Op::PageVideo,
        [_, _, "posts"] if get => Op::PagePosts,
        [_, id] if get => {
            let w = world.lock().unwrap_or_else(|e| e.into_inner());
            if w.containers.contains_key(*id) {
                Op::ContainerStatus
            } else {
                Op::Permalink
            }
        }
        _ => return None,
    })
}

fn app_for(client_id: &str) -> Option<App> {
    [
        (THREADS_APP, Family::Threads),
        (INSTAGRAM_APP, Family::Instagram),
        (FACEBOOK_APP, Family::Facebook),
    ]
    .into_iter()
    .find(|((id, _), _)| *id == client_id)
    .map(|((_, secret), family)| App { secret, family })
}

fn serve(w: &mut World, op: Op, r: &Request) -> Answer {
    match op {
        Op::Authorize => authorize(w, r),
        Op::CodeExchange => code_exchange(w, r),
        Op::LongLivedExchange => long_lived(w, r),
        Op::Refresh => refresh(w, r),
        _ => {
            let token = match authenticate(w, r) {
                Ok(t) => t,
                Err(a) => return a,
            };
            api(w, op, r, &token)
        }
    }
}

// ---- consent and tokens

fn authorize(w: &mut World, r: &Request) -> Answer {
    let Some(app) = r.param("client_id").and_then(app_for) else {
        return Answer::Html(StatusCode::BAD_REQUEST, "Invalid App ID".into());
    };
    let dialog = r.segments.len() == 3;
    if dialog != (app.family == Family::Facebook) {
        return Answer::Html(
            StatusCode::BAD_REQUEST,
            "This app uses another login".into(),
        );
    }
    let Some(redirect_uri) = r.param("redirect_uri") else {
        return Answer::Html(StatusCode::BAD_REQUEST, "redirect_uri is required".into());
    };
    if r.param("response_type") != Some("code") {
        return Answer::Html(StatusCode::BAD_REQUEST, "response_type must be code".into());
    }
    let scope = r.param("scope").unwrap_or("");
    let needed = match app.family {
        Family::Threads => "threads_basic",
        Family::Instagram => "instagram_business_basic",
        Family::Facebook => "pages_show_list",
    };
    if !scope.split([',', ' ']).any(|s| s == needed) {
        return Answer::Html(
            StatusCode::BAD_REQUEST,
            format!("scope must include {needed}"),
        );
    }
    let mut back = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return Answer::Html(StatusCode::BAD_REQUEST, "bad redirect_uri".into()),
    };
    {
        let mut q = back.query_pairs_mut();
        if w.deny_consent {
            q.append_pair("error", "access_denied")
                .append_pair("error_reason", "user_denied")
                .append_pair("error_description", "Permissions error");
        } else {
            let code = World::secret("AQD");
            w.codes.insert(
                code.clone(),
                Grant {
                    client_id: r.param("client_id").unwrap_or_default().to_owned(),
                    redirect_uri: redirect_uri.to_owned(),
                    used: false,
                    issued_at: w.now(),
                },
            );
            q.append_pair("code", &code);
        }
        if let Some(state) = r.param("state") {
            q.append_pair("state", state);
        }
    }
    Answer::Redirect(back.to_string())
}

/// Instagram's api.instagram.com answers token errors flat; the Graph hosts wrap them.
fn token_error(family: Family, message: &str) -> Answer {
    if family == Family::Instagram {
        Answer::Json(
            StatusCode::BAD_REQUEST,
            json!({"error_type": "OAuthException", "code": 400, "error_message": message}),
        )
    } else {
        graph_error(400, 100, None, message)
    }
}

fn code_exchange(w: &mut World, r: &Request) -> Answer {
    let Some(client_id) = r.param("client_id") else {
        return bad_param("Missing client_id parameter.");
    };
    let Some(app) = app_for(client_id) else {
        return graph_error(
            400,
            101,
            None,
            "Error validating application. Invalid application ID.",
        );
    };
    let family = app.family;
    let via_graph = r.segments.len() == 3;
    if via_graph != (family == Family::Facebook) {
        return token_error(family, "This app uses another login.");
    }
    if r.param("client_secret") != Some(app.secret) {
        return token_error(family, "Error validating client secret.");
    }
    if !via_graph && r.param("grant_type") != Some("authorization_code") {
        return token_error(family, "Invalid grant_type.");
    }
    let code = r.param("code").unwrap_or_default();
    let now = w.now();
    let Some(grant) = w.codes.get_mut(code) else {
        return token_error(family, "Invalid verification code format.");
    };
    if grant.used
        || grant.client_id != client_id
        || now - grant.issued_at > chrono::Duration::minutes(10)
    {
        return token_error(
            family,
            "This authorization code has been used or has expired.",
        );
    }
    if Some(grant.redirect_uri.as_str()) != r.param("redirect_uri") {
        return token_error(family, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request");
    }
    grant.used = true;
    let hour = Some(chrono::Duration::hours(1));
    match family {
        Family::Threads => {
            let token = w.issue_token(
                client_id,
                family,
                Subject::User(THREADS_USER.into()),
                hour,
                false,
            );
            ok(json!({"access_token": token, "user_id": THREADS_USER.parse::<u64>().unwrap_or(0)}))
        }
        Family::Instagram => {
            let token = w.issue_token(
                client_id,
                family,
                Subject::User(IG_USER.into()),
                hour,
                false,
            );
            ok(json!({"data": [{
                "access_token": token,
                "user_id": IG_USER,
                "permissions": "instagram_business_basic,instagram_business_content_publish",
            }]}))
        }
        Family::Facebook => {
            let token = w.issue_token(
                client_id,
                family,
                Subject::User(FB_USER.into()),
                hour,
                false,
            );
            ok(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}))
        }
    }
}

fn long_lived(w: &mut World, r: &Request) -> Answer {
    let sixty_days = chrono::Duration::days(60);
    let (family, secret_name, token_name, grant) = if r.segments.len() == 3 {
        (
            Family::Facebook,
            "client_secret",
            "fb_exchange_token",
            "fb_exchange_token",
        )
    } else {
        match r.param("grant_type") {
            Some("th_exchange_token") => (
                Family::Threads,
                "client_secret",
                "access_token",
                "th_exchange_token",
            ),
            Some("ig_exchange_token") => (
                Family::Instagram,
                "client_secret",
                "access_token",
                "ig_exchange_token",
            ),
            _ => return bad_param("Unsupported grant_type."),
        }
    };
    if r.param("grant_type") != Some(grant) {
        return bad_param("Unsupported grant_type.");
    }
    let Some(presented) = r.param(token_name).map(str::to_owned) else {
        return bad_param("Missing access token.");
    };
    let token = match check_token(w, &presented) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let Some(app) = app_for(&token.client_id) else {
        return graph_error(400, 101, None, "Error validating application.");
    };
    if token.family != family || r.param(secret_name) != Some(app.secret) {
        return graph_error(400, 101, None, "Error validating client secret.");
    }
    if family == Family::Facebook && r.param("client_id") != Some(token.client_id.as_str()) {
        return graph_error(400, 101, None, "Error validating application.");
    }
    if token.long_lived && family != Family::Facebook {
        return bad_param("The access token is already long-lived.");
    }
    let long = w.issue_token(
        &token.client_id,
        family,
        token.subject,
        Some(sixty_days),
        true,
    );
    ok(
        json!({"access_token": long, "token_type": "bearer", "expires_in": sixty_days.num_seconds()}),
    )
}

fn refresh(w: &mut World, r: &Request) -> Answer {
    let family = match r.param("grant_type") {
        Some("th_refresh_token") => Family::Threads,
        Some("ig_refresh_token") => Family::Instagram,
        _ => return bad_param("Unsupported grant_type."),
    };
    let Some(presented) = r.param("access_token").map(str::to_owned) else {
        return bad_param("Missing access token.");
    };
    let token = match check_token(w, &presented) {
        Ok(t) => t,
        Err(a) => return a,
    };
    if token.family != family || !token.long_lived {
        return bad_param("Only long-lived tokens can be refreshed.");
    }
    if w.now() - token.issued_at < chrono::Duration::hours(24) {
        return bad_param("The access token must be at least 24 hours old to be refreshed.");
    }
    let sixty_days = chrono::Duration::days(60);
    let fresh = w.issue_token(
        &token.client_id,
        family,
        token.subject,
        Some(sixty_days),
        true,
    );
    ok(
        json!({"access_token": fresh, "token_type": "bearer", "expires_in": sixty_days.num_seconds()}),
    )
}

fn check_token(w: &World, presented: &str) -> Result<Token, Answer> {
    let Some(token) = w.tokens.get(presented) else {
        return Err(graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        ));
    };
    if token.revoked {
        return Err(graph_error(
            400,
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password.",
        ));
    }
    if token.expires_at.is_some_and(|e| e <= w.now()) {
        return Err(graph_error(
            400,
            190,
            Some(463),
            "Error validating access token: Session has expired.",
        ));
    }
    Ok(token.clone())
}

fn authenticate(w: &World, r: &Request) -> Result<Token, Answer> {
    let Some(presented) = r.token() else {
        return Err(graph_error(
            400,
            2500,
            None,
            "An active access token must be used to query information about the current user.",
        ));
    };
    let token = check_token(w, presented)?;
    // Each API host takes its own product's tokens; version prefixes tell them apart here.
    let version = r.segments.first().map(String::as_str).unwrap_or("");
    let threads_host = version == "v1.0";
    if threads_host != (token.family == Family::Threads) {
        return Err(graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token for this host.",
        ));
    }
    Ok(token)
}

// ---- the Graph API

/// The Instagram account a token may act as, for Instagram calls.
fn ig_accounts_of(token: &Token) -> Vec<&'static str> {
    match (&token.family, &token.subject) {
        (Family::Instagram, Subject::User(_)) => vec![IG_USER],
        (Family::Facebook, Subject::User(_)) => vec![IG_BAKERY],
        _ => vec![],
    }
}

fn may_act_as(token: &Token, node: &str) -> bool {
    match (&token.family, &token.subject) {
        (Family::Threads, Subject::User(u)) => node == u || node == "me",
        (Family::Facebook, Subject::Page(p)) => node == p,
        _ => ig_accounts_of(token).contains(&node),
    }
}

fn api(w: &mut World, op: Op, r: &Request, token: &Token) -> Answer {
    let node = r.segments.get(1).cloned().unwrap_or_default();
    match op {
        Op::Profile => profile(token),
        Op::Accounts => accounts(w, r, token),
        Op::ContainerStatus => container_status(w, &node, token),
        Op::Permalink => permalink(w, &node),
        _ if !may_act_as(token, &node) => graph_error(
            403,
            10,
            None,
            "(#10) The user must be an administrator, editor, or moderator of this account to publish",
        ),
        Op::CreateContainer => create_container(w, r, token, &node),
        Op::Publish => publish(w, r, token, &node),
        Op::PublishingLimit => publishing_limit(w, &node),
        Op::ListMedia => list_media(w, token, &node),
        Op::PagePhoto => page_photo(w, r, &node),
        Op::PageFeed => page_feed(w, r, &node),
        Op::PageVideo => page_video(w, r, &node),
        Op::PagePosts => page_posts(w, r, &node),
        Op::Authorize | Op::CodeExchange | Op::LongLivedExchange | Op::Refresh => {
            bad_param("not an API call")
        }
    }
}

fn profile(token: &Token) -> Answer {
    match (token.family, &token.subject) {
        (Family::Threads, _) => ok(json!({
            "id": THREADS_USER,
            "username": THREADS_USERNAME,
            "name": "Pat Example",
            "threads_profile_picture_url": "https://cdn.example/threads/pat.jpg",
            "threads_biography": "Writes about bread.",
        })),
        (Family::Instagram, _) => ok(json!({
            "id": IG_APP_SCOPED,
            "user_id": IG_USER,
            "username": IG_USERNAME,
            "name": "Pat Shoots",
            "profile_picture_url": "https://cdn.example/ig/pat.jpg",
            "account_type": "BUSINESS",
        })),
        (Family::Facebook, Subject::User(u)) => ok(json!({"id": u, "name": "Pat Example"})),
        (Family::Facebook, Subject::Page(p)) => ok(json!({"id": p, "name": "A Page"})),
    }
}

fn accounts(w: &mut World, r: &Request, token: &Token) -> Answer {
    if token.family != Family::Facebook || token.subject != Subject::User(FB_USER.into()) {
        return graph_error(
            400,
            100,
            None,
            "(#100) Tried accessing nonexisting field (accounts)",
        );
    }
    let pages = [
        (
            PAGE_BAKERY,
            "Postora Bakery",
            "postorabakery",
            vec!["MANAGE", "CREATE_CONTENT"],
            true,
        ),
        (
            PAGE_BOOKS,
            "Postora Books",
            "postorabooks",
            vec!["CREATE_CONTENT", "MODERATE"],
            false,
        ),
        (
            PAGE_READ_ONLY,
            "Someone Else's Page",
            "elsewhere",
            vec!["ANALYZE"],
            false,
        ),
    ];
    let start: usize = r.param("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let limit: usize = r
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25)
        .min(w.page_size);
    let mut data = vec![];
    for (id, name, username, tasks, ig) in pages.iter().skip(start).take(limit) {
        let page_token = w.issue_token(
            &token.client_id,
            Family::Facebook,
            Subject::Page((*id).into()),
            None,
            true,
        );
        let mut page = json!({
            "id": id, "name": name, "username": username, "about": format!("{name}, on Facebook"),
            "access_token": page_token, "category": "Local business",
            "picture": {"data": {"url": format!("https://cdn.example/fb/{id}.jpg")}},
            "tasks": tasks,
        });
        if *ig {
            page["instagram_business_account"] = json!({
                "id": IG_BAKERY, "username": "bakery.ig", "name": "Postora Bakery",
                "profile_picture_url": "https://cdn.example/ig/bakery.jpg", "biography": "Fresh every morning.",
            });
        }
        data.push(page);
    }
    let end = start + data.len();
    let mut answer = json!({"data": data, "paging": {"cursors": {"before": start.to_string(), "after": end.to_string()}}});
    if end < pages.len() {
        answer["paging"]["next"] = json!(format!(
            "https://graph.facebook.com/v20.0/me/accounts?after={end}&access_token=elided"
        ));
    }
    ok(answer)
}

fn create_container(w: &mut World, r: &Request, token: &Token, node: &str) -> Answer {
    let threads = token.family == Family::Threads;
    let owner = if node == "me" {
        THREADS_USER.to_owned()
    } else {
        node.to_owned()
    };
    let family = if threads {
        Family::Threads
    } else {
        Family::Instagram
    };
    let media_type = r.param("media_type").map(str::to_owned).unwrap_or_else(|| {
        if threads {
            String::new()
        } else if r.param("video_url").is_some() {
            "VIDEO".into()
        } else {
            "IMAGE".into()
        }
    });
    let text = r
        .param(if threads { "text" } else { "caption" })
        .unwrap_or_default()
        .to_owned();
    let carousel_item = r.param("is_carousel_item") == Some("true");
    let reply_to = r
        .param("reply_to_id")
        .filter(|_| threads)
        .map(str::to_owned);
    if let Some(parent) = &reply_to {
        if !w.posts.iter().any(|p| &p.id == parent && p.owner == owner) {
            return graph_error(
                400,
                100,
                Some(33),
                "Unsupported post request. Object with ID does not exist",
            );
        }
    }
    let (max_text, max_children) = if threads { (500, 20) } else { (2200, 10) };
    if text.chars().count() > max_text {
        return bad_param(&format!(
            "(#100) The text must be at most {max_text} characters long."
        ));
    }
    let mut media = vec![];
    let mut items = vec![];
    let alt = r.param("alt_text").map(str::to_owned);
    match (threads, media_type.as_str()) {
        (true, "TEXT") if text.is_empty() => {
            return bad_param("(#100) The parameter text is required for TEXT posts.")
        }
        (true, "TEXT") => {}
        (_, "IMAGE") => match r.param("image_url") {
            Some(u) => {
                media.push(u.to_owned());
                items.push(("IMAGE".to_owned(), alt));
            }
            None => return bad_param("(#100) The parameter image_url is required."),
        },
        (_, "VIDEO") | (false, "REELS") => match r.param("video_url") {
            Some(u) => {
                media.push(u.to_owned());
                items.push(("VIDEO".to_owned(), alt));
            }
            None => return bad_param("(#100) The parameter video_url is required."),
        },
        (_, "CAROUSEL") => {
            let ids: Vec<String> = r
                .param("children")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if ids.len() < 2 || ids.len() > max_children {
                return bad_param(&format!(
                    "(#100) A carousel takes 2 to {max_children} children."
                ));
            }
            for id in ids {
                let Some(child) = w.containers.get(&id) else {
                    return graph_error(
                        400,
                        100,
                        Some(33),
                        "Unsupported post request. Object does not exist",
                    );
                };
                if !child.carousel_item
                    || child.owner != owner
                    || child.polls_left > 0
                    || child.outcome != Outcome::Finished
                {
                    return graph_error(
                        400,
                        9007,
                        Some(2_207_027),
                        "The media is not ready for publishing, please wait for a moment",
                    );
                }
                media.extend(child.media.clone());
                items.extend(child.items.clone());
            }
        }
        _ => return bad_param("(#100) media_type is not valid."),
    }
    if media_type == "VIDEO" && !threads && !carousel_item {
        return bad_param("(#100) Use media_type=REELS for videos outside a carousel.");
    }
    let id = w.next_id();
    let script = w.script.clone();
    w.containers.insert(
        id.clone(),
        Container {
            family,
            owner,
            media_type,
            text,
            media,
            carousel_item,
            created_at: w.now(),
            polls_left: script.in_progress_polls,
            outcome: script.outcome,
            published_as: None,
            reply_to,
            items,
        },
    );
    ok(json!({ "id": id }))
}

fn container_status(w: &mut World, id: &str, token: &Token) -> Answer {
    let now = w.now();
    let Some(c) = w.containers.get_mut(id) else {
        return graph_error(
            400,
            100,
            Some(33),
            "Unsupported get request. Object does not exist",
        );
    };
    if c.family != token.family
        && !(c.family == Family::Instagram && token.family == Family::Facebook)
    {
        return graph_error(
            400,
            100,
            Some(33),
            "Unsupported get request. Object does not exist",
        );
    }
    let (code, detail) = if c.published_as.is_some() {
        ("PUBLISHED", None)
    } else if now - c.created_at > chrono::Duration::hours(24) {
        ("EXPIRED", None)
    } else if c.polls_left > 0 {
        c.polls_left -= 1;
        ("IN_PROGRESS", None)
    } else {
        match &c.outcome {
            Outcome::Finished => ("FINISHED", None),
            Outcome::Expired => ("EXPIRED", None),
            Outcome::Error(m) => ("ERROR", Some(m.clone())),
        }
    };
    if c.family == Family::Threads {
        let mut v = json!({"id": id, "status": code});
        if let Some(d) = detail {
            v["error_message"] = json!(d);
        }
        ok(v)
    } else {
        let text = match &detail {
            Some(d) => format!("Error: {d}"),
            None => format!("{code}: status of the media container"),
        };
        ok(json!({"id": id, "status_code": code, "status": text}))
    }
}

fn published_in_window(w: &World, owner: &str) -> u64 {
    let since = w.now() - chrono::Duration::hours(24);
    w.posts
        .iter()
        .filter(|p| p.owner == owner && p.created_at > since)
        .count() as u64
}

fn publishing_limit(w: &World, node: &str) -> Answer {
    ok(json!({"data": [{
        "quota_usage": published_in_window(w, node),
        "config": {"quota_total": w.quota_total, "quota_duration": 86400},
    }]}))
}

fn publish(w: &mut World, r: &Request, token: &Token, node: &str) -> Answer {
    let owner = if node == "me" {
        THREADS_USER.to_owned()
    } else {
        node.to_owned()
    };
    let Some(id) = r.param("creation_id").map(str::to_owned) else {
        return bad_param("(#100) The parameter creation_id is required.");
    };
    if published_in_window(w, &owner) >= w.quota_total {
        return graph_error(
            400,
            9,
            Some(2_207_042),
            "The maximum number of posts that can be published has been reached.",
        );
    }
    let now = w.now();
    let Some(c) = w.containers.get(&id) else {
        return graph_error(
            400,
            100,
            Some(33),
            "Unsupported post request. Object does not exist",
        );
    };
    if (token.family == Family::Threads) != (c.family == Family::Threads) {
        return graph_error(
            400,
            100,
            Some(33),
            "Unsupported post request. Object does not exist",
        );
    }
    if c.owner != owner || c.carousel_item {
        return bad_param("(#100) This container cannot be published by this user.");
    }
    if c.published_as.is_some() {
        return bad_param("(#100) The media container has already been published.");
    }
    if now - c.created_at > chrono::Duration::hours(24)
        || c.outcome == Outcome::Expired && c.polls_left == 0
    {
        return graph_error(
            400,
            -2,
            Some(2_207_020),
            "The media you are trying to access has expired. Please try uploading again.",
        );
    }
    if c.polls_left > 0 {
        return graph_error(
            400,
            9007,
            Some(2_207_027),
            "The media is not ready for publishing, please wait for a moment",
        );
    }
    if let Outcome::Error(_) = c.outcome {
        return graph_error(
            400,
            -1,
            Some(2_207_032),
            "Failed to create the media; please try again.",
        );
    }
    let post_id = format!("{}", 18_000_000_000_000_000u64 + w.serial * 7 + 1);
    w.serial += 1;
    let family = c.family;
    let permalink = match family {
        Family::Threads => format!("https://www.threads.net/@{THREADS_USERNAME}/post/C{post_id}"),
        _ => format!("https://www.instagram.com/p/C{post_id}/"),
    };
    let post = Post {
        family,
        owner,
        id: post_id.clone(),
        kind: c.media_type.clone(),
        text: c.text.clone(),
        media: c.media.clone(),
        link: None,
        created_at: now,
        permalink,
        reply_to: c.reply_to.clone(),
        items: c.items.clone(),
    };
    if let Some(c) = w.containers.get_mut(&id) {
        c.published_as = Some(post_id.clone());
    }
    w.posts.push(post);
    ok(json!({ "id": post_id }))
}

fn list_media(w: &World, token: &Token, node: &str) -> Answer {
    let owner = if node == "me" { THREADS_USER } else { node };
    let threads = token.family == Family::Threads;
    let data: Vec<Value> = w
        .posts
        .iter()
        .rev()
        .filter(|p| p.owner == owner)
        .map(|p| {
            let mut v =
                json!({"id": p.id, "permalink": p.permalink, "timestamp": meta_time(p.created_at)});
            v[if threads { "text" } else { "caption" }] = json!(p.text);
            v
        })
        .collect();
    ok(json!({ "data": data }))
}

fn permalink(w: &World, id: &str) -> Answer {
    match w.posts.iter().find(|p| p.id == id) {
        Some(p) if p.kind == "video" => {
            ok(json!({"id": id, "permalink_url": format!("/{}/videos/{}/", p.owner, p.id)}))
        }
        Some(p) if p.family == Family::Facebook => {
            ok(json!({"id": id, "permalink_url": p.permalink}))
        }
        Some(p) => ok(json!({"id": id, "permalink": p.permalink})),
        None => graph_error(
            400,
            100,
            Some(33),
            "Unsupported get request. Object does not exist",
        ),
    }
}

fn page_photo(w: &mut World, r: &Request, page: &str) -> Answer {
    let Some(url) = r.param("url").map(str::to_owned) else {
        return bad_param("(#100) The parameter url is required.");
    };
    if r.param("published") != Some("false") {
        return bad_param("This fake only takes unpublished photos; attach them to a feed post.");
    }
    let id = w.next_id();
    w.photos.insert(
        id.clone(),
        Photo {
            page: page.to_owned(),
            url,
            alt: r.param("alt_text_custom").map(str::to_owned),
            attached: false,
        },
    );
    ok(json!({ "id": id }))
}

fn page_feed(w: &mut World, r: &Request, page: &str) -> Answer {
    let message = r.param("message").unwrap_or_default().to_owned();
    let link = r.param("link").map(str::to_owned);
    let mut attached: Vec<String> = vec![];
    let mut keys: Vec<&String> = r
        .params
        .keys()
        .filter(|k| k.starts_with("attached_media["))
        .collect();
    keys.sort();
    for key in keys {
        let raw = &r.params[key];
        let Some(id) = serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v["media_fbid"].as_str().map(str::to_owned))
        else {
            return bad_param("(#100) attached_media must be {\"media_fbid\": id}.");
        };
        match w.photos.get(&id) {
            Some(p) if p.page == page && !p.attached => attached.push(id),
            _ => return bad_param("(#100) Invalid media_fbid."),
        }
    }
    if message.is_empty() && link.is_none() && attached.is_empty() {
        return bad_param("(#100) Missing message or attachment.");
    }
    if let Some(dup) = w
        .posts
        .iter()
        .rev()
        .find(|p| p.owner == page && p.family == Family::Facebook)
    {
        if !message.is_empty()
            && dup.text == message
            && w.now() - dup.created_at < chrono::Duration::minutes(1)
            && attached.is_empty()
        {
            return graph_error(400, 506, None, "Duplicate status message");
        }
    }
    let mut media = vec![];
    let mut items = vec![];
    for id in &attached {
        if let Some(p) = w.photos.get_mut(id) {
            p.attached = true;
            media.push(p.url.clone());
            items.push(("IMAGE".to_owned(), p.alt.clone()));
        }
    }
    w.serial += 1;
    let id = format!("{page}_{}", 9_000_000 + w.serial);
    let now = w.now();
    w.posts.push(Post {
        family: Family::Facebook,
        owner: page.to_owned(),
        id: id.clone(),
        kind: if attached.is_empty() {
            "feed".into()
        } else {
            "photos".into()
        },
        text: message,
        media,
        link,
        created_at: now,
        permalink: format!("https://www.facebook.com/{page}/posts/{id}"),
        reply_to: None,
        items,
    });
    ok(json!({ "id": id }))
}

fn page_video(w: &mut World, r: &Request, page: &str) -> Answer {
    let Some(url) = r.param("file_url").map(str::to_owned) else {
        return bad_param("(#100) The parameter file_url is required.");
    };
    let id = w.next_id();
    let now = w.now();
    w.posts.push(Post {
        family: Family::Facebook,
        owner: page.to_owned(),
        id: id.clone(),
        kind: "video".into(),
        text: r.param("description").unwrap_or_default().to_owned(),
        media: vec![url],
        link: None,
        created_at: now,
        permalink: format!("https://www.facebook.com/{page}/videos/{id}/"),
        reply_to: None,
        items: vec![("VIDEO".to_owned(), None)],
    });
    ok(json!({ "id": id }))
}

fn page_posts(w: &World, r: &Request, page: &str) -> Answer {
    let since = r
        .param("since")
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| DateTime::from_timestamp(s, 0));
    let data: Vec<Value> = w
        .posts
        .iter()
        .rev()
        .filter(|p| p.owner == page && p.family == Family::Facebook)
        .filter(|p| since.is_none_or(|s| p.created_at >= s))
        .map(|p| json!({"id": p.id, "message": p.text, "created_time": meta_time(p.created_at), "permalink_url": p.permalink}))
        .collect();
    ok(json!({ "data": data }))
}
