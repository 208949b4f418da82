//! Threads: consent at threads.net, a one-hour token traded for a 60-day one (th_exchange_token) and refreshed with
//! th_refresh_token; posts through media containers (docs/platforms/threads.md).

use async_trait::async_trait;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::config::{self, MetaApp};
use super::container::{self, ContainerPolling, Containers, Params, Spec};
use super::graph::{Failure, Graph};
use super::token::{self, CodeAnswer, TokenAnswer};
use crate::config::{ConfigError, Env};
use crate::domain::{Account, MediaKind, PlatformKind, Profile, TokenSet};
use crate::platforms::http::endpoint;
use crate::platforms::oauth::{ClientAuth, OAuthApp};
use crate::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress, PublishJob,
    PublishMedia, Published, Recovery,
};

/// The documented paths below the configured origins.
pub mod paths {
    /// On `auth_origin`.
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// On `api_origin`, as every path below.
    pub const TOKEN: &str = "/oauth/access_token";
    pub const LONG_LIVED: &str = "/access_token";
    pub const REFRESH: &str = "/refresh_access_token";
    pub const VERSION: &str = "v1.0";
}

const SCOPES: &str = "threads_basic,threads_content_publish,threads_manage_replies";
/// Threads refuses to refresh a token younger than a day.
const MAX_CAROUSEL: usize = 20;

/// How to reach Threads. Built from the environment by [`ThreadsConfig::from_env`], or by hand in tests.
#[derive(Debug, Clone)]
pub struct ThreadsConfig {
    pub app: MetaApp,
    /// `POSTORA_THREADS_AUTH_URL`: where a person consents.
    pub auth_origin: url::Url,
    /// `POSTORA_THREADS_API_URL`: the token endpoints and the Graph API.
    pub api_origin: url::Url,
    pub polling: ContainerPolling,
}

impl ThreadsConfig {
    pub const DEFAULT_AUTH_ORIGIN: &'static str = "https://threads.net";
    pub const DEFAULT_API_ORIGIN: &'static str = "https://graph.threads.net";

    /// The real hosts.
    pub fn new(app: MetaApp) -> Self {
        Self {
            app,
            auth_origin: config::real_origin(Self::DEFAULT_AUTH_ORIGIN),
            api_origin: config::real_origin(Self::DEFAULT_API_ORIGIN),
            polling: ContainerPolling::default(),
        }
    }

    /// `None` when `POSTORA_THREADS_CLIENT_ID` and `_CLIENT_SECRET` are both unset; an error naming the variable when
    /// one of them, or a host, is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(app) = config::app_from(env, "THREADS")? else {
            return Ok(None);
        };
        Ok(Some(Self {
            auth_origin: env.origin("POSTORA_THREADS_AUTH_URL", Self::DEFAULT_AUTH_ORIGIN)?,
            api_origin: env.origin("POSTORA_THREADS_API_URL", Self::DEFAULT_API_ORIGIN)?,
            ..Self::new(app)
        }))
    }
}

pub struct ThreadsPlatform {
    graph: Graph,
    oauth: OAuthApp,
    config: ThreadsConfig,
}

impl std::fmt::Debug for ThreadsPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadsPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Me {
    id: String,
    username: Option<String>,
    name: Option<String>,
    threads_profile_picture_url: Option<String>,
    threads_biography: Option<String>,
}

impl ThreadsPlatform {
    pub fn new(http: reqwest::Client, config: ThreadsConfig) -> Self {
        let oauth = OAuthApp::new(
            &config.app.client_id,
            &config.app.client_secret,
            endpoint(&config.auth_origin, paths::AUTHORIZE),
            endpoint(&config.api_origin, paths::TOKEN),
            ClientAuth::Body,
        );
        Self {
            graph: Graph::new(http),
            oauth,
            config,
        }
    }

    fn api(&self, path: &str) -> url::Url {
        endpoint(&self.config.api_origin, path)
    }

    fn versioned(&self, path: &str) -> url::Url {
        self.api(&format!("/{}/{path}", paths::VERSION))
    }

    async fn short_lived(&self, code: &str, redirect_uri: &str) -> Result<TokenSet, PlatformError> {
        let secret = self.config.app.client_secret.expose_secret();
        let request = self.graph.http().post(self.api(paths::TOKEN)).form(&[
            ("client_id", self.config.app.client_id.as_str()),
            ("client_secret", secret),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
            ("code", code),
        ]);
        let answer: CodeAnswer = self
            .graph
            .exchange(request, &[secret, code], "exchanging the Threads code")
            .await
            .map_err(refused)?;
        let answer = answer.into_answer().ok_or_else(|| {
            PlatformError::Transient("Threads answered the code exchange without a token".into())
        })?;
        answer.into_tokens(Utc::now(), token::short_lived())
    }

    async fn long_lived(&self, short: &TokenSet) -> Result<TokenSet, PlatformError> {
        let secret = self.config.app.client_secret.expose_secret();
        let short_token = short.access_token.expose_secret();
        let mut url = self.api(paths::LONG_LIVED);
        url.query_pairs_mut()
            .append_pair("grant_type", "th_exchange_token")
            .append_pair("client_secret", secret)
            .append_pair("access_token", short_token);
        let answer: TokenAnswer = self
            .graph
            .exchange(
                self.graph.http().get(url),
                &[secret, short_token],
                "exchanging for a long-lived Threads token",
            )
            .await
            .map_err(refused)?;
        answer.into_tokens(Utc::now(), token::long_lived())
    }

