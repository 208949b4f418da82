//! Instagram professional accounts, in either of Meta's two login variants (docs/platforms/instagram.md):
//! - Instagram login: consent at instagram.com, a one-hour token from api.instagram.com traded for a 60-day one
//!   (ig_exchange_token) and refreshed (ig_refresh_token); the API is graph.instagram.com.
//! - Facebook login: consent at facebook.com, a 60-day user token that cannot be refreshed; the Instagram accounts
//!   are those linked to the person's Pages; the API is graph.facebook.com.
//!
//! Which one is in use is configuration (`POSTORA_INSTAGRAM_LOGIN`), because it is a property of the Meta app.
//! Posts go through media containers, after a look at the account's publishing quota.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::config::{self, MetaApp};
use super::container::{self, ContainerPolling, Containers, Params, Spec};
use super::graph::{Failure, Graph};
use super::login::FacebookLogin;
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
    /// Instagram login, on `auth_origin`.
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// Instagram login, on `api_origin`.
    pub const TOKEN: &str = "/oauth/access_token";
    /// Instagram login, on `graph_origin`.
    pub const LONG_LIVED: &str = "/access_token";
    pub const REFRESH: &str = "/refresh_access_token";
    /// Facebook login's consent page is `/{version}/dialog/oauth` on `auth_origin`.
    pub const DIALOG: &str = "dialog/oauth";
}

const SCOPES_INSTAGRAM: &str = "instagram_business_basic,instagram_business_content_publish";
const SCOPES_FACEBOOK: &str =
    "instagram_basic,instagram_content_publish,pages_read_engagement,pages_show_list";
const MAX_CAROUSEL: usize = 10;

/// Which Meta login the Instagram app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstagramLogin {
    /// Business Login for Instagram (graph.instagram.com).
    Instagram,
    /// Facebook Login for Business (graph.facebook.com, accounts linked to Pages).
    Facebook,
}

impl InstagramLogin {
    pub fn as_str(self) -> &'static str {
        match self {
            InstagramLogin::Instagram => "instagram",
            InstagramLogin::Facebook => "facebook",
        }
    }
}

/// How to reach Instagram.
#[derive(Debug, Clone)]
pub struct InstagramConfig {
    pub app: MetaApp,
    /// `POSTORA_INSTAGRAM_LOGIN`: `instagram` (default) or `facebook`.
    pub login: InstagramLogin,
    /// `POSTORA_INSTAGRAM_AUTH_URL`: www.instagram.com, or www.facebook.com for Facebook login.
    pub auth_origin: url::Url,
    /// `POSTORA_INSTAGRAM_API_URL`: the code exchange; api.instagram.com, or graph.facebook.com.
    pub api_origin: url::Url,
    /// `POSTORA_INSTAGRAM_GRAPH_URL`: the Graph API; graph.instagram.com, or graph.facebook.com.
    pub graph_origin: url::Url,
    /// The Graph API version in paths.
    pub graph_version: String,
    pub polling: ContainerPolling,
}

impl InstagramConfig {
    pub const DEFAULT_GRAPH_VERSION: &'static str = "v20.0";

    fn defaults(login: InstagramLogin) -> [&'static str; 3] {
        match login {
            InstagramLogin::Instagram => [
                "https://www.instagram.com",
                "https://api.instagram.com",
                "https://graph.instagram.com",
            ],
            InstagramLogin::Facebook => [
                "https://www.facebook.com",
                "https://graph.facebook.com",
                "https://graph.facebook.com",
            ],
        }
    }

    /// The real hosts of `login`.
    pub fn new(app: MetaApp, login: InstagramLogin) -> Self {
        let [auth, api, graph] = Self::defaults(login);
        Self {
            app,
            login,
            auth_origin: config::real_origin(auth),
            api_origin: config::real_origin(api),
            graph_origin: config::real_origin(graph),
            graph_version: Self::DEFAULT_GRAPH_VERSION.to_owned(),
            polling: ContainerPolling::default(),
        }
    }

    /// `None` when `POSTORA_INSTAGRAM_CLIENT_ID` and `_CLIENT_SECRET` are both unset; an error naming the variable when
    /// one of them, or a host, is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(app) = config::app_from(env, "INSTAGRAM")? else {
            return Ok(None);
        };
        let login = match env.get("POSTORA_INSTAGRAM_LOGIN") {
            None | Some("instagram") => InstagramLogin::Instagram,
            Some("facebook") => InstagramLogin::Facebook,
            Some(_) => {
                return Err(ConfigError::invalid(
                    "POSTORA_INSTAGRAM_LOGIN",
                    "expected instagram or facebook",
                ))
            }
        };
        let [auth, api, graph] = Self::defaults(login);
        Ok(Some(Self {
            auth_origin: env.origin("POSTORA_INSTAGRAM_AUTH_URL", auth)?,
            api_origin: env.origin("POSTORA_INSTAGRAM_API_URL", api)?,
            graph_origin: env.origin("POSTORA_INSTAGRAM_GRAPH_URL", graph)?,
            ..Self::new(app, login)
        }))
    }
}

