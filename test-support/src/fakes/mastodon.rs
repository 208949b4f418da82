//! A fake Mastodon instance, written from Mastodon's API documentation: instance metadata with its limits
//! (`GET /api/v2/instance`), app registration (`POST /api/v1/apps`), OAuth with PKCE (`/oauth/authorize`,
//! `/oauth/token`, `/oauth/revoke`), `verify_credentials`, media that is processed before it can be attached
//! (`POST /api/v2/media` answering `202`, `GET /api/v1/media/{id}` answering `206` until ready) and statuses that
//! honour `Idempotency-Key`. It covers what the mastodon-mock reference server does not: processing, limits, rate
//! limits with `X-RateLimit-*` headers, refusals in the instance's words and lost answers.
//!
//! As the Meta fake, its state is a plain [`World`] and [`serve`] answers a request from it; the server is real HTTP
//! on a loopback port.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use postora::domain::PlatformKind;
use serde_json::{json, Value};
use sha2::Digest;

use crate::platform_suite::{
    Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh,
};

/// What the instance says about itself.
#[derive(Debug, Clone)]
pub struct InstanceInfo {
    pub max_characters: u64,
    pub characters_reserved_per_url: u64,
    pub max_media_attachments: u64,
    /// Answer `/api/v2/instance` as some other web server would (a 404 page).
    pub not_mastodon: bool,
}

impl Default for InstanceInfo {
    fn default() -> Self {
        Self {
            max_characters: 500,
            characters_reserved_per_url: 23,
            max_media_attachments: 4,
            not_mastodon: false,
        }
    }
}

/// What the next status call meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `X-RateLimit-*` headers, the reset `wait` from now.
    RateLimit(Duration),
    /// 422 with `{"error": message}`.
    Reject(String),
    /// The status is created, then the connection drops before the answer.
    LoseAnswer,
    /// 503.
    Unavailable,
}

/// One status the instance holds.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: String,
    pub user: String,
    pub text: String,
    pub in_reply_to_id: Option<String>,
    pub media_ids: Vec<String>,
    pub visibility: String,
    pub spoiler_text: String,
    pub language: Option<String>,
}

/// One uploaded attachment.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub user: String,
    pub kind: String,
    pub description: Option<String>,
    pub bytes: usize,
    pub sha256: String,
    /// Reads left that answer 206.
    pub processing: u32,
}

#[derive(Debug, Clone)]
struct App {
    secret: String,
    redirect_uri: String,
}

#[derive(Debug, Clone)]
struct Grant {
    user: String,
    client_id: String,
    challenge: String,
    redirect_uri: String,
}

#[derive(Debug, Clone)]
struct Token {
    user: String,
    client_id: String,
    revoked: bool,
}

/// The instance's state.
#[derive(Debug, Default)]
pub struct World {
    pub info: InstanceInfo,
    apps: HashMap<String, App>,
    /// How many times `POST /api/v1/apps` was answered.
    pub registrations: usize,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    users: Vec<String>,
    /// Who approves the next consent.
    next_consent: Option<String>,
    pub statuses: Vec<Status>,
    idempotency: HashMap<(String, String), String>,
    pub attachments: HashMap<String, Attachment>,
    /// How many 206 reads a new upload answers before it is ready (0: ready at once, `200`).
    pub processing_reads: u32,
    faults: VecDeque<Fault>,
    /// How many `POST /api/v1/statuses` were answered, and the headers each carried.
    pub status_calls: Vec<HashMap<String, String>>,
    pub revocations: usize,
    serial: u64,
}

impl World {
    fn next_id(&mut self) -> String {
        self.serial += 1;
        format!("1100{:010}", self.serial)
    }

    fn user_id(&mut self, user: &str) -> String {
        if !self.users.iter().any(|u| u == user) {
            self.users.push(user.to_owned());
        }
        let n = self.users.iter().position(|u| u == user).unwrap_or(0) + 1;
        format!("{}", 1000 + n)
    }

    fn bearer(&self, headers: &HeaderMap) -> Result<Token, Answer> {
        let t = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t))
            .filter(|t| !t.revoked)
            .cloned();
        t.ok_or_else(|| error(401, "The access token is invalid"))
    }
}

