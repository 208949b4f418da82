//! Bluesky as a peer of the platform suite: the reference PDS and PLC directory (`@atproto/dev-env`, started by
//! `scripts/test` from `scripts/peers/bluesky-pds.mjs` and named by `POSTORA_TEST_BLUESKY_PDS` and
//! `POSTORA_TEST_BLUESKY_PLC`), with a small reverse proxy of the peer's own in front of both, where faults are
//! injected the way the PDS itself answers.
//!
//! Postora is pointed at the proxy for the PLC directory and the handle resolver. The proxy forwards DID documents
//! with their `#atproto_pds` service rewritten to the proxy, so every call Postora makes to the account's PDS goes
//! through the proxy too. People are real accounts on the PDS (`createAccount`) with a real app password
//! (`createAppPassword`); posts are read back with `listRecords`; a revoke is `revokeAppPassword` at the PDS.
//! Without the variables (a plain `cargo test` on a laptop), each test says so and passes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use postora::domain::PlatformKind;
use serde_json::{json, Value};

use super::{Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh};

/// The name of the app password every person of the peer makes for Postora.
const APP_PASSWORD_NAME: &str = "postora-suite";

/// What the next `com.atproto.repo.createRecord` meets.
enum CreateFault {
    /// Forwarded to the PDS (the record is written), then the connection drops before the answer.
    Lose,
    /// Refused with the PDS's rate-limit answer, its reset this far away.
    RateLimit(Duration),
    /// Refused as the PDS refuses a record for good, with this message.
    Reject(String),
}

#[derive(Default)]
struct Refreshes {
    answered: usize,
    in_flight: usize,
    most: usize,
}

/// What the proxy knows and has been told.
#[derive(Default)]
struct ProxyState {
    create_fault: Option<CreateFault>,
    /// The access JWTs the PDS issued through the proxy (createSession, refreshSession), by DID.
    issued: HashMap<String, Vec<String>>,
    /// Access JWTs the proxy answers as expired.
    expired: HashSet<String>,
    refreshes: HashMap<String, Refreshes>,
}

struct Proxy {
    pds: String,
    plc: String,
    /// The proxy's own origin, what DID documents name as the PDS.
    me: String,
    http: reqwest::Client,
    state: Mutex<ProxyState>,
}

