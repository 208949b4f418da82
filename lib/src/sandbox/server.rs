//! The sandbox network's HTTP server: its consent page and token endpoint (OAuth 2.0 with PKCE and rotating refresh
//! tokens), its profile and post endpoints, the list of what it accepted, and the faults endpoint.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::faults::MAX_FAULT_DELAY_MS;
use super::store::SandboxMedia;
use super::store::{Bearer, NewPost};
use super::{
    Fault, FaultKind, Idempotency, LimitScope, Sandbox, SandboxPost, CLIENT_ID, MAX_CHARS,
    MAX_MEDIA_BYTES,
};
use crate::domain::ids::random_token;
use crate::http::error::ApiError;
use crate::http::extract::Json;
use crate::http::html::{html_escape, html_page};
use crate::ports::StoreError;

/// How long an authorization code may wait to be exchanged.
const CODE_TTL_MS: i64 = 600_000;

pub(super) fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/sandbox/oauth/authorize", get(authorize))
        .route("/sandbox/oauth/token", post(token))
        .route("/sandbox/oauth/revoke", post(revoke))
        .route("/sandbox/api/me", get(me))
        .route("/sandbox/api/posts", post(create_post).get(find_post))
        .route("/sandbox/api/media", post(upload_media))
        .route("/sandbox/posts", get(list_posts))
        .route("/sandbox/posts/{id}", get(show_post))
        .route(
            "/sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .with_state(sandbox)
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

/// The consent page: approves at once and sends the browser back to the client's registered redirect URI. A
/// request for any other redirect URI is refused on the page itself, never followed, so the sandbox cannot be used
/// to send a person elsewhere.
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
    if q.client_id.as_deref() != Some(CLIENT_ID) {
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
    match sb
        .store
        .redirect_registered(CLIENT_ID, redirect.as_str())
        .await
    {
        Ok(true) => {}
        Ok(false) => return bad("redirect_uri is not one registered for this client"),
        Err(_) => return busy_page(),
    }
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
        let stored = sb
            .store
            .save_code(
                &code,
                &format!("sbx-{user}"),
                redirect.as_str(),
                q.code_challenge.clone(),
                now_ms() + CODE_TTL_MS,
            )
            .await;
        if stored.is_err() {
            return busy_page();
        }
        back.query_pairs_mut().append_pair("code", &code);
    }
    if let Some(state) = &q.state {
        back.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(back.as_str()).into_response()
}

fn busy_page() -> Response {
    html_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sandbox busy",
        "<p>Try again.</p>",
    )
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

/// Checks the client's credentials, from Basic auth or the form.
async fn client_ok(
    sb: &Sandbox,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<bool, StoreError> {
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
    let Some(client) = sb.store.client(&decode(&id)).await? else {
        return Ok(false);
    };
    let given = Sha256::digest(decode(&secret).as_bytes());
    let wanted = Sha256::digest(client.secret.expose_secret().as_bytes());
    Ok(bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_slice(),
        wanted.as_slice(),
    )))
}

async fn issue(sb: &Sandbox, user: String) -> Result<Response, StoreError> {
    let access = format!("sbx_at_{}", random_token(24));
    let refresh = format!("sbx_rt_{}", random_token(24));
    let ttl = sb.token_ttl;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    sb.store
        .issue_tokens(&user, &access, &refresh, now_ms().saturating_add(ttl_ms))
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
    match client_ok(&sb, &headers, &form).await {
        Ok(true) => {}
        Ok(false) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            )
        }
        Err(e) => return unavailable(e),
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
            let spent = match sb.store.spend_code(&code).await {
                Ok(spent) => spent,
                Err(_) => {
                    return oauth_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "busy",
                    )
                }
            };
            let Some(spent) = spent else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code is unknown or was already used",
                );
            };
            if spent.expires_at_ms < now_ms() || spent.redirect_uri != redirect {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code expired or the redirect_uri differs",
                );
            }
            if let Some(challenge) = spent.challenge {
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
            issue(&sb, spent.user).await.unwrap_or_else(unavailable)
        }
        Some("refresh_token") => {
            let Some(rt) = form.refresh_token.clone() else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            let _in_flight = sb.refresh_started();
            // Rotation: the presented refresh token is spent, whatever happens next.
            match sb.store.spend_refresh_token(&rt).await {
                Ok(Some(user)) => {
                    sb.refresh_answered(&user);
                    issue(&sb, user).await.unwrap_or_else(unavailable)
                }
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
    match sb.store.revoke_owner_of(&token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => unavailable(e),
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn authenticated(sb: &Sandbox, headers: &HeaderMap) -> Result<String, Response> {
    let bearer = match bearer_token(headers) {
        Some(token) => sb.store.bearer(token, now_ms()).await,
        None => Ok(Bearer::Invalid),
    };
    match bearer {
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
    media: Vec<MediaRef>,
    /// The id of a post by the same user this one replies to (a thread's later parts).
    #[serde(default)]
    reply_to: Option<String>,
}

/// A post's media item: one uploaded before (`POST /sandbox/api/media`), or a URL the sandbox fetches now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaRef {
    #[serde(default)]
    media_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    alt: Option<String>,
}

/// Hashes a body as it streams past, keeping none of it; refuses one larger than [`MAX_MEDIA_BYTES`].
/// A file's checksum and size, and its type as its first bytes tell (for files fetched from a store that does not
/// say).
struct Received {
    sha256: String,
    bytes: u64,
    sniffed: Option<&'static str>,
}

async fn digest_stream<S, E>(mut body: S) -> Result<Received, String>
where
    S: futures_core::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let mut hash = Sha256::new();
    let mut total = 0u64;
    let mut head = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("the body broke off: {e}"))?;
        total += chunk.len() as u64;
        if total > MAX_MEDIA_BYTES {
            return Err(format!("a file may have at most {MAX_MEDIA_BYTES} bytes"));
        }
        if head.len() < 64 {
            head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
        }
        hash.update(&chunk);
    }
    Ok(Received {
        sha256: hex::encode(hash.finalize()),
        bytes: total,
        sniffed: crate::media::sniff::recognise(&head).map(|f| f.mime()),
    })
}