pub struct InstagramPlatform {
    graph: Graph,
    oauth: OAuthApp,
    config: InstagramConfig,
}

impl std::fmt::Debug for InstagramPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstagramPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Me {
    id: Option<String>,
    user_id: Option<serde_json::Value>,
    username: Option<String>,
    name: Option<String>,
    profile_picture_url: Option<String>,
}

/// A refused token exchange means consent must be given again.
fn refused(f: Failure) -> PlatformError {
    match PlatformError::from(f) {
        PlatformError::TokenExpired => {
            PlatformError::Reauth("the Instagram token expired; connect the account again".into())
        }
        other => other,
    }
}

impl InstagramPlatform {
    pub fn new(http: reqwest::Client, config: InstagramConfig) -> Self {
        let authorize = match config.login {
            InstagramLogin::Instagram => endpoint(&config.auth_origin, paths::AUTHORIZE),
            InstagramLogin::Facebook => endpoint(
                &config.auth_origin,
                &format!("/{}/{}", config.graph_version, paths::DIALOG),
            ),
        };
        let oauth = OAuthApp::new(
            &config.app.client_id,
            &config.app.client_secret,
            authorize,
            endpoint(&config.api_origin, paths::TOKEN),
            ClientAuth::Body,
        );
        Self {
            graph: Graph::new(http),
            oauth,
            config,
        }
    }

    fn graph_url(&self, path: &str) -> url::Url {
        endpoint(&self.config.graph_origin, path)
    }

    fn facebook_login(&self) -> FacebookLogin<'_> {
        FacebookLogin {
            graph: &self.graph,
            app: &self.config.app,
            token_origin: &self.config.api_origin,
            graph_origin: &self.config.graph_origin,
            version: &self.config.graph_version,
        }
    }

    /// Instagram login: code, then a long-lived token, then the professional account.
    async fn connect_with_instagram(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Vec<Connection>, PlatformError> {
        let secret = self.config.app.client_secret.expose_secret();
        let request = self
            .graph
            .http()
            .post(endpoint(&self.config.api_origin, paths::TOKEN))
            .form(&[
                ("client_id", self.config.app.client_id.as_str()),
                ("client_secret", secret),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ]);
        let answer: CodeAnswer = self
            .graph
            .exchange(request, &[secret, code], "exchanging the Instagram code")
            .await
            .map_err(refused)?;
        let answer = answer.into_answer().ok_or_else(|| {
            PlatformError::Transient("Instagram answered the code exchange without a token".into())
        })?;
        let token_user = answer.user_id().map(str::to_owned);
        let short = answer.into_tokens(Utc::now(), token::short_lived())?;

        let short_token = short.access_token.expose_secret();
        let mut url = self.graph_url(paths::LONG_LIVED);
        url.query_pairs_mut()
            .append_pair("grant_type", "ig_exchange_token")
            .append_pair("client_secret", secret)
            .append_pair("access_token", short_token);
        let long: TokenAnswer = self
            .graph
            .exchange(
                self.graph.http().get(url),
                &[secret, short_token],
                "exchanging for a long-lived Instagram token",
            )
            .await
            .map_err(refused)?;
        let mut tokens = long.into_tokens(Utc::now(), token::long_lived())?;
        tokens.scope = short.scope.clone();

        let me: Me = self
            .graph
            .get(
                self.graph_url(&format!("/{}/me", self.config.graph_version)),
                &tokens.access_token,
                &[("fields", "user_id,username,name,profile_picture_url")],
                "reading the Instagram profile",
            )
            .await?;
        // `user_id` is the professional account id the publishing endpoints take; `id` is app-scoped.
        let ig_user_id = me
            .user_id
            .as_ref()
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .or(token_user)
            .or_else(|| me.id.clone())
            .ok_or_else(|| {
                PlatformError::Transient("Instagram did not say which account this is".into())
            })?;
        // Instagram's deletion and deauthorize callbacks name the person by the app-scoped id.
        let granted_by = me.id.clone().filter(|id| *id != ig_user_id);
        let settings = serde_json::json!({
            "login": InstagramLogin::Instagram.as_str(),
            "ig_user_id": ig_user_id,
            "app_scoped_id": me.id,
        });
        Ok(vec![Connection {
            profile: Profile {
                platform_user_id: ig_user_id,
                username: me.username,
                display_name: me.name,
                picture_url: me.profile_picture_url,
                biography: None,
                granted_by,
            },
            tokens,
            settings,
        }])
    }

    /// Facebook login: one connection per Instagram account linked to a Page the person manages, all sharing the
    /// person's long-lived user token.
    async fn connect_with_facebook(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Vec<Connection>, PlatformError> {
        let login = self.facebook_login();
        let tokens = login.long_lived_user_token(code, redirect_uri).await?;
        let facebook_user_id = login.user_id(&tokens.access_token).await?;
        let pages = login
            .pages(
                &tokens.access_token,
                "id,name,instagram_business_account{id,username,name,profile_picture_url,biography}",
            )
            .await?;
        let connections: Vec<Connection> = pages
            .into_iter()
            .filter_map(|page| {
                let ig = page.instagram_business_account?;
                Some(Connection {
                    settings: serde_json::json!({
                        "login": InstagramLogin::Facebook.as_str(),
                        "ig_user_id": ig.id,
                        "page_id": page.id,
                        "facebook_user_id": facebook_user_id,
                    }),
                    profile: Profile {
                        platform_user_id: ig.id,
                        username: ig.username,
                        display_name: ig.name,
                        picture_url: ig.profile_picture_url,
                        biography: ig.biography,
                        granted_by: Some(facebook_user_id.clone()),
                    },
                    tokens: tokens.clone(),
                })
            })
            .collect();
        if connections.is_empty() {
            return Err(PlatformError::Rejected(
                "none of the Facebook Pages you manage has an Instagram professional account linked".into(),
            ));
        }
        Ok(connections)
    }

    /// An account connected under one login cannot be used through the other: its ids and token belong there.
    fn check_login(&self, account: &Account) -> Result<(), PlatformError> {
        let connected = account.settings.get("login").and_then(|v| v.as_str());
        match connected {
            Some(l) if l != self.config.login.as_str() => Err(PlatformError::Reauth(format!(
                "this account was connected with {l} login but Postora now uses {} login; connect it again",
                self.config.login.as_str()
            ))),
            _ => Ok(()),
        }
    }

    fn containers<'a>(&'a self, job: &'a PublishJob<'_>) -> Containers<'a> {
        Containers {
            graph: &self.graph,
            origin: &self.config.graph_origin,
            version: &self.config.graph_version,
            flavor: &container::INSTAGRAM,
            user_id: &job.account.profile.platform_user_id,
            token: &job.tokens.access_token,
            polling: self.config.polling,
        }
    }
}

