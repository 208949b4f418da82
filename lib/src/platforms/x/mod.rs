//! X (API v2): OAuth 2.0 with PKCE and rotating refresh tokens, posts through `POST /2/tweets`, media through the
//! v2 upload, and recovery after a lost answer by looking through the account's recent posts
//! (docs/platforms/x.md).

pub mod api;
pub mod media;
pub mod search;

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use self::api::{call, CallKind, RateWindow};
use self::media::{Uploader, XCheckpoint};
use crate::config::{ConfigError, Env};
use crate::domain::{Account, PlatformKind, Profile, TargetOptions, TokenSet};
use crate::platforms::http::{endpoint, read_transport_error};
use crate::platforms::oauth::{ClientAuth, OAuthApp};
use crate::platforms::polling::HintedPolling;
use crate::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress, PublishJob,
    Published, Recovery,
};

/// The documented paths below the configured origins.
pub mod paths {
    /// On `auth_origin`.
    pub const AUTHORIZE: &str = "/i/oauth2/authorize";
    /// On `api_origin`, as every path below.
    pub const TOKEN: &str = "/2/oauth2/token";
    pub const REVOKE: &str = "/2/oauth2/revoke";
    pub const ME: &str = "/2/users/me";
    pub const TWEETS: &str = "/2/tweets";
}

/// What Postora asks for: reading and writing posts, reading the profile, a refresh token, and media uploads.
pub const SCOPES: [&str; 5] = [
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
];

/// How to reach X. Built from the environment by [`XConfig::from_env`], or by hand in tests.
#[derive(Clone)]
pub struct XConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `POSTORA_X_AUTH_URL`: where a person consents.
    pub auth_origin: url::Url,
    /// `POSTORA_X_API_URL`: the token endpoints and the API.
    pub api_origin: url::Url,
    pub polling: HintedPolling,
}

impl fmt::Debug for XConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("auth_origin", &self.auth_origin.as_str())
            .field("api_origin", &self.api_origin.as_str())
            .finish()
    }
}

impl XConfig {
    pub const DEFAULT_AUTH_ORIGIN: &'static str = "https://x.com";
    pub const DEFAULT_API_ORIGIN: &'static str = "https://api.x.com";

    /// The real hosts.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            auth_origin: url::Url::parse(Self::DEFAULT_AUTH_ORIGIN).expect("a valid literal"),
            api_origin: url::Url::parse(Self::DEFAULT_API_ORIGIN).expect("a valid literal"),
            polling: HintedPolling::default(),
        }
    }

    /// `None` when `POSTORA_X_CLIENT_ID` and `POSTORA_X_CLIENT_SECRET` are both unset; an error naming the variable
    /// when only one is, or when a host is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let (id_name, secret_name) = ("POSTORA_X_CLIENT_ID", "POSTORA_X_CLIENT_SECRET");
        let half = |missing: &str, present: &str| {
            ConfigError::invalid(
                missing,
                format!(
                    "it must be set too, since {present} is (set both to enable X, or neither)"
                ),
            )
        };
        let (id, secret) = match (env.get(id_name), env.secret(secret_name)) {
            (None, None) => return Ok(None),
            (Some(id), Some(secret)) => (id.to_owned(), secret),
            (Some(_), None) => return Err(half(secret_name, id_name)),
            (None, Some(_)) => return Err(half(id_name, secret_name)),
        };
        Ok(Some(Self {
            auth_origin: env.origin("POSTORA_X_AUTH_URL", Self::DEFAULT_AUTH_ORIGIN)?,
            api_origin: env.origin("POSTORA_X_API_URL", Self::DEFAULT_API_ORIGIN)?,
            ..Self::new(id, secret)
        }))
    }
}

/// Who a known-exhausted posting allowance holds back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Allowance {
    User(String),
    App,
}

