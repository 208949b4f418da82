//! The sandbox: a small social network built into Postora, so anyone can connect an account, schedule a post and
//! watch it publish without credentials. Postora's sandbox adapter reaches it over HTTP like any platform. It keeps
//! what it accepts in its own database file, honours `Idempotency-Key` the way Mastodon does, lists its posts at
//! `GET /sandbox/posts`, and can be told to fail in chosen ways (`POST /sandbox/faults`, or
//! `POSTORA_SANDBOX_FAULTS`).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{html_escape, html_page, ApiError, Json};
use crate::adapters::local::db::{map_err, Db};
use crate::domain::ids::random_token;
use crate::platforms::registry::{SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET};
use crate::ports::StoreError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS sandbox_codes (
    code TEXT PRIMARY KEY, user_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    challenge TEXT, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sandbox_tokens (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL,
    expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sandbox_posts (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, idempotency_key TEXT,
    text TEXT NOT NULL, media TEXT NOT NULL, accepted_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sandbox_posts_by_key ON sandbox_posts (user_id, idempotency_key);
"#;

/// How the sandbox treats `Idempotency-Key`, so it can stand in for each kind of platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Idempotency {
    /// A repeated key returns the first post, and posts can be looked up by key (Mastodon).
    #[default]
    Dedupe,
    /// Every request makes a new post, but posts can be looked up by key (a platform that lets a publisher check,
    /// as Meta's containers or TikTok's publish ids do). A publisher that repeats itself shows up as two posts.
    Lookup,
    /// Every request makes a new post and nothing can be looked up (X, LinkedIn).
    None,
}

impl std::str::FromStr for Idempotency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("`{s}` is not one of dedupe, lookup, none"))
    }
}

/// The most characters a sandbox post may have.
pub const SANDBOX_MAX_CHARS: usize = 500;

/// A way to fail, applied to the next `count` publish calls (of `user`, if given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    /// Only for this sandbox user (for example `sbx-alice`).
    #[serde(default)]
    pub user: Option<String>,
    /// For `rate_limit`: the Retry-After hint in seconds.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// For `rate_limit`: `app` to limit Postora's whole app (every account) instead of one account.
    #[serde(default)]
    pub scope: Option<LimitScope>,
    /// For `slow`: how long to wait before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

/// The most publish calls one fault applies to.
pub const MAX_FAULT_COUNT: u32 = 10_000;
/// The longest `Retry-After` a rate-limit fault sends: a week, longer than Postora ever waits on a hint (a day), so
/// that cap can be watched, and short enough to stay a number of seconds any client reads.
pub const MAX_FAULT_RETRY_AFTER_SECS: u64 = 7 * 24 * 3600;
/// The longest a `slow` fault holds its answer: ten minutes, far beyond any client's timeout.
pub const MAX_FAULT_DELAY_MS: u64 = 10 * 60 * 1000;

impl Fault {
    /// Checks the fault's numbers and names: the field at fault and why, for a 4xx answer.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.count == 0 || self.count > MAX_FAULT_COUNT {
            return Err(("count", format!("must be from 1 to {MAX_FAULT_COUNT}")));
        }
        if self
            .retry_after_secs
            .is_some_and(|s| s > MAX_FAULT_RETRY_AFTER_SECS)
        {
            return Err((
                "retry_after_secs",
                format!("must be at most {MAX_FAULT_RETRY_AFTER_SECS} seconds (a week)"),
            ));
        }
        if self.delay_ms.is_some_and(|d| d > MAX_FAULT_DELAY_MS) {
            return Err((
                "delay_ms",
                format!("must be at most {MAX_FAULT_DELAY_MS} milliseconds (ten minutes)"),
            ));
        }
        if self
            .user
            .as_deref()
            .is_some_and(|u| u.is_empty() || u.len() > 64)
        {
            return Err(("user", "must be 1 to 64 characters".to_owned()));
        }
        Ok(())
    }
}

