//! A fake LinkedIn following LinkedIn's documentation (Microsoft Learn, "Sign In with LinkedIn using OpenID
//! Connect", "Authorization Code Flow", "Programmatic Refresh Tokens", "LinkedIn API versioning", "Posts API",
//! "Images API", "Videos API", "Organization Access Control by Role", "Rate limits"): the consent page, the token
//! and revoke endpoints (client credentials in the form body; refresh tokens that do not rotate and last a year from
//! the first grant), `GET /v2/userinfo`, the versioned `/rest/...` endpoints that refuse a call without
//! `LinkedIn-Version` (400 `VERSION_MISSING`) or with a version not served (426 `NONEXISTENT_VERSION`), or without
//! `X-Restli-Protocol-Version: 2.0.0`, organization ACLs, image uploads (initialize + `PUT`), video uploads
//! (initialize with 4 MiB upload instructions, part `PUT`s answered with ETags, finalize naming the ETags in order,
//! processing that takes a few status reads), `POST /rest/posts` (201, the URN in `x-restli-id`, a repeated post
//! refused 422 `DUPLICATE_POST` naming the first) and `GET /rest/posts/{urn}`. Errors are
//! `{"message","serviceErrorCode","status"}` (with `code`); a rate limit is a bare 429 without headers.
//!
//! State is a plain [`World`] answered by [`serve`]; the server around it is only transport. It plays the person
//! too (consent and the choice between the member and their Pages) and misbehaves on command through
//! [`PlatformPeer`].

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
use rand::Rng;
use serde_json::{json, Value};

use crate::platform_suite::{
    Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh,
};

/// The app the fake knows: (client id, client secret).
pub const LINKEDIN_APP: (&str, &str) = ("li-client-1", "li-secret-5d2e8f11");
/// An access token lives 60 days, a refresh token a year from the first grant.
pub const ACCESS_LIFETIME_SECS: i64 = 60 * 24 * 3600;
pub const REFRESH_LIFETIME_SECS: i64 = 365 * 24 * 3600;
/// The versions the fake serves (LinkedIn serves each monthly version about a year).
pub const SERVED_VERSIONS: std::ops::RangeInclusive<u32> = 202511..=202612;
/// The size of a video part in upload instructions, as LinkedIn documents (4 MiB).
pub const PART_BYTES: u64 = 4 * 1024 * 1024;
/// The reserved characters of commentary, which must come escaped.
const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

#[derive(Debug, Clone)]
struct Member {
    sub: String,
    name: String,
    /// The organization the member administers.
    org: String,
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
}