pub struct XPlatform {
    http: reqwest::Client,
    oauth: OAuthApp,
    config: XConfig,
    /// Posting allowances an answer said are used up (`x-rate-limit-remaining: 0` on a success), until their reset:
    /// the next post is refused here as rate limited, which tells the app to hold the account (or every account),
    /// instead of spending a call on a certain 429.
    exhausted: Mutex<HashMap<Allowance, DateTime<Utc>>>,
}

impl fmt::Debug for XPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    profile_image_url: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct UserAnswer {
    data: Option<User>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct CreatedAnswer {
    data: Option<Created>,
}

/// The body of `POST /2/tweets` for one part.
pub fn post_body(
    text: &str,
    media_ids: &[String],
    reply_to: Option<&str>,
    options: Option<&TargetOptions>,
) -> serde_json::Value {
    let mut body = json!({ "text": text });
    if !media_ids.is_empty() {
        body["media"] = json!({ "media_ids": media_ids });
    }
    if let Some(parent) = reply_to {
        body["reply"] = json!({ "in_reply_to_tweet_id": parent });
    }
    if let Some(TargetOptions::X(o)) = options {
        if let Some(r) = o.reply_settings {
            body["reply_settings"] = json!(r.as_str());
        }
    }
    body
}

/// A post's link: under the account's username when it is known, else X's username-free form.
pub fn permalink(account: &Account, id: &str) -> String {
    match account
        .profile
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        Some(u) => format!("https://x.com/{u}/status/{id}"),
        None => format!("https://x.com/i/status/{id}"),
    }
}

impl XPlatform {
    pub fn new(http: reqwest::Client, config: XConfig) -> Self {
        let oauth = OAuthApp::new(
            &config.client_id,
            &config.client_secret,
            endpoint(&config.auth_origin, paths::AUTHORIZE),
            endpoint(&config.api_origin, paths::TOKEN),
            ClientAuth::Basic,
        );
        Self {
            http,
            oauth,
            config,
            exhausted: Mutex::new(HashMap::new()),
        }
    }

    fn api(&self, path: &str) -> url::Url {
        endpoint(&self.config.api_origin, path)
    }

    async fn profile(&self, token: &SecretString) -> Result<Profile, PlatformError> {
        let mut url = self.api(paths::ME);
        url.query_pairs_mut()
            .append_pair("user.fields", "profile_image_url,description");
        let what = "reading the X profile";
        let user = call::<UserAnswer>(self.http.get(url), token, CallKind::Read, what)
            .await
            .map_err(|e| match e {
                PlatformError::TokenExpired => {
                    PlatformError::Reauth("X refused the new token".into())
                }
                other => other,
            })?
            .value
            .data
            .ok_or_else(|| {
                PlatformError::Transient(format!("{what}: X answered without the user"))
            })?;
        Ok(Profile {
            platform_user_id: user.id,
            username: user.username,
            display_name: user.name,
            picture_url: user.profile_image_url,
            biography: user.description,
            granted_by: None,
        })
    }

    /// A rate limit known from an earlier answer, if it still holds.
    fn known_limit(&self, user: &str) -> Option<PlatformError> {
        let now = Utc::now();
        let mut map = self.exhausted.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, until| *until > now);
        if let Some(until) = map.get(&Allowance::App) {
            return Some(PlatformError::AppRateLimited {
                retry_after: RateWindow::wait_until(Some(*until), now),
                message: "the app used its posts for the day on X".into(),
            });
        }
        map.get(&Allowance::User(user.to_owned()))
            .map(|until| PlatformError::RateLimited {
                retry_after: RateWindow::wait_until(Some(*until), now),
                message: "the account used its posts for the current window on X".into(),
            })
    }

    fn note_window(&self, user: &str, window: &RateWindow) {
        let mut map = self.exhausted.lock().unwrap_or_else(|e| e.into_inner());
        if window.remaining == Some(0) {
            if let Some(reset) = window.reset {
                map.insert(Allowance::User(user.to_owned()), reset);
            }
        }
        if window.app_exhausted() {
            if let Some(reset) = window.app_reset {
                map.insert(Allowance::App, reset);
            }
        }
    }

    async fn revoke_one(&self, token: &str, hint: &str) -> Result<(), PlatformError> {
        let what = "revoking the X token";
        let resp = self
            .http
            .post(self.api(paths::REVOKE))
            .basic_auth(
                &self.config.client_id,
                Some(self.config.client_secret.expose_secret()),
            )
            .form(&[("token", token), ("token_type_hint", hint)])
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(PlatformError::Transient(format!(
                "{what}: X answered {}",
                resp.status().as_u16()
            )))
        }
    }
}