/// Whom a sandbox rate limit is said to apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// The account that made the request (`rate_limited`).
    Account,
    /// The client app as a whole (`app_rate_limited`).
    App,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 before anything is stored.
    FailBeforeAccept,
    /// The post is stored, then the connection is cut before the answer.
    AcceptThenDrop,
    /// The post is stored, and the answer comes after `delay_ms` (default 35 s, beyond Postora's timeout).
    Slow,
    /// 429 with `Retry-After`.
    RateLimit,
    /// 401 `token_expired`: the access token presented is expired from now on.
    ExpireToken,
    /// 401 `invalid_token`: every token of the user is revoked.
    Revoke,
    /// 422: the content is refused.
    Reject,
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown fault `{s}`"))
    }
}

/// Parses `POSTORA_SANDBOX_FAULTS`: `kind[:count][,kind[:count]...]`, for example `rate_limit:2,fail_before_accept`.
pub fn parse_faults(spec: &str) -> Result<Vec<Fault>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (kind, count) = item.split_once(':').unwrap_or((item, "1"));
            let fault = Fault {
                kind: kind.parse()?,
                count: count
                    .parse()
                    .map_err(|_| format!("`{count}` is not a count"))?,
                user: None,
                retry_after_secs: None,
                scope: None,
                delay_ms: None,
            };
            fault
                .check()
                .map_err(|(field, why)| format!("`{item}`: {field} {why}"))?;
            Ok(fault)
        })
        .collect()
}

/// The sandbox's state: its database, its faults, how long its access tokens live and how it treats idempotency
/// keys.
#[derive(Clone)]
pub struct Sandbox {
    db: Db,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    token_ttl: Duration,
    public_url: String,
    idempotency: Idempotency,
}

impl Sandbox {
    /// Opens the sandbox's database at `path` (a file of its own beside Postora's).
    pub fn open(path: &Path, public_url: &str, token_ttl: Duration) -> Result<Self, StoreError> {
        Ok(Self::with_db(
            Db::open_with_schema(path, SCHEMA)?,
            public_url,
            token_ttl,
        ))
    }

    pub fn in_memory(public_url: &str, token_ttl: Duration) -> Result<Self, StoreError> {
        Ok(Self::with_db(
            Db::in_memory_with_schema(SCHEMA)?,
            public_url,
            token_ttl,
        ))
    }

    fn with_db(db: Db, public_url: &str, token_ttl: Duration) -> Self {
        Self {
            db,
            faults: Arc::new(Mutex::new(VecDeque::new())),
            token_ttl,
            public_url: public_url.trim_end_matches('/').to_owned(),
            idempotency: Idempotency::default(),
        }
    }

    /// The same sandbox, treating idempotency keys as `mode` says.
    pub fn with_idempotency(mut self, mode: Idempotency) -> Self {
        self.idempotency = mode;
        self
    }

    pub fn add_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(faults);
    }

    fn take_fault(&self, user: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let i = faults
            .iter()
            .position(|f| f.user.as_deref().is_none_or(|u| u == user))?;
        let f = faults.get_mut(i)?;
        f.count = f.count.saturating_sub(1);
        let taken = f.clone();
        if f.count == 0 {
            faults.remove(i);
        }
        Some(taken)
    }

    /// Every post the sandbox accepted, oldest first.
    pub async fn posts(&self) -> Result<Vec<SandboxPost>, StoreError> {
        let base = self.public_url.clone();
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare("SELECT id, user_id, idempotency_key, text, media, accepted_at FROM sandbox_posts ORDER BY accepted_at, id")
                    .map_err(map_err)?;
                let rows = st.query_map([], |r| read_post(r, &base)).map_err(map_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
            })
            .await
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/sandbox/oauth/authorize", get(authorize))
            .route("/sandbox/oauth/token", post(token))
            .route("/sandbox/oauth/revoke", post(revoke))
            .route("/sandbox/api/me", get(me))
            .route("/sandbox/api/posts", post(create_post).get(find_post))
            .route("/sandbox/posts", get(list_posts))
            .route("/sandbox/posts/{id}", get(show_post))
            .route(
                "/sandbox/faults",
                get(list_faults).post(add_fault).delete(clear_faults),
            )
            .with_state(self.clone())
    }
}

