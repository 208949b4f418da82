//! A fake X (API v2) following X's published OpenAPI document (version 2.167) and its OAuth 2.0 documentation: the
//! consent page, the token and revoke endpoints (HTTP Basic for the confidential client, PKCE S256 required,
//! single-use rotating refresh tokens whose reuse kills the grant), `GET /2/users/me`, `POST /2/tweets`,
//! `GET /2/users/{id}/tweets`, and the v2 media upload (one-shot, and initialize / append / finalize / STATUS, with
//! processing that takes a few status reads), `POST /2/media/metadata`. Errors are problem+json; rate limits are
//! `x-rate-limit-*` headers, the reset in epoch seconds, and no `Retry-After`.
//!
//! State is a plain [`World`] answered by [`serve`]; the server around it is only transport. It plays the person
//! too ([`FakeX::consent`]) and misbehaves on command through [`PlatformPeer`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use postora::domain::PlatformKind;
use postora::platforms::polling::HintedPolling;
use postora::platforms::x::XConfig;
use rand::Rng;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Digest;

use crate::platform_suite::{
    Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh,
};

/// The app the fake knows: (client id, client secret).
pub const X_APP: (&str, &str) = ("x-client-1", "x-secret-7c6b5a49");
/// The person the consent page approves as when a browser (not [`FakeX::consent`]) follows the authorize URL.
pub const DEFAULT_USER: &str = "pat";
/// How long an access token lives: two hours, as X documents.
pub const ACCESS_LIFETIME_SECS: i64 = 7200;
/// Posts per user per 15-minute window (`POST /2/tweets`).
pub const POST_LIMIT: u64 = 100;

#[derive(Debug, Clone)]
struct User {
    id: String,
    username: String,
}

struct Code {
    user: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
}

struct Access {
    user: String,
    grant: u64,
    expires_at: DateTime<Utc>,
    scopes: Vec<String>,
}

struct RefreshToken {
    grant: u64,
    used: bool,
}

struct Grant {
    user: String,
    dead: bool,
    scopes: Vec<String>,
}

#[derive(Debug, Clone)]
struct Upload {
    owner: String,
    category: String,
    total: u64,
    received: u64,
    finalized: bool,
    polls_left: u32,
    alt: Option<String>,
}

/// A post the fake holds.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: String,
    pub author: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub conversation_id: String,
    pub media: Vec<String>,
    pub reply_settings: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
struct RefreshCount {
    answered: usize,
    in_flight: usize,
    max_in_flight: usize,
}

/// Everything the fake knows.
#[derive(Default)]
pub struct World {
    serial: u64,
    users: HashMap<String, User>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, RefreshToken>,
    grants: HashMap<u64, Grant>,
    uploads: HashMap<String, Upload>,
    posts: Vec<Post>,
    /// Posts per user in the current window, and when it resets.
    window: HashMap<String, (u64, DateTime<Utc>)>,
    rate_limit_next: Option<Duration>,
    reject_next: Option<String>,
    lose_next: bool,
    fail_next_5xx: u32,
    processing_polls: u32,
    refreshes: HashMap<String, RefreshCount>,
    /// Every request's method and path, in order.
    pub calls: Vec<(Method, String)>,
}

fn secret(prefix: &str) -> String {
    let n: u128 = rand::thread_rng().gen();
    format!("{prefix}{n:032x}")
}

/// A problem+json answer.
fn problem(status: u16, title: &str, detail: &str, kind: &str) -> Answer {
    Answer::Problem(
        status,
        json!({"title": title, "detail": detail, "type": kind, "status": status}),
    )
}

fn unauthorized() -> Answer {
    problem(401, "Unauthorized", "Unauthorized", "about:blank")
}

fn invalid(detail: &str) -> Answer {
    Answer::Problem(
        400,
        json!({
            "errors": [{"message": detail}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.x.com/2/problems/invalid-request",
        }),
    )
}

fn token_error(error: &str, description: &str) -> Answer {
    Answer::Json(
        400,
        json!({"error": error, "error_description": description}),
        vec![],
    )
}

/// What the server sends back.
pub enum Answer {
    Json(u16, Value, Vec<(String, String)>),
    Problem(u16, Value),
    Redirect(String),
    /// The work is done, and the connection drops before an answer.
    Drop,
}

/// A request as the world sees it.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub form: HashMap<String, String>,
    pub json: Option<Value>,
    /// Multipart fields: name → bytes.
    pub parts: HashMap<String, Vec<u8>>,
}

