//! A fake TikTok following TikTok's developer documentation (Login Kit for Web, OAuth v2, Display API user info,
//! Content Posting API): the consent page, `POST /v2/oauth/token/` (client_key and client_secret in the form,
//! rotating refresh tokens), `POST /v2/oauth/revoke/`, `GET /v2/user/info/`, the creator info query, the direct and
//! inbox video inits with FILE_UPLOAD, the upload URL taking chunks by the media transfer guide's rules (sizes,
//! `total_chunk_count`, order and `Content-Range` checked, a wrong one refused as TikTok refuses it; 206 for a
//! chunk, 201 for the last), and `status/fetch` going through PROCESSING_UPLOAD to PUBLISH_COMPLETE (or
//! SEND_TO_USER_INBOX, or FAILED). Answers carry `{"data", "error": {"code", "message", "log_id"}}`.
//!
//! It misbehaves on command: a rate limit (`rate_limit_exceeded`, 429, no header), refused content, a connection
//! dropped after the last chunk landed, slow status answers, an unaudited app, a failed processing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use postora::domain::PlatformKind;
use postora::platforms::tiktok::upload::Polling;
use postora::platforms::tiktok::TiktokConfig;
use rand::Rng;
use secrecy::SecretString;
use serde_json::{json, Value};

use super::received::{first_of, read_chunk, Received};
use crate::platform_suite::{
    Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh,
};

/// The app the fake knows: (client key, client secret).
pub const TIKTOK_APP: (&str, &str) = ("tt-client-key-1", "tt-secret-5d4c3b2a");
/// The person the consent page approves as when a browser follows the authorize URL.
pub const DEFAULT_USER: &str = "pat";
/// Access tokens live a day, refresh tokens a year (the lifetimes of TikTok's current documentation).
pub const ACCESS_LIFETIME_SECS: i64 = 86_400;
pub const REFRESH_LIFETIME_SECS: i64 = 31_536_000;
/// Inits per access token per minute.
pub const INIT_LIMIT: usize = 6;

const MB: u64 = 1 << 20;

#[derive(Debug, Clone)]
struct User {
    open_id: String,
    username: String,
    privacy_level_options: Vec<String>,
    private_account: bool,
}

struct Code {
    user: String,
    redirect_uri: String,
    scopes: Vec<String>,
}

struct Access {
    user: String,
    grant: u64,
    expires_at: DateTime<Utc>,
    scopes: Vec<String>,
    inits: Vec<DateTime<Utc>>,
}

struct Grant {
    user: String,
    dead: bool,
    scopes: Vec<String>,
}

/// One publish, by its publish id.
#[derive(Debug, Clone)]
pub struct Publish {
    pub owner: String,
    pub inbox: bool,
    pub title: String,
    pub privacy_level: Option<String>,
    pub post_info: Value,
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
    pub received: u64,
    pub chunks: u64,
    pub upload_token: String,
    /// Status reads left before processing ends, once the upload is whole.
    pub polls_left: u32,
    pub failed: Option<String>,
    /// The post, once the upload is whole.
    pub post_id: Option<u64>,
    /// The links of a photo post's photos (PULL_FROM_URL).
    pub photos: Vec<String>,
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
    origin: String,
    users: HashMap<String, User>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    /// Refresh token → (grant, used).
    refresh: HashMap<String, (u64, bool)>,
    grants: HashMap<u64, Grant>,
    pub publishes: HashMap<String, Publish>,
    /// Publish ids in the order their posts landed.
    landed: Vec<String>,
    rate_limited_until: Option<DateTime<Utc>>,
    rate_limit_next: Option<Duration>,
    reject_next: Option<String>,
    lose_next: bool,
    fail_next_processing: Option<String>,
    processing_polls: u32,
    unaudited: bool,
    /// URL prefixes verified for PULL_FROM_URL.
    verified_prefixes: Vec<String>,
    slow: Option<Duration>,
    refreshes: HashMap<String, RefreshCount>,
    /// Every request's method and path, in order.
    pub calls: Vec<(Method, String)>,
    /// In digest mode ([`FakeTiktok::keep_digests_only`]): what arrived of each upload, by publish id, instead of
    /// the chunks' bytes.
    pub digests: Option<HashMap<String, Received>>,
}

fn secret(prefix: &str) -> String {
    let n: u128 = rand::thread_rng().gen();
    format!("{prefix}{n:032x}")
}

fn log_id() -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("2026113003{n:020}")
}

/// What the server sends back.
pub enum Answer {
    Json(u16, Value),
    Redirect(String),
    /// The work is done, and the connection drops before an answer.
    Drop,
}