/// A post as the sandbox shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SandboxPost {
    pub id: String,
    /// The sandbox user (the account) it was published to.
    pub account: String,
    pub idempotency_key: Option<String>,
    pub text: String,
    pub media: serde_json::Value,
    pub accepted_at: chrono::DateTime<chrono::Utc>,
    pub url: String,
}

fn read_post(r: &rusqlite::Row<'_>, base: &str) -> rusqlite::Result<SandboxPost> {
    let id: String = r.get(0)?;
    Ok(SandboxPost {
        url: format!("{base}/sandbox/posts/{id}"),
        id,
        account: r.get(1)?,
        idempotency_key: r.get(2)?,
        text: r.get(3)?,
        media: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        accepted_at: chrono::DateTime::from_timestamp_millis(r.get(5)?).unwrap_or_default(),
    })
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn api_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": error, "message": message})),
    )
        .into_response()
}

fn unavailable(_: StoreError) -> Response {
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the sandbox is busy",
    )
}

#[derive(Debug, Default, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// Which sandbox person approves: letters, digits, `-` and `_` (default `demo`).
    user: Option<String>,
    /// `1` to refuse consent instead.
    deny: Option<String>,
}

/// The consent page: approves at once and sends the browser back to Postora.
async fn authorize(State(sb): State<Sandbox>, RawQuery(raw): RawQuery) -> Response {
    let q: AuthorizeQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let bad = |m: &str| {
        html_page(
            StatusCode::BAD_REQUEST,
            "Sandbox: bad authorization request",
            &format!("<p>{}</p>", html_escape(m)),
        )
    };
    if q.client_id.as_deref() != Some(SANDBOX_CLIENT_ID) {
        return bad("unknown client_id");
    }
    if q.response_type.as_deref() != Some("code") {
        return bad("response_type must be code");
    }
    let Some(redirect) = q
        .redirect_uri
        .as_deref()
        .and_then(|r| url::Url::parse(r).ok())
    else {
        return bad("redirect_uri is missing or not a URL");
    };
    if q.code_challenge.is_some() && q.code_challenge_method.as_deref() != Some("S256") {
        return bad("only the S256 code challenge method is supported");
    }
    let user = q.user.clone().unwrap_or_else(|| "demo".into());
    if user.is_empty()
        || user.len() > 40
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return bad("user must be 1 to 40 letters, digits, - or _");
    }
    let mut back = redirect.clone();
    if q.deny.as_deref() == Some("1") {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "the person said no");
    } else {
        let code = random_token(16);
        let (c, r, ch, u) = (
            code.clone(),
            redirect.to_string(),
            q.code_challenge.clone(),
            format!("sbx-{user}"),
        );
        let stored = sb
            .db
            .call(move |db| {
                db.execute(
                    "INSERT INTO sandbox_codes (code, user_id, redirect_uri, challenge, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![hash(&c), u, r, ch, now_ms() + 600_000],
                )
                .map_err(map_err)
            })
            .await;
        if stored.is_err() {
            return html_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sandbox busy",
                "<p>Try again.</p>",
            );
        }
        back.query_pairs_mut().append_pair("code", &code);
    }
    if let Some(state) = &q.state {
        back.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(back.as_str()).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn client_ok(headers: &HeaderMap, form: &TokenForm) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic.as_deref().and_then(|s| s.split_once(':')) {
        Some((i, s)) => (i.to_owned(), s.to_owned()),
        None => (
            form.client_id.clone().unwrap_or_default(),
            form.client_secret.clone().unwrap_or_default(),
        ),
    };
    // oauth2 form-encodes the credentials inside Basic auth (RFC 6749 2.3.1).
    let decode = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|v| v.into_iter().next().map(|(_, v)| v))
            .unwrap_or_default()
    };
    decode(&id) == SANDBOX_CLIENT_ID && decode(&secret) == SANDBOX_CLIENT_SECRET
}