impl Req {
    fn bearer(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
    }

    fn basic(&self) -> Option<(String, String)> {
        let raw = self
            .headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Some((unescape(id)?, unescape(secret)?))
    }
}

/// How X shows a post's text: `&`, `<` and `>` as entities, every link as a t.co link.
fn shown(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                let h = sha2::Sha256::digest(w.as_bytes());
                format!(
                    "https://t.co/{}",
                    h.iter()
                        .take(5)
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            } else {
                w.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl World {
    fn next_id(&mut self) -> String {
        self.serial += 1;
        format!("18{:017}", 1_000_000_000_000 + self.serial)
    }

    fn user(&mut self, name: &str) -> User {
        if let Some(u) = self.users.get(name) {
            return u.clone();
        }
        let id = self.next_id();
        let u = User {
            id,
            username: name.to_owned(),
        };
        self.users.insert(name.to_owned(), u.clone());
        u
    }

    fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.values().find(|u| u.id == id)
    }

    /// The consent page: checks the request as X does and approves as `user`; the URL to send the browser to.
    pub fn consent(&mut self, authorize: &str, user: &str) -> Result<String, String> {
        let url = url::Url::parse(authorize).map_err(|e| e.to_string())?;
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            q.get(k)
                .cloned()
                .ok_or_else(|| format!("the authorize URL has no {k}"))
        };
        if url.path() != "/i/oauth2/authorize" {
            return Err(format!("not the authorize path: {}", url.path()));
        }
        if get("response_type")? != "code" {
            return Err("response_type must be code".into());
        }
        if get("client_id")? != X_APP.0 {
            return Err("unknown client_id".into());
        }
        if get("code_challenge_method")? != "S256" {
            return Err("PKCE with S256 is required".into());
        }
        let challenge = get("code_challenge")?;
        let redirect_uri = get("redirect_uri")?;
        let state = get("state")?;
        let scopes: Vec<String> = get("scope")?.split(' ').map(str::to_owned).collect();
        let u = self.user(user);
        let code = secret("code-");
        self.codes.insert(
            code.clone(),
            Code {
                user: u.id,
                redirect_uri: redirect_uri.clone(),
                challenge,
                scopes,
            },
        );
        let mut back = url::Url::parse(&redirect_uri).map_err(|e| e.to_string())?;
        back.query_pairs_mut()
            .append_pair("state", &state)
            .append_pair("code", &code);
        Ok(back.to_string())
    }

    fn issue(&mut self, grant: u64) -> Value {
        let g = &self.grants[&grant];
        let (user, scopes) = (g.user.clone(), g.scopes.clone());
        let access = secret("xat-");
        self.access.insert(
            access.clone(),
            Access {
                user,
                grant,
                expires_at: Utc::now() + chrono::Duration::seconds(ACCESS_LIFETIME_SECS),
                scopes: scopes.clone(),
            },
        );
        let mut answer = json!({
            "token_type": "bearer", "expires_in": ACCESS_LIFETIME_SECS, "access_token": access, "scope": scopes.join(" "),
        });
        if scopes.iter().any(|s| s == "offline.access") {
            let refresh = secret("xrt-");
            self.refresh
                .insert(refresh.clone(), RefreshToken { grant, used: false });
            answer["refresh_token"] = json!(refresh);
        }
        answer
    }

    fn token(&mut self, r: &Req) -> Answer {
        if r.basic()
            .as_ref()
            .is_none_or(|(id, s)| id != X_APP.0 || s != X_APP.1)
        {
            return Answer::Json(
                401,
                json!({"error": "unauthorized_client", "error_description": "Missing valid authorization header"}),
                vec![],
            );
        }
        let f = |k: &str| r.form.get(k).cloned().unwrap_or_default();
        match f("grant_type").as_str() {
            "authorization_code" => {
                let Some(code) = self.codes.remove(&f("code")) else {
                    return token_error(
                        "invalid_request",
                        "Value passed for the authorization code was invalid.",
                    );
                };
                let verifier = f("code_verifier");
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(verifier.as_bytes()));
                if verifier.is_empty() || computed != code.challenge {
                    return token_error(
                        "invalid_request",
                        "Value passed for the code verifier did not match the code challenge.",
                    );
                }
                if f("redirect_uri") != code.redirect_uri {
                    return token_error("invalid_request", "Value passed for the redirect uri did not match the uri of the authorization code.");
                }
                self.serial += 1;
                let grant = self.serial;
                self.grants.insert(
                    grant,
                    Grant {
                        user: code.user,
                        dead: false,
                        scopes: code.scopes,
                    },
                );
                Answer::Json(200, self.issue(grant), vec![])
            }
            "refresh_token" => {
                let presented = f("refresh_token");
                let Some(rt) = self.refresh.get_mut(&presented) else {
                    return token_error(
                        "invalid_request",
                        "Value passed for the token was invalid.",
                    );
                };
                let grant = rt.grant;
                if rt.used {
                    // Reuse of a rotated refresh token ends the whole grant, as reported of X.
                    if let Some(g) = self.grants.get_mut(&grant) {
                        g.dead = true;
                    }
                    return token_error(
                        "invalid_request",
                        "Value passed for the token was invalid.",
                    );
                }
                rt.used = true;
                if self.grants.get(&grant).is_none_or(|g| g.dead) {
                    return token_error(
                        "invalid_request",
                        "Value passed for the token was invalid.",
                    );
                }
                let user = self.grants[&grant].user.clone();
                self.refreshes.entry(user).or_default().answered += 1;
                Answer::Json(200, self.issue(grant), vec![])
            }
            _ => token_error("unsupported_grant_type", "Unsupported grant type"),
        }
    }

    fn revoke_token(&mut self, r: &Req) -> Answer {
        if r.basic()
            .as_ref()
            .is_none_or(|(id, s)| id != X_APP.0 || s != X_APP.1)
        {
            return Answer::Json(401, json!({"error": "unauthorized_client"}), vec![]);
        }
        let token = r.form.get("token").cloned().unwrap_or_default();
        let grant = self
            .access
            .get(&token)
            .map(|a| a.grant)
            .or_else(|| self.refresh.get(&token).map(|t| t.grant));
        if let Some(g) = grant.and_then(|g| self.grants.get_mut(&g)) {
            g.dead = true;
        }
        Answer::Json(200, json!({"revoked": true}), vec![])
    }

    /// The user a bearer token acts for, if it is live and holds `scope`.
    fn authed(&self, r: &Req, scope: &str) -> Result<String, Answer> {
        let a = r
            .bearer()
            .and_then(|t| self.access.get(t))
            .ok_or_else(unauthorized)?;
        if a.expires_at <= Utc::now() || self.grants.get(&a.grant).is_none_or(|g| g.dead) {
            return Err(unauthorized());
        }
        if !a.scopes.iter().any(|s| s == scope) {
            return Err(problem(
                403,
                "Forbidden",
                &format!("Missing scope {scope}"),
                "https://api.x.com/2/problems/client-forbidden",
            ));
        }
        Ok(a.user.clone())
    }

    fn rate_headers(&mut self, user: &str, spend: bool) -> (bool, Vec<(String, String)>) {
        let now = Utc::now();
        let entry = self
            .window
            .entry(user.to_owned())
            .or_insert((0, now + chrono::Duration::minutes(15)));
        if entry.1 <= now {
            *entry = (0, now + chrono::Duration::minutes(15));
        }
        let allowed = entry.0 < POST_LIMIT;
        if spend && allowed {
            entry.0 += 1;
        }
        let headers = vec![
            ("x-rate-limit-limit".into(), POST_LIMIT.to_string()),
            (
                "x-rate-limit-remaining".into(),
                POST_LIMIT.saturating_sub(entry.0).to_string(),
            ),
            ("x-rate-limit-reset".into(), entry.1.timestamp().to_string()),
        ];
        (allowed, headers)
    }

    fn create_post(&mut self, r: &Req) -> Answer {
        let user = match self.authed(r, "tweet.write") {
            Ok(u) => u,
            Err(a) => return a,
        };
        if let Some(wait) = self.rate_limit_next.take() {
            let reset = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            let reset_secs = reset.timestamp() + i64::from(reset.timestamp_subsec_nanos() > 0);
            self.window.insert(
                user.clone(),
                (
                    POST_LIMIT,
                    DateTime::from_timestamp(reset_secs, 0).unwrap_or(reset),
                ),
            );
            let (_, headers) = self.rate_headers(&user, false);
            return Answer::Json(
                429,
                json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
                headers,
            );
        }
        let (allowed, headers) = self.rate_headers(&user, true);
        if !allowed {
            return Answer::Json(
                429,
                json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
                headers,
            );
        }
        if self.fail_next_5xx > 0 {
            self.fail_next_5xx -= 1;
            return problem(
                503,
                "Service Unavailable",
                "Service Unavailable",
                "about:blank",
            );
        }
        if let Some(message) = self.reject_next.take() {
            return problem(403, "Forbidden", &message, "about:blank");
        }
        let Some(body) = r.json.as_ref() else {
            return invalid("the body must be JSON");
        };
        let allowed_keys = [
            "text",
            "media",
            "reply",
            "reply_settings",
            "quote_tweet_id",
            "poll",
            "geo",
            "nullcast",
            "for_super_followers_only",
            "made_with_ai",
            "paid_partnership",
            "community_id",
            "card_uri",
            "direct_message_deep_link",
            "edit_options",
            "share_with_followers",
        ];
        if let Some(k) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| !allowed_keys.contains(&k.as_str())))
        {
            return invalid(&format!("The `{k}` field is not allowed"));
        }
        let text = body["text"].as_str().unwrap_or("").to_owned();
        let media: Vec<String> = body["media"]["media_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if text.is_empty() && media.is_empty() {
            return invalid("text or media is required");
        }
        if postora::domain::content::x_weighted_length(&text) > 280 {
            return problem(
                403,
                "Forbidden",
                "Your Tweet text is too long.",
                "about:blank",
            );
        }
        if media.len() > 4 {
            return invalid("media_ids holds at most 4 items");
        }
        for id in &media {
            match self.uploads.get(id) {
                Some(u) if u.owner == user && u.finalized && u.polls_left == 0 => {}
                Some(u) if u.owner == user && u.finalized => {
                    return invalid(&format!("Media id {id} is still processing"))
                }
                _ => return invalid(&format!("Your media IDs are invalid: {id}")),
            }
        }
        let reply_to = body["reply"]["in_reply_to_tweet_id"]
            .as_str()
            .map(str::to_owned);
        let conversation = match &reply_to {
            Some(parent) => match self.posts.iter().find(|p| &p.id == parent) {
                Some(p) => Some(p.conversation_id.clone()),
                None => return invalid("The Tweet you are replying to does not exist"),
            },
            None => None,
        };
        if let Some(rs) = body.get("reply_settings") {
            if !matches!(
                rs.as_str(),
                Some("following" | "mentionedUsers" | "subscribers" | "verified")
            ) {
                return invalid("reply_settings is not one of the allowed values");
            }
        }
        if self
            .posts
            .iter()
            .any(|p| p.author == user && p.text == text && !text.is_empty())
        {
            return problem(
                403,
                "Forbidden",
                "You are not allowed to create a Tweet with duplicate content.",
                "about:blank",
            );
        }
        let id = self.next_id();
        self.posts.push(Post {
            id: id.clone(),
            author: user,
            text: text.clone(),
            reply_to,
            conversation_id: conversation.unwrap_or_else(|| id.clone()),
            media,
            reply_settings: body["reply_settings"].as_str().map(str::to_owned),
            created_at: Utc::now(),
        });
        if std::mem::take(&mut self.lose_next) {
            return Answer::Drop;
        }
        Answer::Json(
            201,
            json!({"data": {"id": id, "text": shown(&text), "edit_history_post_ids": [id]}}),
            headers,
        )
    }

    fn list_posts(&mut self, r: &Req, user_id: &str) -> Answer {
        if let Err(a) = self.authed(r, "tweet.read") {
            return a;
        }
        let known = [
            "start_time",
            "end_time",
            "max_results",
            "pagination_token",
            "since_id",
            "until_id",
            "exclude",
            "tweet.fields",
            "post.fields",
            "expansions",
            "media.fields",
            "user.fields",
            "poll.fields",
            "place.fields",
        ];
        if let Some(k) = r.query.keys().find(|k| !known.contains(&k.as_str())) {
            return invalid(&format!(
                "The query parameter [{k}] is not one of [{}]",
                known.join(",")
            ));
        }
        if self.user_by_id(user_id).is_none() {
            return problem(
                404,
                "Not Found Error",
                "Could not find user",
                "https://api.x.com/2/problems/resource-not-found",
            );
        }
        let start = match r
            .query
            .get("start_time")
            .map(|s| DateTime::parse_from_rfc3339(s))
        {
            Some(Ok(t)) => Some(t.with_timezone(&Utc)),
            Some(Err(_)) => return invalid("Invalid 'start_time'"),
            None => None,
        };
        let max: usize = r
            .query
            .get("max_results")
            .and_then(|m| m.parse().ok())
            .unwrap_or(10);
        if !(5..=100).contains(&max) {
            return invalid("The `max_results` query parameter value is not between 5 and 100");
        }
        let since_id: Option<u128> = r.query.get("since_id").and_then(|s| s.parse().ok());
        let offset: usize = r
            .query
            .get("pagination_token")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let fields: Vec<String> = r
            .query
            .get("tweet.fields")
            .or_else(|| r.query.get("post.fields"))
            .map(|f| f.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let mut mine: Vec<&Post> = self
            .posts
            .iter()
            .filter(|p| p.author == user_id)
            .filter(|p| start.is_none_or(|s| p.created_at >= s))
            .filter(|p| since_id.is_none_or(|s| p.id.parse::<u128>().is_ok_and(|id| id > s)))
            .collect();
        mine.reverse();
        let page: Vec<Value> = mine
            .iter()
            .skip(offset)
            .take(max)
            .map(|p| {
                let mut v =
                    json!({"id": p.id, "text": shown(&p.text), "edit_history_post_ids": [p.id]});
                for f in &fields {
                    match f.as_str() {
                        "created_at" => {
                            v["created_at"] =
                                json!(p.created_at.to_rfc3339_opts(SecondsFormat::Millis, true))
                        }
                        "conversation_id" => v["conversation_id"] = json!(p.conversation_id),
                        "referenced_tweets" | "referenced_posts" => {
                            if let Some(parent) = &p.reply_to {
                                v[f.as_str()] = json!([{"type": "replied_to", "id": parent}]);
                            }
                        }
                        _ => {}
                    }
                }
                v
            })
            .collect();
        let mut meta = json!({"result_count": page.len()});
        if offset + max < mine.len() {
            meta["next_token"] = json!((offset + max).to_string());
        }
        if page.is_empty() {
            return Answer::Json(200, json!({"meta": meta}), vec![]);
        }
        Answer::Json(200, json!({"data": page, "meta": meta}), vec![])
    }

    fn media_answer(&self, id: &str) -> Value {
        let u = &self.uploads[id];
        let mut data = json!({"id": id, "media_key": format!("3_{id}"), "expires_after_secs": 86400, "size": u.total});
        if u.finalized && u.category != "tweet_image" {
            data["processing_info"] = if u.polls_left > 0 {
                json!({"state": if u.polls_left > 1 { "pending" } else { "in_progress" }, "check_after_secs": 1, "progress_percent": 50})
            } else {
                json!({"state": "succeeded", "progress_percent": 100})
            };
        }
        json!({ "data": data })
    }

    fn serve_media(&mut self, r: &Req, segments: &[&str]) -> Answer {
        let user = match self.authed(r, "media.write") {
            Ok(u) => u,
            Err(a) => return a,
        };
        let owned = |w: &World, id: &str| w.uploads.get(id).is_some_and(|u| u.owner == user);
        match (r.method.clone(), segments) {
            (Method::POST, ["upload"]) => {
                let Some(media) = r.parts.get("media") else {
                    return invalid("media is required");
                };
                let category = r
                    .parts
                    .get("media_category")
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .unwrap_or_default();
                if !["tweet_image", "tweet_gif", "tweet_video"].contains(&category.as_str()) {
                    return invalid("media_category is required");
                }
                let id = self.next_id();
                let polls = if category == "tweet_image" {
                    0
                } else {
                    self.processing_polls
                };
                self.uploads.insert(
                    id.clone(),
                    Upload {
                        owner: user,
                        category,
                        total: media.len() as u64,
                        received: media.len() as u64,
                        finalized: true,
                        polls_left: polls,
                        alt: None,
                    },
                );
                Answer::Json(200, self.media_answer(&id), vec![])
            }
            (Method::POST, ["upload", "initialize"]) => {
                let Some(b) = r.json.as_ref() else {
                    return invalid("the body must be JSON");
                };
                let (Some(media_type), Some(total), Some(category)) = (
                    b["media_type"].as_str(),
                    b["total_bytes"].as_u64(),
                    b["media_category"].as_str(),
                ) else {
                    return invalid("media_type, total_bytes and media_category are required");
                };
                if !media_type.starts_with("image/") && !media_type.starts_with("video/") {
                    return invalid("media_type is not allowed");
                }
                let id = self.next_id();
                self.uploads.insert(
                    id.clone(),
                    Upload {
                        owner: user,
                        category: category.to_owned(),
                        total,
                        received: 0,
                        finalized: false,
                        polls_left: 0,
                        alt: None,
                    },
                );
                Answer::Json(
                    200,
                    json!({"data": {"id": id, "media_key": format!("7_{id}"), "expires_after_secs": 86400}}),
                    vec![],
                )
            }
            (Method::POST, ["upload", id, "append"]) if owned(self, id) => {
                let (Some(media), Some(index)) =
                    (r.parts.get("media"), r.parts.get("segment_index"))
                else {
                    return invalid("media and segment_index are required");
                };
                if String::from_utf8_lossy(index)
                    .parse::<u32>()
                    .map_or(true, |i| i > 999)
                {
                    return invalid("segment_index must be 0 to 999");
                }
                let u = self.uploads.get_mut(*id).expect("owned");
                u.received += media.len() as u64;
                Answer::Json(
                    200,
                    json!({"data": {"expires_at": Utc::now().timestamp() + 86400}}),
                    vec![],
                )
            }
            (Method::POST, ["upload", id, "finalize"]) if owned(self, id) => {
                let polls = self.processing_polls;
                let u = self.uploads.get_mut(*id).expect("owned");
                if u.received != u.total {
                    return invalid(&format!(
                        "File size mismatch: expected {} bytes, received {}",
                        u.total, u.received
                    ));
                }
                u.finalized = true;
                u.polls_left = polls;
                Answer::Json(200, self.media_answer(id), vec![])
            }
            (Method::GET, ["upload"]) => {
                let id = r.query.get("media_id").cloned().unwrap_or_default();
                if r.query.get("command").is_some_and(|c| c != "STATUS") || !owned(self, &id) {
                    return problem(
                        404,
                        "Not Found Error",
                        "Could not find media",
                        "https://api.x.com/2/problems/resource-not-found",
                    );
                }
                let answer = self.media_answer(&id);
                if let Some(u) = self.uploads.get_mut(&id) {
                    u.polls_left = u.polls_left.saturating_sub(1);
                }
                Answer::Json(200, answer, vec![])
            }
            (Method::POST, ["metadata"]) => {
                let Some(b) = r.json.as_ref() else {
                    return invalid("the body must be JSON");
                };
                let id = b["id"].as_str().unwrap_or_default().to_owned();
                let Some(text) = b["metadata"]["alt_text"]["text"].as_str() else {
                    return invalid("metadata.alt_text.text is required");
                };
                if text.chars().count() > 1000 {
                    return invalid("alt_text.text is longer than 1000 characters");
                }
                if !owned(self, &id) {
                    return problem(
                        404,
                        "Not Found Error",
                        "Could not find media",
                        "https://api.x.com/2/problems/resource-not-found",
                    );
                }
                self.uploads.get_mut(&id).expect("owned").alt = Some(text.to_owned());
                Answer::Json(
                    200,
                    json!({"data": {"id": id, "associated_metadata": {"alt_text": {"text": text}}}}),
                    vec![],
                )
            }
            _ => problem(
                404,
                "Not Found Error",
                "Could not find media",
                "https://api.x.com/2/problems/resource-not-found",
            ),
        }
    }
}

