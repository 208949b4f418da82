//! TikTok (Content Posting API): Login Kit OAuth v2 with rotating refresh tokens, the creator info query before
//! every post, videos by FILE_UPLOAD in chunks (direct post, or to the creator's inbox), and the post's status
//! polled by its `publish_id`, which is checkpointed the moment the init answers (docs/platforms/tiktok.md).

pub mod api;
pub mod upload;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::api::{call, scrub, CallKind};
use self::upload::{ChunkPlan, Polling, Status};
use crate::config::{ConfigError, Env};
use crate::domain::options::{TiktokMode, TiktokOptions};
use crate::domain::{bounds, Account, MediaKind, PlatformKind, Profile, TargetOptions, TokenSet};
use crate::platforms::http::{endpoint, read_body, read_transport_error};
use crate::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress, PublishJob,
    Published, Recovery,
};

/// The documented paths below the configured origins.
pub mod paths {
    /// On `auth_origin`.
    pub const AUTHORIZE: &str = "/v2/auth/authorize/";
    /// On `api_origin`, as every path below.
    pub const TOKEN: &str = "/v2/oauth/token/";
    pub const REVOKE: &str = "/v2/oauth/revoke/";
    pub const USER_INFO: &str = "/v2/user/info/";
    pub const CREATOR_INFO: &str = "/v2/post/publish/creator_info/query/";
    pub const VIDEO_INIT: &str = "/v2/post/publish/video/init/";
    pub const INBOX_VIDEO_INIT: &str = "/v2/post/publish/inbox/video/init/";
    pub const CONTENT_INIT: &str = "/v2/post/publish/content/init/";
    pub const STATUS: &str = "/v2/post/publish/status/fetch/";
}

/// The longest photo post title TikTok takes, in UTF-16 units (the text goes whole into the description).
pub const PHOTO_TITLE_UNITS: usize = 90;
/// The longest photo post description, in UTF-16 units.
pub const PHOTO_DESCRIPTION_UNITS: usize = 4000;

/// What Postora asks for: the basic profile, direct posting, and uploads to the inbox.
pub const SCOPES: [&str; 3] = ["user.info.basic", "video.publish", "video.upload"];

/// How to reach TikTok. Built from the environment by [`TiktokConfig::from_env`], or by hand in tests.
#[derive(Clone)]
pub struct TiktokConfig {
    /// The app's client key (`POSTORA_TIKTOK_CLIENT_ID`).
    pub client_key: String,
    pub client_secret: SecretString,
    /// `POSTORA_TIKTOK_AUTH_URL`: where a person consents.
    pub auth_origin: url::Url,
    /// `POSTORA_TIKTOK_API_URL`: the token endpoint and the API.
    pub api_origin: url::Url,
    pub polling: Polling,
    /// The size of an upload's chunks (bounded to TikTok's 5 MB to 64 MB).
    pub chunk_bytes: u64,
}

impl fmt::Debug for TiktokConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TiktokConfig")
            .field("client_key", &self.client_key)
            .field("client_secret", &"[redacted]")
            .field("auth_origin", &self.auth_origin.as_str())
            .field("api_origin", &self.api_origin.as_str())
            .finish()
    }
}

impl TiktokConfig {
    pub const DEFAULT_AUTH_ORIGIN: &'static str = "https://www.tiktok.com";
    pub const DEFAULT_API_ORIGIN: &'static str = "https://open.tiktokapis.com";