impl Proxy {
    fn state(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A person of the peer: a real account on the PDS and its app password.
#[derive(Clone)]
struct Person {
    handle: String,
    did: String,
    app_password: String,
    /// The account's own session (its main password), to revoke the app password as the person would.
    main_access: String,
}

pub struct BlueskyPeer {
    proxy: Arc<Proxy>,
    people: tokio::sync::Mutex<HashMap<String, Person>>,
}

impl BlueskyPeer {
    /// The peer, or `None` (said on stderr) when the reference servers are not running.
    pub async fn start() -> Option<Arc<dyn PlatformPeer>> {
        let (pds, plc) = match (
            std::env::var("POSTORA_TEST_BLUESKY_PDS"),
            std::env::var("POSTORA_TEST_BLUESKY_PLC"),
        ) {
            (Ok(pds), Ok(plc)) if !pds.is_empty() && !plc.is_empty() => (pds, plc),
            _ => {
                eprintln!(
                    "SKIPPED: POSTORA_TEST_BLUESKY_PDS is not set; scripts/test starts the reference PDS \
                     (node scripts/peers/bluesky-pds.mjs) and sets it"
                );
                return None;
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let me = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Arc::new(Proxy {
            pds: pds.trim_end_matches('/').to_owned(),
            plc: plc.trim_end_matches('/').to_owned(),
            me,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            state: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Some(Arc::new(BlueskyPeer {
            proxy,
            people: tokio::sync::Mutex::default(),
        }))
    }

    async fn xrpc_post(&self, method: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self
            .proxy
            .http
            .post(format!("{}/xrpc/{method}", self.proxy.pds))
            .json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The person called `user`, made on the PDS on first use (a handle no other run uses).
    async fn person(&self, user: &str) -> Person {
        let mut people = self.people.lock().await;
        if let Some(p) = people.get(user) {
            return p.clone();
        }
        let handle = format!(
            "{user}{}.test",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (status, created) = self
            .xrpc_post(
                "com.atproto.server.createAccount",
                None,
                json!({
                    "handle": handle,
                    "email": format!("{handle}@example.com"),
                    "password": format!("main-{}", uuid::Uuid::new_v4().simple()),
                }),
            )
            .await;
        assert_eq!(status, 200, "createAccount: {created}");
        let main_access = created["accessJwt"].as_str().unwrap().to_owned();
        let (status, app) = self
            .xrpc_post(
                "com.atproto.server.createAppPassword",
                Some(&main_access),
                json!({ "name": APP_PASSWORD_NAME }),
            )
            .await;
        assert_eq!(status, 200, "createAppPassword: {app}");
        let person = Person {
            handle,
            did: created["did"].as_str().unwrap().to_owned(),
            app_password: app["password"].as_str().unwrap().to_owned(),
            main_access,
        };
        people.insert(user.to_owned(), person.clone());
        person
    }

    /// Every access JWT issued to `user` so far is answered as expired from now on.
    async fn expire_issued(&self, user: &str) {
        let did = self.person(user).await.did;
        let mut state = self.proxy.state();
        let issued = state.issued.get(&did).cloned().unwrap_or_default();
        state.expired.extend(issued);
    }
}

#[async_trait]
impl PlatformPeer for BlueskyPeer {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Bluesky
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // refreshSession gives a new pair; the old refresh JWT is dead (after a short grace at the PDS).
            refresh: Refresh::Rotates,
            // An app password has no consent screen.
            pkce: false,
            images: true,
            video: true,
            threads: true,
            // The record key comes from the delivery part: getRecord tells.
            lost_answer: LostAnswer::Recovered,
            needs_media: NeedsMedia::Nothing,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let me = self.proxy.me.clone();
        vec![
            ("POSTORA_BLUESKY".into(), "on".into()),
            ("POSTORA_BLUESKY_PLC_URL".into(), me.clone()),
            ("POSTORA_BLUESKY_HANDLE_RESOLVER_URL".into(), me),
            // The reference PDS has no video service: videos go up as blobs (docs/platforms/bluesky.md).
            ("POSTORA_BLUESKY_VIDEO_URL".into(), "off".into()),
            // The PDS (the proxy) is on loopback.
            ("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK".into(), "true".into()),
        ]
    }

    async fn app_password(&self, user: &str) -> Option<(String, String)> {
        let p = self.person(user).await;
        Some((p.handle, p.app_password))
    }

    async fn consent(&self, _authorize_url: &str, _user: &str) -> String {
        panic!("Bluesky accounts of the suite connect with an app password, not a consent screen")
    }

    async fn user_id(&self, user: &str) -> String {
        self.person(user).await.did
    }

    async fn posts(&self, user: &str) -> Vec<PeerPost> {
        assert!(
            self.proxy.state().create_fault.is_none(),
            "a fault the peer was told to inject was never met: Postora did not create the post through the proxy"
        );
        let did = self.person(user).await.did;
        let resp = self
            .proxy
            .http
            .get(format!(
                "{}/xrpc/com.atproto.repo.listRecords",
                self.proxy.pds
            ))
            .query(&[
                ("repo", did.as_str()),
                ("collection", "app.bsky.feed.post"),
                ("limit", "100"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "listRecords");
        let list: Value = resp.json().await.unwrap();
        let mut records: Vec<Value> = list["records"].as_array().cloned().unwrap_or_default();
        // Record keys come from the deliveries, not the clock: oldest first is by createdAt.
        records.sort_by(|a, b| {
            let at = |r: &Value| r["value"]["createdAt"].as_str().unwrap_or("").to_owned();
            at(a).cmp(&at(b))
        });
        records.iter().map(peer_post).collect()
    }

    /// The person revokes the app password at the PDS (which deletes the refresh JWTs of its sessions). The access
    /// JWTs already issued are stateless and the PDS honours them until they expire (two hours); the peer lets
    /// that time pass for them, so the next call meets an expired token and the refresh meets the revoke.
    async fn revoke(&self, user: &str) {
        let p = self.person(user).await;
        let (status, answer) = self
            .xrpc_post(
                "com.atproto.server.revokeAppPassword",
                Some(&p.main_access),
                json!({ "name": APP_PASSWORD_NAME }),
            )
            .await;
        assert_eq!(status, 200, "revokeAppPassword: {answer}");
        self.expire_issued(user).await;
    }

    /// Every access JWT the PDS issued to `user` is answered with the PDS's own expired-token answer (400
    /// `ExpiredToken`); the refresh JWT stays good, and the pair refreshSession gives works.
    async fn expire_access(&self, user: &str) {
        self.expire_issued(user).await;
    }

    async fn rate_limit_next(&self, wait: Duration) {
        self.proxy.state().create_fault = Some(CreateFault::RateLimit(wait));
    }

    async fn reject_next(&self, message: &str) {
        self.proxy.state().create_fault = Some(CreateFault::Reject(message.to_owned()));
    }

    async fn lose_next_answer(&self) {
        self.proxy.state().create_fault = Some(CreateFault::Lose);
    }

    async fn refreshes(&self, user: &str) -> (usize, usize) {
        let did = self.person(user).await.did;
        let state = self.proxy.state();
        state
            .refreshes
            .get(&did)
            .map_or((0, 0), |r| (r.answered, r.most))
    }
}

/// A post record as the suite sees it.
fn peer_post(r: &Value) -> PeerPost {
    let v = &r["value"];
    let mut embed = &v["embed"];
    if embed["$type"] == "app.bsky.embed.recordWithMedia" {
        embed = &embed["media"];
    }
    let alt = |x: &Value| x.as_str().filter(|a| !a.is_empty()).map(str::to_owned);
    let media = match embed["$type"].as_str() {
        Some("app.bsky.embed.images") => embed["images"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| PeerMedia {
                kind: "image".into(),
                alt: alt(&i["alt"]),
            })
            .collect(),
        Some("app.bsky.embed.video") => vec![PeerMedia {
            kind: "video".into(),
            alt: alt(&embed["alt"]),
        }],
        _ => Vec::new(),
    };
    PeerPost {
        id: r["uri"].as_str().unwrap_or_default().to_owned(),
        text: v["text"].as_str().unwrap_or_default().to_owned(),
        reply_to: v["reply"]["parent"]["uri"].as_str().map(str::to_owned),
        media,
    }
}

/// The `sub` of a JWT, unverified (the PDS verifies; the proxy only counts).
fn jwt_sub(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["sub"].as_str().map(str::to_owned)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(|t| t.trim().to_owned())
}

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "message": message })),
    )
        .into_response()
}

const HOP_BY_HOP: [&str; 7] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "accept-encoding",
];

/// One call through the proxy: PLC reads (`/did:...`) to the directory, the rest to the PDS, faults first.
async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let to_plc = path.starts_with("/did:");
    let token = bearer(&headers);
    if let Some(t) = &token {
        if proxy.state().expired.contains(t) {
            return xrpc_error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired");
        }
    }
    let mut lose = false;
    if path == "/xrpc/com.atproto.repo.createRecord" {
        let fault = proxy.state().create_fault.take();
        match fault {
            Some(CreateFault::RateLimit(wait)) => return rate_limited(wait),
            Some(CreateFault::Reject(message)) => {
                return xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", &message)
            }
            Some(CreateFault::Lose) => lose = true,
            None => {}
        }
    }
    let refresh_of = (path == "/xrpc/com.atproto.server.refreshSession")
        .then(|| token.as_deref().and_then(jwt_sub))
        .flatten();
    if let Some(did) = &refresh_of {
        let mut state = proxy.state();
        let r = state.refreshes.entry(did.clone()).or_default();
        r.in_flight += 1;
        r.most = r.most.max(r.in_flight);
    }
    let target = format!(
        "{}{path_and_query}",
        if to_plc { &proxy.plc } else { &proxy.pds }
    );
    let mut req = proxy.http.request(method, target);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            req = req.header(name, value);
        }
    }
    let sent = req.body(body).send().await;
    let answer = match sent {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            resp.bytes().await.map(|b| (status, headers, b))
        }
        Err(e) => Err(e),
    };
    if let Some(did) = &refresh_of {
        let mut state = proxy.state();
        let r = state.refreshes.entry(did.clone()).or_default();
        r.in_flight -= 1;
        r.answered += 1;
    }
    let Ok((status, resp_headers, mut bytes)) = answer else {
        return xrpc_error(
            StatusCode::BAD_GATEWAY,
            "UpstreamFailure",
            "the reference server did not answer",
        );
    };
    if lose {
        // The record is written; the answer never arrives.
        return crate::fakes::cut_off(StatusCode::OK);
    }
    if status.is_success() {
        if to_plc {
            if let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) {
                rewrite_pds(&mut doc, &proxy.pds, &proxy.me);
                bytes = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            }
        } else if path == "/xrpc/com.atproto.server.createSession"
            || path == "/xrpc/com.atproto.server.refreshSession"
        {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                if let (Some(did), Some(access)) = (v["did"].as_str(), v["accessJwt"].as_str()) {
                    proxy
                        .state()
                        .issued
                        .entry(did.to_owned())
                        .or_default()
                        .push(access.to_owned());
                }
            }
        }
    }
    let mut out = Response::builder().status(status);
    for (name, value) in &resp_headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    out.body(Body::from(bytes)).unwrap_or_default()
}

/// The PDS's rate-limit answer: 429 `RateLimitExceeded` with its `RateLimit-*` headers (the reset in epoch seconds).
fn rate_limited(wait: Duration) -> Response {
    let reset = chrono::Utc::now().timestamp() + i64::try_from(wait.as_secs()).unwrap_or(0);
    let mut resp = xrpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
        "Rate Limit Exceeded",
    );
    let h = resp.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", "5000".to_owned()),
        ("ratelimit-remaining", "0".to_owned()),
        ("ratelimit-reset", reset.to_string()),
        ("ratelimit-policy", "5000;w=3600".to_owned()),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// Points a DID document's `#atproto_pds` service at the proxy instead of the PDS.
fn rewrite_pds(doc: &mut Value, pds: &str, me: &str) {
    let Some(services) = doc.get_mut("service").and_then(Value::as_array_mut) else {
        return;
    };
    for s in services {
        let is_pds = s["id"]
            .as_str()
            .is_some_and(|id| id.ends_with("#atproto_pds"));
        let at_pds = s["serviceEndpoint"]
            .as_str()
            .is_some_and(|e| e.trim_end_matches('/') == pds);
        if is_pds && at_pds {
            s["serviceEndpoint"] = json!(me);
        }
    }
}