fn new_media_id() -> String {
    format!("sbxmedia_{}", uuid::Uuid::now_v7().simple())
}

/// Takes a file's bytes (an upload, as X, Bluesky or Mastodon take them) and answers its id and checksum.
async fn upload_media(State(sb): State<Sandbox>, headers: HeaderMap, body: Body) -> Response {
    let user = match authenticated(&sb, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .chars()
        .take(100)
        .collect::<String>();
    let Received { sha256, bytes, .. } = match digest_stream(body.into_data_stream()).await {
        Ok(d) => d,
        Err(m) => return api_error(StatusCode::BAD_REQUEST, "invalid_media", &m),
    };
    if bytes == 0 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_media",
            "the file is empty",
        );
    }
    let media = SandboxMedia {
        id: new_media_id(),
        sha256,
        bytes,
        content_type,
        via: "upload".into(),
    };
    match sb.store.insert_media(&media, &user, now_ms()).await {
        Ok(()) => (StatusCode::CREATED, axum::Json(media)).into_response(),
        Err(e) => unavailable(e),
    }
}

/// Fetches a file a post names by URL (as Meta's platforms and TikTok's photos do) and records what arrived. A link
/// of this Postora's own is fetched directly; any other address only through the guard media import uses.
async fn fetch_media(sb: &Sandbox, user: &str, url: &str) -> Result<SandboxMedia, Response> {
    let refused = |m: String| api_error(StatusCode::UNPROCESSABLE_ENTITY, "media_fetch_failed", &m);
    let own = url.starts_with(&format!("{}/", sb.public_url));
    let (content_type, digest) = if own {
        let resp = sb
            .fetcher
            .get(url)
            .send()
            .await
            .map_err(|_| refused("the media URL could not be fetched".into()))?;
        if !resp.status().is_success() {
            return Err(refused(format!(
                "the media URL answered {}",
                resp.status().as_u16()
            )));
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .chars()
            .take(100)
            .collect::<String>();
        (
            content_type,
            digest_stream(Box::pin(resp.bytes_stream())).await,
        )
    } else {
        let parsed =
            url::Url::parse(url).map_err(|_| refused("the media URL is not a URL".into()))?;
        let body = sb
            .outside
            .fetch(&parsed, MAX_MEDIA_BYTES)
            .await
            .map_err(|e| refused(e.to_string()))?;
        (
            "application/octet-stream".to_owned(),
            digest_stream(body).await,
        )
    };
    let digest = digest.map_err(refused)?;
    let content_type = match (content_type.as_str(), digest.sniffed) {
        ("application/octet-stream" | "binary/octet-stream", Some(sniffed)) => sniffed.to_owned(),
        _ => content_type,
    };
    let media = SandboxMedia {
        id: new_media_id(),
        sha256: digest.sha256,
        bytes: digest.bytes,
        content_type,
        via: "url".into(),
    };
    sb.store
        .insert_media(&media, user, now_ms())
        .await
        .map_err(unavailable)?;
    Ok(media)
}

/// The media of a new post as the sandbox keeps them: each with its checksum.
async fn resolve_media(
    sb: &Sandbox,
    user: &str,
    refs: &[MediaRef],
) -> Result<serde_json::Value, Response> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let media = match (&r.media_id, &r.url) {
            (Some(id), None) => match sb.store.get_media(user, id).await {
                Ok(Some(m)) => m,
                Ok(None) => {
                    return Err(api_error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unknown_media",
                        "a media_id names no file this user uploaded",
                    ))
                }
                Err(e) => return Err(unavailable(e)),
            },
            (None, Some(url)) => fetch_media(sb, user, url).await?,
            _ => {
                return Err(api_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "each media item needs a media_id or a url",
                ))
            }
        };
        out.push(serde_json::json!({
            "id": media.id,
            "sha256": media.sha256,
            "bytes": media.bytes,
            "content_type": media.content_type,
            "via": media.via,
            "alt": r.alt,
        }));
    }
    Ok(serde_json::Value::Array(out))
}