struct Grant {
    user: String,
    revoked: bool,
    scopes: Vec<String>,
    refresh_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Image {
    owner: String,
    uploaded: bool,
}

#[derive(Debug, Clone)]
struct Video {
    owner: String,
    size: u64,
    part: u64,
    etags: Vec<Option<String>>,
    status: String,
    polls_left: u32,
}

/// A post the fake holds.
#[derive(Debug, Clone)]
pub struct Post {
    pub urn: String,
    pub author: String,
    /// The commentary as shown (unescaped).
    pub text: String,
    /// Media URNs with their alternative text.
    pub media: Vec<(String, Option<String>)>,
    /// `PUBLIC`, `CONNECTIONS`, …
    pub visibility: String,
    pub reshare_disabled: bool,
    content: Value,
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
    members: HashMap<String, Member>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, u64>,
    grants: HashMap<u64, Grant>,
    images: HashMap<String, Image>,
    videos: HashMap<String, Video>,
    posts: Vec<Post>,
    rate_limit_next: bool,
    reject_next: Option<String>,
    lose_next: bool,
    processing_polls: u32,
    /// The size of a video part in new upload instructions (LinkedIn's 4 MiB unless a test sets it).
    part_bytes: Option<u64>,
    /// How long a new grant's refresh token lasts.
    refresh_lifetime: Option<chrono::Duration>,
    refreshes: HashMap<String, RefreshCount>,
    /// Every request's method and path, in order, with the `LinkedIn-Version` it carried.
    pub calls: Vec<(Method, String, Option<String>)>,
}

fn secret(prefix: &str) -> String {
    let n: u128 = rand::thread_rng().gen();
    format!("{prefix}{n:032x}")
}

/// What the server sends back.
pub enum Answer {
    Json(u16, Value, Vec<(String, String)>),
    Empty(u16, Vec<(String, String)>),
    /// The work is done, and the connection drops before an answer.
    Drop,
}

fn error(status: u16, service_code: i64, code: &str, message: &str) -> Answer {
    Answer::Json(
        status,
        json!({"status": status, "serviceErrorCode": service_code, "code": code, "message": message}),
        vec![],
    )
}

fn token_error(error: &str, description: &str) -> Answer {
    Answer::Json(
        400,
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
    pub body: Vec<u8>,
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

    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The text of commentary, or why it is refused: every reserved character must come escaped.
fn unescape(commentary: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = commentary.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) if RESERVED.contains(&n) => out.push(n),
                _ => return Err("a backslash escapes nothing reserved".into()),
            }
        } else if RESERVED.contains(&c) {
            return Err(format!("the reserved character {c:?} is not escaped"));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl World {
    fn next(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn member(&mut self, name: &str) -> Member {
        if let Some(m) = self.members.get(name) {
            return m.clone();
        }
        let n = self.next();
        let m = Member {
            sub: format!("sub{n}x{}", &secret("")[..6]),
            name: format!("{} Lovelace", capitalised(name)),
            org: format!("urn:li:organization:{}", 10_000 + n),
        };
        self.members.insert(name.to_owned(), m.clone());
        m
    }

    /// Approves the consent as `user`; the callback URL.
    pub fn consent(&mut self, authorize: &str, user: &str) -> Result<String, String> {
        let url = url::Url::parse(authorize).map_err(|e| e.to_string())?;
        if url.path() != "/oauth/v2/authorization" {
            return Err(format!("not the authorization path: {}", url.path()));
        }
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.get(k).cloned().ok_or(format!("{k} is missing"));
        if get("response_type")? != "code" {
            return Err("response_type must be code".into());
        }
        if get("client_id")? != LINKEDIN_APP.0 {
            return Err("unknown client_id".into());
        }
        let redirect = get("redirect_uri")?;
        let state = get("state")?;
        let scopes: Vec<String> = get("scope")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for needed in ["openid", "profile", "w_member_social"] {
            if !scopes.iter().any(|s| s == needed) {
                return Err(format!("the scope {needed} is missing"));
            }
        }
        let known = [
            "openid",
            "profile",
            "email",
            "w_member_social",
            "w_organization_social",
            "r_organization_social",
        ];
        if let Some(odd) = scopes.iter().find(|s| !known.contains(&s.as_str())) {
            return Err(format!("unauthorized_scope_error: {odd}"));
        }
        self.member(user);
        let code = secret("code-");
        self.codes.insert(
            code.clone(),
            Code {
                user: user.to_owned(),
                redirect_uri: redirect.clone(),
                scopes,
            },
        );
        let mut back = url::Url::parse(&redirect).map_err(|e| e.to_string())?;
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
        Ok(back.to_string())
    }

    fn issue(&mut self, grant: u64, refresh: Option<String>) -> Value {
        let access = secret("li-at-");
        let g = &self.grants[&grant];
        let user = g.user.clone();
        let scope = g.scopes.join(",");
        let left = (g.refresh_expires_at - Utc::now()).num_seconds().max(0);
        self.access.insert(
            access.clone(),
            Access {
                user,
                grant,
                expires_at: Utc::now() + chrono::Duration::seconds(ACCESS_LIFETIME_SECS),
            },
        );
        let refresh = refresh.unwrap_or_else(|| {
            let r = secret("li-rt-");
            self.refresh.insert(r.clone(), grant);
            r
        });
        json!({
            "access_token": access,
            "expires_in": ACCESS_LIFETIME_SECS,
            "refresh_token": refresh,
            "refresh_token_expires_in": left,
            "scope": scope,
        })
    }

    fn token(&mut self, r: &Req) -> Answer {
        let f = r.form();
        if f.get("client_id").map(String::as_str) != Some(LINKEDIN_APP.0)
            || f.get("client_secret").map(String::as_str) != Some(LINKEDIN_APP.1)
        {
            return Answer::Json(
                401,
                json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
                vec![],
            );
        }
        match f.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let Some(code) = f.get("code").and_then(|c| self.codes.remove(c)) else {
                    return token_error(
                        "invalid_request",
                        "Unable to retrieve access token: authorization code not found",
                    );
                };
                if f.get("redirect_uri") != Some(&code.redirect_uri) {
                    return token_error(
                        "invalid_request",
                        "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code",
                    );
                }
                let grant = self.next();
                self.grants.insert(
                    grant,
                    Grant {
                        user: code.user,
                        revoked: false,
                        scopes: code.scopes,
                        refresh_expires_at: Utc::now()
                            + self
                                .refresh_lifetime
                                .unwrap_or(chrono::Duration::seconds(REFRESH_LIFETIME_SECS)),
                    },
                );
                Answer::Json(200, self.issue(grant, None), vec![])
            }
            Some("refresh_token") => {
                let Some(token) = f.get("refresh_token").cloned() else {
                    return token_error("invalid_request", "refresh_token is missing");
                };
                let alive = self.refresh.get(&token).copied().filter(|g| {
                    self.grants
                        .get(g)
                        .is_some_and(|g| !g.revoked && g.refresh_expires_at > Utc::now())
                });
                let Some(grant) = alive else {
                    return token_error(
                        "invalid_request",
                        "The provided authorization grant or refresh token is invalid, expired or revoked",
                    );
                };
                let user = self.grants[&grant].user.clone();
                self.refreshes.entry(user).or_default().answered += 1;
                // The refresh token stays the same: refreshing neither rotates nor extends it.
                Answer::Json(200, self.issue(grant, Some(token)), vec![])
            }
            _ => token_error("unsupported_grant_type", "grant_type is not supported"),
        }
    }

    /// The member of a bearer token, or LinkedIn's 401.
    fn authed(&self, r: &Req) -> Result<(String, Vec<String>), Answer> {
        let Some(a) = r.bearer().and_then(|t| self.access.get(t)) else {
            return Err(error(
                401,
                65600,
                "INVALID_ACCESS_TOKEN",
                "Invalid access token",
            ));
        };
        let g = &self.grants[&a.grant];
        if g.revoked {
            return Err(error(
                401,
                65601,
                "REVOKED_ACCESS_TOKEN",
                "The token used in the request has been revoked by the user",
            ));
        }
        if a.expires_at <= Utc::now() {
            return Err(error(
                401,
                65602,
                "EXPIRED_ACCESS_TOKEN",
                "The token used in the request has expired",
            ));
        }
        Ok((a.user.clone(), g.scopes.clone()))
    }

    /// The checks of every versioned call.
    fn versioned(&self, r: &Req) -> Result<(), Answer> {
        let Some(v) = r.header("linkedin-version") else {
            return Err(error(
                400,
                0,
                "VERSION_MISSING",
                "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            ));
        };
        let month: Option<u32> = v.split('.').next().and_then(|m| m.parse().ok());
        if !month.is_some_and(|m| SERVED_VERSIONS.contains(&m)) {
            return Err(error(
                426,
                0,
                "NONEXISTENT_VERSION",
                &format!("Requested version {v} is not active"),
            ));
        }
        if r.header("x-restli-protocol-version") != Some("2.0.0") {
            return Err(error(
                400,
                0,
                "ILLEGAL_ARGUMENT",
                "X-Restli-Protocol-Version 2.0.0 is required",
            ));
        }
        Ok(())
    }

    /// Whether the member of `user` may act as `author` with these scopes.
    fn may_author(&self, user: &str, scopes: &[String], author: &str) -> Result<(), Answer> {
        let m = &self.members[user];
        let (allowed, scope) = if author == format!("urn:li:person:{}", m.sub) {
            (true, "w_member_social")
        } else {
            (author == m.org, "w_organization_social")
        };
        if !allowed {
            return Err(error(
                403,
                100,
                "ACCESS_DENIED",
                &format!("Not enough permissions to act as {author}"),
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            return Err(error(
                403,
                100,
                "ACCESS_DENIED",
                &format!("The token lacks the scope {scope}"),
            ));
        }
        Ok(())
    }

    fn upload_url(&self, what: &str, n: u64) -> String {
        format!("{}/dms-uploads/{what}/{n}", self.origin)
    }

    fn create_post(&mut self, r: &Req, user: &str, scopes: &[String]) -> Answer {
        let body = r.json();
        let author = body["author"].as_str().unwrap_or_default().to_owned();
        if let Err(a) = self.may_author(user, scopes, &author) {
            return a;
        }
        if body["lifecycleState"].as_str() != Some("PUBLISHED") {
            return error(422, 0, "UNPROCESSABLE_ENTITY", "/lifecycleState is invalid");
        }
        let visibility = body["visibility"].as_str().unwrap_or_default().to_owned();
        let allowed: &[&str] = if author.starts_with("urn:li:organization:") {
            &["PUBLIC"]
        } else {
            &["PUBLIC", "CONNECTIONS", "LOGGED_IN"]
        };
        if !allowed.contains(&visibility.as_str()) {
            return error(
                422,
                0,
                "UNPROCESSABLE_ENTITY",
                "/visibility is invalid for this author",
            );
        }
        if body["distribution"]["feedDistribution"].as_str() != Some("MAIN_FEED") {
            return error(
                422,
                0,
                "UNPROCESSABLE_ENTITY",
                "/distribution/feedDistribution is required",
            );
        }
        let commentary = body["commentary"].as_str().unwrap_or_default().to_owned();
        let text = match unescape(&commentary) {
            Ok(t) => t,
            Err(why) => {
                return error(
                    422,
                    0,
                    "UNPROCESSABLE_ENTITY",
                    &format!("/commentary: {why}"),
                )
            }
        };
        if text.chars().count() > 3000 {
            return error(
                422,
                0,
                "UNPROCESSABLE_ENTITY",
                "/commentary is longer than 3000 characters",
            );
        }
        let content = body.get("content").cloned().unwrap_or(Value::Null);
        let items: Vec<Value> = if let Some(m) = content.get("media") {
            vec![m.clone()]
        } else if let Some(images) = content["multiImage"]["images"].as_array() {
            if images.len() < 2 || images.len() > 20 {
                return error(
                    422,
                    0,
                    "UNPROCESSABLE_ENTITY",
                    "/content/multiImage/images takes 2 to 20 images",
                );
            }
            if images
                .iter()
                .any(|i| !i["id"].as_str().unwrap_or("").starts_with("urn:li:image:"))
            {
                return error(
                    422,
                    0,
                    "UNPROCESSABLE_ENTITY",
                    "/content/multiImage/images takes images only",
                );
            }
            images.clone()
        } else {
            vec![]
        };
        let mut media = vec![];
        for item in &items {
            let id = item["id"].as_str().unwrap_or_default();
            let ok = if let Some(i) = self.images.get(id) {
                i.owner == author && i.uploaded
            } else if let Some(v) = self.videos.get(id) {
                v.owner == author && v.status == "AVAILABLE"
            } else {
                false
            };
            if !ok {
                return error(
                    422,
                    0,
                    "UNPROCESSABLE_ENTITY",
                    &format!("{id} is not an available asset of {author}"),
                );
            }
            media.push((id.to_owned(), item["altText"].as_str().map(str::to_owned)));
        }
        if let Some(message) = self.reject_next.take() {
            return error(422, 0, "UNPROCESSABLE_ENTITY", &message);
        }
        if let Some(first) = self
            .posts
            .iter()
            .find(|p| p.author == author && p.text == text && p.content == content)
        {
            return Answer::Json(
                422,
                json!({"errorDetailType": "com.linkedin.common.error.BadRequest", "code": "DUPLICATE_POST",
                "message": format!("Content is a duplicate of {}", first.urn), "status": 422}),
                vec![],
            );
        }
        let n = self.next();
        let urn = format!("urn:li:share:{}", 7_000_000_000_000_000_000u64 + n);
        self.posts.push(Post {
            urn: urn.clone(),
            author,
            text,
            media,
            visibility,
            reshare_disabled: body["isReshareDisabledByAuthor"].as_bool().unwrap_or(false),
            content,
        });
        if std::mem::take(&mut self.lose_next) {
            return Answer::Drop;
        }
        Answer::Empty(201, vec![("x-restli-id".into(), urn)])
    }

    fn rest(&mut self, r: &Req, rest: &[&str]) -> Answer {
        if let Err(a) = self.versioned(r) {
            return a;
        }
        let (user, scopes) = match self.authed(r) {
            Ok(u) => u,
            Err(a) => return a,
        };
        let action = r.query.get("action").map(String::as_str);
        match (r.method.clone(), rest) {
            (Method::GET, ["organizationAcls"]) => {
                if r.query.get("q").map(String::as_str) != Some("roleAssignee") {
                    return error(400, 0, "ILLEGAL_ARGUMENT", "q must be roleAssignee");
                }
                if !scopes
                    .iter()
                    .any(|s| s == "r_organization_social" || s == "w_organization_social")
                {
                    return error(
                        403,
                        100,
                        "ACCESS_DENIED",
                        "Not enough permissions to access organizationAcls",
                    );
                }
                let m = self.members[&user].clone();
                Answer::Json(
                    200,
                    json!({"paging": {"count": 10, "start": 0, "links": []}, "elements": [{
                        "role": "ADMINISTRATOR", "state": "APPROVED",
                        "roleAssignee": format!("urn:li:person:{}", m.sub), "organization": m.org,
                    }]}),
                    vec![],
                )
            }
            (Method::GET, ["organizations", id]) => {
                let found = self
                    .members
                    .iter()
                    .find(|(_, m)| m.org == format!("urn:li:organization:{id}"));
                match found {
                    Some((name, _)) => Answer::Json(
                        200,
                        json!({"id": id.parse::<u64>().unwrap_or(0), "localizedName": format!("{} Industries", capitalised(name)),
                        "vanityName": format!("{name}-industries")}),
                        vec![],
                    ),
                    None => error(404, 0, "NOT_FOUND", "Organization not found"),
                }
            }
            (Method::POST, ["images"]) if action == Some("initializeUpload") => {
                let owner = r.json()["initializeUploadRequest"]["owner"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Err(a) = self.may_author(&user, &scopes, &owner) {
                    return a;
                }
                let n = self.next();
                let urn = format!("urn:li:image:C4E10AQ{n}");
                self.images.insert(
                    urn.clone(),
                    Image {
                        owner,
                        uploaded: false,
                    },
                );
                Answer::Json(
                    200,
                    json!({"value": {"uploadUrlExpiresAt": (Utc::now() + chrono::Duration::hours(1)).timestamp_millis(),
                    "uploadUrl": self.upload_url("image", n), "image": urn}}),
                    vec![],
                )
            }
            (Method::POST, ["videos"]) if action == Some("initializeUpload") => {
                let req = r.json()["initializeUploadRequest"].clone();
                let owner = req["owner"].as_str().unwrap_or_default().to_owned();
                if let Err(a) = self.may_author(&user, &scopes, &owner) {
                    return a;
                }
                let Some(size) = req["fileSizeBytes"].as_u64().filter(|s| *s > 0) else {
                    return error(
                        422,
                        0,
                        "UNPROCESSABLE_ENTITY",
                        "/initializeUploadRequest/fileSizeBytes is required",
                    );
                };
                let n = self.next();
                let urn = format!("urn:li:video:C5F10AQ{n}");
                let part = self.part_bytes.unwrap_or(PART_BYTES);
                let parts = size.div_ceil(part);
                let instructions: Vec<Value> = (0..parts)
                    .map(|i| {
                        json!({"uploadUrl": format!("{}/part/{i}", self.upload_url("video", n)),
                        "firstByte": i * part, "lastByte": ((i + 1) * part).min(size) - 1})
                    })
                    .collect();
                self.videos.insert(
                    urn.clone(),
                    Video {
                        owner,
                        size,
                        part,
                        etags: vec![None; parts as usize],
                        status: "WAITING_UPLOAD".into(),
                        polls_left: self.processing_polls,
                    },
                );
                Answer::Json(
                    200,
                    json!({"value": {"uploadUrlsExpireAt": (Utc::now() + chrono::Duration::hours(1)).timestamp_millis(),
                    "video": urn, "uploadInstructions": instructions, "uploadToken": ""}}),
                    vec![],
                )
            }
            (Method::POST, ["videos"]) if action == Some("finalizeUpload") => {
                let req = r.json()["finalizeUploadRequest"].clone();
                let urn = req["video"].as_str().unwrap_or_default();
                let Some(v) = self.videos.get_mut(urn) else {
                    return error(404, 0, "NOT_FOUND", "Video not found");
                };
                let sent: Vec<Option<String>> = req["uploadedPartIds"]
                    .as_array()
                    .map(|a| a.iter().map(|e| e.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                if sent != v.etags || v.etags.iter().any(Option::is_none) {
                    return error(
                        400,
                        0,
                        "BAD_REQUEST",
                        "uploadedPartIds do not match the uploaded parts",
                    );
                }
                v.status = "PROCESSING".into();
                Answer::Empty(200, vec![])
            }
            (Method::GET, ["videos", id]) => {
                let urn = decode(id);
                let Some(v) = self.videos.get_mut(&urn) else {
                    return error(404, 0, "NOT_FOUND", "Video not found");
                };
                if v.status == "PROCESSING" {
                    if v.polls_left == 0 {
                        v.status = "AVAILABLE".into();
                    } else {
                        v.polls_left -= 1;
                    }
                }
                Answer::Json(
                    200,
                    json!({"id": urn, "owner": v.owner, "status": v.status}),
                    vec![],
                )
            }
            (Method::POST, ["posts"]) => {
                if std::mem::take(&mut self.rate_limit_next) {
                    // LinkedIn's 429 carries no header saying when to come back.
                    return error(429, 101, "TOO_MANY_REQUESTS", "Resource level throttle MEMBER DAY limit for calls to this resource is reached.");
                }
                self.create_post(r, &user, &scopes)
            }
            (Method::GET, ["posts", id]) => {
                let urn = decode(id);
                let m = self.members[&user].clone();
                match self.posts.iter().find(|p| p.urn == urn) {
                    Some(p)
                        if p.author == format!("urn:li:person:{}", m.sub) || p.author == m.org =>
                    {
                        let commentary = p.text.clone();
                        Answer::Json(
                            200,
                            json!({"id": p.urn, "author": p.author, "commentary": commentary,
                            "lifecycleState": "PUBLISHED", "visibility": p.visibility, "content": p.content}),
                            vec![],
                        )
                    }
                    Some(_) => error(
                        403,
                        100,
                        "ACCESS_DENIED",
                        "Not enough permissions to access this post",
                    ),
                    None => error(404, 0, "NOT_FOUND", "Post not found"),
                }
            }
            _ => error(404, 0, "NOT_FOUND", "No resource found"),
        }
    }

    fn upload(&mut self, r: &Req, rest: &[&str]) -> Answer {
        match rest {
            ["image", n] if r.method == Method::PUT => {
                if let Err(a) = self.authed(r) {
                    return a;
                }
                let urn = format!("urn:li:image:C4E10AQ{n}");
                let Some(i) = self.images.get_mut(&urn) else {
                    return error(404, 0, "NOT_FOUND", "No upload here");
                };
                if r.body.is_empty() {
                    return error(400, 0, "BAD_REQUEST", "No bytes");
                }
                i.uploaded = true;
                Answer::Empty(201, vec![])
            }
            ["video", n, "part", i] if r.method == Method::PUT => {
                let urn = format!("urn:li:video:C5F10AQ{n}");
                let Some(v) = self.videos.get_mut(&urn) else {
                    return error(404, 0, "NOT_FOUND", "No upload here");
                };
                let Some(i) = i
                    .parse::<u64>()
                    .ok()
                    .filter(|i| (*i as usize) < v.etags.len())
                else {
                    return error(404, 0, "NOT_FOUND", "No such part");
                };
                let want = ((i + 1) * v.part).min(v.size) - i * v.part;
                if r.body.len() as u64 != want {
                    return error(
                        400,
                        0,
                        "BAD_REQUEST",
                        &format!("part {i} must be {want} bytes"),
                    );
                }
                let etag = format!("\"/etag/{n}/{i}/{}\"", &secret("")[..8]);
                v.etags[i as usize] = Some(etag.clone());
                Answer::Empty(200, vec![("etag".into(), etag)])
            }
            _ => error(404, 0, "NOT_FOUND", "No resource found"),
        }
    }
}

fn capitalised(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn serve(w: &mut World, r: &Req) -> Answer {
    w.calls.push((
        r.method.clone(),
        r.path.clone(),
        r.header("linkedin-version").map(str::to_owned),
    ));
    let segments: Vec<&str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
    match (r.method.clone(), segments.as_slice()) {
        (Method::POST, ["oauth", "v2", "accessToken"]) => w.token(r),
        (Method::POST, ["oauth", "v2", "revoke"]) => {
            let f = r.form();
            if let Some(a) = f.get("token").and_then(|t| w.access.get(t)) {
                let g = a.grant;
                if let Some(g) = w.grants.get_mut(&g) {
                    g.revoked = true;
                }
            }
            Answer::Empty(200, vec![])
        }
        (Method::GET, ["v2", "userinfo"]) => match w.authed(r) {
            Ok((user, _)) => {
                let m = w.members[&user].clone();
                Answer::Json(
                    200,
                    json!({"sub": m.sub, "name": m.name, "given_name": capitalised(&user), "family_name": "Lovelace",
                    "picture": "https://media.licdn.com/dms/image/fake/profile.jpg", "locale": {"country": "US", "language": "en"}}),
                    vec![],
                )
            }
            Err(a) => a,
        },
        (_, ["rest", rest @ ..]) => w.rest(r, rest),
        (_, ["dms-uploads", rest @ ..]) => w.upload(r, rest),
        _ => error(404, 0, "NOT_FOUND", "No resource found"),
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
    let body: Bytes = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let req = Req {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body: body.to_vec(),
    };
    let is_refresh = req.path == "/oauth/v2/accessToken"
        && req
            .form()
            .get("grant_type")
            .is_some_and(|g| g == "refresh_token");
    // A refresh is in flight for a moment, so refreshes that overlap are seen overlapping.
    let refresher = if is_refresh {
        let mut w = lock(&world);
        let user = req
            .form()
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
    let answer = {
        let mut w = lock(&world);
        if let Some(u) = &refresher {
            if let Some(c) = w.refreshes.get_mut(u) {
                c.in_flight -= 1;
            }
        }
        serve(&mut w, &req)
    };
    let with_headers = |mut resp: Response, extra: Vec<(String, String)>| {
        for (k, v) in extra {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                header::HeaderValue::from_str(&v),
            ) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    };
    match answer {
        Answer::Json(status, v, extra) => with_headers(
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                axum::Json(v),
            )
                .into_response(),
            extra,
        ),
        Answer::Empty(status, extra) => with_headers(
            StatusCode::from_u16(status)
                .unwrap_or(StatusCode::OK)
                .into_response(),
            extra,
        ),
        Answer::Drop => super::cut_off(StatusCode::CREATED),
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeLinkedIn {
    world: Shared,
    served: super::Served,
}

impl FakeLinkedIn {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start() -> FakeLinkedIn {
        let world: Shared = Arc::new(Mutex::new(World {
            processing_polls: 1,
            ..World::default()
        }));
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(world.clone());
        let served = super::Served::start(app).await;
        lock(&world).origin = served.origin.as_str().trim_end_matches('/').to_owned();
        FakeLinkedIn { world, served }
    }

    /// A fresh fake as the suite's peer.
    pub async fn peer() -> Arc<dyn PlatformPeer> {
        Arc::new(Self::start().await)
    }

    pub fn origin(&self) -> url::Url {
        self.served.origin.clone()
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

    /// Every post the fake holds, oldest first.
    pub fn all_posts(&self) -> Vec<Post> {
        self.world().posts.clone()
    }

    /// The URN of the organization `user` administers.
    pub fn organization_of(&self, user: &str) -> String {
        self.world().member(user).org
    }

    /// How many requests went to `method` `path` (path prefix), and whether each carried `LinkedIn-Version`.
    pub fn calls(&self, method: Method, prefix: &str) -> Vec<Option<String>> {
        self.world()
            .calls
            .iter()
            .filter(|(m, p, _)| *m == method && p.starts_with(prefix))
            .map(|(_, _, v)| v.clone())
            .collect()
    }

    /// How many status reads a finalized video answers `PROCESSING` before `AVAILABLE`.
    pub fn set_processing_polls(&self, n: u32) {
        self.world().processing_polls = n;
    }

    /// New video uploads are split in parts of `bytes` (LinkedIn's are 4 MiB), so a small file has several.
    pub fn set_part_bytes(&self, bytes: u64) {
        self.world().part_bytes = Some(bytes);
    }

    /// New grants' refresh tokens last `lifetime` (a year by default), as for a consent given long ago.
    pub fn set_refresh_lifetime(&self, lifetime: chrono::Duration) {
        self.world().refresh_lifetime = Some(lifetime);
    }

    fn user_urn(&self, user: &str) -> String {
        format!("urn:li:person:{}", self.world().member(user).sub)
    }

    /// The environment that points Postora's LinkedIn adapter at this fake, with the organization scopes on.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        let origin = self.origin().as_str().trim_end_matches('/').to_owned();
        vec![
            ("POSTORA_LINKEDIN_CLIENT_ID".into(), LINKEDIN_APP.0.into()),
            (
                "POSTORA_LINKEDIN_CLIENT_SECRET".into(),
                LINKEDIN_APP.1.into(),
            ),
            ("POSTORA_LINKEDIN_AUTH_URL".into(), origin.clone()),
            ("POSTORA_LINKEDIN_API_URL".into(), origin),
            ("POSTORA_LINKEDIN_VERSION".into(), "202610".into()),
            ("POSTORA_LINKEDIN_ORGANIZATIONS".into(), "on".into()),
            ("POSTORA_LINKEDIN_RATE_LIMIT_WAIT_SECS".into(), "4".into()),
            ("POSTORA_LINKEDIN_VIDEO_POLL_SECS".into(), "1".into()),
        ]
    }

    /// The posts by `author` (a URN) as the suite sees them.
    pub fn posts_by(&self, author: &str) -> Vec<PeerPost> {
        let w = self.world();
        w.posts
            .iter()
            .filter(|p| p.author == author)
            .map(|p| PeerPost {
                id: p.urn.clone(),
                text: p.text.clone(),
                reply_to: None,
                media: p
                    .media
                    .iter()
                    .map(|(urn, alt)| PeerMedia {
                        kind: if urn.starts_with("urn:li:video:") {
                            "video"
                        } else {
                            "image"
                        }
                        .into(),
                        alt: alt.clone(),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The index of the option named `name` on Postora's choice page.
pub fn option_named(page: &str, name: &str) -> Option<String> {
    page.split("name=\"account\" value=\"")
        .skip(1)
        .find_map(|o| {
            let index = o.split('"').next()?;
            o.contains(&format!("<strong>{name}</strong>"))
                .then(|| index.to_owned())
        })
}

/// The choice token on Postora's choice page.
pub fn choice_token(page: &str) -> Option<String> {
    let at = page.find("name=\"choice\" value=\"")? + 21;
    page[at..].split('"').next().map(str::to_owned)
}

#[async_trait]
impl PlatformPeer for FakeLinkedIn {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Linkedin
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Renews,
            pkce: false,
            images: true,
            video: true,
            threads: false,
            lost_answer: LostAnswer::InDoubt,
            needs_media: NeedsMedia::Nothing,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        self.env_pairs()
    }

    async fn consent(&self, authorize_url: &str, user: &str) -> String {
        self.approve(authorize_url, user)
    }

    /// The person connects their own profile, not the Page they administer.
    async fn choose(&self, choice_page: &str, user: &str) -> Option<Vec<(String, String)>> {
        let name = self.world().member(user).name;
        // Without the organization scopes the member is the only identity, connected without a choice.
        let token = choice_token(choice_page)?;
        let index = option_named(choice_page, &name)
            .unwrap_or_else(|| panic!("the member {name} is offered: {choice_page}"));
        Some(vec![("choice".into(), token), ("account".into(), index)])
    }

    async fn user_id(&self, user: &str) -> String {
        self.user_urn(user)
    }

    async fn posts(&self, user: &str) -> Vec<PeerPost> {
        let urn = self.user_urn(user);
        self.posts_by(&urn)
    }

    async fn revoke(&self, user: &str) {
        let mut w = self.world();
        for g in w.grants.values_mut().filter(|g| g.user == user) {
            g.revoked = true;
        }
    }

    async fn expire_access(&self, user: &str) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for a in self.world().access.values_mut().filter(|a| a.user == user) {
            a.expires_at = past;
        }
    }

    async fn rate_limit_next(&self, _wait: Duration) {
        // LinkedIn says nothing of how long to wait: Postora holds the account for its configured wait (four
        // seconds here, above what the suite asks for).
        self.world().rate_limit_next = true;
    }

    async fn reject_next(&self, message: &str) {
        self.world().reject_next = Some(message.to_owned());
    }

    async fn lose_next_answer(&self) {
        self.world().lose_next = true;
    }

    async fn refreshes(&self, user: &str) -> (usize, usize) {
        self.world()
            .refreshes
            .get(user)
            .map_or((0, 0), |c| (c.answered, c.max_in_flight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commentary_must_come_escaped() {
        assert_eq!(unescape(r"a \(b\) \#c").unwrap(), "a (b) #c");
        assert!(unescape("a (b)").is_err());
        assert!(unescape(r"a \b").is_err());
    }
}