fn ok(data: Value) -> Answer {
    Answer::Json(
        200,
        json!({"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}}),
    )
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    Answer::Json(
        status,
        json!({"data": {}, "error": {"code": code, "message": message, "log_id": log_id()}}),
    )
}

fn token_error(error: &str, description: &str) -> Answer {
    Answer::Json(
        400,
        json!({"error": error, "error_description": description, "log_id": log_id()}),
    )
}

/// A request as the world sees it.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub form: HashMap<String, String>,
    pub json: Option<Value>,
    pub body: Bytes,
    /// The body's length (in digest mode an upload's chunk is counted as it streams in, and `body` stays empty).
    pub body_len: u64,
}

impl Req {
    fn bearer(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// The chunk rules of TikTok's media transfer guide, for an init's `source_info`.
pub fn check_chunks(video_size: u64, chunk_size: u64, total: u64) -> Result<(), String> {
    if video_size == 0 || chunk_size == 0 {
        return Err("video_size and chunk_size must be positive".into());
    }
    if video_size < 5 * MB && (chunk_size != video_size || total != 1) {
        return Err("a video under 5 MB must be uploaded whole: chunk_size equal to video_size, total_chunk_count 1".into());
    }
    if video_size > 64 * MB && total < 2 {
        return Err("a video over 64 MB must be uploaded in several chunks".into());
    }
    if chunk_size > video_size {
        return Err("chunk_size is larger than video_size".into());
    }
    if video_size >= 5 * MB && !(5 * MB..=64 * MB).contains(&chunk_size) {
        return Err("chunk_size must be from 5 MB to 64 MB".into());
    }
    if total != video_size / chunk_size {
        return Err(format!(
            "total_chunk_count must be video_size / chunk_size rounded down ({})",
            video_size / chunk_size
        ));
    }
    if !(1..=1000).contains(&total) {
        return Err("total_chunk_count must be from 1 to 1000".into());
    }
    if video_size - (total - 1) * chunk_size > 128 * MB {
        return Err("the final chunk may hold at most 128 MB".into());
    }
    Ok(())
}

impl World {
    fn next(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn user(&mut self, name: &str) -> User {
        if let Some(u) = self.users.get(name) {
            return u.clone();
        }
        let n = self.next();
        let u = User {
            open_id: format!("-000{n:04}-{}", &secret("")[..12]),
            username: name.to_owned(),
            privacy_level_options: [
                "PUBLIC_TO_EVERYONE",
                "MUTUAL_FOLLOW_FRIENDS",
                "FOLLOWER_OF_CREATOR",
                "SELF_ONLY",
            ]
            .map(str::to_owned)
            .to_vec(),
            private_account: false,
        };
        self.users.insert(name.to_owned(), u.clone());
        u
    }

    fn user_by_open_id(&self, open_id: &str) -> Option<&User> {
        self.users.values().find(|u| u.open_id == open_id)
    }

    /// The consent page: checks the request as TikTok does and approves as `user`; the URL to send the browser to.
    pub fn consent(&mut self, authorize: &str, user: &str) -> Result<String, String> {
        let url = url::Url::parse(authorize).map_err(|e| e.to_string())?;
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            q.get(k)
                .cloned()
                .ok_or_else(|| format!("the authorize URL has no {k}"))
        };
        if url.path() != "/v2/auth/authorize/" {
            return Err(format!("not the authorize path: {}", url.path()));
        }
        if get("response_type")? != "code" {
            return Err("response_type must be code".into());
        }
        if get("client_key")? != TIKTOK_APP.0 {
            return Err("unknown client_key".into());
        }
        let redirect_uri = get("redirect_uri")?;
        let state = get("state")?;
        let scopes: Vec<String> = get("scope")?.split(',').map(str::to_owned).collect();
        for s in &scopes {
            if ![
                "user.info.basic",
                "video.publish",
                "video.upload",
                "video.list",
            ]
            .contains(&s.as_str())
            {
                return Err(format!("scope {s} is not one the app may ask for"));
            }
        }
        let u = self.user(user);
        let code = secret("code-");
        self.codes.insert(
            code.clone(),
            Code {
                user: u.open_id,
                redirect_uri: redirect_uri.clone(),
                scopes,
            },
        );
        let mut back = url::Url::parse(&redirect_uri).map_err(|e| e.to_string())?;
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("scopes", &q["scope"])
            .append_pair("state", &state);
        Ok(back.to_string())
    }

    fn issue(&mut self, grant: u64) -> Value {
        let g = &self.grants[&grant];
        let (user, scopes) = (g.user.clone(), g.scopes.clone());
        let access = secret("act.");
        self.access.insert(
            access.clone(),
            Access {
                user: user.clone(),
                grant,
                expires_at: Utc::now() + chrono::Duration::seconds(ACCESS_LIFETIME_SECS),
                scopes: scopes.clone(),
                inits: vec![],
            },
        );
        let refresh = secret("rft.");
        self.refresh.insert(refresh.clone(), (grant, false));
        json!({
            "access_token": access, "expires_in": ACCESS_LIFETIME_SECS, "open_id": user,
            "refresh_expires_in": REFRESH_LIFETIME_SECS, "refresh_token": refresh,
            "scope": scopes.join(","), "token_type": "Bearer",
        })
    }

    fn token(&mut self, r: &Req) -> Answer {
        let f = |k: &str| r.form.get(k).cloned().unwrap_or_default();
        if f("client_key") != TIKTOK_APP.0 || f("client_secret") != TIKTOK_APP.1 {
            return token_error("invalid_client", "Client key or secret is incorrect.");
        }
        match f("grant_type").as_str() {
            "authorization_code" => {
                let Some(code) = self.codes.remove(&f("code")) else {
                    return token_error("invalid_grant", "Authorization code is expired.");
                };
                if f("redirect_uri") != code.redirect_uri {
                    return token_error("invalid_request", "The redirect_uri does not match.");
                }
                let grant = self.next();
                self.grants.insert(
                    grant,
                    Grant {
                        user: code.user,
                        dead: false,
                        scopes: code.scopes,
                    },
                );
                Answer::Json(200, self.issue(grant))
            }
            "refresh_token" => {
                let presented = f("refresh_token");
                let Some((grant, used)) = self.refresh.get(&presented).copied() else {
                    return token_error("invalid_grant", "Refresh token is invalid or expired.");
                };
                if used || self.grants.get(&grant).is_none_or(|g| g.dead) {
                    return token_error("invalid_grant", "Refresh token is invalid or expired.");
                }
                // The refresh token rotates: the old one is spent.
                self.refresh.insert(presented, (grant, true));
                let user = self.grants[&grant].user.clone();
                self.refreshes.entry(user).or_default().answered += 1;
                Answer::Json(200, self.issue(grant))
            }
            _ => token_error("unsupported_grant_type", "The grant type is not supported."),
        }
    }

    fn revoke_token(&mut self, r: &Req) -> Answer {
        let f = |k: &str| r.form.get(k).cloned().unwrap_or_default();
        if f("client_key") != TIKTOK_APP.0 || f("client_secret") != TIKTOK_APP.1 {
            return token_error("invalid_client", "Client key or secret is incorrect.");
        }
        if let Some(g) = self
            .access
            .get(&f("token"))
            .map(|a| a.grant)
            .and_then(|g| self.grants.get_mut(&g))
        {
            g.dead = true;
        }
        Answer::Json(200, json!({}))
    }

    /// The user a bearer token acts for, if it is live and holds `scope`.
    fn authed(&self, r: &Req, scope: &str) -> Result<String, Answer> {
        let invalid = || {
            error(
                401,
                "access_token_invalid",
                "The access token is invalid or not found in the request.",
            )
        };
        let a = r
            .bearer()
            .and_then(|t| self.access.get(t))
            .ok_or_else(invalid)?;
        if a.expires_at <= Utc::now() || self.grants.get(&a.grant).is_none_or(|g| g.dead) {
            return Err(invalid());
        }
        if !a.scopes.iter().any(|s| s == scope) {
            return Err(error(
                401,
                "scope_not_authorized",
                &format!("The user did not authorize the scope required for completing this request: {scope}"),
            ));
        }
        Ok(a.user.clone())
    }

    fn user_info(&self, r: &Req) -> Answer {
        let user = match self.authed(r, "user.info.basic") {
            Ok(u) => u,
            Err(a) => return a,
        };
        let Some(fields) = r.query.get("fields") else {
            return error(400, "invalid_params", "fields is required");
        };
        let u = self.user_by_open_id(&user).expect("a token's user exists");
        let mut out = json!({});
        for f in fields.split(',') {
            match f {
                "open_id" => out["open_id"] = json!(u.open_id),
                "union_id" => out["union_id"] = json!(format!("u{}", u.open_id)),
                "avatar_url" => out["avatar_url"] = json!("https://p16.tiktokcdn.com/avatar.jpeg"),
                "display_name" => out["display_name"] = json!(format!("{} (fake)", u.username)),
                // username needs user.info.profile, which Postora does not ask for.
                "username" | "bio_description" | "profile_deep_link" | "is_verified" => {
                    return error(
                        401,
                        "scope_not_authorized",
                        &format!("The field {f} needs the scope user.info.profile"),
                    )
                }
                other => return error(400, "invalid_params", &format!("unknown field {other}")),
            }
        }
        ok(json!({ "user": out }))
    }

    fn creator_info(&self, r: &Req) -> Answer {
        let user = match self.authed(r, "video.publish") {
            Ok(u) => u,
            Err(a) => return a,
        };
        let u = self.user_by_open_id(&user).expect("a token's user exists");
        ok(json!({
            "creator_avatar_url": "https://p16.tiktokcdn.com/avatar.jpeg",
            "creator_username": u.username,
            "creator_nickname": format!("{} (fake)", u.username),
            "privacy_level_options": u.privacy_level_options,
            "comment_disabled": false,
            "duet_disabled": false,
            "stitch_disabled": true,
            "max_video_post_duration_sec": 600,
        }))
    }

    fn init(&mut self, r: &Req, inbox: bool) -> Answer {
        let user = match self.authed(
            r,
            if inbox {
                "video.upload"
            } else {
                "video.publish"
            },
        ) {
            Ok(u) => u,
            Err(a) => return a,
        };
        let now = Utc::now();
        if self.rate_limited_until.is_some_and(|t| t > now) {
            return error(
                429,
                "rate_limit_exceeded",
                "API rate limit was exceeded. Try again later.",
            );
        }
        if let Some(wait) = self.rate_limit_next.take() {
            self.rate_limited_until =
                Some(now + chrono::Duration::from_std(wait).unwrap_or_default());
            return error(
                429,
                "rate_limit_exceeded",
                "API rate limit was exceeded. Try again later.",
            );
        }
        let token = r.bearer().unwrap_or_default().to_owned();
        if let Some(a) = self.access.get_mut(&token) {
            a.inits.retain(|t| *t > now - chrono::Duration::minutes(1));
            if a.inits.len() >= INIT_LIMIT {
                return error(
                    429,
                    "rate_limit_exceeded",
                    "API rate limit was exceeded. Try again later.",
                );
            }
            a.inits.push(now);
        }
        if let Some(message) = self.reject_next.take() {
            return error(403, "spam_risk_too_many_posts", &message);
        }
        let Some(body) = r.json.as_ref() else {
            return error(400, "invalid_params", "The request body must be JSON.");
        };
        let source = &body["source_info"];
        if source["source"] != "FILE_UPLOAD" {
            return error(400, "invalid_params", "source_info.source must be FILE_UPLOAD here (PULL_FROM_URL needs a verified URL prefix)");
        }
        let (Some(size), Some(chunk), Some(total)) = (
            source["video_size"].as_u64(),
            source["chunk_size"].as_u64(),
            source["total_chunk_count"].as_u64(),
        ) else {
            return error(
                400,
                "invalid_params",
                "video_size, chunk_size and total_chunk_count are required",
            );
        };
        if let Err(why) = check_chunks(size, chunk, total) {
            return error(400, "invalid_params", &why);
        }
        let info = body.get("post_info").cloned().unwrap_or(Value::Null);
        let u = self
            .user_by_open_id(&user)
            .cloned()
            .expect("a token's user exists");
        let privacy = info["privacy_level"].as_str().map(str::to_owned);
        if !inbox {
            let Some(level) = &privacy else {
                return error(400, "invalid_params", "post_info.privacy_level is required");
            };
            if !u.privacy_level_options.contains(level) {
                return error(
                    400,
                    "privacy_level_option_mismatch",
                    "privacy_level is not one of the creator's privacy_level_options",
                );
            }
            if self.unaudited && (!u.private_account || level != "SELF_ONLY") {
                return error(403, "unaudited_client_can_only_post_to_private_accounts", "Please review our integration guidelines at https://developers.tiktok.com/doc/content-sharing-guidelines/");
            }
            let title = info["title"].as_str().unwrap_or("");
            if title.encode_utf16().count() > 2200 {
                return error(
                    400,
                    "invalid_params",
                    "title is longer than 2200 UTF-16 units",
                );
            }
            for k in info
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                if ![
                    "title",
                    "privacy_level",
                    "disable_duet",
                    "disable_comment",
                    "disable_stitch",
                    "video_cover_timestamp_ms",
                    "brand_content_toggle",
                    "brand_organic_toggle",
                    "is_aigc",
                ]
                .contains(&k.as_str())
                {
                    return error(
                        400,
                        "invalid_params",
                        &format!("post_info.{k} is not a field"),
                    );
                }
            }
        } else if body.get("post_info").is_some() {
            return error(
                400,
                "invalid_params",
                "the inbox init takes source_info only",
            );
        }
        let n = self.next();
        let publish_id = format!(
            "v_{}_file~v2-1.{:019}",
            if inbox { "inbox" } else { "pub" },
            7_300_000_000_000_000_000u64 + n
        );
        let upload_token = secret("");
        self.publishes.insert(
            publish_id.clone(),
            Publish {
                owner: user,
                inbox,
                title: info["title"].as_str().unwrap_or("").to_owned(),
                privacy_level: privacy,
                post_info: info,
                video_size: size,
                chunk_size: chunk,
                total_chunk_count: total,
                received: 0,
                chunks: 0,
                upload_token: upload_token.clone(),
                polls_left: self.processing_polls,
                failed: None,
                post_id: None,
                photos: vec![],
            },
        );
        let upload_url = format!(
            "{}/upload/?upload_id={}&upload_token={upload_token}",
            self.origin, n
        );
        ok(json!({ "publish_id": publish_id, "upload_url": upload_url }))
    }

    /// `content/init`: a photo post by PULL_FROM_URL, from verified URL prefixes only; the call itself publishes.
    fn content_init(&mut self, r: &Req) -> Answer {
        let Some(body) = r.json.as_ref() else {
            return error(400, "invalid_params", "The request body must be JSON.");
        };
        let inbox = match body["post_mode"].as_str() {
            Some("DIRECT_POST") => false,
            Some("MEDIA_UPLOAD") => true,
            _ => {
                return error(
                    400,
                    "invalid_params",
                    "post_mode must be DIRECT_POST or MEDIA_UPLOAD",
                )
            }
        };
        let user = match self.authed(
            r,
            if inbox {
                "video.upload"
            } else {
                "video.publish"
            },
        ) {
            Ok(u) => u,
            Err(a) => return a,
        };
        if body["media_type"] != "PHOTO" {
            return error(400, "invalid_params", "media_type must be PHOTO");
        }
        if let Some(message) = self.reject_next.take() {
            return error(403, "spam_risk_too_many_posts", &message);
        }
        let source = &body["source_info"];
        if source["source"] != "PULL_FROM_URL" {
            return error(
                400,
                "invalid_params",
                "photos are taken by PULL_FROM_URL only",
            );
        }
        let urls: Vec<String> = source["photo_images"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if urls.is_empty() || urls.len() > 35 {
            return error(400, "invalid_params", "photo_images holds 1 to 35 links");
        }
        if source["photo_cover_index"]
            .as_u64()
            .is_none_or(|i| i as usize >= urls.len())
        {
            return error(
                400,
                "invalid_params",
                "photo_cover_index must name one of photo_images",
            );
        }
        if let Some(bad) = urls.iter().find(|u| {
            !self
                .verified_prefixes
                .iter()
                .any(|p| u.starts_with(p.as_str()))
        }) {
            return error(
                403,
                "url_ownership_unverified",
                &format!(
                    "The URL prefix of {} is not verified",
                    bad.split('?').next().unwrap_or("")
                ),
            );
        }
        let info = body["post_info"].clone();
        let u = self
            .user_by_open_id(&user)
            .cloned()
            .expect("a token's user exists");
        let privacy = info["privacy_level"].as_str().map(str::to_owned);
        if !inbox
            && privacy
                .as_ref()
                .is_none_or(|l| !u.privacy_level_options.contains(l))
        {
            return error(
                400,
                "privacy_level_option_mismatch",
                "privacy_level is not one of the creator's privacy_level_options",
            );
        }
        if info["title"].as_str().unwrap_or("").encode_utf16().count() > 90 {
            return error(
                400,
                "invalid_params",
                "title is longer than 90 UTF-16 units",
            );
        }
        if info["description"]
            .as_str()
            .unwrap_or("")
            .encode_utf16()
            .count()
            > 4000
        {
            return error(
                400,
                "invalid_params",
                "description is longer than 4000 UTF-16 units",
            );
        }
        let n = self.next();
        let publish_id = format!(
            "p_{}_url~v2.{:019}",
            if inbox { "inbox" } else { "pub" },
            7_300_000_000_000_000_000u64 + n
        );
        let post_id = 7_400_000_000_000_000_000u64 + self.next();
        self.publishes.insert(
            publish_id.clone(),
            Publish {
                owner: user,
                inbox,
                title: info["description"].as_str().unwrap_or("").to_owned(),
                privacy_level: privacy,
                post_info: info,
                video_size: 0,
                chunk_size: 0,
                total_chunk_count: 0,
                received: 0,
                chunks: 0,
                upload_token: secret(""),
                polls_left: self.processing_polls,
                failed: None,
                post_id: Some(post_id),
                photos: urls,
            },
        );
        self.landed.push(publish_id.clone());
        if std::mem::take(&mut self.lose_next) {
            return Answer::Drop;
        }
        ok(json!({ "publish_id": publish_id }))
    }

    fn put_chunk(&mut self, r: &Req) -> Answer {
        let token = r.query.get("upload_token").cloned().unwrap_or_default();
        let Some((id, p)) = self
            .publishes
            .iter_mut()
            .find(|(_, p)| p.upload_token == token)
        else {
            return error(404, "invalid_file_upload", "The upload URL is not valid.");
        };
        let id = id.clone();
        if p.received == p.video_size {
            return error(
                400,
                "invalid_file_upload",
                "The upload is already complete.",
            );
        }
        let index = p.chunks;
        let start = index * p.chunk_size;
        let last = index + 1 == p.total_chunk_count;
        let end = if last {
            p.video_size
        } else {
            start + p.chunk_size
        };
        let expected = format!("bytes {start}-{}/{}", end - 1, p.video_size);
        let range = r.header(header::CONTENT_RANGE).unwrap_or("");
        if range != expected {
            return error(
                416,
                "invalid_file_upload",
                &format!(
                    "Content-Range must be `{expected}` for chunk {}, got `{range}`",
                    index + 1
                ),
            );
        }
        let length: Option<u64> = r
            .header(header::CONTENT_LENGTH)
            .and_then(|l| l.parse().ok());
        if length != Some(end - start) || r.body_len != end - start {
            return error(
                400,
                "invalid_file_upload",
                "Content-Length does not match the chunk",
            );
        }
        if !matches!(
            r.header(header::CONTENT_TYPE),
            Some("video/mp4" | "video/quicktime" | "video/webm")
        ) {
            return error(
                400,
                "invalid_file_upload",
                "Content-Type must be video/mp4, video/quicktime or video/webm",
            );
        }
        p.received = end;
        p.chunks += 1;
        if !last {
            return Answer::Json(206, json!({}));
        }
        if let Some(reason) = self.fail_next_processing.take() {
            if let Some(p) = self.publishes.get_mut(&id) {
                p.failed = Some(reason);
            }
        } else {
            let post_id = 7_400_000_000_000_000_000u64 + self.next();
            if let Some(p) = self.publishes.get_mut(&id) {
                p.post_id = Some(post_id);
            }
            self.landed.push(id);
        }
        if std::mem::take(&mut self.lose_next) {
            return Answer::Drop;
        }
        Answer::Json(201, json!({}))
    }

    fn status(&mut self, r: &Req) -> Answer {
        let user = match self
            .authed(r, "video.publish")
            .or_else(|_| self.authed(r, "video.upload"))
        {
            Ok(u) => u,
            Err(a) => return a,
        };
        let id = r
            .json
            .as_ref()
            .and_then(|b| b["publish_id"].as_str())
            .unwrap_or("")
            .to_owned();
        let Some(p) = self.publishes.get_mut(&id).filter(|p| p.owner == user) else {
            return error(400, "invalid_publish_id", "The publish_id does not exist.");
        };
        let mut data = json!({ "uploaded_bytes": p.received });
        if p.received < p.video_size {
            data["status"] = json!("PROCESSING_UPLOAD");
        } else if let Some(reason) = &p.failed {
            data["status"] = json!("FAILED");
            data["fail_reason"] = json!(reason);
        } else if p.polls_left > 0 {
            p.polls_left -= 1;
            data["status"] = json!(if p.photos.is_empty() {
                "PROCESSING_UPLOAD"
            } else {
                "PROCESSING_DOWNLOAD"
            });
        } else if p.inbox {
            data["status"] = json!("SEND_TO_USER_INBOX");
        } else {
            data["status"] = json!("PUBLISH_COMPLETE");
            if p.privacy_level.as_deref() != Some("SELF_ONLY") {
                data["publicaly_available_post_id"] = json!([p.post_id]);
            }
        }
        ok(data)
    }
}

/// Answers one request from the world.
pub fn serve(w: &mut World, r: &Req) -> Answer {
    w.calls.push((r.method.clone(), r.path.clone()));
    let json_body = || {
        r.header(header::CONTENT_TYPE)
            .is_some_and(|c| c.starts_with("application/json"))
    };
    match (r.method.clone(), r.path.as_str()) {
        (Method::GET, "/v2/auth/authorize/") => {
            let url = format!(
                "http://tiktok.invalid{}?{}",
                r.path,
                serde_urlencoded::to_string(&r.query).unwrap_or_default()
            );
            match w.consent(&url, DEFAULT_USER) {
                Ok(to) => Answer::Redirect(to),
                Err(e) => Answer::Json(
                    400,
                    json!({"error": "invalid_request", "error_description": e}),
                ),
            }
        }
        (Method::POST, "/v2/oauth/token/") => w.token(r),
        (Method::POST, "/v2/oauth/revoke/") => w.revoke_token(r),
        (Method::GET, "/v2/user/info/") => w.user_info(r),
        (Method::POST, p) if p.starts_with("/v2/post/publish/") && !json_body() => error(
            400,
            "invalid_params",
            "Content-Type must be application/json; charset=UTF-8",
        ),
        (Method::POST, "/v2/post/publish/creator_info/query/") => w.creator_info(r),
        (Method::POST, "/v2/post/publish/video/init/") => w.init(r, false),
        (Method::POST, "/v2/post/publish/inbox/video/init/") => w.init(r, true),
        (Method::POST, "/v2/post/publish/content/init/") => w.content_init(r),
        (Method::POST, "/v2/post/publish/status/fetch/") => w.status(r),
        (Method::PUT, "/upload/") => w.put_chunk(r),
        _ => error(404, "not_found", "The path does not exist."),
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
    // In digest mode a chunk is read as it streams in, never gathered.
    let upload = if method == Method::PUT && uri.path() == "/upload/" {
        let mut w = lock(&world);
        let token = query.get("upload_token").cloned().unwrap_or_default();
        let found = w
            .publishes
            .iter()
            .find(|(_, p)| p.upload_token == token)
            .map(|(id, p)| (id.clone(), p.video_size));
        match (w.digests.as_mut(), found) {
            (Some(digests), Some((id, total))) => {
                let stand = digests
                    .entry(id.clone())
                    .or_insert_with(|| Received::new(total))
                    .clone();
                Some((id, stand))
            }
            _ => None,
        }
    } else {
        None
    };
    let (body, chunk) = match upload {
        Some((id, stand)) => {
            let first = headers
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(first_of)
                .unwrap_or(0);
            let chunk = read_chunk(request.into_body(), first, &stand).await;
            (Bytes::new(), Some((id, chunk)))
        }
        None => (
            axum::body::to_bytes(request.into_body(), 200 << 20)
                .await
                .unwrap_or_default(),
            None,
        ),
    };
    let mut req = Req {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        form: HashMap::new(),
        json: None,
        body: body.clone(),
        body_len: chunk.as_ref().map_or(body.len() as u64, |(_, c)| c.len),
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        req.form = url::form_urlencoded::parse(&body).into_owned().collect();
    } else if content_type.starts_with("application/json") {
        req.json = serde_json::from_slice(&body).ok();
    }
    let is_refresh = req.path == "/v2/oauth/token/"
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
            .and_then(|(g, _)| w.grants.get(g))
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
    let slow = lock(&world).slow;
    if let Some(delay) = slow.filter(|_| req.path == "/v2/post/publish/status/fetch/") {
        tokio::time::sleep(delay).await;
    }
    let answer = {
        let mut w = lock(&world);
        if let Some(u) = &refresher {
            if let Some(c) = w.refreshes.get_mut(u) {
                c.in_flight -= 1;
            }
        }
        let answer = serve(&mut w, &req);
        if let Some((id, chunk)) = chunk {
            let kept = matches!(answer, Answer::Json(201 | 206, _) | Answer::Drop);
            if let Some(r) = w.digests.as_mut().and_then(|d| d.get_mut(&id)) {
                if kept {
                    r.keep(chunk);
                } else {
                    r.refuse(&chunk);
                }
            }
        }
        answer
    };
    match answer {
        Answer::Json(status, v) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            axum::Json(v),
        )
            .into_response(),
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Drop => super::cut_off(StatusCode::CREATED),
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeTiktok {
    server: super::Served,
    world: Shared,
}

impl FakeTiktok {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start() -> FakeTiktok {
        let world: Shared = Arc::new(Mutex::new(World {
            processing_polls: 1,
            ..World::default()
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(200 << 20))
            .with_state(world.clone());
        let server = super::Served::start(app).await;
        // Upload URLs are on the fake's own origin, known once it listens.
        lock(&world).origin = server.origin.as_str().trim_end_matches('/').to_owned();
        FakeTiktok { server, world }
    }

    /// The adapter's configuration pointed at this fake: status read every few milliseconds, 5 MiB chunks.
    pub fn config(&self) -> TiktokConfig {
        TiktokConfig {
            auth_origin: self.origin(),
            api_origin: self.origin(),
            polling: Polling {
                default_wait: Duration::from_millis(10),
                give_up_after: Duration::from_secs(30),
            },
            chunk_bytes: 5 << 20,
            ..TiktokConfig::new(TIKTOK_APP.0, SecretString::from(TIKTOK_APP.1.to_owned()))
        }
    }

    /// A fresh fake as a suite peer.
    pub async fn peer() -> Arc<dyn PlatformPeer> {
        Arc::new(Self::start().await)
    }

    pub fn origin(&self) -> url::Url {
        self.server.origin.clone()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Approves the consent as `user`; the callback URL with the code and state.
    pub fn approve(&self, authorize: &str, user: &str) -> String {
        self.world()
            .consent(authorize, user)
            .unwrap_or_else(|e| panic!("the consent page refused: {e}"))
    }

    /// Every publish the fake holds.
    pub fn publishes(&self) -> Vec<(String, Publish)> {
        let mut all: Vec<_> = self.world().publishes.clone().into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// How many requests went to `method` `path` (path prefix).
    pub fn calls(&self, method: Method, prefix: &str) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|(m, p)| *m == method && p.starts_with(prefix))
            .count()
    }

    /// How many status reads a post answers PROCESSING_UPLOAD once its upload is whole.
    pub fn set_processing_polls(&self, n: u32) {
        self.world().processing_polls = n;
    }

    /// Answers status reads after `delay`.
    pub fn answer_slowly(&self, delay: Duration) {
        self.world().slow = Some(delay);
    }

    /// The next post's processing fails with `reason` (a documented fail_reason).
    pub fn fail_next_processing(&self, reason: &str) {
        self.world().fail_next_processing = Some(reason.to_owned());
    }

    /// The app is unaudited: it may post only as SELF_ONLY to private accounts.
    pub fn set_unaudited(&self, unaudited: bool) {
        self.world().unaudited = unaudited;
    }

    /// Verifies a URL prefix for PULL_FROM_URL, as an app's owner does in TikTok's developer portal.
    pub fn verify_prefix(&self, prefix: &str) {
        self.world().verified_prefixes.push(prefix.to_owned());
    }

    /// Keeps only a digest of each upload ([`Received`]: the count, a running SHA-256, the ranges that arrived
    /// twice) and reads chunks as they stream in, so that a video of any size costs the fake no memory. The
    /// protocol's checks stay as they are.
    pub fn keep_digests_only(&self) {
        self.world().digests.get_or_insert_with(HashMap::new);
    }

    /// In digest mode, what arrived of each upload, by publish id.
    pub fn digests(&self) -> Vec<(String, Received)> {
        let mut all: Vec<_> = self
            .world()
            .digests
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// An access token for `user` with the video scopes, as the token endpoint would answer after a consent (for a
    /// client that calls the API directly).
    pub fn issue_token(&self, user: &str) -> String {
        let mut w = self.world();
        let open_id = w.user(user).open_id;
        let grant = w.next();
        w.grants.insert(
            grant,
            Grant {
                user: open_id,
                dead: false,
                scopes: ["user.info.basic", "video.publish", "video.upload"]
                    .map(str::to_owned)
                    .to_vec(),
            },
        );
        w.issue(grant)["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The privacy levels `user` offers.
    pub fn set_privacy_options(&self, user: &str, options: &[&str]) {
        let mut w = self.world();
        w.user(user);
        if let Some(u) = w.users.get_mut(user) {
            u.privacy_level_options = options.iter().map(|s| (*s).to_owned()).collect();
        }
    }

    fn user_id_of(&self, user: &str) -> String {
        self.world().user(user).open_id
    }

    /// The environment that points Postora's TikTok adapter at this fake.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_TIKTOK_CLIENT_ID".into(), TIKTOK_APP.0.into()),
            ("POSTORA_TIKTOK_CLIENT_SECRET".into(), TIKTOK_APP.1.into()),
            ("POSTORA_TIKTOK_AUTH_URL".into(), origin.clone()),
            ("POSTORA_TIKTOK_API_URL".into(), origin),
            ("POSTORA_TIKTOK_STATUS_POLL_SECS".into(), "1".into()),
        ]
    }
}

#[async_trait]
impl PlatformPeer for FakeTiktok {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Tiktok
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Rotates,
            pkce: false,
            images: false,
            video: true,
            threads: false,
            lost_answer: LostAnswer::Recovered,
            needs_media: NeedsMedia::Video,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        self.env_pairs()
    }

    fn target_options(&self) -> Option<Value> {
        Some(json!({ "privacy_level": "PUBLIC_TO_EVERYONE" }))
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
        w.landed
            .iter()
            .filter_map(|pid| w.publishes.get(pid).map(|p| (pid, p)))
            .filter(|(_, p)| p.owner == id)
            .map(|(pid, p)| PeerPost {
                id: match (p.inbox, p.privacy_level.as_deref(), p.post_id) {
                    (false, Some(level), Some(n)) if level != "SELF_ONLY" => n.to_string(),
                    _ => pid.clone(),
                },
                text: p.title.clone(),
                reply_to: None,
                media: if p.photos.is_empty() {
                    vec![PeerMedia {
                        kind: "video".into(),
                        alt: None,
                    }]
                } else {
                    p.photos
                        .iter()
                        .map(|_| PeerMedia {
                            kind: "image".into(),
                            alt: None,
                        })
                        .collect()
                },
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
