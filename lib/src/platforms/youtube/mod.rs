//! YouTube (Data API v3): Google OAuth 2.0 with PKCE and offline access, the channel as the account, videos through
//! the resumable upload (checkpointed before its first byte, resumed by asking the session), and Postora's own count
//! of the project's daily upload quota (docs/platforms/youtube.md).

pub mod api;
pub mod quota;
pub mod upload;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use self::api::error_of;
use self::quota::UploadQuota;
use self::upload::{next_chunk, Session, Standing, Video, YoutubeCheckpoint, CHUNK_UNIT};
use crate::config::{ConfigError, Env};
use crate::domain::options::{YoutubeOptions, YoutubePrivacy, MAX_YOUTUBE_SHORT_MS};
use crate::domain::{Account, MediaKind, PlatformKind, Profile, TargetOptions, TokenSet};
use crate::domain::{MediaFormat, MediaId};
use crate::platforms::http::{endpoint, read_body, read_transport_error};
use crate::platforms::oauth::{ClientAuth, OAuthApp};
use crate::ports::{
    AuthorizeRequest, BlobStore, CodeExchange, Connection, MediaStore, ObjectKey, Platform,
    PlatformError, Progress, PublishJob, PublishMedia, Published, Recovery,
};

/// The documented paths below the configured origins.
pub mod paths {
    /// On `auth_origin`.
    pub const AUTHORIZE: &str = "/o/oauth2/v2/auth";
    /// On `token_origin`.
    pub const TOKEN: &str = "/token";
    pub const REVOKE: &str = "/revoke";
    /// On `api_origin`.
    pub const CHANNELS: &str = "/youtube/v3/channels";
    pub const UPLOAD_VIDEOS: &str = "/upload/youtube/v3/videos";
    pub const UPLOAD_THUMBNAIL: &str = "/upload/youtube/v3/thumbnails/set";
}

/// The largest custom thumbnail YouTube takes: 2 MB.
pub const MAX_THUMBNAIL_BYTES: u64 = 2 * 1024 * 1024;

/// The workspace's media library, where a custom thumbnail (a media id in the target's options) is read from.
#[derive(Clone)]
pub struct Library {
    pub media: Arc<dyn MediaStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// Uploading videos, and reading the channel (its id, title and picture) to connect it.
pub const SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
];

/// How long the refresh tokens of a Google app in "Testing" status live.
pub const TESTING_GRANT_LIFETIME: chrono::Duration = chrono::Duration::days(7);

/// How to reach YouTube. Built from the environment by [`YoutubeConfig::from_env`], or by hand in tests.
#[derive(Clone)]
pub struct YoutubeConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `POSTORA_YOUTUBE_AUTH_URL`: where a person consents (Google's accounts host).
    pub auth_origin: url::Url,
    /// `POSTORA_YOUTUBE_TOKEN_URL`: the token and revoke endpoints.
    pub token_origin: url::Url,
    /// `POSTORA_YOUTUBE_API_URL`: the Data API and its upload endpoint.
    pub api_origin: url::Url,
    /// `POSTORA_YOUTUBE_CHUNK_BYTES`: the size of each uploaded chunk, a multiple of 256 KiB (8 MiB by default).
    pub chunk_bytes: u64,
    /// `POSTORA_YOUTUBE_DAILY_UPLOADS`: the project's daily `videos.insert` quota (100 by default).
    pub daily_uploads: u32,
    /// An attempt sends no further chunk with less time than this left; it checkpoints and continues later.
    pub chunk_time: Duration,
}

impl fmt::Debug for YoutubeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YoutubeConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("auth_origin", &self.auth_origin.as_str())
            .field("token_origin", &self.token_origin.as_str())
            .field("api_origin", &self.api_origin.as_str())
            .field("chunk_bytes", &self.chunk_bytes)
            .field("daily_uploads", &self.daily_uploads)
            .finish()
    }
}

