//! Facebook Pages (docs/platforms/facebook.md). One consent yields one connection per Page the person may post
//! on, each with its own Page token (which does not expire when obtained with a long-lived user token). Text and
//! link posts go to `/{page}/feed`; photos are uploaded unpublished and attached to one feed post; a single video
//! goes to `/{page}/videos`.
//!
//! Facebook has no containers and no idempotency key. A checkpoint is written just before the call that makes the
//! post visible; recovery then looks among the Page's recent posts for one with the same message, and when none
//! is found says it cannot tell, so the delivery is put in doubt rather than posted twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{self, MetaApp};
use super::graph::{parse_time, CallKind, Graph};
use super::login::FacebookLogin;
use crate::config::{ConfigError, Env};
use crate::domain::{Account, MediaKind, PlatformKind, Profile, TokenSet};
use crate::platforms::http::endpoint;
use crate::platforms::oauth::{ClientAuth, OAuthApp};
use crate::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress, PublishJob,
    PublishMedia, Published, Recovery,
};

const SCOPES: &str = "pages_show_list,pages_manage_posts,pages_read_engagement";
const MAX_PHOTOS: usize = 10;

/// How to reach Facebook.
#[derive(Debug, Clone)]
pub struct FacebookConfig {
    pub app: MetaApp,
    /// `POSTORA_FACEBOOK_AUTH_URL`: the consent dialog's host.
    pub auth_origin: url::Url,
    /// `POSTORA_FACEBOOK_API_URL`: the token endpoints and the Graph API.
    pub api_origin: url::Url,
    pub graph_version: String,
}

impl FacebookConfig {
    pub const DEFAULT_AUTH_ORIGIN: &'static str = "https://www.facebook.com";
    pub const DEFAULT_API_ORIGIN: &'static str = "https://graph.facebook.com";
    pub const DEFAULT_GRAPH_VERSION: &'static str = "v20.0";

    pub fn new(app: MetaApp) -> Self {
        Self {
            app,
            auth_origin: config::real_origin(Self::DEFAULT_AUTH_ORIGIN),
            api_origin: config::real_origin(Self::DEFAULT_API_ORIGIN),
            graph_version: Self::DEFAULT_GRAPH_VERSION.to_owned(),
        }
    }

    /// `None` when `POSTORA_FACEBOOK_CLIENT_ID` and `_CLIENT_SECRET` are both unset; an error naming the variable when
    /// one of them, or a host, is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(app) = config::app_from(env, "FACEBOOK")? else {
            return Ok(None);
        };
        Ok(Some(Self {
            auth_origin: env.origin("POSTORA_FACEBOOK_AUTH_URL", Self::DEFAULT_AUTH_ORIGIN)?,
            api_origin: env.origin("POSTORA_FACEBOOK_API_URL", Self::DEFAULT_API_ORIGIN)?,
            ..Self::new(app)
        }))
    }
}

pub struct FacebookPlatform {
    graph: Graph,
    oauth: OAuthApp,
    config: FacebookConfig,
}

impl std::fmt::Debug for FacebookPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacebookPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct IdAnswer {
    id: String,
}

#[derive(Deserialize)]
struct PermalinkAnswer {
    permalink_url: Option<String>,
}

#[derive(Deserialize)]
struct PagePosts {
    #[serde(default)]
    data: Vec<PagePost>,
}

#[derive(Deserialize)]
struct PagePost {
    id: String,
    message: Option<String>,
    created_time: Option<String>,
    permalink_url: Option<String>,
}

/// Recorded just before the call that makes a post visible.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    facebook_post: Started,
}

#[derive(Serialize, Deserialize)]
struct Started {
    started_at: DateTime<Utc>,
}

/// What a post becomes on a Page.
#[derive(Debug)]
enum Shape<'a> {
    /// Text, with the first web address in it as the link to preview.
    Feed {
        link: Option<&'a str>,
    },
    Photos(&'a [PublishMedia]),
    Video(&'a PublishMedia),
}

fn shape<'a>(text: &'a str, media: &'a [PublishMedia]) -> Result<Shape<'a>, PlatformError> {
    match media {
        [] if text.trim().is_empty() => Err(PlatformError::Rejected(
            "a Facebook post needs text or media".into(),
        )),
        [] => Ok(Shape::Feed {
            link: first_link(text),
        }),
        [one] if one.kind == MediaKind::Video => Ok(Shape::Video(one)),
        photos if photos.iter().all(|m| m.kind == MediaKind::Image) => {
            if photos.len() > MAX_PHOTOS {
                Err(PlatformError::Rejected(format!(
                    "a Facebook post holds at most {MAX_PHOTOS} photos"
                )))
            } else {
                Ok(Shape::Photos(photos))
            }
        }
        _ => Err(PlatformError::Rejected(
            "a Facebook post takes photos or one video, not both".into(),
        )),
    }
}

/// The first http(s) address in a text, without trailing punctuation.
fn first_link(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(|w| w.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'']))
}