fn random(prefix: &str) -> String {
    let n: u128 = rand::random();
    format!("{prefix}{n:032x}")
}

/// An answer before an after-the-fact fault is applied.
enum Answer {
    Json(StatusCode, Value, Vec<(String, String)>),
    Redirect(String),
    Drop,
}

fn ok(v: Value) -> Answer {
    Answer::Json(StatusCode::OK, v, vec![])
}

fn error(status: u16, message: &str) -> Answer {
    Answer::Json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({ "error": message }),
        vec![],
    )
}

type Shared = Arc<Mutex<World>>;

/// The running fake. Dropping it stops the server.
pub struct FakeMastodon {
    server: super::Served,
    world: Shared,
}

impl FakeMastodon {
    /// Starts a fake instance on 127.0.0.1 with a free port.
    pub async fn start() -> FakeMastodon {
        Self::start_with(InstanceInfo::default()).await
    }

    pub async fn start_with(info: InstanceInfo) -> FakeMastodon {
        let world: Shared = Arc::new(Mutex::new(World {
            info,
            ..World::default()
        }));
        let app = Router::new()
            .route("/api/v2/media", post(upload))
            .fallback(handle)
            .with_state(world.clone());
        FakeMastodon {
            server: super::Served::start(app).await,
            world,
        }
    }

    /// A fresh fake instance as a peer of the platform suite.
    pub async fn peer() -> Arc<dyn PlatformPeer> {
        Arc::new(Self::start().await)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        self.server.origin.as_str().trim_end_matches('/').to_owned()
    }