    /// The real hosts.
    pub fn new(client_key: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_key: client_key.into(),
            client_secret,
            auth_origin: url::Url::parse(Self::DEFAULT_AUTH_ORIGIN).expect("a valid literal"),
            api_origin: url::Url::parse(Self::DEFAULT_API_ORIGIN).expect("a valid literal"),
            polling: Polling::default(),
            chunk_bytes: upload::DEFAULT_CHUNK_BYTES,
        }
    }

    /// `None` when `POSTORA_TIKTOK_CLIENT_ID` and `POSTORA_TIKTOK_CLIENT_SECRET` are both unset; an error naming the
    /// variable when only one is, or when a host is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let (id_name, secret_name) = ("POSTORA_TIKTOK_CLIENT_ID", "POSTORA_TIKTOK_CLIENT_SECRET");
        let half = |missing: &str, present: &str| {
            ConfigError::invalid(
                missing,
                format!(
                    "it must be set too, since {present} is (set both to enable TikTok, or neither)"
                ),
            )
        };
        let (id, secret) = match (env.get(id_name), env.secret(secret_name)) {
            (None, None) => return Ok(None),
            (Some(id), Some(secret)) => (id.to_owned(), secret),
            (Some(_), None) => return Err(half(secret_name, id_name)),
            (None, Some(_)) => return Err(half(id_name, secret_name)),
        };
        let base = Self::new(id, secret);
        let wait = env.seconds(
            "POSTORA_TIKTOK_STATUS_POLL_SECS",
            base.polling.default_wait.as_secs(),
        )?;
        Ok(Some(Self {
            auth_origin: env.origin("POSTORA_TIKTOK_AUTH_URL", Self::DEFAULT_AUTH_ORIGIN)?,
            api_origin: env.origin("POSTORA_TIKTOK_API_URL", Self::DEFAULT_API_ORIGIN)?,
            polling: Polling {
                // TikTok allows 30 status reads a minute per token.
                default_wait: wait.max(std::time::Duration::from_secs(1)),
                ..base.polling
            },
            ..base
        }))
    }
}

pub struct TiktokPlatform {
    http: reqwest::Client,
    config: TiktokConfig,
}

impl fmt::Debug for TiktokPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TiktokPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer (success or error: TikTok puts both in one shape).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_expires_in: Option<i64>,
    #[serde(default)]
    open_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct User {
    open_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct UserData {
    user: User,
}

/// What `creator_info/query` says about the creator, as of now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatorInfo {
    #[serde(default)]
    pub creator_avatar_url: Option<String>,
    #[serde(default)]
    pub creator_username: Option<String>,
    #[serde(default)]
    pub creator_nickname: Option<String>,
    #[serde(default)]
    pub privacy_level_options: Vec<String>,
    #[serde(default)]
    pub comment_disabled: bool,
    #[serde(default)]
    pub duet_disabled: bool,
    #[serde(default)]
    pub stitch_disabled: bool,
    #[serde(default)]
    pub max_video_post_duration_sec: Option<u64>,
}

#[derive(Deserialize)]
struct InitData {
    publish_id: String,
    #[serde(default)]
    upload_url: Option<String>,
}

/// What a TikTok publish recorded so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TiktokCheckpoint {
    /// The init's answer: the post's handle at TikTok, recorded before any byte is sent.
    pub publish_id: String,
    pub initiated_at: DateTime<Utc>,
    /// The creator's username, for the permalink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether every chunk was acknowledged.
    #[serde(default)]
    pub uploaded: bool,
    /// The size of the video sent, to tell a broken upload from a whole one.
    #[serde(default)]
    pub video_size: u64,
}

/// Recorded just before a photo post's `content/init` is sent: that call itself publishes (TikTok fetches the photos),
/// so without its answer nothing can tell whether it landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoSent {
    pub sent_at: DateTime<Utc>,
}

impl PhotoSent {
    fn read(value: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(value?.get("tiktok_photo_sent")?.clone()).ok()
    }
}

impl TiktokCheckpoint {
    pub fn read(value: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(value?.get("tiktok")?.clone()).ok()
    }

    async fn save(&self, progress: &dyn Progress) -> Result<(), PlatformError> {
        let value = serde_json::to_value(self)
            .map_err(|_| PlatformError::Transient("could not record the TikTok upload".into()))?;
        progress.checkpoint(json!({ "tiktok": value })).await
    }
}

/// The body of `video/init` for a direct post (`post_info` and `source_info`), or of `inbox/video/init`
/// (`source_info` only).
pub fn init_body(text: &str, options: &TiktokOptions, plan: &ChunkPlan) -> serde_json::Value {
    let source_info = json!({
        "source": "FILE_UPLOAD",
        "video_size": plan.video_size,
        "chunk_size": plan.chunk_size,
        "total_chunk_count": plan.total_chunk_count,
    });
    if options.mode == TiktokMode::Inbox {
        return json!({ "source_info": source_info });
    }
    let mut post_info = json!({
        "title": text,
        "disable_comment": options.disable_comment,
        "disable_duet": options.disable_duet,
        "disable_stitch": options.disable_stitch,
    });
    if let Some(p) = options.privacy_level {
        post_info["privacy_level"] = json!(p.as_str());
    }
    if options.brand_content_toggle {
        post_info["brand_content_toggle"] = json!(true);
    }
    if options.brand_organic_toggle {
        post_info["brand_organic_toggle"] = json!(true);
    }
    json!({ "post_info": post_info, "source_info": source_info })
}