impl YoutubeConfig {
    pub const DEFAULT_AUTH_ORIGIN: &'static str = "https://accounts.google.com";
    pub const DEFAULT_TOKEN_ORIGIN: &'static str = "https://oauth2.googleapis.com";
    pub const DEFAULT_API_ORIGIN: &'static str = "https://www.googleapis.com";
    pub const DEFAULT_CHUNK_BYTES: u64 = 32 * CHUNK_UNIT;

    /// The real hosts.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        let parse = |s: &str| url::Url::parse(s).expect("a valid literal");
        Self {
            client_id: client_id.into(),
            client_secret,
            auth_origin: parse(Self::DEFAULT_AUTH_ORIGIN),
            token_origin: parse(Self::DEFAULT_TOKEN_ORIGIN),
            api_origin: parse(Self::DEFAULT_API_ORIGIN),
            chunk_bytes: Self::DEFAULT_CHUNK_BYTES,
            daily_uploads: quota::DEFAULT_DAILY_UPLOADS,
            chunk_time: Duration::from_secs(20),
        }
    }

    /// `None` when `POSTORA_YOUTUBE_CLIENT_ID` and `POSTORA_YOUTUBE_CLIENT_SECRET` are both unset; an error naming
    /// the variable when only one is, or when a value is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let (id_name, secret_name) = ("POSTORA_YOUTUBE_CLIENT_ID", "POSTORA_YOUTUBE_CLIENT_SECRET");
        let half = |missing: &str, present: &str| {
            ConfigError::invalid(
                missing,
                format!(
                    "it must be set too, since {present} is (set both to enable YouTube, or neither)"
                ),
            )
        };
        let (id, secret) = match (env.get(id_name), env.secret(secret_name)) {
            (None, None) => return Ok(None),
            (Some(id), Some(secret)) => (id.to_owned(), secret),
            (Some(_), None) => return Err(half(secret_name, id_name)),
            (None, Some(_)) => return Err(half(id_name, secret_name)),
        };
        let chunk_bytes = env.parse("POSTORA_YOUTUBE_CHUNK_BYTES", Self::DEFAULT_CHUNK_BYTES)?;
        if chunk_bytes == 0
            || !chunk_bytes.is_multiple_of(CHUNK_UNIT)
            || chunk_bytes > 1024 * CHUNK_UNIT
        {
            return Err(ConfigError::invalid(
                "POSTORA_YOUTUBE_CHUNK_BYTES",
                "must be a multiple of 262144 (256 KiB), at most 256 MiB",
            ));
        }
        let daily_uploads = env.parse(
            "POSTORA_YOUTUBE_DAILY_UPLOADS",
            quota::DEFAULT_DAILY_UPLOADS,
        )?;
        Ok(Some(Self {
            auth_origin: env.origin("POSTORA_YOUTUBE_AUTH_URL", Self::DEFAULT_AUTH_ORIGIN)?,
            token_origin: env.origin("POSTORA_YOUTUBE_TOKEN_URL", Self::DEFAULT_TOKEN_ORIGIN)?,
            api_origin: env.origin("POSTORA_YOUTUBE_API_URL", Self::DEFAULT_API_ORIGIN)?,
            chunk_bytes,
            daily_uploads,
            ..Self::new(id, secret)
        }))
    }
}

pub struct YoutubePlatform {
    http: reqwest::Client,
    oauth: OAuthApp,
    config: YoutubeConfig,
    quota: UploadQuota,
    library: Option<Library>,
}