    /// `127.0.0.1:<port>`, as account ids name the instance.
    pub fn host(&self) -> String {
        format!(
            "{}:{}",
            self.server.origin.host_str().unwrap_or_default(),
            self.server.origin.port().unwrap_or(80)
        )
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The environment that switches Mastodon on in Postora and lets it reach this loopback instance.
    pub fn env() -> Vec<(String, String)> {
        vec![
            ("POSTORA_MASTODON".into(), "on".into()),
            ("POSTORA_MASTODON_ALLOW_LOOPBACK".into(), "on".into()),
            ("POSTORA_SANDBOX".into(), "off".into()),
        ]
    }

    pub fn fail_next(&self, fault: Fault) {
        self.world().faults.push_back(fault);
    }

    /// Approves the consent at `authorize_url` as `user`; answers where the instance sends the browser.
    pub async fn approve(&self, authorize_url: &str, user: &str) -> String {
        self.world().next_consent = Some(user.to_owned());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let resp = client
            .get(authorize_url)
            .send()
            .await
            .expect("the consent page answers");
        assert_eq!(resp.status(), 302, "the consent redirects back");
        resp.headers()[header::LOCATION]
            .to_str()
            .expect("a location")
            .to_owned()
    }

    pub fn statuses(&self) -> Vec<Status> {
        self.world().statuses.clone()
    }

    /// Every client secret and access token the instance has handed out, to look for in logs and files.
    pub fn issued_secrets(&self) -> Vec<String> {
        let w = self.world();
        w.apps
            .values()
            .map(|a| a.secret.clone())
            .chain(w.tokens.keys().cloned())
            .collect()
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn upload(
    State(world): State<Shared>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let token = match world
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .bearer(&headers)
    {
        Ok(t) => t,
        Err(a) => return respond(a),
    };
    let mut file: Option<(String, Bytes)> = None;
    let mut description = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("file") => {
                let kind = field.content_type().unwrap_or("").to_owned();
                match field.bytes().await {
                    Ok(b) => file = Some((kind, b)),
                    Err(_) => {
                        return respond(error(422, "Validation failed: File could not be read"))
                    }
                }
            }
            Some("description") => description = field.text().await.ok(),
            _ => {}
        }
    }
    let Some((mime, bytes)) = file else {
        return respond(error(422, "Validation failed: File can't be blank"));
    };
    let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
    let id = w.next_id();
    let kind = if mime.starts_with("video/") {
        "video"
    } else {
        "image"
    };
    let processing = w.processing_reads;
    w.attachments.insert(
        id.clone(),
        Attachment {
            id: id.clone(),
            user: token.user,
            kind: kind.into(),
            description: description.clone(),
            bytes: bytes.len(),
            sha256: format!("{:x}", sha2::Sha256::digest(&bytes)),
            processing,
        },
    );
    let v = attachment_json(&id, kind, description.as_deref(), processing == 0);
    let status = if processing == 0 {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    respond(Answer::Json(status, v, vec![]))
}

fn attachment_json(id: &str, kind: &str, description: Option<&str>, ready: bool) -> Value {
    let url = ready.then(|| format!("https://files.example/{id}"));
    json!({"id": id, "type": kind, "url": url, "preview_url": url, "description": description, "meta": {}})
}

async fn handle(
    State(world): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        serve(&mut w, &method, &uri, &headers, &body)
    };
    respond(answer)
}

fn respond(answer: Answer) -> Response {
    match answer {
        Answer::Json(status, v, extra) => {
            let mut r = (status, axum::Json(v)).into_response();
            for (k, v) in extra {
                if let (Ok(k), Ok(v)) = (
                    header::HeaderName::from_bytes(k.as_bytes()),
                    header::HeaderValue::from_str(&v),
                ) {
                    r.headers_mut().insert(k, v);
                }
            }
            r
        }
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Drop => super::cut_off(StatusCode::OK),
    }
}

/// Answers one request from the world.
fn serve(w: &mut World, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Answer {
    let query: HashMap<String, String> =
        uri.query().map(|q| form(q.as_bytes())).unwrap_or_default();
    let path = uri.path();
    let get = method == Method::GET;
    let post = method == Method::POST;
    match path {
        "/api/v2/instance" if get => {
            if w.info.not_mastodon {
                return error(404, "Not Found");
            }
            let i = &w.info;
            ok(json!({
                "domain": "fake.example", "title": "A fake instance", "version": "4.3.0",
                "configuration": {
                    "statuses": {"max_characters": i.max_characters,
                        "characters_reserved_per_url": i.characters_reserved_per_url,
                        "max_media_attachments": i.max_media_attachments},
                    "media_attachments": {"image_size_limit": 16_777_216, "video_size_limit": 103_809_024}
                }
            }))
        }
        "/api/v1/instance" if get && w.info.not_mastodon => error(404, "Not Found"),
        "/api/v1/apps" if post => {
            let f = form(body);
            let (Some(name), Some(redirect)) = (f.get("client_name"), f.get("redirect_uris"))
            else {
                return error(422, "Validation failed: Application name can't be blank");
            };
            if name.is_empty() {
                return error(422, "Validation failed: Application name can't be blank");
            }
            w.registrations += 1;
            let (id, secret) = (random("cid-"), random("csecret-"));
            w.apps.insert(
                id.clone(),
                App {
                    secret: secret.clone(),
                    redirect_uri: redirect.clone(),
                },
            );
            ok(
                json!({"id": w.registrations.to_string(), "name": name, "redirect_uri": redirect,
                "redirect_uris": [redirect], "client_id": id, "client_secret": secret,
                "scopes": f.get("scopes").map(|s| s.split(' ').collect::<Vec<_>>())}),
            )
        }
        "/oauth/authorize" if get => {
            let (Some(client_id), Some(redirect), Some(challenge)) = (
                query.get("client_id"),
                query.get("redirect_uri"),
                query.get("code_challenge"),
            ) else {
                return error(400, "invalid_request");
            };
            let known = w
                .apps
                .get(client_id)
                .is_some_and(|a| &a.redirect_uri == redirect);
            if !known || query.get("code_challenge_method").map(String::as_str) != Some("S256") {
                return error(400, "invalid_request");
            }
            let Some(user) = w.next_consent.take() else {
                return error(401, "nobody is signed in");
            };
            w.user_id(&user);
            let code = random("code-");
            w.codes.insert(
                code.clone(),
                Grant {
                    user,
                    client_id: client_id.clone(),
                    challenge: challenge.clone(),
                    redirect_uri: redirect.clone(),
                },
            );
            let mut to = url::Url::parse(redirect).expect("a redirect URI");
            to.query_pairs_mut().append_pair("code", &code);
            if let Some(s) = query.get("state") {
                to.query_pairs_mut().append_pair("state", s);
            }
            Answer::Redirect(to.to_string())
        }
        "/oauth/token" if post => {
            let f = form(body);
            let client_ok = f
                .get("client_id")
                .and_then(|id| w.apps.get(id))
                .is_some_and(|a| Some(&a.secret) == f.get("client_secret"));
            if !client_ok {
                return Answer::Json(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}),
                    vec![],
                );
            }
            let grant = f.get("code").and_then(|c| w.codes.remove(c));
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            let Some(grant) = grant.filter(|g| {
                Some(&g.client_id) == f.get("client_id")
                    && Some(&g.redirect_uri) == f.get("redirect_uri")
                    && g.challenge == challenge
            }) else {
                return Answer::Json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}),
                    vec![],
                );
            };
            let token = random("tok-");
            w.tokens.insert(
                token.clone(),
                Token {
                    user: grant.user,
                    client_id: grant.client_id,
                    revoked: false,
                },
            );
            ok(json!({"access_token": token, "token_type": "Bearer",
                "scope": "write:statuses write:media read:accounts", "created_at": 1_700_000_000}))
        }
        "/oauth/revoke" if post => {
            let f = form(body);
            let client_ok = f
                .get("client_id")
                .and_then(|id| w.apps.get(id))
                .is_some_and(|a| Some(&a.secret) == f.get("client_secret"));
            if !client_ok {
                return error(403, "unauthorized_client");
            }
            if let Some(t) = f.get("token").and_then(|t| w.tokens.get_mut(t)) {
                if Some(&t.client_id) == f.get("client_id") {
                    t.revoked = true;
                }
            }
            w.revocations += 1;
            ok(json!({}))
        }
        "/api/v1/accounts/verify_credentials" if get => match w.bearer(headers) {
            Err(a) => a,
            Ok(t) => {
                let id = w.user_id(&t.user);
                ok(
                    json!({"id": id, "username": t.user, "acct": t.user, "display_name": format!("{} on the fake", t.user),
                    "avatar": format!("https://files.example/avatars/{id}.png"), "note": "<p>hello</p>",
                    "url": format!("https://fake.example/@{}", t.user)}),
                )
            }
        },
        "/api/v1/statuses" if post => post_status(w, headers, body),
        p if get && p.starts_with("/api/v1/media/") => {
            let token = match w.bearer(headers) {
                Ok(t) => t,
                Err(a) => return a,
            };
            let id = &p["/api/v1/media/".len()..];
            let Some(a) = w.attachments.get_mut(id).filter(|a| a.user == token.user) else {
                return error(404, "Record not found");
            };
            if a.processing > 0 {
                a.processing -= 1;
                Answer::Json(
                    StatusCode::PARTIAL_CONTENT,
                    attachment_json(&a.id, &a.kind, a.description.as_deref(), false),
                    vec![],
                )
            } else {
                ok(attachment_json(
                    &a.id,
                    &a.kind,
                    a.description.as_deref(),
                    true,
                ))
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn post_status(w: &mut World, headers: &HeaderMap, body: &[u8]) -> Answer {
    let token = match w.bearer(headers) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let seen: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    w.status_calls.push(seen);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(k) = &key {
        if let Some(id) = w.idempotency.get(&(token.user.clone(), k.clone())).cloned() {
            if let Some(s) = w.statuses.iter().find(|s| s.id == id) {
                return ok(status_json(s));
            }
        }
    }
    let mut lose = false;
    match w.faults.pop_front() {
        Some(Fault::RateLimit(wait)) => {
            let reset = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            return Answer::Json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "Too many requests"}),
                vec![
                    ("x-ratelimit-limit".into(), "300".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    (
                        "x-ratelimit-reset".into(),
                        reset.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ),
                ],
            );
        }
        Some(Fault::Reject(m)) => return error(422, &m),
        Some(Fault::Unavailable) => return error(503, "Service Unavailable"),
        Some(Fault::LoseAnswer) => lose = true,
        None => {}
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = v["status"].as_str().unwrap_or_default().to_owned();
    let media_ids: Vec<String> = v["media_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if text.trim().is_empty() && media_ids.is_empty() {
        return error(422, "Validation failed: Text can't be blank");
    }
    let url_chars = w.info.characters_reserved_per_url;
    // Mastodon counts every URL as `characters_reserved_per_url`.
    let length: u64 = text
        .split(' ')
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                url_chars
            } else {
                w.chars().count() as u64
            }
        })
        .sum::<u64>()
        + text.matches(' ').count() as u64;
    if length > w.info.max_characters {
        return error(
            422,
            &format!(
                "Validation failed: Text character limit of {} exceeded",
                w.info.max_characters
            ),
        );
    }
    if media_ids.len() as u64 > w.info.max_media_attachments {
        return error(422, "Validation failed: Media attachments is too long");
    }
    for id in &media_ids {
        match w.attachments.get(id) {
            Some(a) if a.user == token.user && a.processing == 0 => {}
            Some(a) if a.user == token.user => {
                return error(
                    422,
                    "Cannot attach files that have not finished processing. Try again in a moment!",
                )
            }
            _ => return error(422, "Validation failed: Media attachments is invalid"),
        }
    }
    let in_reply_to_id = v["in_reply_to_id"].as_str().map(str::to_owned);
    if let Some(parent) = &in_reply_to_id {
        if !w.statuses.iter().any(|s| &s.id == parent) {
            return error(404, "Record not found");
        }
    }
    let id = w.next_id();
    let status = Status {
        id: id.clone(),
        user: token.user.clone(),
        text,
        in_reply_to_id,
        media_ids,
        visibility: v["visibility"].as_str().unwrap_or("public").to_owned(),
        spoiler_text: v["spoiler_text"].as_str().unwrap_or_default().to_owned(),
        language: v["language"].as_str().map(str::to_owned),
    };
    let answer = ok(status_json(&status));
    w.statuses.push(status);
    if let Some(k) = key {
        w.idempotency.insert((token.user, k), id);
    }
    // The status landed; with a LoseAnswer fault its answer does not arrive.
    if lose {
        return Answer::Drop;
    }
    answer
}

