//! The sandbox platform adapter. It talks HTTP to the sandbox server (`super::server`), which
//! behaves like a small, well-mannered social network: standard OAuth with PKCE and rotating refresh tokens, a
//! profile endpoint, and a post endpoint that honours `Idempotency-Key` the way Mastodon does (or, when configured to
//! stand in for other platforms, only looks posts up by key, or keeps no record of keys at all).

use async_trait::async_trait;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{Account, MediaKind, PlatformKind, Profile, TokenSet};
use crate::platforms::http::{
    endpoint, read_body, read_transport_error, retry_after, transport_error,
};
use crate::platforms::oauth::{ClientAuth, OAuthApp};
use crate::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress, PublishJob,
    PublishMedia, Published, Recovery,
};

/// The paths the sandbox server serves, below its origin.
pub mod paths {
    pub const AUTHORIZE: &str = "/sandbox/oauth/authorize";
    pub const TOKEN: &str = "/sandbox/oauth/token";
    pub const REVOKE: &str = "/sandbox/oauth/revoke";
    pub const ME: &str = "/sandbox/api/me";
    pub const POSTS: &str = "/sandbox/api/posts";
    pub const MEDIA: &str = "/sandbox/api/media";
}

pub struct SandboxPlatform {
    http: reqwest::Client,
    oauth: OAuthApp,
    api: url::Url,
    client_id: String,
    client_secret: SecretString,
    /// Whether the sandbox network looks posts up by idempotency key (its `dedupe` and `lookup` modes).
    recoverable: bool,
}

impl SandboxPlatform {
    /// `auth_origin` is where a person's browser reaches the consent page; `api_origin` where Postora reaches the
    /// token and API endpoints.
    pub fn new(
        http: reqwest::Client,
        auth_origin: &url::Url,
        api_origin: &url::Url,
        client_id: &str,
        client_secret: SecretString,
    ) -> Self {
        let oauth = OAuthApp::new(
            client_id,
            &client_secret,
            endpoint(auth_origin, paths::AUTHORIZE),
            endpoint(api_origin, paths::TOKEN),
            ClientAuth::Basic,
        );
        Self {
            http,
            oauth,
            api: api_origin.clone(),
            client_id: client_id.to_owned(),
            client_secret,
            recoverable: true,
        }
    }

    /// Says whether the sandbox network this adapter talks to can look posts up by idempotency key (it cannot in
    /// its `none` mode, where it stands in for X or LinkedIn).
    pub fn recoverable(mut self, yes: bool) -> Self {
        self.recoverable = yes;
        self
    }

    async fn profile(&self, tokens: &TokenSet) -> Result<Profile, PlatformError> {
        #[derive(Deserialize)]
        struct Me {
            id: String,
            username: String,
            name: Option<String>,
            avatar_url: Option<String>,
            bio: Option<String>,
        }
        let resp = self
            .http
            .get(endpoint(&self.api, paths::ME))
            .bearer_auth(tokens.access_token.expose_secret())
            .send()
            .await
            .map_err(|e| read_transport_error(&e, "sandbox profile"))?;
        let resp = check(resp).await?;
        let me: Me = answer(resp, "sandbox profile", false).await?;
        Ok(Profile {
            platform_user_id: me.id,
            username: Some(me.username),
            display_name: me.name,
            picture_url: me.avatar_url,
            biography: me.bio,
            granted_by: None,
        })
    }

    /// Uploads one item's bytes, streamed from storage, and answers the sandbox's id for it. Nothing is published
    /// yet: an upload that is never used is harmless, so a retry may upload again.
    async fn upload(
        &self,
        job: &PublishJob<'_>,
        m: &PublishMedia,
    ) -> Result<String, PlatformError> {
        #[derive(Deserialize)]
        struct Uploaded {
            id: String,
        }
        let bytes = m.content.read(0..m.bytes).await?;
        let resp = self
            .http
            .post(endpoint(&self.api, paths::MEDIA))
            .bearer_auth(job.tokens.access_token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, m.format.mime())
            .header(reqwest::header::CONTENT_LENGTH, m.bytes)
            .body(reqwest::Body::wrap_stream(bytes))
            .send()
            .await
            .map_err(|e| read_transport_error(&e, "sandbox media upload"))?;
        let resp = check(resp).await?;
        let up: Uploaded = answer(resp, "sandbox media upload", false).await?;
        Ok(up.id)
    }
}

#[derive(Deserialize)]
struct SandboxPost {
    id: String,
    url: Option<String>,
}

#[derive(Deserialize)]
struct SandboxError {
    error: String,
    #[serde(default)]
    message: String,
}

/// Reads a successful answer as JSON, within the body cap. `may_have_landed` is whether the call could have
/// published something: an answer lost then leaves the outcome unknown; for a read, trying again is safe.
async fn answer<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
    may_have_landed: bool,
) -> Result<T, PlatformError> {
    let body = read_body(resp)
        .await
        .map_err(|e| e.into_platform(what, may_have_landed))?;
    serde_json::from_slice(&body).map_err(|_| {
        let message = format!("{what}: the answer was unreadable");
        if may_have_landed {
            PlatformError::Unknown(message)
        } else {
            PlatformError::Transient(message)
        }
    })
}