#[async_trait]
impl Platform for XPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::X
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        let verifier = request.pkce_verifier.ok_or_else(|| {
            PlatformError::Rejected("X requires PKCE: no verifier was kept".into())
        })?;
        self.oauth.authorize_url(
            request.state,
            request.redirect_uri,
            &SCOPES,
            Some(verifier),
            &[],
        )
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let verifier = exchange.pkce_verifier.ok_or_else(|| {
            PlatformError::Rejected("X requires PKCE: no verifier was kept".into())
        })?;
        let tokens = self
            .oauth
            .exchange_code(
                &self.http,
                exchange.code,
                exchange.redirect_uri,
                Some(verifier),
                Utc::now(),
            )
            .await?;
        let profile = self.profile(&tokens.access_token).await?;
        let settings = json!({ "x_user_id": profile.platform_user_id });
        Ok(vec![Connection {
            profile,
            tokens,
            settings,
        }])
    }

    /// One call, never repeated here: X's refresh tokens are single use, so a refresh sent twice with the same token
    /// would present a spent one. The app serializes refreshes per account and stores the new pair before using it.
    async fn refresh(
        &self,
        _account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        match self.oauth.refresh(&self.http, tokens, Utc::now()).await {
            // X answers a spent, revoked or unknown refresh token with `invalid_request` (or `invalid_grant`): the
            // grant is gone either way.
            Err(PlatformError::Rejected(why)) => Err(PlatformError::Reauth(format!(
                "X refused the refresh: {why}"
            ))),
            other => other,
        }
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let user = &job.account.profile.platform_user_id;
        let mut checkpoint = XCheckpoint::read(job.checkpoint).unwrap_or_default();
        if checkpoint.post_sent_at.is_some() {
            // Never sent twice: an earlier attempt sent this part, and only the account's posts can tell what became
            // of it.
            return Err(PlatformError::Unknown(
                "an earlier attempt sent this post to X; looking for it first".into(),
            ));
        }
        if job.text.trim().is_empty() && job.media.is_empty() {
            return Err(PlatformError::Rejected(
                "an X post needs text or media".into(),
            ));
        }
        if let Some(limited) = self.known_limit(user) {
            return Err(limited);
        }
        let media_ids = if job.media.is_empty() {
            vec![]
        } else {
            Uploader {
                http: &self.http,
                origin: &self.config.api_origin,
                token: &job.tokens.access_token,
                polling: self.config.polling,
            }
            .upload_all(job.media, &mut checkpoint, progress)
            .await?
        };
        let reply_to = job.thread.last().map(|p| p.platform_post_id.as_str());
        let body = post_body(job.text, &media_ids, reply_to, job.options);
        // Recorded before the call: a checkpoint without it proves the post was never sent.
        checkpoint.post_sent_at = Some(Utc::now());
        checkpoint.save(progress).await?;
        let what = "publishing to X";
        let answer = call::<CreatedAnswer>(
            self.http.post(self.api(paths::TWEETS)).json(&body),
            &job.tokens.access_token,
            CallKind::Publish,
            what,
        )
        .await;
        let answer = match answer {
            Ok(a) => a,
            Err(
                e @ (PlatformError::TokenExpired
                | PlatformError::Rejected(_)
                | PlatformError::RateLimited { .. }
                | PlatformError::AppRateLimited { .. }),
            ) => {
                // X refused it: nothing was published, so the next attempt may send it again.
                checkpoint.post_sent_at = None;
                checkpoint.save(progress).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.note_window(user, &answer.window);
        let created = answer.value.data.ok_or_else(|| {
            PlatformError::Unknown(format!("{what}: X answered without the post"))
        })?;
        tracing::info!(platform = "x", post = %created.id, "published");
        Ok(Published::new(
            created.id.clone(),
            Some(permalink(job.account, &created.id)),
        ))
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let Some(sent_at) = XCheckpoint::read(job.checkpoint).and_then(|c| c.post_sent_at) else {
            // The adapter records that it is about to send the post before it does: without that record, this part
            // was never sent (an attempt that stopped while uploading media, or waiting for X to process it).
            return Ok(Recovery::NotPublished);
        };
        // From a little before the delivery was due (or the call, if that was earlier by the clock), never from the future.
        let since = sent_at.min(job.due_at).min(Utc::now()) - search::LOOK_BACK;
        let found = search::find(
            &self.http,
            &self.config.api_origin,
            &job.tokens.access_token,
            &job.account.profile.platform_user_id,
            job.text,
            job.thread.last().map(|p| p.platform_post_id.as_str()),
            job.thread.first().map(|p| p.platform_post_id.as_str()),
            since,
        )
        .await?;
        Ok(match found {
            Some(p) => {
                tracing::info!(platform = "x", post = %p.platform_post_id, "found the post whose answer was lost");
                let link = permalink(job.account, &p.platform_post_id);
                Recovery::Published(Published::new(p.platform_post_id, Some(link)))
            }
            None => Recovery::Unknowable(format!(
                "X may have published it: its answer was lost, and the account's posts since {} show no post with this text (X can take a while to list a post)",
                since.format("%Y-%m-%d %H:%M UTC")
            )),
        })
    }

    /// Revokes the refresh token (which ends the grant), then the access token.
    async fn revoke(&self, _account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        if let Some(refresh) = &tokens.refresh_token {
            self.revoke_one(refresh.expose_secret(), "refresh_token")
                .await?;
        }
        self.revoke_one(tokens.access_token.expose_secret(), "access_token")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::options::{XOptions, XReplySettings};

    #[test]
    fn post_bodies() {
        assert_eq!(post_body("hi", &[], None, None), json!({"text": "hi"}));
        let options = TargetOptions::X(XOptions {
            reply_settings: Some(XReplySettings::Following),
        });
        assert_eq!(
            post_body("", &["1".into(), "2".into()], Some("9"), Some(&options)),
            json!({"text": "", "media": {"media_ids": ["1", "2"]}, "reply": {"in_reply_to_tweet_id": "9"}, "reply_settings": "following"})
        );
    }

    #[test]
    fn config_needs_both_credentials_and_names_what_is_missing() {
        assert!(XConfig::from_env(&Env::default()).unwrap().is_none());
        let half = Env::from_pairs([("POSTORA_X_CLIENT_ID", "abc")]);
        assert!(XConfig::from_env(&half)
            .unwrap_err()
            .to_string()
            .contains("POSTORA_X_CLIENT_SECRET"));
        let env = Env::from_pairs([
            ("POSTORA_X_CLIENT_ID", "abc"),
            ("POSTORA_X_CLIENT_SECRET", "shh-secret"),
            ("POSTORA_X_API_URL", "http://127.0.0.1:9"),
        ]);
        let c = XConfig::from_env(&env).unwrap().unwrap();
        assert_eq!(c.api_origin.as_str(), "http://127.0.0.1:9/");
        assert_eq!(c.auth_origin.as_str(), "https://x.com/");
        assert!(!format!("{c:?}").contains("shh-secret"));
    }
}