/// The first `units` UTF-16 units of `text`, cut at a character.
fn utf16_prefix(text: &str, units: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.len_utf16();
        if used > units {
            return &text[..i];
        }
    }
    text
}

/// The body of `content/init` for a photo post: the links TikTok fetches the photos from (Postora's short-lived
/// media links, whose prefix must be verified with TikTok), the text as the description and its start as the title.
pub fn photo_body(text: &str, options: &TiktokOptions, urls: &[&str]) -> serde_json::Value {
    let title = utf16_prefix(text.lines().next().unwrap_or(""), PHOTO_TITLE_UNITS);
    let mut post_info = json!({
        "title": title,
        "description": utf16_prefix(text, PHOTO_DESCRIPTION_UNITS),
        "disable_comment": options.disable_comment,
        "auto_add_music": true,
    });
    if let Some(p) = options.privacy_level {
        post_info["privacy_level"] = json!(p.as_str());
    }
    if options.brand_content_toggle {
        post_info["brand_content_toggle"] = json!(true);
    }
    if options.brand_organic_toggle {
        post_info["brand_organic_toggle"] = json!(true);
    }
    json!({
        "post_info": post_info,
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 0, "photo_images": urls},
        "post_mode": match options.mode { TiktokMode::Direct => "DIRECT_POST", TiktokMode::Inbox => "MEDIA_UPLOAD" },
        "media_type": "PHOTO",
    })
}

/// Checks the person's choices against what the creator allows now; the options to send (interactions the creator
/// turned off stay off).
pub fn fit_options(
    options: &TiktokOptions,
    creator: &CreatorInfo,
    video_ms: Option<u64>,
) -> Result<TiktokOptions, PlatformError> {
    let mut fitted = options.clone();
    if options.mode == TiktokMode::Direct {
        let Some(level) = options.privacy_level else {
            return Err(PlatformError::Rejected(
                "a TikTok post needs a privacy level chosen by the person (targets[].options.privacy_level)".into(),
            ));
        };
        if !creator
            .privacy_level_options
            .iter()
            .any(|o| o == level.as_str())
        {
            return Err(PlatformError::Rejected(format!(
                "the TikTok account does not offer the privacy level {} now; it offers {}: choose one of those",
                level.as_str(),
                if creator.privacy_level_options.is_empty() {
                    "none".to_owned()
                } else {
                    creator.privacy_level_options.join(", ")
                }
            )));
        }
    }
    if let (Some(max), Some(ms)) = (creator.max_video_post_duration_sec, video_ms) {
        if ms > max.saturating_mul(1000) {
            return Err(PlatformError::Rejected(format!(
                "the video lasts {} s, longer than the {} s this TikTok account may post",
                ms.div_ceil(1000),
                max
            )));
        }
    }
    fitted.disable_comment |= creator.comment_disabled;
    fitted.disable_duet |= creator.duet_disabled;
    fitted.disable_stitch |= creator.stitch_disabled;
    Ok(fitted)
}

/// A post's link, where TikTok gave a public id and the creator's username is known.
pub fn permalink(username: Option<&str>, post_id: &str) -> Option<String> {
    username
        .filter(|u| !u.is_empty())
        .map(|u| format!("https://www.tiktok.com/@{u}/video/{post_id}"))
}

impl TiktokPlatform {
    pub fn new(http: reqwest::Client, config: TiktokConfig) -> Self {
        Self { http, config }
    }

    fn api(&self, path: &str) -> url::Url {
        endpoint(&self.config.api_origin, path)
    }