/// Maps the sandbox's answers to error classes, as a real adapter maps its platform's documented errors.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, PlatformError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let wait = retry_after(resp.headers());
    // An error body that cannot be read (cut off, too large, not JSON) leaves the status to speak.
    let body: Option<SandboxError> = read_body(resp)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (code, message) = body
        .map(|b| (b.error, b.message))
        .unwrap_or_else(|| (String::new(), format!("HTTP {status}")));
    Err(match (status.as_u16(), code.as_str()) {
        (401, "token_expired") => PlatformError::TokenExpired,
        (401, _) | (403, "revoked") => PlatformError::Reauth(message),
        (429, "app_rate_limited") => PlatformError::AppRateLimited {
            retry_after: wait,
            message,
        },
        (429, _) => PlatformError::RateLimited {
            retry_after: wait,
            message,
        },
        (500..=599, _) => PlatformError::Transient(format!("sandbox said {status}: {message}")),
        _ => PlatformError::Rejected(format!("sandbox said {status}: {message}")),
    })
}

#[async_trait]
impl Platform for SandboxPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Sandbox
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    fn can_recover(&self) -> bool {
        self.recoverable
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        self.oauth.authorize_url(
            request.state,
            request.redirect_uri,
            &["profile", "publish"],
            request.pkce_verifier,
            &[],
        )
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let tokens = self
            .oauth
            .exchange_code(
                &self.http,
                exchange.code,
                exchange.redirect_uri,
                exchange.pkce_verifier,
                Utc::now(),
            )
            .await?;
        let profile = self.profile(&tokens).await?;
        Ok(vec![Connection {
            profile,
            tokens,
            settings: serde_json::Value::Null,
        }])
    }

    async fn refresh(
        &self,
        _account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        self.oauth.refresh(&self.http, tokens, Utc::now()).await
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        _progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        // Like a real network, the sandbox takes media both ways: images are uploaded as bytes first (as X,
        // Bluesky and Mastodon take them), videos are fetched by the sandbox from their link (as Meta does).
        let mut media = Vec::with_capacity(job.media.len());
        for m in job.media {
            media.push(match m.kind {
                MediaKind::Image => {
                    let id = self.upload(job, m).await?;
                    serde_json::json!({"media_id": id, "alt": m.alt})
                }
                MediaKind::Video => serde_json::json!({"url": m.url, "alt": m.alt}),
            });
        }
        let mut body = serde_json::json!({ "text": job.text, "media": media });
        if let Some(parent) = job.thread.last() {
            body["reply_to"] = parent.platform_post_id.clone().into();
        }
        let resp = self
            .http
            .post(endpoint(&self.api, paths::POSTS))
            .bearer_auth(job.tokens.access_token.expose_secret())
            .header("Idempotency-Key", job.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e, "sandbox publish"))?;
        let resp = check(resp).await?;
        let post: SandboxPost = answer(resp, "sandbox publish", true).await?;
        Ok(Published::new(post.id, post.url))
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let mut url = endpoint(&self.api, paths::POSTS);
        url.query_pairs_mut()
            .append_pair("idempotency_key", job.idempotency_key);
        let resp = self
            .http
            .get(url)
            .bearer_auth(job.tokens.access_token.expose_secret())
            .send()
            .await
            .map_err(|e| read_transport_error(&e, "sandbox recovery"))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Recovery::NotPublished);
        }
        if resp.status() == reqwest::StatusCode::NOT_IMPLEMENTED {
            return Ok(Recovery::Unknowable(
                "the sandbox network cannot look posts up by idempotency key".into(),
            ));
        }
        let resp = check(resp).await?;
        let post: SandboxPost = answer(resp, "sandbox recovery", false).await?;
        Ok(Recovery::Published(Published::new(post.id, post.url)))
    }

    async fn revoke(&self, _account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        let resp = self
            .http
            .post(endpoint(&self.api, paths::REVOKE))
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("token", tokens.access_token.expose_secret())])
            .send()
            .await
            .map_err(|e| read_transport_error(&e, "sandbox revoke"))?;
        check(resp).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn response(status: u16, retry_after: &str, body: Vec<u8>) -> reqwest::Response {
        let mut b = axum::http::Response::builder().status(status);
        if let Ok(v) = axum::http::HeaderValue::from_str(retry_after) {
            b = b.header("retry-after", v);
        }
        reqwest::Response::from(b.body(body).unwrap())
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn wait_of(e: &PlatformError) -> Option<Duration> {
        match e {
            PlatformError::RateLimited { retry_after, .. }
            | PlatformError::AppRateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    #[test]
    fn a_huge_retry_after_is_a_day() {
        let e = run(check(response(
            429,
            "10000000000000",
            br#"{"error":"rate_limited","message":"slow down"}"#.to_vec(),
        )))
        .unwrap_err();
        assert_eq!(wait_of(&e), Some(DAY));
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            (".{0,30}", ".{0,60}").prop_map(|(e, m)| serde_json::json!({"error": e, "message": m})
                .to_string()
                .into_bytes()),
            (
                ".{0,30}",
                prop_oneof![
                    Just(serde_json::Value::Null),
                    any::<i64>().prop_map(serde_json::Value::from)
                ]
            )
                .prop_map(|(id, url)| serde_json::json!({"id": id, "url": url})
                    .to_string()
                    .into_bytes()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn sandbox_answers_of_any_shape_never_panic(
            status in 100u16..1000,
            retry in prop_oneof!["[0-9]{1,40}", "-?[0-9]{1,10}", ".{0,20}"],
            body in body(),
            publishing in any::<bool>(),
        ) {
            match run(check(response(status, &retry, body.clone()))) {
                Ok(resp) => {
                    let read: Result<SandboxPost, _> = run(answer(resp, "sandbox", publishing));
                    if let Err(e) = read {
                        prop_assert_eq!(e.code(), if publishing { "unknown_outcome" } else { "transient" });
                    }
                }
                Err(e) => prop_assert!(wait_of(&e).is_none_or(|w| w <= DAY), "{e:?}"),
            }
        }
    }
}