impl fmt::Debug for YoutubePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YoutubePlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
struct Thumbnail {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize, Default)]
struct Thumbnails {
    #[serde(default)]
    default: Option<Thumbnail>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ChannelSnippet {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    custom_url: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    thumbnails: Option<Thumbnails>,
}

#[derive(Deserialize)]
struct Channel {
    id: String,
    #[serde(default)]
    snippet: Option<ChannelSnippet>,
}

#[derive(Deserialize)]
struct ChannelList {
    #[serde(default)]
    items: Vec<Channel>,
}

/// The link to a video (a Short's own link for a Short).
pub fn permalink(id: &str, short: bool) -> String {
    if short {
        format!("https://www.youtube.com/shorts/{id}")
    } else {
        format!("https://www.youtube.com/watch?v={id}")
    }
}

/// The metadata of `videos.insert` (`part=snippet,status`) for a post's text and options.
pub fn video_metadata(text: &str, o: &YoutubeOptions) -> serde_json::Value {
    let mut snippet = json!({
        "title": o.title.as_deref().unwrap_or("").trim(),
        "description": o.description.as_deref().unwrap_or(text),
    });
    if !o.tags.is_empty() {
        snippet["tags"] = json!(o.tags);
    }
    if let Some(c) = &o.category_id {
        snippet["categoryId"] = json!(c);
    }
    let mut status = json!({
        "privacyStatus": o.privacy.unwrap_or(YoutubePrivacy::Public).as_str(),
        "selfDeclaredMadeForKids": o.self_declared_made_for_kids.unwrap_or(false),
    });
    if let Some(at) = o.publish_at {
        status["publishAt"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    json!({ "snippet": snippet, "status": status })
}

/// Why a video cannot be a Short, if it cannot: Shorts are vertical or square and at most three minutes long.
pub fn short_problem(item: &PublishMedia) -> Option<String> {
    if item.width > item.height {
        return Some(format!(
            "a YouTube Short is vertical or square; this video is {}x{}",
            item.width, item.height
        ));
    }
    match item.duration_ms {
        Some(ms) if ms > MAX_YOUTUBE_SHORT_MS => Some(format!(
            "a YouTube Short is at most three minutes long; this video lasts {} s",
            ms / 1000
        )),
        _ => None,
    }
}

/// The words for a refresh Google refused with `invalid_grant`: when the grant was about seven days old, most likely
/// the expiry of an app in Testing status.
pub fn reauth_reason(why: &str, granted_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let testing = granted_at.is_some_and(|g| {
        let age = now - g;
        age >= TESTING_GRANT_LIFETIME - chrono::Duration::hours(12)
            && age <= TESTING_GRANT_LIFETIME + chrono::Duration::days(1)
    });
    if testing {
        format!(
            "Google refused the refresh ({why}) about seven days after the channel was connected: Google ends the grants of apps whose OAuth consent screen is in Testing status after seven days. Publish the app (In production) in the Google Cloud console, then connect the channel again"
        )
    } else {
        format!("Google refused the refresh ({why}): connect the channel again")
    }
}

impl YoutubePlatform {
    pub fn new(http: reqwest::Client, config: YoutubeConfig) -> Self {
        let oauth = OAuthApp::new(
            &config.client_id,
            &config.client_secret,
            endpoint(&config.auth_origin, paths::AUTHORIZE),
            endpoint(&config.token_origin, paths::TOKEN),
            ClientAuth::Body,
        );
        let quota = UploadQuota::new(config.daily_uploads);
        Self {
            http,
            oauth,
            config,
            quota,
            library: None,
        }
    }

    /// Reads custom thumbnails from `library` (without one, a thumbnail option is not applied).
    pub fn with_library(mut self, library: Library) -> Self {
        self.library = Some(library);
        self
    }

    /// Sets the video's custom thumbnail from the media library. A failure here never fails the delivery (the video
    /// is published): it is logged, and the reason returned.
    async fn set_thumbnail(
        &self,
        account: &Account,
        token: &SecretString,
        video_id: &str,
        media_id: &str,
    ) -> Result<(), String> {
        let library = self
            .library
            .as_ref()
            .ok_or("no media library is configured")?;
        let id = MediaId::parse(media_id).ok_or("not a media id")?;
        let item = library
            .media
            .get_media(&account.workspace_id, &id)
            .await
            .map_err(|e| format!("the media library failed: {e}"))?
            .ok_or("no such media item in this workspace")?;
        // Never the location or camera metadata of a photo: its clean copy where it has any.
        let (name, format, bytes) = match item.rendition("clean") {
            Some(r) => (r.name.clone(), r.format, r.bytes),
            None if item.info.private_metadata => {
                return Err(
                    "the image carries location or camera metadata and has no clean copy yet"
                        .into(),
                )
            }
            None => (
                crate::domain::media::ORIGINAL.to_owned(),
                item.info.format,
                item.bytes,
            ),
        };
        if !matches!(format, MediaFormat::Jpeg | MediaFormat::Png) {
            return Err("a YouTube thumbnail is a JPEG or PNG image".into());
        }
        if bytes > MAX_THUMBNAIL_BYTES {
            return Err("a YouTube thumbnail is at most 2 MB".into());
        }
        let key = ObjectKey::new(&account.workspace_id, &id, &name);
        let stream = library
            .blobs
            .read(&key, 0..bytes)
            .await
            .map_err(|e| format!("could not read the image: {e}"))?;
        let body = reqwest::Body::wrap_stream(stream);
        let mut url = endpoint(&self.config.api_origin, paths::UPLOAD_THUMBNAIL);
        url.query_pairs_mut()
            .append_pair("videoId", video_id)
            .append_pair("uploadType", "media");
        let what = "setting the YouTube thumbnail";
        let resp = self
            .http
            .post(url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, format.mime())
            .header(reqwest::header::CONTENT_LENGTH, bytes.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what).to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(error_of(resp, what, false).await.to_string())
        }
    }

    async fn channel(&self, token: &SecretString) -> Result<Profile, PlatformError> {
        let what = "reading the YouTube channel";
        let mut url = endpoint(&self.config.api_origin, paths::CHANNELS);
        url.query_pairs_mut()
            .append_pair("part", "snippet")
            .append_pair("mine", "true");
        let resp = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        if !resp.status().is_success() {
            return Err(match error_of(resp, what, false).await {
                PlatformError::TokenExpired => {
                    PlatformError::Reauth("Google refused the new token".into())
                }
                other => other,
            });
        }
        let body = read_body(resp)
            .await
            .map_err(|e| e.into_platform(what, false))?;
        let list: ChannelList = serde_json::from_slice(&body).map_err(|_| {
            PlatformError::Transient(format!("{what}: YouTube answered something unreadable"))
        })?;
        let channel = list.items.into_iter().next().ok_or_else(|| {
            PlatformError::Rejected(
                "this Google account has no YouTube channel: create one on youtube.com, then connect again".into(),
            )
        })?;
        let snippet = channel.snippet.unwrap_or_default();
        Ok(Profile {
            platform_user_id: channel.id,
            username: snippet.custom_url,
            display_name: snippet.title,
            picture_url: snippet
                .thumbnails
                .and_then(|t| t.default)
                .and_then(|t| t.url),
            biography: snippet.description,
            granted_by: None,
        })
    }

    fn options<'a>(&self, job: &'a PublishJob<'_>) -> Result<&'a YoutubeOptions, PlatformError> {
        match job.options {
            Some(TargetOptions::Youtube(o)) => Ok(o),
            _ => Err(PlatformError::Rejected(
                "a YouTube post needs its options: title and self_declared_made_for_kids".into(),
            )),
        }
    }

    /// What the video became: recorded, and published.
    async fn landed(
        &self,
        account: &Account,
        token: &SecretString,
        video: Video,
        options: &YoutubeOptions,
        checkpoint: &mut YoutubeCheckpoint,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let privacy = video.status.as_ref().and_then(|s| s.privacy_status.clone());
        checkpoint.video_id = Some(video.id.clone());
        checkpoint.privacy = privacy.clone();
        checkpoint.offset = checkpoint.bytes;
        checkpoint.save(progress).await?;
        let asked = options.privacy.unwrap_or(YoutubePrivacy::Public);
        // Videos uploaded through a Google project that has not passed YouTube's audit are locked private.
        let locked = (asked != YoutubePrivacy::Private && privacy.as_deref() == Some("private"))
            .then(|| {
                tracing::warn!(
                    platform = "youtube",
                    video = %video.id,
                    asked = asked.as_str(),
                    "YouTube made the video private: the Google project has not passed YouTube's API audit"
                );
                format!(
                    "YouTube made this video private, though it was to be {}: the Google project Postora uploads \
                     through has not passed YouTube's API audit, and until it does its uploads are locked private",
                    asked.as_str()
                )
            });
        if let Some(thumbnail) = options.thumbnail.as_deref() {
            if !checkpoint.thumbnail_tried {
                if let Err(why) = self
                    .set_thumbnail(account, token, &video.id, thumbnail)
                    .await
                {
                    tracing::warn!(platform = "youtube", video = %video.id, reason = %why, "the custom thumbnail was not set: the video keeps YouTube's own");
                }
                checkpoint.thumbnail_tried = true;
                checkpoint.save(progress).await?;
            }
        }
        tracing::info!(platform = "youtube", video = %video.id, "published");
        let published = Published::new(video.id.clone(), Some(permalink(&video.id, options.short)));
        Ok(match locked {
            Some(notice) => published.with_notice(notice),
            None => published,
        })
    }
}

#[async_trait]
impl Platform for YoutubePlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Youtube
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        let verifier = request.pkce_verifier.ok_or_else(|| {
            PlatformError::Rejected("YouTube connects with PKCE: no verifier was kept".into())
        })?;
        // Offline access and a consent every time, so Google always answers with a refresh token.
        self.oauth.authorize_url(
            request.state,
            request.redirect_uri,
            &SCOPES,
            Some(verifier),
            &[
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
            ],
        )
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let verifier = exchange.pkce_verifier.ok_or_else(|| {
            PlatformError::Rejected("YouTube connects with PKCE: no verifier was kept".into())
        })?;
        let now = Utc::now();
        let tokens = self
            .oauth
            .exchange_code(
                &self.http,
                exchange.code,
                exchange.redirect_uri,
                Some(verifier),
                now,
            )
            .await?;
        if tokens.refresh_token.is_none() {
            // Offline access with `prompt=consent` always gives one; storing a set without it would overwrite the
            // refresh token a reconnected channel already has with nothing.
            return Err(PlatformError::Rejected(
                "Google gave no refresh token: remove Postora's access in the Google account's settings (Security, Third-party access), then connect again".into(),
            ));
        }
        if let Some(scope) = &tokens.scope {
            if !scope.split(' ').any(|s| s == SCOPES[0]) {
                return Err(PlatformError::Rejected(
                    "the consent did not allow uploads to YouTube: connect again and leave “Manage your YouTube videos” ticked".into(),
                ));
            }
        }
        let profile = self.channel(&tokens.access_token).await?;
        let settings = json!({ "channel_id": profile.platform_user_id, "granted_at": now });
        Ok(vec![Connection {
            profile,
            tokens,
            settings,
        }])
    }