    async fn profile(&self, token: &SecretString) -> Result<Profile, PlatformError> {
        let me: Me = self
            .graph
            .get(
                self.versioned("me"),
                token,
                &[(
                    "fields",
                    "id,username,name,threads_profile_picture_url,threads_biography",
                )],
                "reading the Threads profile",
            )
            .await?;
        Ok(Profile {
            platform_user_id: me.id,
            username: me.username,
            display_name: me.name,
            picture_url: me.threads_profile_picture_url,
            biography: me.threads_biography,
            granted_by: None,
        })
    }

    fn containers<'a>(&'a self, job: &'a PublishJob<'_>) -> Containers<'a> {
        Containers {
            graph: &self.graph,
            origin: &self.config.api_origin,
            version: paths::VERSION,
            flavor: &container::THREADS,
            user_id: &job.account.profile.platform_user_id,
            token: &job.tokens.access_token,
            polling: self.config.polling,
        }
    }
}

/// A refused token exchange means consent must be given again.
fn refused(f: Failure) -> PlatformError {
    match PlatformError::from(f) {
        PlatformError::TokenExpired => {
            PlatformError::Reauth("the Threads token expired; connect the account again".into())
        }
        other => other,
    }
}

/// One image or video as a Threads container's parameters.
fn media_params(media: &PublishMedia) -> Params {
    let mut p: Params = match media.kind {
        MediaKind::Image => vec![
            ("media_type", "IMAGE".into()),
            ("image_url", media.url.clone()),
        ],
        MediaKind::Video => vec![
            ("media_type", "VIDEO".into()),
            ("video_url", media.url.clone()),
        ],
    };
    if let Some(alt) = media.alt.as_ref().filter(|a| !a.is_empty()) {
        p.push(("alt_text", alt.clone()));
    }
    p
}

/// The containers a post needs: TEXT, one IMAGE or VIDEO, or a CAROUSEL of 2 to 20 items. A thread's later part
/// replies to `reply_to` (the part before it), named on the container that is published.
fn spec(text: &str, media: &[PublishMedia], reply_to: Option<&str>) -> Result<Spec, PlatformError> {
    let with_text = |mut p: Params| {
        if !text.is_empty() {
            p.push(("text", text.to_owned()));
        }
        if let Some(parent) = reply_to {
            p.push(("reply_to_id", parent.to_owned()));
        }
        p
    };
    match media {
        [] if text.trim().is_empty() => Err(PlatformError::Rejected(
            "a Threads post needs text or media".into(),
        )),
        [] => Ok(Spec {
            children: vec![],
            parent: with_text(vec![("media_type", "TEXT".into())]),
        }),
        [one] => Ok(Spec {
            children: vec![],
            parent: with_text(media_params(one)),
        }),
        many if many.len() > MAX_CAROUSEL => Err(PlatformError::Rejected(format!(
            "a Threads carousel holds at most {MAX_CAROUSEL} items"
        ))),
        many => Ok(Spec {
            children: many
                .iter()
                .map(|m| {
                    let mut p = media_params(m);
                    p.push(("is_carousel_item", "true".into()));
                    p
                })
                .collect(),
            parent: with_text(vec![("media_type", "CAROUSEL".into())]),
        }),
    }
}

#[async_trait]
impl Platform for ThreadsPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Threads
    }

    /// Nothing is published before its media container is checkpointed, and a checkpointed container's status says
    /// whether it was published.
    fn can_recover(&self) -> bool {
        true
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        // Threads documents a comma-separated scope list; one scope string keeps the commas.
        self.oauth
            .authorize_url(request.state, request.redirect_uri, &[SCOPES], None, &[])
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let short = self
            .short_lived(exchange.code, exchange.redirect_uri)
            .await?;
        let tokens = self.long_lived(&short).await?;
        let profile = self.profile(&tokens.access_token).await?;
        let settings = serde_json::json!({ "threads_user_id": profile.platform_user_id });
        Ok(vec![Connection {
            profile,
            tokens,
            settings,
        }])
    }

    async fn refresh(
        &self,
        _account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        token::refresh_long_lived(
            &self.graph,
            self.api(paths::REFRESH),
            "th_refresh_token",
            tokens,
            "Threads",
        )
        .await
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let reply_to = job.thread.last().map(|p| p.platform_post_id.as_str());
        let spec = spec(job.text, job.media, reply_to)?;
        self.containers(job).publish(&spec, job, progress).await
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        self.containers(job).recover(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(url: &str) -> PublishMedia {
        PublishMedia {
            alt: Some("a cat".into()),
            ..PublishMedia::from_link(url, MediaKind::Image)
        }
    }

    #[test]
    fn text_image_and_carousel_specs() {
        let t = spec("hello", &[], None).unwrap();
        assert_eq!(
            t.parent,
            vec![("media_type", "TEXT".into()), ("text", "hello".into())]
        );
        let one = spec("", &[image("https://x/a.jpg")], None).unwrap();
        assert!(one
            .parent
            .contains(&("image_url", "https://x/a.jpg".into())));
        assert!(one.parent.contains(&("alt_text", "a cat".into())));
        let many = spec(
            "c",
            &[image("https://x/a.jpg"), image("https://x/b.jpg")],
            None,
        )
        .unwrap();
        assert_eq!(many.children.len(), 2);
        assert!(many.children[0].contains(&("is_carousel_item", "true".into())));
        assert!(many.parent.contains(&("media_type", "CAROUSEL".into())));
        let reply = spec("more", &[], Some("17890")).unwrap();
        assert!(reply.parent.contains(&("reply_to_id", "17890".into())));
        assert!(spec(" ", &[], None).is_err());
        assert!(spec("x", &vec![image("https://x/a.jpg"); 21], None).is_err());
    }
}