/// Answers one request from the world.
pub fn serve(w: &mut World, r: &Req) -> Answer {
    w.calls.push((r.method.clone(), r.path.clone()));
    let segments: Vec<&str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
    match (r.method.clone(), segments.as_slice()) {
        (Method::GET, ["i", "oauth2", "authorize"]) => {
            let url = format!(
                "http://x.invalid{}?{}",
                r.path,
                serde_urlencoded::to_string(&r.query).unwrap_or_default()
            );
            match w.consent(&url, DEFAULT_USER) {
                Ok(to) => Answer::Redirect(to),
                Err(e) => Answer::Json(
                    400,
                    json!({"error": "invalid_request", "error_description": e}),
                    vec![],
                ),
            }
        }
        (Method::POST, ["2", "oauth2", "token"]) => w.token(r),
        (Method::POST, ["2", "oauth2", "revoke"]) => w.revoke_token(r),
        (Method::GET, ["2", "users", "me"]) => match w.authed(r, "users.read") {
            Ok(user) => {
                let u = w.user_by_id(&user).cloned().expect("a token's user exists");
                Answer::Json(
                    200,
                    json!({"data": {"id": u.id, "name": format!("{} (fake)", u.username), "username": u.username,
                    "profile_image_url": "https://pbs.twimg.com/profile_images/1/normal.jpg", "description": "A fake X user"}}),
                    vec![],
                )
            }
            Err(a) => a,
        },
        (Method::POST, ["2", "tweets"]) => w.create_post(r),
        (Method::GET, ["2", "users", id, "tweets"]) => w.list_posts(r, id),
        (_, ["2", "media", rest @ ..]) => w.serve_media(r, rest),
        _ => problem(
            404,
            "Not Found Error",
            "Sorry, that page does not exist",
            "about:blank",
        ),
    }
}

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