    /// Google does not rotate refresh tokens: an answer without one keeps the stored one (the OAuth client keeps
    /// it). `invalid_grant` is the end of the grant.
    async fn refresh(
        &self,
        account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        let now = Utc::now();
        match self.oauth.refresh(&self.http, tokens, now).await {
            Err(PlatformError::Reauth(why)) => {
                let granted_at = account
                    .settings
                    .get("granted_at")
                    .and_then(|g| serde_json::from_value::<DateTime<Utc>>(g.clone()).ok());
                Err(PlatformError::Reauth(reauth_reason(&why, granted_at, now)))
            }
            Err(PlatformError::Rejected(why)) => Err(PlatformError::Reauth(format!(
                "Google refused the refresh ({why}): connect the channel again"
            ))),
            other => other,
        }
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let options = self.options(job)?;
        let item = match job.media {
            [one] if one.kind == MediaKind::Video => one,
            _ => {
                return Err(PlatformError::Rejected(
                    "a YouTube post is one video".into(),
                ))
            }
        };
        if options.short {
            if let Some(why) = short_problem(item) {
                return Err(PlatformError::Rejected(why));
            }
        }
        let token = &job.tokens.access_token;
        let session = Session {
            http: &self.http,
            token,
        };
        let mut checkpoint = match YoutubeCheckpoint::read(job.checkpoint) {
            Some(c) if c.video_id.is_some() => {
                let id = c.video_id.clone().unwrap_or_default();
                return Ok(Published::new(
                    id.clone(),
                    Some(permalink(&id, options.short)),
                ));
            }
            Some(c) => {
                if c.sha256 != item.sha256 || c.bytes != item.bytes {
                    return Err(PlatformError::Unknown(
                        "the video changed while an earlier attempt was uploading it to YouTube"
                            .into(),
                    ));
                }
                c
            }
            None => {
                self.quota.spend(&self.config.client_id, Utc::now())?;
                let mut url = endpoint(&self.config.api_origin, paths::UPLOAD_VIDEOS);
                url.query_pairs_mut()
                    .append_pair("uploadType", "resumable")
                    .append_pair("part", "snippet,status");
                let metadata = video_metadata(job.text, options);
                let session_uri = match session.open(url, &metadata, item).await {
                    Ok(uri) => uri,
                    Err(e) => {
                        if let PlatformError::AppRateLimited { .. } = e {
                            self.quota.exhausted(&self.config.client_id, Utc::now());
                        }
                        return Err(e);
                    }
                };
                let c = YoutubeCheckpoint {
                    session_uri,
                    bytes: item.bytes,
                    sha256: item.sha256.clone(),
                    offset: 0,
                    video_id: None,
                    privacy: None,
                    thumbnail_tried: false,
                };
                // The recovery handle, recorded before the first byte.
                c.save(progress).await?;
                c
            }
        };
        let mut offset = if job.checkpoint.is_some() {
            match session.probe(&checkpoint.session_uri, item.bytes).await? {
                Standing::Done(video) => {
                    return self
                        .landed(
                            job.account,
                            token,
                            video,
                            options,
                            &mut checkpoint,
                            progress,
                        )
                        .await
                }
                Standing::Holds(n) => n,
                Standing::Gone => {
                    return Err(PlatformError::Unknown(
                        "the YouTube upload session is gone (sessions last about a week)".into(),
                    ))
                }
            }
        } else {
            0
        };
        let mut broken = 0u32;
        loop {
            if let Some(left) = progress.time_left() {
                if left < self.config.chunk_time {
                    checkpoint.offset = offset;
                    checkpoint.save(progress).await?;
                    return Err(PlatformError::Processing {
                        retry_after: Duration::from_secs(1),
                        message: format!(
                            "uploading to YouTube: {offset} of {} bytes sent; the upload goes on from there",
                            item.bytes
                        ),
                    });
                }
            }
            let range = next_chunk(offset.min(item.bytes), item.bytes, self.config.chunk_bytes);
            let last = range.end >= item.bytes;
            let sent = session.put(&checkpoint.session_uri, item, range).await;
            let standing = match sent {
                Ok(s) => s,
                // The answer was lost or YouTube failed: the session says what it holds.
                Err(e @ (PlatformError::Unknown(_) | PlatformError::Transient(_))) => {
                    broken += 1;
                    if broken > 3 {
                        return Err(e);
                    }
                    match session.probe(&checkpoint.session_uri, item.bytes).await {
                        Ok(s) => s,
                        Err(_) if last => return Err(e),
                        Err(probe) => return Err(probe),
                    }
                }
                Err(e) => return Err(e),
            };
            match standing {
                Standing::Done(video) => {
                    return self
                        .landed(
                            job.account,
                            token,
                            video,
                            options,
                            &mut checkpoint,
                            progress,
                        )
                        .await
                }
                Standing::Holds(n) => offset = n,
                Standing::Gone => {
                    return Err(PlatformError::Unknown(
                        "the YouTube upload session is gone mid-upload".into(),
                    ))
                }
            }
        }
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let Some(checkpoint) = YoutubeCheckpoint::read(job.checkpoint) else {
            // The session is recorded before its first byte: without it, nothing was sent.
            return Ok(Recovery::NotPublished);
        };
        let short = matches!(job.options, Some(TargetOptions::Youtube(o)) if o.short);
        if let Some(id) = checkpoint.video_id {
            return Ok(Recovery::Published(Published::new(
                id.clone(),
                Some(permalink(&id, short)),
            )));
        }
        let session = Session {
            http: &self.http,
            token: &job.tokens.access_token,
        };
        Ok(
            match session.probe(&checkpoint.session_uri, checkpoint.bytes).await? {
                Standing::Done(video) => {
                    tracing::info!(platform = "youtube", video = %video.id, "found the video whose answer was lost");
                    Recovery::Published(Published::new(
                        video.id.clone(),
                        Some(permalink(&video.id, short)),
                    ))
                }
                // The session lacks bytes: no video exists; the publish goes on from the checkpoint.
                Standing::Holds(_) => Recovery::NotPublished,
                Standing::Gone => Recovery::Unknowable(
                    "the YouTube upload session is gone, so it cannot tell whether the video was completed".into(),
                ),
            },
        )
    }

