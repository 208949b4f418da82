//! A fake YouTube following Google's documentation: OAuth 2.0 for web server apps (the consent page with
//! `access_type=offline` and `prompt=consent`, PKCE S256, the token endpoint with the client's credentials in the
//! body, refresh answers without a new refresh token, `invalid_grant` for a revoked grant, the revoke endpoint), the
//! Data API v3's `channels.list mine=true`, and `videos.insert` through the resumable upload protocol: a session
//! opened by `POST /upload/youtube/v3/videos?uploadType=resumable` (its URI in `Location`), chunks `PUT` with
//! `Content-Range` in multiples of 256 KiB, `308 Resume Incomplete` with `Range`, a probe with `bytes */TOTAL`, and
//! the final `200` with the video resource as the API's discovery document shapes it. Errors are Google's JSON
//! errors (`{error: {code, message, errors: [{domain, reason, message}]}}`); the project's daily `videos.insert`
//! quota answers `quotaExceeded`.
//!
//! State is a plain [`World`] answered by [`serve`]; the server around it is only transport. It plays the person
//! too ([`FakeYoutube::approve`]) and misbehaves on command: rate limits, quota, the upload limit, lost answers after
//! accepting, slow answers, videos locked private as for an unaudited project.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use postora::domain::PlatformKind;
use postora::platforms::youtube::YoutubeConfig;
use rand::Rng;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Digest;

use super::received::{first_of, read_chunk, Received};
use crate::platform_suite::{
    Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh,
};

/// The app the fake knows: (client id, client secret).
pub const YOUTUBE_APP: (&str, &str) = (
    "1234-fake.apps.googleusercontent.com",
    "GOCSPX-fake-secret-5e1f",
);
/// How long an access token lives: an hour, as Google documents (it answers 3599).
pub const ACCESS_LIFETIME_SECS: i64 = 3599;
const UNIT: u64 = 256 << 10;
const UPLOAD_SCOPE: &str = "https://www.googleapis.com/auth/youtube.upload";
const READ_SCOPE: &str = "https://www.googleapis.com/auth/youtube.readonly";

struct Code {
    user: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    offline: bool,
}

struct Access {
    user: String,
    grant: u64,
    expires_at: DateTime<Utc>,
    scopes: Vec<String>,
}

struct Grant {
    user: String,
    dead: bool,
    scopes: Vec<String>,
}

struct Session {
    owner: String,
    total: u64,
    received: u64,
    metadata: Value,
    video: Option<String>,
}

/// A video the fake holds.
#[derive(Debug, Clone)]
pub struct Video {
    pub id: String,
    pub channel: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub category_id: String,
    pub privacy: String,
    pub made_for_kids: bool,
    pub publish_at: Option<String>,
    pub bytes: u64,
    pub published_at: DateTime<Utc>,
    /// The custom thumbnail's type and size, once set.
    pub thumbnail: Option<(String, u64)>,
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
    origin: String,
    serial: u64,
    /// Person name → channel id.
    users: HashMap<String, String>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, u64>,
    grants: HashMap<u64, Grant>,
    sessions: HashMap<String, Session>,
    videos: Vec<Video>,
    /// `videos.insert` calls left today for the project.
    pub quota_left: u64,
    rate_limit_next: Option<Duration>,
    reject_next: Option<String>,
    upload_limit_next: bool,
    /// The next final chunk lands, and its answer is lost.
    lose_next: bool,
    /// The next `n` chunks are answered 503 without being kept.
    fail_next_chunks: u32,
    /// Whether videos are locked private (an unaudited project).
    pub lock_private: bool,
    /// The next `n` `PUT`s to a session are done at once and answered only after [`World::slow`].
    pub slow_next_puts: u32,
    /// How late a slow answer comes.
    pub slow: Duration,
    refreshes: HashMap<String, RefreshCount>,
    /// Every request's method and path (with the `upload_id` query dropped), in order.
    pub calls: Vec<(Method, String)>,
    /// In digest mode ([`FakeYoutube::keep_digests_only`]): what arrived of each session, by its upload id, instead
    /// of the chunks' bytes.
    pub digests: Option<HashMap<String, Received>>,
}