async fn issue(sb: &Sandbox, user: String) -> Result<Response, StoreError> {
    let access = format!("sbx_at_{}", random_token(24));
    let refresh = format!("sbx_rt_{}", random_token(24));
    let ttl = sb.token_ttl;
    let (a, r) = (hash(&access), hash(&refresh));
    sb.db
        .call(move |c| {
            let tx = c.transaction().map_err(map_err)?;
            tx.execute(
                "INSERT INTO sandbox_tokens (hash, kind, user_id, expires_at) VALUES (?1, 'access', ?2, ?3)",
                params![a, user, now_ms() + ttl.as_millis() as i64],
            )
            .map_err(map_err)?;
            tx.execute("INSERT INTO sandbox_tokens (hash, kind, user_id, expires_at) VALUES (?1, 'refresh', ?2, NULL)", params![r, user])
                .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await?;
    Ok(axum::Json(serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": ttl.as_secs(),
        "refresh_token": refresh,
        "scope": "profile publish",
    }))
    .into_response())
}

/// The token endpoint: authorization codes (with PKCE) and rotating refresh tokens.
async fn token(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !client_ok(&headers, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let (Some(code), Some(redirect)) = (form.code.clone(), form.redirect_uri.clone())
            else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code and redirect_uri are required",
                );
            };
            let h = hash(&code);
            let row = sb
                .db
                .call(move |c| {
                    let tx = c.transaction().map_err(map_err)?;
                    let row: Option<(String, String, Option<String>, i64)> = tx
                        .query_row("SELECT user_id, redirect_uri, challenge, expires_at FROM sandbox_codes WHERE code = ?1", [&h], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .optional()
                        .map_err(map_err)?;
                    tx.execute("DELETE FROM sandbox_codes WHERE code = ?1", [&h]).map_err(map_err)?;
                    tx.commit().map_err(map_err)?;
                    Ok(row)
                })
                .await;
            let Ok(row) = row else {
                return oauth_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "busy",
                );
            };
            let Some((user, want_redirect, challenge, expires)) = row else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code is unknown or was already used",
                );
            };
            if expires < now_ms() || want_redirect != redirect {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code expired or the redirect_uri differs",
                );
            }
            if let Some(challenge) = challenge {
                let verifier = form.code_verifier.clone().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if computed != challenge {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "the PKCE verifier does not match",
                    );
                }
            }
            issue(&sb, user).await.unwrap_or_else(unavailable)
        }
        Some("refresh_token") => {
            let Some(rt) = form.refresh_token.clone() else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            let h = hash(&rt);
            // Rotation: the presented refresh token is spent, whatever happens next.
            let user = sb
                .db
                .call(move |c| {
                    let tx = c.transaction().map_err(map_err)?;
                    let user: Option<String> = tx
                        .query_row("SELECT user_id FROM sandbox_tokens WHERE hash = ?1 AND kind = 'refresh' AND revoked = 0", [&h], |r| r.get(0))
                        .optional()
                        .map_err(map_err)?;
                    tx.execute("UPDATE sandbox_tokens SET revoked = 1 WHERE hash = ?1", [&h]).map_err(map_err)?;
                    tx.commit().map_err(map_err)?;
                    Ok(user)
                })
                .await;
            match user {
                Ok(Some(user)) => issue(&sb, user).await.unwrap_or_else(unavailable),
                Ok(None) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is unknown, spent or revoked",
                ),
                Err(e) => unavailable(e),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "use authorization_code or refresh_token",
        ),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RevokeForm {
    token: Option<String>,
}

/// Revokes every token of the user the presented token belongs to (RFC 7009 style: always 200).
async fn revoke(State(sb): State<Sandbox>, Form(form): Form<RevokeForm>) -> Response {
    let Some(token) = form.token else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    let h = hash(&token);
    let done = sb
        .db
        .call(move |c| {
            c.execute(
                "UPDATE sandbox_tokens SET revoked = 1 WHERE user_id = (SELECT user_id FROM sandbox_tokens WHERE hash = ?1)",
                [h],
            )
            .map_err(map_err)
        })
        .await;
    match done {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => unavailable(e),
    }
}

enum Bearer {
    Valid(String),
    Expired,
    Invalid,
}