impl FacebookPlatform {
    pub fn new(http: reqwest::Client, config: FacebookConfig) -> Self {
        let oauth = OAuthApp::new(
            &config.app.client_id,
            &config.app.client_secret,
            endpoint(
                &config.auth_origin,
                &format!("/{}/dialog/oauth", config.graph_version),
            ),
            endpoint(
                &config.api_origin,
                &format!("/{}/oauth/access_token", config.graph_version),
            ),
            ClientAuth::Body,
        );
        Self {
            graph: Graph::new(http),
            oauth,
            config,
        }
    }

    fn url(&self, path: &str) -> url::Url {
        endpoint(
            &self.config.api_origin,
            &format!("/{}/{path}", self.config.graph_version),
        )
    }

    fn login(&self) -> FacebookLogin<'_> {
        FacebookLogin {
            graph: &self.graph,
            app: &self.config.app,
            token_origin: &self.config.api_origin,
            graph_origin: &self.config.api_origin,
            version: &self.config.graph_version,
        }
    }

    /// Video permalinks come back as paths on facebook.com.
    fn absolute(&self, link: String) -> String {
        if link.starts_with('/') {
            endpoint(&self.config.auth_origin, &link).to_string()
        } else {
            link
        }
    }

    async fn permalink(&self, job: &PublishJob<'_>, id: &str) -> Option<String> {
        let answer: Result<PermalinkAnswer, _> = self
            .graph
            .get(
                self.url(id),
                &job.tokens.access_token,
                &[("fields", "permalink_url")],
                "reading a permalink",
            )
            .await;
        match answer {
            Ok(a) => a.permalink_url.map(|l| self.absolute(l)),
            Err(e) => {
                tracing::warn!(platform = "facebook", post = %id, error = %PlatformError::from(e), "no permalink");
                None
            }
        }
    }

    /// Uploads photos unpublished (invisible, so safe to retry) and returns their ids.
    async fn upload_photos(
        &self,
        job: &PublishJob<'_>,
        page: &str,
        photos: &[PublishMedia],
    ) -> Result<Vec<String>, PlatformError> {
        let mut ids = Vec::with_capacity(photos.len());
        for photo in photos {
            let answer: IdAnswer = self
                .graph
                .post(
                    self.url(&format!("{page}/photos")),
                    &job.tokens.access_token,
                    &photo_params(photo),
                    CallKind::Prepare,
                    "uploading a photo",
                )
                .await?;
            ids.push(answer.id);
        }
        Ok(ids)
    }
}

/// An unpublished photo's parameters: its URL, and its alternative text where it has one (`alt_text_custom`).
fn photo_params(photo: &PublishMedia) -> Vec<(&'static str, String)> {
    let mut p = vec![("url", photo.url.clone()), ("published", "false".into())];
    if let Some(alt) = photo.alt.as_ref().filter(|a| !a.is_empty()) {
        p.push(("alt_text_custom", alt.clone()));
    }
    p
}

#[async_trait]
impl Platform for FacebookPlatform {
    fn person_chooses_accounts(&self) -> bool {
        true
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::Facebook
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        self.oauth
            .authorize_url(request.state, request.redirect_uri, &[SCOPES], None, &[])
    }