    /// Revokes the grant (Google revokes the refresh token and its access tokens together).
    async fn revoke(&self, _account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        let what = "revoking the Google grant";
        let token = tokens
            .refresh_token
            .as_ref()
            .unwrap_or(&tokens.access_token);
        let resp = self
            .http
            .post(endpoint(&self.config.token_origin, paths::REVOKE))
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            // Already revoked or expired: nothing left to end.
            400 => Ok(()),
            s => Err(PlatformError::Transient(format!(
                "{what}: Google answered {s}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> YoutubeOptions {
        YoutubeOptions {
            title: Some("A title".into()),
            self_declared_made_for_kids: Some(false),
            ..YoutubeOptions::default()
        }
    }

    #[test]
    fn metadata_carries_the_title_the_text_and_the_status() {
        let m = video_metadata("The text", &options());
        assert_eq!(
            m,
            json!({"snippet": {"title": "A title", "description": "The text"}, "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": false}})
        );
        let o = YoutubeOptions {
            description: Some("Own".into()),
            tags: vec!["a".into()],
            category_id: Some("22".into()),
            privacy: Some(YoutubePrivacy::Private),
            publish_at: Some("2030-01-01T10:00:00Z".parse().unwrap()),
            ..options()
        };
        let m = video_metadata("The text", &o);
        assert_eq!(m["snippet"]["description"], "Own");
        assert_eq!(m["snippet"]["categoryId"], "22");
        assert_eq!(m["status"]["publishAt"], "2030-01-01T10:00:00Z");
        assert_eq!(m["status"]["privacyStatus"], "private");
    }

    #[test]
    fn an_invalid_grant_about_seven_days_in_names_the_testing_status() {
        let now = Utc::now();
        let r = reauth_reason("invalid_grant", Some(now - chrono::Duration::days(7)), now);
        assert!(r.contains("Testing"), "{r}");
        let r = reauth_reason("invalid_grant", Some(now - chrono::Duration::days(30)), now);
        assert!(!r.contains("Testing"), "{r}");
        assert!(!reauth_reason("x", None, now).contains("Testing"));
    }

    #[test]
    fn config_needs_both_credentials_and_whole_chunks() {
        assert!(YoutubeConfig::from_env(&Env::default()).unwrap().is_none());
        let half = Env::from_pairs([("POSTORA_YOUTUBE_CLIENT_ID", "abc")]);
        assert!(YoutubeConfig::from_env(&half)
            .unwrap_err()
            .to_string()
            .contains("POSTORA_YOUTUBE_CLIENT_SECRET"));
        let env = |chunk: &str| {
            Env::from_pairs([
                ("POSTORA_YOUTUBE_CLIENT_ID", "abc"),
                ("POSTORA_YOUTUBE_CLIENT_SECRET", "shh-secret"),
                ("POSTORA_YOUTUBE_CHUNK_BYTES", chunk),
            ])
        };
        let c = YoutubeConfig::from_env(&env("524288")).unwrap().unwrap();
        assert_eq!(c.chunk_bytes, 524_288);
        assert!(!format!("{c:?}").contains("shh-secret"));
        assert!(YoutubeConfig::from_env(&env("1000")).is_err());
    }
}