async fn bearer(sb: &Sandbox, headers: &HeaderMap) -> Result<Bearer, StoreError> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Ok(Bearer::Invalid);
    };
    let h = hash(token);
    let row = sb
        .db
        .call(move |c| {
            c.query_row(
                "SELECT user_id, expires_at, revoked FROM sandbox_tokens WHERE hash = ?1 AND kind = 'access'",
                [h],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?)),
            )
            .optional()
            .map_err(map_err)
        })
        .await?;
    Ok(match row {
        Some((_, _, revoked)) if revoked != 0 => Bearer::Invalid,
        Some((_, Some(exp), _)) if exp <= now_ms() => Bearer::Expired,
        Some((user, _, _)) => Bearer::Valid(user),
        None => Bearer::Invalid,
    })
}

async fn authenticated(sb: &Sandbox, headers: &HeaderMap) -> Result<String, Response> {
    match bearer(sb, headers).await {
        Ok(Bearer::Valid(u)) => Ok(u),
        Ok(Bearer::Expired) => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "the access token has expired",
        )),
        Ok(Bearer::Invalid) => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is not valid",
        )),
        Err(e) => Err(unavailable(e)),
    }
}

async fn me(State(sb): State<Sandbox>, headers: HeaderMap) -> Response {
    let user = match authenticated(&sb, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let name = user.trim_start_matches("sbx-").to_owned();
    axum::Json(serde_json::json!({
        "id": user,
        "username": name,
        "name": format!("Sandbox {name}"),
        "avatar_url": format!("{}/sandbox/avatars/{name}.png", sb.public_url),
        "bio": "A person on Postora's sandbox network.",
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct NewSandboxPost {
    #[serde(default)]
    text: String,
    #[serde(default)]
    media: serde_json::Value,
}

async fn find_by_key(
    sb: &Sandbox,
    user: &str,
    key: &str,
) -> Result<Option<SandboxPost>, StoreError> {
    let (u, k, base) = (user.to_owned(), key.to_owned(), sb.public_url.clone());
    sb.db
        .call(move |c| {
            c.query_row(
                "SELECT id, user_id, idempotency_key, text, media, accepted_at FROM sandbox_posts WHERE user_id = ?1 AND idempotency_key = ?2 ORDER BY accepted_at, id LIMIT 1",
                [u, k],
                |r| read_post(r, &base),
            )
            .optional()
            .map_err(map_err)
        })
        .await
}

/// Accepts a post. A repeated `Idempotency-Key` from the same user returns the first post instead of a new one.
async fn create_post(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let user = match authenticated(&sb, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let (Some(k), Idempotency::Dedupe) = (&key, sb.idempotency) {
        match find_by_key(&sb, &user, k).await {
            Ok(Some(existing)) => return axum::Json(existing).into_response(),
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let fault = sb.take_fault(&user);
    match fault.as_ref().map(|f| f.kind) {
        Some(FaultKind::FailBeforeAccept) => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the sandbox is failing on purpose",
            )
        }
        Some(FaultKind::RateLimit) => {
            // Faults added in code rather than through `POST /sandbox/faults` are not checked: a platform may send any
            // number, and Postora must survive it.
            let wait = fault.as_ref().and_then(|f| f.retry_after_secs).unwrap_or(2);
            let mut r = match fault.as_ref().and_then(|f| f.scope) {
                Some(LimitScope::App) => api_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "app_rate_limited",
                    "this app sends too many requests; every account waits",
                ),
                _ => api_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down"),
            };
            r.headers_mut().insert(header::RETRY_AFTER, wait.into());
            return r;
        }
        Some(FaultKind::ExpireToken) => {
            if let Some(token) = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
            {
                let h = hash(token);
                let _ = sb
                    .db
                    .call(move |c| {
                        c.execute(
                            "UPDATE sandbox_tokens SET expires_at = ?2 WHERE hash = ?1",
                            params![h, now_ms()],
                        )
                        .map_err(map_err)
                    })
                    .await;
            }
            return api_error(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "the access token has expired",
            );
        }
        Some(FaultKind::Revoke) => {
            let u = user.clone();
            let _ = sb
                .db
                .call(move |c| {
                    c.execute(
                        "UPDATE sandbox_tokens SET revoked = 1 WHERE user_id = ?1",
                        [u],
                    )
                    .map_err(map_err)
                })
                .await;
            return api_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the person revoked access",
            );
        }
        Some(FaultKind::Reject) => {
            return api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rejected",
                "the sandbox refuses this content on purpose",
            )
        }
        _ => {}
    }
    let Ok(input) = serde_json::from_slice::<NewSandboxPost>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be JSON with a text field",
        );
    };
    if input.text.chars().count() > SANDBOX_MAX_CHARS {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_long",
            "a sandbox post has at most 500 characters",
        );
    }
    let id = format!("sbxpost_{}", uuid::Uuid::now_v7().simple());
    let (i, u, k, t, m, base) = (
        id.clone(),
        user.clone(),
        key.clone(),
        input.text.clone(),
        input.media.to_string(),
        sb.public_url.clone(),
    );
    let dedupe = sb.idempotency == Idempotency::Dedupe;
    let inserted = sb
        .db
        .call(move |c| {
            let tx = c.transaction().map_err(map_err)?;
            // With deduplication, a concurrent request with the same key may have stored its post first: that one is
            // the answer. The check and the insert share one transaction.
            let sql = "SELECT id, user_id, idempotency_key, text, media, accepted_at FROM sandbox_posts WHERE user_id = ?1 AND idempotency_key = ?2 ORDER BY accepted_at, id LIMIT 1";
            let existing = if dedupe {
                tx.query_row(sql, params![u, k], |r| read_post(r, &base))
                    .optional()
                    .map_err(map_err)?
            } else {
                None
            };
            let post = match existing {
                Some(p) => p,
                None => {
                    tx.execute(
                        "INSERT INTO sandbox_posts (id, user_id, idempotency_key, text, media, accepted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![i, u, k, t, m, now_ms()],
                    )
                    .map_err(map_err)?;
                    tx.query_row(
                        "SELECT id, user_id, idempotency_key, text, media, accepted_at FROM sandbox_posts WHERE id = ?1",
                        [&i],
                        |r| read_post(r, &base),
                    )
                    .map_err(map_err)?
                }
            };
            tx.commit().map_err(map_err)?;
            Ok(post)
        })
        .await;
    let post = match inserted {
        Ok(p) => p,
        Err(e) => return unavailable(e),
    };
    match fault.map(|f| (f.kind, f.delay_ms)) {
        Some((FaultKind::AcceptThenDrop, _)) => {
            // Headers go out, then the body breaks off: the client cannot know whether the post was taken.
            let stream = broken_body();
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::OK.into_response())
        }
        Some((FaultKind::Slow, delay)) => {
            let delay = delay.unwrap_or(35_000).min(MAX_FAULT_DELAY_MS);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            axum::Json(post).into_response()
        }
        _ => axum::Json(post).into_response(),
    }
}