/// The containers a post needs: an image, a reel, or a carousel of 2 to 10 images and videos.
fn spec(text: &str, media: &[PublishMedia]) -> Result<Spec, PlatformError> {
    let caption = |mut p: Params| {
        if !text.is_empty() {
            p.push(("caption", text.to_owned()));
        }
        p
    };
    match media {
        [] => Err(PlatformError::Rejected(
            "an Instagram post needs an image or a video".into(),
        )),
        [one] => Ok(Spec {
            children: vec![],
            parent: caption(match one.kind {
                MediaKind::Image => image_params(one),
                MediaKind::Video => vec![
                    ("media_type", "REELS".into()),
                    ("video_url", one.url.clone()),
                ],
            }),
        }),
        many if many.len() > MAX_CAROUSEL => Err(PlatformError::Rejected(format!(
            "an Instagram carousel holds at most {MAX_CAROUSEL} items"
        ))),
        many => Ok(Spec {
            children: many
                .iter()
                .map(|m| {
                    let mut p: Params = match m.kind {
                        MediaKind::Image => image_params(m),
                        MediaKind::Video => {
                            vec![("media_type", "VIDEO".into()), ("video_url", m.url.clone())]
                        }
                    };
                    p.push(("is_carousel_item", "true".into()));
                    p
                })
                .collect(),
            parent: caption(vec![("media_type", "CAROUSEL".into())]),
        }),
    }
}

/// An image's container parameters: its URL, and its alternative text where it has one (Instagram takes `alt_text`
/// on images, not on reels).
fn image_params(image: &PublishMedia) -> Params {
    let mut p: Params = vec![("image_url", image.url.clone())];
    if let Some(alt) = image.alt.as_ref().filter(|a| !a.is_empty()) {
        p.push(("alt_text", alt.clone()));
    }
    p
}