fn secret(prefix: &str) -> String {
    let n: u128 = rand::thread_rng().gen();
    format!("{prefix}{n:032x}")
}

/// The answer the world gives.
pub enum Answer {
    Json(u16, Value, Vec<(String, String)>),
    /// `308 Resume Incomplete`, with `Range` when the session holds bytes.
    Incomplete(u64),
    Redirect(String),
    /// The work is done, and the connection drops before an answer.
    Drop,
}

/// A Google JSON error.
fn google_error(code: u16, reason: &str, domain: &str, message: &str) -> Answer {
    Answer::Json(
        code,
        json!({"error": {"code": code, "message": message, "errors": [{"message": message, "domain": domain, "reason": reason}]}}),
        vec![],
    )
}

fn unauthenticated() -> Answer {
    Answer::Json(
        401,
        json!({"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError", "location": "Authorization", "locationType": "header"}],
            "status": "UNAUTHENTICATED"}}),
        vec![],
    )
}

fn token_error(status: u16, error: &str, description: &str) -> Answer {
    Answer::Json(
        status,
        json!({"error": error, "error_description": description}),
        vec![],
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

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

impl World {
    fn next_id(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn channel_of(&mut self, user: &str) -> String {
        if let Some(id) = self.users.get(user) {
            return id.clone();
        }
        let n = self.next_id();
        let id = format!("UC{n:022}");
        self.users.insert(user.to_owned(), id.clone());
        id
    }

    fn name_of(&self, channel: &str) -> String {
        self.users
            .iter()
            .find(|(_, c)| c.as_str() == channel)
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }

    /// Approves the consent screen as `user`: the callback URL with the code and state.
    pub fn consent(&mut self, authorize: &str, user: &str) -> Result<String, String> {
        let url = url::Url::parse(authorize).map_err(|e| e.to_string())?;
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            q.get(k)
                .cloned()
                .ok_or_else(|| format!("the authorize URL has no {k}"))
        };
        if url.path() != "/o/oauth2/v2/auth" {
            return Err(format!("not the authorize path: {}", url.path()));
        }
        if get("response_type")? != "code" {
            return Err("response_type must be code".into());
        }
        if get("client_id")? != YOUTUBE_APP.0 {
            return Err("Error 401: invalid_client".into());
        }
        if get("code_challenge_method")? != "S256" {
            return Err("PKCE with S256 is expected".into());
        }
        let offline = q.get("access_type").is_some_and(|a| a == "offline");
        let scopes: Vec<String> = get("scope")?.split(' ').map(str::to_owned).collect();
        if !scopes.iter().any(|s| s == UPLOAD_SCOPE) {
            return Err("the scope asks nothing of YouTube uploads".into());
        }
        let channel = self.channel_of(user);
        let code = secret("4/0Afake");
        let redirect_uri = get("redirect_uri")?;
        self.codes.insert(
            code.clone(),
            Code {
                user: channel,
                redirect_uri: redirect_uri.clone(),
                challenge: get("code_challenge")?,
                scopes,
                // Google gives a refresh token to an offline consent; `prompt=consent` makes it give one again.
                offline: offline && q.get("prompt").is_some_and(|p| p.contains("consent")),
            },
        );
        let mut back = url::Url::parse(&redirect_uri).map_err(|e| e.to_string())?;
        back.query_pairs_mut()
            .append_pair("state", &get("state")?)
            .append_pair("code", &code)
            .append_pair("scope", &get("scope")?);
        Ok(back.to_string())
    }

    fn issue(&mut self, grant: u64, with_refresh: bool) -> Value {
        let (user, scopes) = {
            let g = &self.grants[&grant];
            (g.user.clone(), g.scopes.clone())
        };
        let access = secret("ya29.fake-");
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
            "access_token": access, "expires_in": ACCESS_LIFETIME_SECS, "scope": scopes.join(" "), "token_type": "Bearer",
        });
        if with_refresh {
            let refresh = secret("1//0fake-");
            self.refresh.insert(refresh.clone(), grant);
            answer["refresh_token"] = json!(refresh);
        }
        answer
    }

    fn token(&mut self, r: &Req) -> Answer {
        let f = |k: &str| r.form.get(k).cloned().unwrap_or_default();
        if f("client_id") != YOUTUBE_APP.0 || f("client_secret") != YOUTUBE_APP.1 {
            return token_error(401, "invalid_client", "Unauthorized");
        }
        match f("grant_type").as_str() {
            "authorization_code" => {
                let Some(code) = self.codes.remove(&f("code")) else {
                    return token_error(400, "invalid_grant", "Malformed auth code.");
                };
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(f("code_verifier").as_bytes()));
                if computed != code.challenge {
                    return token_error(400, "invalid_grant", "Invalid code verifier.");
                }
                if f("redirect_uri") != code.redirect_uri {
                    return token_error(400, "redirect_uri_mismatch", "Bad Request");
                }
                let grant = self.next_id();
                self.grants.insert(
                    grant,
                    Grant {
                        user: code.user,
                        dead: false,
                        scopes: code.scopes,
                    },
                );
                Answer::Json(200, self.issue(grant, code.offline), vec![])
            }
            "refresh_token" => {
                let grant = self.refresh.get(&f("refresh_token")).copied();
                let Some(grant) = grant.filter(|g| self.grants.get(g).is_some_and(|g| !g.dead))
                else {
                    return token_error(400, "invalid_grant", "Token has been expired or revoked.");
                };
                let user = self.grants[&grant].user.clone();
                self.refreshes.entry(user).or_default().answered += 1;
                // Google does not rotate refresh tokens: the answer carries none.
                Answer::Json(200, self.issue(grant, false), vec![])
            }
            _ => token_error(400, "unsupported_grant_type", "Invalid grant_type"),
        }
    }

    fn revoke_token(&mut self, r: &Req) -> Answer {
        let token = r
            .form
            .get("token")
            .or_else(|| r.query.get("token"))
            .cloned()
            .unwrap_or_default();
        let grant = self
            .access
            .get(&token)
            .map(|a| a.grant)
            .or_else(|| self.refresh.get(&token).copied());
        match grant.and_then(|g| self.grants.get_mut(&g)) {
            Some(g) => {
                g.dead = true;
                Answer::Json(200, json!({}), vec![])
            }
            None => token_error(400, "invalid_token", "Token expired or revoked"),
        }
    }

    fn authed(&self, r: &Req, scope: &str) -> Result<String, Answer> {
        let Some(a) = r.bearer().and_then(|t| self.access.get(t)) else {
            return Err(unauthenticated());
        };
        if a.expires_at <= Utc::now() || self.grants.get(&a.grant).is_none_or(|g| g.dead) {
            return Err(unauthenticated());
        }
        if !a.scopes.iter().any(|s| {
            s == scope || (scope == READ_SCOPE && s == "https://www.googleapis.com/auth/youtube")
        }) {
            return Err(google_error(
                403,
                "insufficientPermissions",
                "global",
                "Request had insufficient authentication scopes.",
            ));
        }
        Ok(a.user.clone())
    }

    fn channels(&mut self, r: &Req) -> Answer {
        let channel = match self.authed(r, READ_SCOPE) {
            Ok(c) => c,
            Err(a) => return a,
        };
        if r.query.get("mine").map(String::as_str) != Some("true") {
            return google_error(
                400,
                "missingRequiredParameter",
                "youtube.parameter",
                "No filter selected.",
            );
        }
        let name = self.name_of(&channel);
        Answer::Json(
            200,
            json!({
                "kind": "youtube#channelListResponse", "etag": "fake-etag",
                "pageInfo": {"totalResults": 1, "resultsPerPage": 5},
                "items": [{
                    "kind": "youtube#channel", "etag": "fake-etag", "id": channel,
                    "snippet": {
                        "title": format!("{name}'s channel"), "description": format!("Videos by {name}"),
                        "customUrl": format!("@{name}"), "publishedAt": "2020-01-01T00:00:00Z",
                        "thumbnails": {"default": {"url": format!("https://yt3.example/{name}.jpg"), "width": 88, "height": 88}},
                        "localized": {"title": format!("{name}'s channel"), "description": ""},
                    },
                }],
            }),
            vec![],
        )
    }

    fn open_session(&mut self, r: &Req) -> Answer {
        let channel = match self.authed(r, UPLOAD_SCOPE) {
            Ok(c) => c,
            Err(a) => return a,
        };
        if r.query.get("uploadType").map(String::as_str) != Some("resumable") {
            return google_error(
                400,
                "invalidParameter",
                "global",
                "uploadType must be resumable here",
            );
        }
        let parts = r.query.get("part").cloned().unwrap_or_default();
        if !parts.split(',').any(|p| p == "snippet") {
            return google_error(
                400,
                "missingRequiredParameter",
                "youtube.parameter",
                "No part parameter.",
            );
        }
        if let Some(wait) = self.rate_limit_next.take() {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return match google_error(429, "rateLimitExceeded", "youtube.quota", "The request cannot be completed because you have exceeded your quota of requests per minute.") {
                Answer::Json(s, v, _) => Answer::Json(s, v, vec![("retry-after".into(), secs.to_string())]),
                a => a,
            };
        }
        // Every call spends its quota, refused or not.
        if self.quota_left == 0 {
            return google_error(403, "quotaExceeded", "youtube.quota", "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.");
        }
        self.quota_left -= 1;
        if std::mem::take(&mut self.upload_limit_next) {
            return google_error(
                400,
                "uploadLimitExceeded",
                "youtube.video",
                "The user has exceeded the number of videos they may upload.",
            );
        }
        if let Some(message) = self.reject_next.take() {
            return google_error(400, "invalidVideoMetadata", "youtube.video", &message);
        }
        let total: Option<u64> = r
            .header("x-upload-content-length")
            .and_then(|v| v.parse().ok());
        let Some(total) = total.filter(|t| *t > 0) else {
            return google_error(
                400,
                "badContent",
                "youtube.video",
                "X-Upload-Content-Length is missing",
            );
        };
        let kind = r.header("x-upload-content-type").unwrap_or("");
        if !(kind.starts_with("video/") || kind == "application/octet-stream") {
            return google_error(
                400,
                "invalidMediaType",
                "youtube.video",
                "X-Upload-Content-Type must be a video type",
            );
        }
        let metadata = r.json.clone().unwrap_or_else(|| json!({}));
        let title = metadata["snippet"]["title"].as_str().unwrap_or("");
        if title.trim().is_empty() {
            return google_error(
                400,
                "invalidTitle",
                "youtube.video",
                "The request metadata specifies an invalid or empty video title.",
            );
        }
        if title.chars().count() > 100 || title.contains('<') || title.contains('>') {
            return google_error(
                400,
                "invalidTitle",
                "youtube.video",
                "The request metadata specifies an invalid video title.",
            );
        }
        let description = metadata["snippet"]["description"].as_str().unwrap_or("");
        if description.chars().count() > 5000
            || description.contains('<')
            || description.contains('>')
        {
            return google_error(
                400,
                "invalidDescription",
                "youtube.video",
                "The request metadata specifies an invalid video description.",
            );
        }
        let privacy = metadata["status"]["privacyStatus"]
            .as_str()
            .unwrap_or("public");
        if metadata["status"].get("publishAt").is_some() && privacy != "private" {
            return google_error(
                400,
                "invalidPublishAt",
                "youtube.video",
                "The request metadata specifies an invalid scheduled publishing time.",
            );
        }
        let id = secret("");
        self.sessions.insert(
            id.clone(),
            Session {
                owner: channel,
                total,
                received: 0,
                metadata,
                video: None,
            },
        );
        let location = format!(
            "{}/upload/youtube/v3/videos?uploadType=resumable&part={parts}&upload_id={id}",
            self.origin
        );
        Answer::Json(200, json!({}), vec![("location".into(), location)])
    }

    fn video_resource(&self, v: &Video) -> Value {
        let mut status = json!({
            "uploadStatus": "uploaded", "privacyStatus": v.privacy, "license": "youtube", "embeddable": true,
            "publicStatsViewable": true, "madeForKids": v.made_for_kids, "selfDeclaredMadeForKids": v.made_for_kids,
        });
        if let Some(at) = &v.publish_at {
            status["publishAt"] = json!(at);
        }
        json!({
            "kind": "youtube#video", "etag": "fake-etag", "id": v.id,
            "snippet": {
                "publishedAt": v.published_at.to_rfc3339_opts(SecondsFormat::Secs, true), "channelId": v.channel,
                "title": v.title, "description": v.description, "tags": v.tags, "categoryId": v.category_id,
                "thumbnails": {"default": {"url": format!("https://i.ytimg.example/vi/{}/default.jpg", v.id), "width": 120, "height": 90}},
                "channelTitle": format!("{}'s channel", self.name_of(&v.channel)), "liveBroadcastContent": "none",
                "localized": {"title": v.title, "description": v.description},
            },
            "status": status,
        })
    }

    fn complete(&mut self, id: &str) -> String {
        let s = &self.sessions[id];
        let m = s.metadata.clone();
        let (owner, total) = (s.owner.clone(), s.total);
        let asked = m["status"]["privacyStatus"]
            .as_str()
            .unwrap_or("public")
            .to_owned();
        let video = Video {
            id: secret("").chars().take(11).collect(),
            channel: owner,
            title: m["snippet"]["title"].as_str().unwrap_or("").to_owned(),
            description: m["snippet"]["description"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            tags: m["snippet"]["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            category_id: m["snippet"]["categoryId"]
                .as_str()
                .unwrap_or("22")
                .to_owned(),
            privacy: if self.lock_private {
                "private".into()
            } else {
                asked
            },
            made_for_kids: m["status"]["selfDeclaredMadeForKids"]
                .as_bool()
                .unwrap_or(false),
            publish_at: m["status"]["publishAt"].as_str().map(str::to_owned),
            bytes: total,
            published_at: Utc::now(),
            thumbnail: None,
        };
        let vid = video.id.clone();
        self.videos.push(video);
        if let Some(s) = self.sessions.get_mut(id) {
            s.video = Some(vid.clone());
        }
        vid
    }

    fn put_chunk(&mut self, r: &Req) -> Answer {
        let id = r.query.get("upload_id").cloned().unwrap_or_default();
        let Some(session) = self.sessions.get(&id) else {
            return google_error(404, "notFound", "global", "Not Found");
        };
        let (total, received) = (session.total, session.received);
        if let Some(v) = session.video.clone() {
            let video = self.videos.iter().find(|x| x.id == v).cloned();
            return match video {
                Some(video) => Answer::Json(200, self.video_resource(&video), vec![]),
                None => google_error(404, "notFound", "global", "Not Found"),
            };
        }
        let range = r.header("content-range").unwrap_or("").to_owned();
        let Some(spec) = range.strip_prefix("bytes ") else {
            return google_error(400, "badRequest", "global", "Content-Range is missing");
        };
        let (span, of) = spec.split_once('/').unwrap_or(("", ""));
        if of.parse::<u64>().ok() != Some(total) {
            return google_error(
                400,
                "badRequest",
                "global",
                "Content-Range names another total",
            );
        }
        if span == "*" {
            return Answer::Incomplete(received);
        }
        if self.fail_next_chunks > 0 {
            self.fail_next_chunks -= 1;
            return google_error(503, "backendError", "global", "Backend Error");
        }
        let (first, last) = span.split_once('-').unwrap_or(("", ""));
        let (Ok(first), Ok(last)) = (first.parse::<u64>(), last.parse::<u64>()) else {
            return google_error(400, "badRequest", "global", "Content-Range is unreadable");
        };
        if last < first || last >= total || r.body_len != last - first + 1 {
            return google_error(
                400,
                "badRequest",
                "global",
                "Content-Range does not match the body",
            );
        }
        if first > received {
            return google_error(
                400,
                "badRequest",
                "global",
                "The chunk starts after the bytes received",
            );
        }
        let end = last + 1;
        if end < total && !r.body_len.is_multiple_of(UNIT) {
            return google_error(
                400,
                "badRequest",
                "global",
                "Chunks other than the last must be multiples of 256 KiB",
            );
        }
        if let Some(s) = self.sessions.get_mut(&id) {
            s.received = s.received.max(end);
        }
        if end < total {
            return Answer::Incomplete(end);
        }
        let vid = self.complete(&id);
        if std::mem::take(&mut self.lose_next) {
            return Answer::Drop;
        }
        let video = self.videos.iter().find(|v| v.id == vid).cloned();
        match video {
            Some(v) => Answer::Json(201, self.video_resource(&v), vec![]),
            None => google_error(500, "backendError", "global", "Backend Error"),
        }
    }
}

impl World {
    fn set_thumbnail(&mut self, r: &Req) -> Answer {
        let channel = match self.authed(r, UPLOAD_SCOPE) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let id = r.query.get("videoId").cloned().unwrap_or_default();
        let kind = r.header("content-type").unwrap_or("").to_owned();
        if !matches!(
            kind.as_str(),
            "image/jpeg" | "image/png" | "application/octet-stream"
        ) {
            return google_error(
                400,
                "invalidImage",
                "youtube.thumbnail",
                "The provided image content is invalid.",
            );
        }
        if r.body_len > 2 * 1024 * 1024 {
            return google_error(
                400,
                "mediaBodyTooLarge",
                "youtube.thumbnail",
                "The thumbnail is larger than 2 MB.",
            );
        }
        let Some(video) = self.videos.iter_mut().find(|v| v.id == id) else {
            return google_error(
                404,
                "videoNotFound",
                "youtube.thumbnail",
                "The video that you are trying to update cannot be found.",
            );
        };
        if video.channel != channel {
            return google_error(
                403,
                "forbidden",
                "youtube.thumbnail",
                "The thumbnail can't be set for the specified video.",
            );
        }
        video.thumbnail = Some((kind, r.body_len));
        Answer::Json(
            200,
            json!({"kind": "youtube#thumbnailSetResponse", "etag": "fake-etag", "items": [{
                "default": {"url": format!("https://i.ytimg.example/vi/{id}/default.jpg"), "width": 120, "height": 90},
                "high": {"url": format!("https://i.ytimg.example/vi/{id}/hqdefault.jpg"), "width": 480, "height": 360},
            }]}),
            vec![],
        )
    }
}

/// Answers one request from the world.
pub fn serve(w: &mut World, r: &Req) -> Answer {
    w.calls.push((r.method.clone(), r.path.clone()));
    match (r.method.clone(), r.path.as_str()) {
        (Method::GET, "/o/oauth2/v2/auth") => {
            let url = format!(
                "{}{}?{}",
                w.origin,
                r.path,
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(r.query.iter())
                    .finish()
            );
            match w.consent(&url, "pat") {
                Ok(back) => Answer::Redirect(back),
                Err(e) => token_error(400, "invalid_request", &e),
            }
        }
        (Method::POST, "/token") => w.token(r),
        (Method::POST, "/revoke") => w.revoke_token(r),
        (Method::GET, "/youtube/v3/channels") => w.channels(r),
        (Method::POST, "/upload/youtube/v3/videos") => w.open_session(r),
        (Method::PUT, "/upload/youtube/v3/videos") => w.put_chunk(r),
        (Method::POST, "/upload/youtube/v3/thumbnails/set") => w.set_thumbnail(r),
        _ => google_error(404, "notFound", "global", "Not Found"),
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
    // In digest mode a chunk (not a probe) is read as it streams in, never gathered.
    let first = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(first_of);
    let upload = match first {
        Some(first) if method == Method::PUT && uri.path() == "/upload/youtube/v3/videos" => {
            let mut w = lock(&world);
            let id = query.get("upload_id").cloned().unwrap_or_default();
            let total = w.sessions.get(&id).map(|s| s.total);
            match (w.digests.as_mut(), total) {
                (Some(digests), Some(total)) => {
                    let stand = digests
                        .entry(id.clone())
                        .or_insert_with(|| Received::new(total))
                        .clone();
                    Some((id, first, stand))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let (body, chunk) = match upload {
        Some((id, first, stand)) => {
            let chunk = read_chunk(request.into_body(), first, &stand).await;
            (Bytes::new(), Some((id, chunk)))
        }
        None => (
            axum::body::to_bytes(request.into_body(), 256 << 20)
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
        body_len: chunk.as_ref().map_or(body.len() as u64, |(_, c)| c.len),
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        req.form = url::form_urlencoded::parse(&body).into_owned().collect();
    } else if content_type.starts_with("application/json") {
        req.json = serde_json::from_slice(&body).ok();
    }
    let is_refresh = req.path == "/token"
        && req
            .form
            .get("grant_type")
            .is_some_and(|g| g == "refresh_token");
    let refresher = if is_refresh {
        let mut w = lock(&world);
        let user = req
            .form
            .get("refresh_token")
            .and_then(|t| w.refresh.get(t))
            .and_then(|g| w.grants.get(g))
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
    let (answer, late) = {
        let mut w = lock(&world);
        if let Some(u) = &refresher {
            if let Some(c) = w.refreshes.get_mut(u) {
                c.in_flight -= 1;
            }
        }
        let late = if req.method == Method::PUT && w.slow_next_puts > 0 {
            w.slow_next_puts -= 1;
            w.slow
        } else {
            Duration::ZERO
        };
        let answer = serve(&mut w, &req);
        if let Some((id, chunk)) = chunk {
            let kept = matches!(
                answer,
                Answer::Incomplete(_) | Answer::Json(200 | 201, _, _) | Answer::Drop
            );
            if let Some(r) = w.digests.as_mut().and_then(|d| d.get_mut(&id)) {
                if kept {
                    r.keep(chunk);
                } else {
                    r.refuse(&chunk);
                }
            }
        }
        (answer, late)
    };
    // The work is done; the answer comes late.
    if !late.is_zero() {
        tokio::time::sleep(late).await;
    }
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
        Answer::Incomplete(received) => {
            let mut b = Response::builder()
                .status(StatusCode::PERMANENT_REDIRECT)
                .header(header::CONTENT_LENGTH, "0");
            if received > 0 {
                b = b.header(header::RANGE, format!("bytes=0-{}", received - 1));
            }
            b.body(Body::empty()).unwrap_or_default()
        }
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Drop => super::cut_off(StatusCode::CREATED),
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeYoutube {
    server: super::Served,
    world: Shared,
}

impl FakeYoutube {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start() -> FakeYoutube {
        let world: Shared = Arc::new(Mutex::new(World {
            quota_left: 100,
            ..World::default()
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(256 << 20))
            .with_state(world.clone());
        let server = super::Served::start(app).await;
        // Upload session URIs are on the fake's own origin, known once it listens.
        lock(&world).origin = server.origin.as_str().trim_end_matches('/').to_owned();
        FakeYoutube { server, world }
    }

    /// A fresh fake as the suite's peer.
    pub async fn peer() -> Arc<dyn PlatformPeer> {
        Arc::new(Self::start().await)
    }

    pub fn origin(&self) -> url::Url {
        self.server.origin.clone()
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// The adapter's configuration pointed at this fake, uploading in 256 KiB chunks.
    pub fn config(&self) -> YoutubeConfig {
        YoutubeConfig {
            auth_origin: self.origin(),
            token_origin: self.origin(),
            api_origin: self.origin(),
            chunk_bytes: UNIT,
            ..YoutubeConfig::new(YOUTUBE_APP.0, SecretString::from(YOUTUBE_APP.1.to_owned()))
        }
    }

    /// Approves the consent as `user`; the callback URL with the code and state.
    pub fn approve(&self, authorize: &str, user: &str) -> String {
        self.world()
            .consent(authorize, user)
            .unwrap_or_else(|e| panic!("the consent page refused: {e}"))
    }

    /// Every video the fake holds, oldest first.
    pub fn videos(&self) -> Vec<Video> {
        self.world().videos.clone()
    }

    /// How many requests went to `method` `path`.
    pub fn calls(&self, method: Method, path: &str) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|(m, p)| *m == method && p == path)
            .count()
    }

    /// The next `n` chunks are answered 503 and not kept.
    pub fn fail_next_chunks(&self, n: u32) {
        self.world().fail_next_chunks = n;
    }

    /// The next `n` chunks (or probes) are taken at once and answered after `late`.
    pub fn answer_slowly(&self, n: u32, late: Duration) {
        let mut w = self.world();
        w.slow_next_puts = n;
        w.slow = late;
    }

    /// Keeps only a digest of each upload session ([`Received`]: the count, a running SHA-256, the ranges that
    /// arrived twice) and reads chunks as they stream in, so that a video of any size (even in one `PUT`) costs the
    /// fake no memory. The protocol's checks stay as they are.
    pub fn keep_digests_only(&self) {
        self.world().digests.get_or_insert_with(HashMap::new);
    }

    /// In digest mode, what arrived of each session, by its upload id.
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

    /// An access token for `user` with the upload and read scopes, as the token endpoint would answer after a
    /// consent (for a client that calls the API directly).
    pub fn issue_token(&self, user: &str) -> String {
        let mut w = self.world();
        let channel = w.channel_of(user);
        let grant = w.next_id();
        w.grants.insert(
            grant,
            Grant {
                user: channel,
                dead: false,
                scopes: vec![UPLOAD_SCOPE.to_owned(), READ_SCOPE.to_owned()],
            },
        );
        w.issue(grant, false)["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The next upload is refused as over the channel's upload limit.
    pub fn upload_limit_next(&self) {
        self.world().upload_limit_next = true;
    }

    /// Every access and refresh token the fake issued, and the app's secret.
    pub fn secrets(&self) -> Vec<String> {
        let w = self.world();
        let mut all: Vec<String> = w.access.keys().chain(w.refresh.keys()).cloned().collect();
        all.push(YOUTUBE_APP.1.to_owned());
        all
    }

    fn channel(&self, user: &str) -> String {
        self.world().channel_of(user)
    }

    /// The environment that points Postora's YouTube adapter at this fake.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_YOUTUBE_CLIENT_ID".into(), YOUTUBE_APP.0.into()),
            ("POSTORA_YOUTUBE_CLIENT_SECRET".into(), YOUTUBE_APP.1.into()),
            ("POSTORA_YOUTUBE_AUTH_URL".into(), origin.clone()),
            ("POSTORA_YOUTUBE_TOKEN_URL".into(), origin.clone()),
            ("POSTORA_YOUTUBE_API_URL".into(), origin),
            ("POSTORA_YOUTUBE_CHUNK_BYTES".into(), UNIT.to_string()),
        ]
    }
}

#[async_trait]
impl PlatformPeer for FakeYoutube {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Youtube
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Renews,
            pkce: true,
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
        Some(json!({ "title": "A video from the suite", "self_declared_made_for_kids": false }))
    }

    async fn consent(&self, authorize_url: &str, user: &str) -> String {
        self.approve(authorize_url, user)
    }

    async fn user_id(&self, user: &str) -> String {
        self.channel(user)
    }

    async fn posts(&self, user: &str) -> Vec<PeerPost> {
        let channel = self.channel(user);
        self.world()
            .videos
            .iter()
            .filter(|v| v.channel == channel)
            .map(|v| PeerPost {
                id: v.id.clone(),
                text: v.description.clone(),
                reply_to: None,
                media: vec![PeerMedia {
                    kind: "video".into(),
                    alt: None,
                }],
            })
            .collect()
    }

    async fn revoke(&self, user: &str) {
        let channel = self.channel(user);
        for g in self
            .world()
            .grants
            .values_mut()
            .filter(|g| g.user == channel)
        {
            g.dead = true;
        }
    }

    async fn expire_access(&self, user: &str) {
        let channel = self.channel(user);
        let past = Utc::now() - chrono::Duration::seconds(1);
        for a in self
            .world()
            .access
            .values_mut()
            .filter(|a| a.user == channel)
        {
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
        let channel = self.channel(user);
        let w = self.world();
        w.refreshes
            .get(&channel)
            .map_or((0, 0), |c| (c.answered, c.max_in_flight))
    }
}