    /// One connection per Page the person may create content on, each with that Page's own token.
    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let login = self.login();
        let user = login
            .long_lived_user_token(exchange.code, exchange.redirect_uri)
            .await?;
        let facebook_user_id = login.user_id(&user.access_token).await?;
        let pages = login
            .pages(
                &user.access_token,
                "id,name,username,about,access_token,picture{url},tasks",
            )
            .await?;
        let now = Utc::now();
        let connections: Vec<Connection> = pages
            .into_iter()
            .filter(|p| p.can_publish())
            .filter_map(|page| {
                let picture_url = page.picture_url();
                let token = page.access_token?;
                let mut tokens = TokenSet::new(String::new(), now);
                tokens.access_token = token;
                tokens.scope = user.scope.clone();
                Some(Connection {
                    settings: serde_json::json!({
                        "page_id": page.id,
                        "facebook_user_id": facebook_user_id,
                    }),
                    profile: Profile {
                        platform_user_id: page.id,
                        username: page.username,
                        display_name: page.name,
                        picture_url,
                        biography: page.about,
                        // Meta's callbacks name the person who manages the Page, not the Page.
                        granted_by: Some(facebook_user_id.clone()),
                    },
                    tokens,
                })
            })
            .collect();
        if connections.is_empty() {
            return Err(PlatformError::Rejected(
                "you manage no Facebook Page that Postora may post on".into(),
            ));
        }
        Ok(connections)
    }

    /// Page tokens do not expire; one that stops working (a password change, a lost Page role) needs consent again.
    async fn refresh(
        &self,
        _account: &Account,
        _tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        Err(PlatformError::Reauth(
            "a Facebook Page token cannot be refreshed; connect the Page again".into(),
        ))
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let page = job.account.profile.platform_user_id.as_str();
        let shape = shape(job.text, job.media)?;
        let photo_ids = match shape {
            Shape::Photos(photos) => self.upload_photos(job, page, photos).await?,
            _ => vec![],
        };
        let checkpoint = serde_json::to_value(Checkpoint {
            facebook_post: Started {
                started_at: Utc::now(),
            },
        })
        .map_err(|_| PlatformError::Transient("could not record the attempt".into()))?;
        progress.checkpoint(checkpoint).await?;

        let (url, mut params, what) = match shape {
            Shape::Video(video) => (
                self.url(&format!("{page}/videos")),
                vec![("file_url", video.url.clone())],
                "posting a video",
            ),
            _ => (
                self.url(&format!("{page}/feed")),
                vec![],
                "posting to the Page",
            ),
        };
        let text_key = if matches!(shape, Shape::Video(_)) {
            "description"
        } else {
            "message"
        };
        if !job.text.is_empty() {
            params.push((text_key, job.text.to_owned()));
        }
        if let Shape::Feed { link: Some(link) } = shape {
            params.push(("link", link.to_owned()));
        }
        for (i, id) in photo_ids.iter().enumerate() {
            let key: &'static str = ATTACHED.get(i).copied().unwrap_or("attached_media[]");
            params.push((key, serde_json::json!({ "media_fbid": id }).to_string()));
        }
        let answer: IdAnswer = self
            .graph
            .post(
                url,
                &job.tokens.access_token,
                &params,
                CallKind::Publish,
                what,
            )
            .await?;
        tracing::info!(platform = "facebook", post = %answer.id, "published");
        let permalink = self.permalink(job, &answer.id).await;
        Ok(Published::new(answer.id, permalink))
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let Some(started) = job
            .checkpoint
            .and_then(|c| serde_json::from_value::<Checkpoint>(c.clone()).ok())
            .map(|c| c.facebook_post.started_at)
        else {
            // The checkpoint precedes the visible call: without it, nothing was sent.
            return Ok(Recovery::NotPublished);
        };
        if job.text.trim().is_empty() {
            return Ok(Recovery::Unknowable(
                "Facebook cannot say whether a post without text landed".into(),
            ));
        }
        let since = started - chrono::Duration::minutes(1);
        let page = job.account.profile.platform_user_id.as_str();
        let since_unix = since.timestamp().to_string();
        let posts: PagePosts = self
            .graph
            .get(
                self.url(&format!("{page}/posts")),
                &job.tokens.access_token,
                &[
                    ("fields", "id,message,created_time,permalink_url"),
                    ("since", &since_unix),
                    ("limit", "25"),
                ],
                "listing the Page's posts",
            )
            .await?;
        let found = posts
            .data
            .into_iter()
            .filter_map(|p| {
                let at = p.created_time.as_deref().and_then(parse_time)?;
                let same = p.message.as_deref().map(str::trim) == Some(job.text.trim());
                (same && at >= since).then_some((at, p))
            })
            .min_by_key(|(at, _)| *at);
        Ok(match found {
            Some((_, post)) => Recovery::Published(Published::new(post.id, post.permalink_url.map(|l| self.absolute(l)))),
            None => Recovery::Unknowable(
                "Facebook offers no way to confirm a post, and none of the Page's recent posts matches".into(),
            ),
        })
    }
}

/// Graph's array syntax for a feed post's photos, one key per index.
const ATTACHED: [&str; MAX_PHOTOS] = [
    "attached_media[0]",
    "attached_media[1]",
    "attached_media[2]",
    "attached_media[3]",
    "attached_media[4]",
    "attached_media[5]",
    "attached_media[6]",
    "attached_media[7]",
    "attached_media[8]",
    "attached_media[9]",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn m(url: &str, kind: MediaKind) -> PublishMedia {
        PublishMedia::from_link(url, kind)
    }

    #[test]
    fn shapes() {
        assert!(matches!(
            shape("hi", &[]).unwrap(),
            Shape::Feed { link: None }
        ));
        assert!(matches!(
            shape("read https://example.com/a. now", &[]).unwrap(),
            Shape::Feed {
                link: Some("https://example.com/a")
            }
        ));
        let photos = [
            m("https://x/a.jpg", MediaKind::Image),
            m("https://x/b.jpg", MediaKind::Image),
        ];
        assert!(matches!(shape("", &photos).unwrap(), Shape::Photos(p) if p.len() == 2));
        let video = [m("https://x/a.mp4", MediaKind::Video)];
        assert!(matches!(shape("", &video).unwrap(), Shape::Video(_)));
        let mixed = [
            m("https://x/a.jpg", MediaKind::Image),
            m("https://x/a.mp4", MediaKind::Video),
        ];
        assert!(shape("", &mixed).is_err());
        assert!(shape("  ", &[]).is_err());
    }
}