fn broken_body() -> impl futures_core::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    struct Broken(u8);
    impl futures_core::Stream for Broken {
        type Item = Result<axum::body::Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.0 += 1;
            std::task::Poll::Ready(match self.0 {
                1 => Some(Ok(axum::body::Bytes::from_static(b"{\"id\":"))),
                _ => Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "dropped on purpose",
                ))),
            })
        }
    }
    Broken(0)
}

/// Finds the post a user published under an idempotency key (how Postora's recovery asks "did it land?").
async fn find_post(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let user = match authenticated(&sb, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    #[derive(Deserialize, Default)]
    struct Q {
        idempotency_key: Option<String>,
    }
    let q: Q = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let Some(key) = q.idempotency_key else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "idempotency_key is required",
        );
    };
    if sb.idempotency == Idempotency::None {
        return api_error(
            StatusCode::NOT_IMPLEMENTED,
            "not_supported",
            "this network keeps no record of idempotency keys",
        );
    }
    match find_by_key(&sb, &user, &key).await {
        Ok(Some(p)) => axum::Json(p).into_response(),
        Ok(None) => api_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no post with that idempotency key",
        ),
        Err(e) => unavailable(e),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SandboxPosts {
    pub posts: Vec<SandboxPost>,
}

/// What the sandbox accepted: the "published" posts a person can look at.
async fn list_posts(State(sb): State<Sandbox>) -> Response {
    match sb.posts().await {
        Ok(posts) => axum::Json(SandboxPosts { posts }).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn show_post(State(sb): State<Sandbox>, UrlPath(id): UrlPath<String>) -> Response {
    match sb.posts().await {
        Ok(posts) => match posts.into_iter().find(|p| p.id == id) {
            Some(p) => axum::Json(p).into_response(),
            None => api_error(StatusCode::NOT_FOUND, "not_found", "no such sandbox post"),
        },
        Err(e) => unavailable(e),
    }
}

async fn list_faults(State(sb): State<Sandbox>) -> Response {
    let faults: Vec<Fault> = sb
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    axum::Json(serde_json::json!({ "faults": faults })).into_response()
}

async fn add_fault(
    State(sb): State<Sandbox>,
    Json(fault): Json<Fault>,
) -> Result<Response, ApiError> {
    fault
        .check()
        .map_err(|(field, message)| ApiError::invalid(field, message))?;
    sb.add_faults([fault.clone()]);
    Ok((StatusCode::CREATED, axum::Json(fault)).into_response())
}

async fn clear_faults(State(sb): State<Sandbox>) -> Response {
    sb.faults.lock().unwrap_or_else(|e| e.into_inner()).clear();
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_refuse_unknown_kinds() {
        let f = parse_faults("rate_limit:2, fail_before_accept").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, FaultKind::RateLimit);
        assert_eq!(f[0].count, 2);
        assert_eq!(f[1].count, 1);
        assert!(parse_faults("explode").is_err());
        assert_eq!("lookup".parse::<Idempotency>(), Ok(Idempotency::Lookup));
        assert!("sometimes".parse::<Idempotency>().is_err());
        assert!(parse_faults("rate_limit:x").is_err());
        for bad in [
            "rate_limit:0",
            "rate_limit:10001",
            "rate_limit:99999999999",
            "reject:-1",
        ] {
            assert!(parse_faults(bad).is_err(), "{bad}");
        }
    }

    fn fault(json: serde_json::Value) -> Result<Fault, (&'static str, String)> {
        let f: Fault = serde_json::from_value(json).map_err(|e| ("body", e.to_string()))?;
        f.check().map(|()| f)
    }

    #[test]
    fn absurd_fault_numbers_are_refused_naming_the_field() {
        use serde_json::json;
        let field = |j| fault(j).unwrap_err().0;
        assert_eq!(
            field(json!({"kind": "rate_limit", "retry_after_secs": 10_u64.pow(13)})),
            "retry_after_secs"
        );
        assert_eq!(
            field(json!({"kind": "slow", "delay_ms": u64::MAX})),
            "delay_ms"
        );
        assert_eq!(field(json!({"kind": "reject", "count": 0})), "count");
        assert_eq!(field(json!({"kind": "reject", "count": 10_001})), "count");
        assert_eq!(field(json!({"kind": "reject", "user": ""})), "user");
        assert!(
            fault(json!({"kind": "rate_limit", "retry_after_secs": 604_800, "count": 10_000}))
                .is_ok()
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| format!("{f:e}")),
                "[0-9]{1,40}",
                Just("\"NaN\"".to_owned()),
                Just("null".to_owned()),
            ]
        }

        proptest! {
            #[test]
            fn faults_with_any_numbers_are_taken_within_bounds_or_refused(
                count in number(), retry in number(), delay in number(), spec in ".{0,40}",
            ) {
                let body = format!(
                    r#"{{"kind":"slow","count":{count},"retry_after_secs":{retry},"delay_ms":{delay}}}"#
                );
                if let Ok(f) = serde_json::from_str::<Fault>(&body) {
                    if f.check().is_ok() {
                        prop_assert!((1..=MAX_FAULT_COUNT).contains(&f.count));
                        prop_assert!(f.retry_after_secs.is_none_or(|s| s <= MAX_FAULT_RETRY_AFTER_SECS));
                        prop_assert!(f.delay_ms.is_none_or(|d| d <= MAX_FAULT_DELAY_MS));
                    }
                }
                if let Ok(faults) = parse_faults(&spec) {
                    prop_assert!(faults.iter().all(|f| f.check().is_ok()));
                }
            }
        }
    }
}