fn status_json(s: &Status) -> Value {
    json!({"id": s.id, "uri": format!("https://fake.example/users/{}/statuses/{}", s.user, s.id),
        "url": format!("https://fake.example/@{}/{}", s.user, s.id), "content": format!("<p>{}</p>", s.text),
        "visibility": s.visibility, "spoiler_text": s.spoiler_text, "language": s.language,
        "in_reply_to_id": s.in_reply_to_id,
        "media_attachments": s.media_ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()})
}

/// The fake as a peer of the platform conformance suite.
#[async_trait]
impl PlatformPeer for FakeMastodon {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Mastodon
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Never,
            pkce: true,
            images: true,
            video: true,
            threads: true,
            lost_answer: LostAnswer::Recovered,
            needs_media: NeedsMedia::Nothing,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = FakeMastodon::env();
        env.push(("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK".into(), "on".into()));
        env
    }

    fn connect_body(&self, _user: &str) -> Option<Value> {
        Some(json!({ "instance": self.origin() }))
    }

    async fn consent(&self, authorize_url: &str, user: &str) -> String {
        self.approve(authorize_url, user).await
    }

    async fn user_id(&self, user: &str) -> String {
        let id = self.world().user_id(user);
        format!("{id}@{}", self.host())
    }

    async fn posts(&self, user: &str) -> Vec<PeerPost> {
        let w = self.world();
        w.statuses
            .iter()
            .filter(|s| s.user == user)
            .map(|s| PeerPost {
                id: s.id.clone(),
                text: s.text.clone(),
                reply_to: s.in_reply_to_id.clone(),
                media: s
                    .media_ids
                    .iter()
                    .filter_map(|id| w.attachments.get(id))
                    .map(|a| PeerMedia {
                        kind: a.kind.clone(),
                        alt: a.description.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    async fn revoke(&self, user: &str) {
        for t in self.world().tokens.values_mut().filter(|t| t.user == user) {
            t.revoked = true;
        }
    }

    /// Mastodon's tokens do not expire.
    async fn expire_access(&self, _user: &str) {}

    async fn rate_limit_next(&self, wait: Duration) {
        self.fail_next(Fault::RateLimit(wait));
    }

    async fn reject_next(&self, message: &str) {
        self.fail_next(Fault::Reject(message.to_owned()));
    }

    async fn lose_next_answer(&self) {
        self.fail_next(Fault::LoseAnswer);
    }

    async fn refreshes(&self, _user: &str) -> (usize, usize) {
        (0, 0)
    }
}