async fn handle(State(world): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut req = Req {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        form: HashMap::new(),
        json: None,
        parts: HashMap::new(),
    };
    if content_type.starts_with("multipart/form-data") {
        let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
            return (StatusCode::BAD_REQUEST, "bad multipart").into_response();
        };
        while let Ok(Some(field)) = multipart.next_field().await {
            let name = field.name().unwrap_or_default().to_owned();
            let Ok(bytes) = field.bytes().await else {
                return (StatusCode::BAD_REQUEST, "bad multipart").into_response();
            };
            req.parts.insert(name, bytes.to_vec());
        }
    } else {
        let body: Bytes = axum::body::to_bytes(request.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            req.form = url::form_urlencoded::parse(&body).into_owned().collect();
        } else if content_type.starts_with("application/json") {
            req.json = serde_json::from_slice(&body).ok();
        }
    }
    let is_refresh = req.path == "/2/oauth2/token"
        && req
            .form
            .get("grant_type")
            .is_some_and(|g| g == "refresh_token");
    // A refresh is in flight for a moment, so refreshes that overlap are seen overlapping.
    let refresher = if is_refresh {
        let mut w = lock(&world);
        let user = req
            .form
            .get("refresh_token")
            .and_then(|t| w.refresh.get(t))
            .and_then(|t| w.grants.get(&t.grant))
            .map(|g| g.user.clone());
        if let Some(u) = &user {
            let c = w.refreshes.entry(u.clone()).or_default();
            c.in_flight += 1;
            c.max_in_flight = c.max_in_flight.max(c.in_flight);
        }
        user
    } else {
        None
    };
    if refresher.is_some() {
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let answer = {
        let mut w = lock(&world);
        if let Some(u) = &refresher {
            if let Some(c) = w.refreshes.get_mut(u) {
                c.in_flight -= 1;
            }
        }
        serve(&mut w, &req)
    };
    match answer {
        Answer::Json(status, v, extra) => {
            let mut resp = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                axum::Json(v),
            )
                .into_response();
            for (k, v) in extra {
                if let (Ok(k), Ok(v)) = (
                    header::HeaderName::from_bytes(k.as_bytes()),
                    header::HeaderValue::from_str(&v),
                ) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
        Answer::Problem(status, v) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/problem+json")
            .body(Body::from(v.to_string()))
            .unwrap_or_default(),
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Drop => super::cut_off(StatusCode::CREATED),
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeX {
    server: super::Served,
    world: Shared,
}

impl FakeX {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start() -> FakeX {
        let world: Shared = Arc::new(Mutex::new(World {
            processing_polls: 2,
            ..World::default()
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(world.clone());
        FakeX {
            server: super::Served::start(app).await,
            world,
        }
    }

    pub fn origin(&self) -> url::Url {
        self.server.origin.clone()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// The adapter's configuration pointed at this fake, polling every few milliseconds.
    pub fn config(&self) -> XConfig {
        XConfig {
            auth_origin: self.origin(),
            api_origin: self.origin(),
            polling: HintedPolling {
                default_wait: Duration::from_millis(5),
                max_wait: Duration::from_millis(20),
                give_up_after: Duration::from_secs(5),
            },
            ..XConfig::new(X_APP.0, SecretString::from(X_APP.1.to_owned()))
        }
    }

    /// Approves the consent as `user`; the callback URL with the code and state.
    pub fn approve(&self, authorize: &str, user: &str) -> String {
        self.world()
            .consent(authorize, user)
            .unwrap_or_else(|e| panic!("the consent page refused: {e}"))
    }

    /// Every post the fake holds, oldest first.
    pub fn all_posts(&self) -> Vec<Post> {
        self.world().posts.clone()
    }

    /// The alternative text of an upload.
    pub fn alt_of(&self, media_id: &str) -> Option<String> {
        self.world()
            .uploads
            .get(media_id)
            .and_then(|u| u.alt.clone())
    }

    /// The category an upload was filed under.
    pub fn category_of(&self, media_id: &str) -> Option<String> {
        self.world()
            .uploads
            .get(media_id)
            .map(|u| u.category.clone())
    }

    /// How many requests went to `method` `path` (path prefix).
    pub fn calls(&self, method: Method, prefix: &str) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|(m, p)| *m == method && p.starts_with(prefix))
            .count()
    }

    /// How many status reads a new video or GIF upload answers `pending`/`in_progress` after its finalize.
    pub fn set_processing_polls(&self, n: u32) {
        self.world().processing_polls = n;
    }

    /// The next `n` posts are answered 503 (nothing is created).
    pub fn fail_next_posts(&self, n: u32) {
        self.world().fail_next_5xx = n;
    }

    /// Every access and refresh token the fake issued, and the app's secret: what must never appear in a log.
    pub fn secrets(&self) -> Vec<String> {
        let w = self.world();
        let mut all: Vec<String> = w.access.keys().chain(w.refresh.keys()).cloned().collect();
        all.push(X_APP.1.to_owned());
        all
    }

    /// Whether any grant of `user` is still alive.
    pub fn grant_alive(&self, user: &str) -> bool {
        let w = self.world();
        let Some(id) = w.users.get(user).map(|u| u.id.clone()) else {
            return false;
        };
        w.grants.values().any(|g| g.user == id && !g.dead)
    }

    fn user_id_of(&self, user: &str) -> String {
        self.world().user(user).id
    }

    /// The environment that points Postora's X adapter at this fake.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_X_CLIENT_ID".into(), X_APP.0.into()),
            ("POSTORA_X_CLIENT_SECRET".into(), X_APP.1.into()),
            ("POSTORA_X_AUTH_URL".into(), origin.clone()),
            ("POSTORA_X_API_URL".into(), origin),
        ]
    }
}

#[async_trait]
impl PlatformPeer for FakeX {
    fn kind(&self) -> PlatformKind {
        PlatformKind::X
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Rotates,
            pkce: true,
            images: true,
            video: true,
            threads: true,
            lost_answer: LostAnswer::Searched,
            needs_media: NeedsMedia::Nothing,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        self.env_pairs()
    }

    async fn consent(&self, authorize_url: &str, user: &str) -> String {
        self.approve(authorize_url, user)
    }

    async fn user_id(&self, user: &str) -> String {
        self.user_id_of(user)
    }

    async fn posts(&self, user: &str) -> Vec<PeerPost> {
        let id = self.user_id_of(user);
        let w = self.world();
        w.posts
            .iter()
            .filter(|p| p.author == id)
            .map(|p| PeerPost {
                id: p.id.clone(),
                text: p.text.clone(),
                reply_to: p.reply_to.clone(),
                media: p
                    .media
                    .iter()
                    .map(|m| {
                        let u = w.uploads.get(m);
                        PeerMedia {
                            kind: if u.is_some_and(|u| u.category == "tweet_video") {
                                "video"
                            } else {
                                "image"
                            }
                            .into(),
                            alt: u.and_then(|u| u.alt.clone()),
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    async fn revoke(&self, user: &str) {
        let id = self.user_id_of(user);
        for g in self.world().grants.values_mut().filter(|g| g.user == id) {
            g.dead = true;
        }
    }

    async fn expire_access(&self, user: &str) {
        let id = self.user_id_of(user);
        let past = Utc::now() - chrono::Duration::seconds(1);
        for a in self.world().access.values_mut().filter(|a| a.user == id) {
            a.expires_at = past;
        }
    }

    async fn rate_limit_next(&self, wait: Duration) {
        self.world().rate_limit_next = Some(wait);
    }

    async fn reject_next(&self, message: &str) {
        self.world().reject_next = Some(message.to_owned());
    }

    async fn lose_next_answer(&self) {
        self.world().lose_next = true;
    }

    async fn refreshes(&self, user: &str) -> (usize, usize) {
        let id = self.user_id_of(user);
        let w = self.world();
        w.refreshes
            .get(&id)
            .map_or((0, 0), |c| (c.answered, c.max_in_flight))
    }
}