    /// `POST /v2/oauth/token/` with the app's credentials and `fields`.
    async fn token_call(
        &self,
        fields: &[(&str, &str)],
        what: &str,
        now: DateTime<Utc>,
        previous: Option<&TokenSet>,
    ) -> Result<(TokenSet, Option<String>), PlatformError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_key", self.config.client_key.as_str()),
            ("client_secret", self.config.client_secret.expose_secret()),
        ];
        form.extend_from_slice(fields);
        let resp = self
            .http
            .post(self.api(paths::TOKEN))
            .header(reqwest::header::CACHE_CONTROL, "no-cache")
            .form(&form)
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        let status = resp.status().as_u16();
        let body = read_body(resp)
            .await
            .map_err(|e| e.into_platform(what, false))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            PlatformError::Transient(format!(
                "{what}: TikTok answered {status} with an unreadable body"
            ))
        })?;
        let secrets: Vec<&str> = fields.iter().map(|(_, v)| *v).collect();
        if let Some(error) = answer.error.as_deref().filter(|e| !e.is_empty()) {
            let description = scrub(answer.error_description.as_deref().unwrap_or(""), &secrets);
            let message = format!("{what}: TikTok said {error}: {description}");
            return Err(match error {
                "invalid_grant" | "invalid_request" | "access_denied" => {
                    PlatformError::Reauth(message)
                }
                "rate_limit_exceeded" => PlatformError::RateLimited {
                    retry_after: Some(api::DEFAULT_RATE_WAIT),
                    message,
                },
                "internal_error" | "server_error" | "temporarily_unavailable" => {
                    PlatformError::Transient(message)
                }
                _ => PlatformError::Rejected(message),
            });
        }
        if !(200..300).contains(&status) {
            return Err(if status >= 500 {
                PlatformError::Transient(format!("{what}: TikTok answered {status}"))
            } else {
                PlatformError::Rejected(format!("{what}: TikTok answered {status}"))
            });
        }
        let access = answer
            .access_token
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                PlatformError::Transient(format!("{what}: TikTok answered without a token"))
            })?;
        let lifetime = |secs: Option<i64>| {
            secs.map(|s| bounds::token_expiry(now, i128::from(s)))
                .transpose()
                .map_err(|e| PlatformError::Transient(format!("{what}: {e}")))
        };
        let mut set = TokenSet::new(access, now);
        set.expires_at = lifetime(answer.expires_in)?;
        // Refresh tokens rotate: the newest is the one to keep.
        set.refresh_token = answer
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(SecretString::from)
            .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
        set.refresh_expires_at = match lifetime(answer.refresh_expires_in)? {
            Some(t) => Some(t),
            None => previous.and_then(|p| p.refresh_expires_at),
        };
        set.scope = answer.scope;
        Ok((set, answer.open_id))
    }

    async fn profile(&self, token: &SecretString) -> Result<Profile, PlatformError> {
        let mut url = self.api(paths::USER_INFO);
        url.query_pairs_mut()
            .append_pair("fields", "open_id,union_id,avatar_url,display_name");
        let data: UserData = call(
            self.http.get(url),
            token,
            CallKind::Read,
            "reading the TikTok profile",
        )
        .await
        .map_err(|e| match e {
            PlatformError::TokenExpired => {
                PlatformError::Reauth("TikTok refused the new token".into())
            }
            other => other,
        })?;
        let u = data.user;
        Ok(Profile {
            platform_user_id: u.open_id,
            username: u.username.filter(|s| !s.is_empty()),
            display_name: u.display_name.filter(|s| !s.is_empty()),
            picture_url: u.avatar_url.filter(|s| !s.is_empty()),
            biography: None,
            granted_by: None,
        })
    }

    /// The creator info query: who is posting and what they may post, as of now.
    pub async fn creator_info(&self, token: &SecretString) -> Result<CreatorInfo, PlatformError> {
        call(
            self.http
                .post(self.api(paths::CREATOR_INFO))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=UTF-8",
                )
                .body("{}"),
            token,
            CallKind::Read,
            "reading the TikTok creator's posting options",
        )
        .await
    }

    fn uploader<'a>(&'a self, token: &'a SecretString) -> upload::Uploader<'a> {
        upload::Uploader {
            http: &self.http,
            status_url: self.api(paths::STATUS),
            token,
            polling: self.config.polling,
        }
    }

    /// Follows a checkpointed publish to its end, within the attempt's time.
    async fn follow(
        &self,
        job: &PublishJob<'_>,
        checkpoint: &TiktokCheckpoint,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let status = self
            .uploader(&job.tokens.access_token)
            .wait(checkpoint, progress)
            .await?;
        Ok(self.published(checkpoint, &status))
    }

    /// A photo post: `content/init` with PULL_FROM_URL publishes by itself (TikTok fetches the photos), so the call
    /// is recorded as sent before it goes, and its publish id is checkpointed the moment it answers.
    async fn publish_photos(
        &self,
        job: &PublishJob<'_>,
        options: &TiktokOptions,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        if PhotoSent::read(job.checkpoint).is_some() {
            return Err(PlatformError::Unknown(
                "an earlier attempt sent this photo post to TikTok without an answer".into(),
            ));
        }
        let token = &job.tokens.access_token;
        let creator = self.creator_info(token).await?;
        let options = fit_options(options, &creator, None)?;
        let urls: Vec<&str> = job.media.iter().map(|m| m.url.as_str()).collect();
        let body = photo_body(job.text, &options, &urls);
        let sent_at = Utc::now();
        progress
            .checkpoint(json!({ "tiktok_photo_sent": PhotoSent { sent_at } }))
            .await?;
        let init: Result<InitData, PlatformError> = call(
            self.http.post(self.api(paths::CONTENT_INIT)).json(&body),
            token,
            CallKind::Publish,
            "publishing photos to TikTok",
        )
        .await;
        let init = match init {
            Ok(i) => i,
            Err(
                e @ (PlatformError::TokenExpired
                | PlatformError::Rejected(_)
                | PlatformError::Reauth(_)
                | PlatformError::RateLimited { .. }),
            ) => {
                // TikTok refused it: nothing was published, and the next attempt may send it again.
                progress.checkpoint(json!({})).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let checkpoint = TiktokCheckpoint {
            publish_id: init.publish_id,
            initiated_at: sent_at,
            username: creator.creator_username.clone(),
            uploaded: true,
            video_size: 0,
        };
        checkpoint.save(progress).await?;
        self.follow(job, &checkpoint, progress).await
    }

    fn published(&self, checkpoint: &TiktokCheckpoint, status: &Status) -> Published {
        match status.post_id() {
            Some(id) => Published::new(id.clone(), permalink(checkpoint.username.as_deref(), &id)),
            // Private posts and inbox uploads get no public id: the publish id is the record.
            None => Published::new(checkpoint.publish_id.clone(), None),
        }
    }
}

fn options_of<'a>(job: &'a PublishJob<'_>) -> Result<&'a TiktokOptions, PlatformError> {
    match job.options {
        Some(TargetOptions::Tiktok(o)) => Ok(o),
        _ => Err(PlatformError::Rejected(
            "a TikTok post needs its options, with a privacy level chosen by the person (targets[].options.privacy_level)".into(),
        )),
    }
}

#[async_trait]
impl Platform for TiktokPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Tiktok
    }

    /// TikTok's web Login Kit takes no PKCE (its desktop flow does, with a hex challenge of its own).
    fn uses_pkce(&self) -> bool {
        false
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        let mut url = endpoint(&self.config.auth_origin, paths::AUTHORIZE);
        url.query_pairs_mut()
            .append_pair("client_key", &self.config.client_key)
            .append_pair("scope", &SCOPES.join(","))
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("state", request.state);
        Ok(url)
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let (tokens, open_id) = self
            .token_call(
                &[
                    ("code", exchange.code),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", exchange.redirect_uri),
                ],
                "exchanging the TikTok code",
                Utc::now(),
                None,
            )
            .await?;
        if let Some(granted) = tokens.scope.as_deref() {
            let granted: Vec<&str> = granted.split([',', ' ']).collect();
            // `video.upload` serves only the inbox mode: a consent without it still posts directly.
            if let Some(missing) = ["user.info.basic", "video.publish"]
                .iter()
                .find(|s| !granted.contains(s))
            {
                return Err(PlatformError::Rejected(format!(
                    "the TikTok consent did not grant {missing}, which posting needs: connect again and allow it"
                )));
            }
        }
        let profile = self.profile(&tokens.access_token).await?;
        if open_id
            .as_deref()
            .is_some_and(|o| o != profile.platform_user_id)
        {
            return Err(PlatformError::Rejected(
                "TikTok's token and profile name different users".into(),
            ));
        }
        let settings = json!({ "open_id": profile.platform_user_id });
        Ok(vec![Connection {
            profile,
            tokens,
            settings,
        }])
    }

    /// One call, never repeated here: the refresh token rotates, and the app stores the new pair before using it.
    async fn refresh(
        &self,
        _account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        let refresh = tokens
            .refresh_token
            .as_ref()
            .ok_or_else(|| PlatformError::Reauth("no refresh token was granted".into()))?;
        let (set, _) = self
            .token_call(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose_secret()),
                ],
                "refreshing the TikTok token",
                Utc::now(),
                Some(tokens),
            )
            .await?;
        Ok(set)
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        if let Some(checkpoint) = TiktokCheckpoint::read(job.checkpoint) {
            // An earlier attempt initiated this post: follow it, never init again while it may still land.
            match self.follow(job, &checkpoint, progress).await {
                Err(PlatformError::Transient(m)) if m.contains(upload::BROKEN_UPLOAD) => {
                    tracing::info!(platform = "tiktok", publish = %checkpoint.publish_id, "the earlier upload never completed; starting again");
                }
                other => return other,
            }
        }
        if !job.thread.is_empty() {
            return Err(PlatformError::Rejected(
                "TikTok posts cannot reply to one another".into(),
            ));
        }
        let options = options_of(job)?;
        if !job.media.is_empty() && job.media.iter().all(|m| m.kind == MediaKind::Image) {
            return self.publish_photos(job, options, progress).await;
        }
        let [video] = job.media else {
            return Err(PlatformError::Rejected(
                "a TikTok post carries one video, or photos".into(),
            ));
        };
        if video.kind != MediaKind::Video {
            return Err(PlatformError::Rejected(
                "a TikTok post carries one video, or photos".into(),
            ));
        }
        let token = &job.tokens.access_token;
        let creator = self.creator_info(token).await?;
        let options = fit_options(options, &creator, video.duration_ms)?;
        let plan = ChunkPlan::new(video.bytes, self.config.chunk_bytes)?;
        let path = match options.mode {
            TiktokMode::Direct => paths::VIDEO_INIT,
            TiktokMode::Inbox => paths::INBOX_VIDEO_INIT,
        };
        let init: InitData = call(
            self.http
                .post(self.api(path))
                .json(&init_body(job.text, &options, &plan)),
            token,
            CallKind::Prepare,
            "starting the TikTok upload",
        )
        .await?;
        let upload_url = init.upload_url.filter(|u| !u.is_empty()).ok_or_else(|| {
            PlatformError::Transient("TikTok answered the init without an upload URL".into())
        })?;
        let mut checkpoint = TiktokCheckpoint {
            publish_id: init.publish_id,
            initiated_at: Utc::now(),
            username: creator.creator_username.clone(),
            uploaded: false,
            video_size: video.bytes,
        };
        // Recorded before any byte is sent: from here on, the post is followed by its publish id, never initiated
        // again while it may land.
        checkpoint.save(progress).await?;
        match self
            .uploader(token)
            .send_chunks(&upload_url, video, &plan)
            .await
        {
            Ok(()) => {}
            // The last chunk's answer was lost: the upload may be whole. The status tells, by the publish id.
            Err(PlatformError::Unknown(why)) => {
                tracing::info!(platform = "tiktok", publish = %checkpoint.publish_id, "the last chunk's answer was lost; asking TikTok by the publish id");
                return match self.follow(job, &checkpoint, progress).await {
                    Err(PlatformError::Transient(m)) if m.contains(upload::BROKEN_UPLOAD) => {
                        Err(PlatformError::Transient(format!("{why}; {m}")))
                    }
                    other => other,
                };
            }
            Err(e) => return Err(e),
        }
        checkpoint.uploaded = true;
        checkpoint.save(progress).await?;
        self.follow(job, &checkpoint, progress).await
    }

    /// Not always answerable: a publish whose init answered is followed by its checkpointed publish id, but the
    /// publisher may not assume that every attempt got that far.
    fn can_recover(&self) -> bool {
        false
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        if PhotoSent::read(job.checkpoint).is_some() {
            return Ok(Recovery::Unknowable(
                "TikTok's answer to a photo post was lost, and TikTok offers no way to find the post without it".into(),
            ));
        }
        let Some(checkpoint) = TiktokCheckpoint::read(job.checkpoint) else {
            // Before the init answered there is nothing on TikTok that can publish: a FILE_UPLOAD init publishes
            // nothing until its bytes arrive, and they are sent only after the publish id is checkpointed.
            return Ok(Recovery::NotPublished);
        };
        let status = self
            .uploader(&job.tokens.access_token)
            .status(&checkpoint.publish_id)
            .await?;
        Ok(match status.state() {
            upload::State::Done => Recovery::Published(self.published(&checkpoint, &status)),
            upload::State::Uploading | upload::State::Processing
                if (Utc::now() - checkpoint.initiated_at)
                    .to_std()
                    .is_ok_and(|waited| waited > self.config.polling.give_up_after) =>
            {
                Recovery::Unknowable(format!(
                    "TikTok was still processing the post long after it started ({}): it may yet appear on the account",
                    status.status
                ))
            }
            // Failed, or still on its way: publishing again follows the same publish id from the checkpoint (and
            // reports TikTok's reason for a failure), never initiates a second post.
            _ => Recovery::NotPublished,
        })
    }

    async fn revoke(&self, _account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        let what = "revoking the TikTok token";
        let resp = self
            .http
            .post(self.api(paths::REVOKE))
            .form(&[
                ("client_key", self.config.client_key.as_str()),
                ("client_secret", self.config.client_secret.expose_secret()),
                ("token", tokens.access_token.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(PlatformError::Transient(format!(
                "{what}: TikTok answered {}",
                resp.status().as_u16()
            )))
        }
    }

    async fn creator_options(
        &self,
        _account: &Account,
        tokens: &TokenSet,
    ) -> Result<Option<serde_json::Value>, PlatformError> {
        let info = self.creator_info(&tokens.access_token).await?;
        serde_json::to_value(&info)
            .map(Some)
            .map_err(|_| PlatformError::Transient("could not read the creator's options".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::options::TiktokPrivacy;

    fn options(level: Option<TiktokPrivacy>) -> TiktokOptions {
        match TargetOptions::parse(
            PlatformKind::Tiktok,
            &json!({"privacy_level": level.map(|l| l.as_str())}),
        ) {
            Ok(TargetOptions::Tiktok(o)) => o,
            other => panic!("{other:?}"),
        }
    }

    fn creator() -> CreatorInfo {
        CreatorInfo {
            creator_avatar_url: None,
            creator_username: Some("ada".into()),
            creator_nickname: Some("Ada".into()),
            privacy_level_options: vec!["SELF_ONLY".into(), "FOLLOWER_OF_CREATOR".into()],
            comment_disabled: false,
            duet_disabled: true,
            stitch_disabled: false,
            max_video_post_duration_sec: Some(60),
        }
    }

    #[test]
    fn the_persons_choices_are_checked_against_the_creators() {
        let o = options(Some(TiktokPrivacy::SelfOnly));
        let fitted = fit_options(&o, &creator(), Some(10_000)).unwrap();
        assert!(fitted.disable_duet);
        let e = fit_options(
            &options(Some(TiktokPrivacy::PublicToEveryone)),
            &creator(),
            None,
        )
        .unwrap_err();
        assert_eq!(e.code(), "rejected");
        assert!(
            e.to_string().contains("SELF_ONLY, FOLLOWER_OF_CREATOR"),
            "{e}"
        );
        let e = fit_options(&o, &creator(), Some(61_000)).unwrap_err();
        assert!(e.to_string().contains("60 s"), "{e}");
    }

    #[test]
    fn init_bodies() {
        let plan = ChunkPlan::new(1000, upload::DEFAULT_CHUNK_BYTES).unwrap();
        let body = init_body("hi", &options(Some(TiktokPrivacy::SelfOnly)), &plan);
        assert_eq!(
            body,
            json!({"post_info": {"title": "hi", "privacy_level": "SELF_ONLY", "disable_comment": true, "disable_duet": true, "disable_stitch": true},
                "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}})
        );
        let inbox = match TargetOptions::parse(PlatformKind::Tiktok, &json!({"mode": "inbox"})) {
            Ok(TargetOptions::Tiktok(o)) => o,
            other => panic!("{other:?}"),
        };
        assert!(init_body("hi", &inbox, &plan).get("post_info").is_none());
    }

    #[test]
    fn config_needs_both_credentials() {
        assert!(TiktokConfig::from_env(&Env::default()).unwrap().is_none());
        let half = Env::from_pairs([("POSTORA_TIKTOK_CLIENT_ID", "abc")]);
        assert!(TiktokConfig::from_env(&half)
            .unwrap_err()
            .to_string()
            .contains("POSTORA_TIKTOK_CLIENT_SECRET"));
        let env = Env::from_pairs([
            ("POSTORA_TIKTOK_CLIENT_ID", "abc"),
            ("POSTORA_TIKTOK_CLIENT_SECRET", "shh-secret"),
        ]);
        let c = TiktokConfig::from_env(&env).unwrap().unwrap();
        assert!(!format!("{c:?}").contains("shh-secret"));
    }
}