#[async_trait]
impl Platform for InstagramPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Instagram
    }

    /// Nothing is published before its media container is checkpointed, and a checkpointed container's status says
    /// whether it was published.
    fn can_recover(&self) -> bool {
        true
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        let scopes = match self.config.login {
            InstagramLogin::Instagram => SCOPES_INSTAGRAM,
            InstagramLogin::Facebook => SCOPES_FACEBOOK,
        };
        self.oauth
            .authorize_url(request.state, request.redirect_uri, &[scopes], None, &[])
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        match self.config.login {
            InstagramLogin::Instagram => {
                self.connect_with_instagram(exchange.code, exchange.redirect_uri)
                    .await
            }
            InstagramLogin::Facebook => {
                self.connect_with_facebook(exchange.code, exchange.redirect_uri)
                    .await
            }
        }
    }

    async fn refresh(
        &self,
        account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        self.check_login(account)?;
        if self.config.login == InstagramLogin::Facebook {
            return Err(PlatformError::Reauth(
                "Facebook login tokens cannot be refreshed; connect the Instagram account again"
                    .into(),
            ));
        }
        token::refresh_long_lived(
            &self.graph,
            self.graph_url(paths::REFRESH),
            "ig_refresh_token",
            tokens,
            "Instagram",
        )
        .await
    }

    /// Facebook login tokens cannot be refreshed, so nothing is scheduled: they are used until Meta says they
    /// expired, and then the account asks to be reconnected.
    fn refresh_due(&self, tokens: &TokenSet) -> Option<DateTime<Utc>> {
        match self.config.login {
            InstagramLogin::Facebook => None,
            InstagramLogin::Instagram => {
                let expires = tokens.expires_at?;
                let lifetime = expires - tokens.issued_at;
                Some(expires - (lifetime / 5).min(chrono::Duration::days(1)))
            }
        }
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        self.check_login(job.account)?;
        let spec = spec(job.text, job.media)?;
        self.containers(job).publish(&spec, job, progress).await
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        self.check_login(job.account)?;
        self.containers(job).recover(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(url: &str, kind: MediaKind) -> PublishMedia {
        PublishMedia::from_link(url, kind)
    }

    #[test]
    fn image_reel_and_carousel_specs() {
        let img = spec("cap", &[media("https://x/a.jpg", MediaKind::Image)]).unwrap();
        assert_eq!(
            img.parent,
            vec![
                ("image_url", "https://x/a.jpg".into()),
                ("caption", "cap".into())
            ]
        );
        let described = PublishMedia {
            alt: Some("a loaf".into()),
            ..media("https://x/a.jpg", MediaKind::Image)
        };
        let with_alt = spec("", &[described]).unwrap();
        assert!(with_alt.parent.contains(&("alt_text", "a loaf".into())));
        let reel = spec("", &[media("https://x/a.mp4", MediaKind::Video)]).unwrap();
        assert!(reel.parent.contains(&("media_type", "REELS".into())));
        let car = spec(
            "c",
            &[
                media("https://x/a.jpg", MediaKind::Image),
                media("https://x/b.mp4", MediaKind::Video),
            ],
        )
        .unwrap();
        assert!(car.children[1].contains(&("media_type", "VIDEO".into())));
        assert!(car.parent.contains(&("media_type", "CAROUSEL".into())));
        assert!(spec("text only", &[]).is_err());
    }

    #[test]
    fn login_variant_comes_from_configuration() {
        let mut env = Env::from_pairs([
            ("POSTORA_INSTAGRAM_CLIENT_ID", "1"),
            ("POSTORA_INSTAGRAM_CLIENT_SECRET", "s"),
            ("POSTORA_INSTAGRAM_LOGIN", "facebook"),
            ("POSTORA_INSTAGRAM_GRAPH_URL", "http://127.0.0.1:9"),
        ]);
        let c = InstagramConfig::from_env(&env).unwrap().unwrap();
        assert_eq!(c.login, InstagramLogin::Facebook);
        assert_eq!(c.auth_origin.as_str(), "https://www.facebook.com/");
        assert_eq!(c.api_origin.as_str(), "https://graph.facebook.com/");
        assert_eq!(c.graph_origin.as_str(), "http://127.0.0.1:9/");
        env.set("POSTORA_INSTAGRAM_LOGIN", "myspace");
        let err = InstagramConfig::from_env(&env).unwrap_err();
        assert!(err.to_string().contains("POSTORA_INSTAGRAM_LOGIN"));
        env.set("POSTORA_INSTAGRAM_LOGIN", "instagram");
        env.set(
            "POSTORA_INSTAGRAM_API_URL",
            "https://api.instagram.com/oauth",
        );
        let err = InstagramConfig::from_env(&env).unwrap_err();
        assert!(err.to_string().contains("POSTORA_INSTAGRAM_API_URL"));
    }
}