/// Applies a fault that answers before anything is stored; `None` when the request goes on.
async fn fail_before_storing(
    sb: &Sandbox,
    fault: &Fault,
    user: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    match fault.kind {
        FaultKind::FailBeforeAccept => Some(api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the sandbox is failing on purpose",
        )),
        FaultKind::RateLimit => {
            // Faults added in code rather than through `POST /sandbox/faults` are not checked: a platform may send any
            // number, and Postora must survive it.
            let wait = fault.retry_after_secs.unwrap_or(2);
            let mut r = match fault.scope {
                Some(LimitScope::App) => api_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "app_rate_limited",
                    "this app sends too many requests; every account waits",
                ),
                _ => api_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down"),
            };
            r.headers_mut().insert(header::RETRY_AFTER, wait.into());
            Some(r)
        }
        FaultKind::ExpireToken => {
            if let Some(token) = bearer_token(headers) {
                let _ = sb.store.expire_access_token(token, now_ms()).await;
            }
            Some(api_error(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "the access token has expired",
            ))
        }
        FaultKind::Revoke => {
            let _ = sb.store.revoke_user(user).await;
            Some(api_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the person revoked access",
            ))
        }
        FaultKind::Reject => Some(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            fault
                .message
                .as_deref()
                .unwrap_or("the sandbox refuses this content on purpose"),
        )),
        FaultKind::AcceptThenDrop | FaultKind::Slow => None,
    }
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
    let dedupe = sb.idempotency == Idempotency::Dedupe;
    if let (Some(k), true) = (&key, dedupe) {
        match sb.store.find_by_key(&user, k).await {
            Ok(Some(existing)) => return axum::Json(existing).into_response(),
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let fault = sb.faults.take(&user);
    if let Some(f) = &fault {
        if let Some(answer) = fail_before_storing(&sb, f, &user, &headers).await {
            return answer;
        }
    }
    let Ok(input) = serde_json::from_slice::<NewSandboxPost>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be JSON with a text field and media items",
        );
    };
    if input.media.len() > 4 {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_media",
            "a sandbox post has at most 4 media items",
        );
    }
    if input.text.chars().count() > MAX_CHARS {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_long",
            "a sandbox post has at most 500 characters",
        );
    }
    if let Some(parent) = &input.reply_to {
        match sb.store.post(parent).await {
            Ok(Some(p)) if p.account == user => {}
            Ok(_) => {
                return api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_parent",
                    "reply_to must be a post of the same account",
                )
            }
            Err(e) => return unavailable(e),
        }
    }
    let media = match resolve_media(&sb, &user, &input.media).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let stored = sb
        .store
        .insert_post(
            &user,
            NewPost {
                key,
                text: input.text.clone(),
                media: media.to_string(),
                reply_to: input.reply_to.clone(),
            },
            dedupe,
            now_ms(),
        )
        .await;
    let post = match stored {
        Ok(p) => p,
        Err(e) => return unavailable(e),
    };
    match fault.map(|f| (f.kind, f.delay_ms)) {
        Some((FaultKind::AcceptThenDrop, _)) => {
            // Headers go out, then the body breaks off: the client cannot know whether the post was taken.
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(broken_body()))
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
    match sb.store.find_by_key(&user, &key).await {
        Ok(Some(p)) => axum::Json(p).into_response(),
        Ok(None) => api_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no post with that idempotency key",
        ),
        Err(e) => unavailable(e),
    }
}

#[derive(Serialize)]
struct SandboxPosts {
    posts: Vec<SandboxPost>,
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
    axum::Json(serde_json::json!({ "faults": sb.faults.list() })).into_response()
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
    sb.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}
