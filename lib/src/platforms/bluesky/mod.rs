//! Bluesky (the AT Protocol): accounts connected with a handle and an app password (a session kept and refreshed,
//! never a login per post) or through atproto OAuth (PAR, PKCE, DPoP); posts written as `app.bsky.feed.post`
//! records under a record key derived from the delivery, so a lost answer is recovered by reading the record back
//! (docs/platforms/bluesky.md).

pub mod dpop;
pub mod identity;
pub mod media;
pub mod oauth;
pub mod record;
pub mod session;
pub mod xrpc;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use secrecy::SecretString;
use serde_json::{json, Value};

use self::dpop::DpopKey;
use self::identity::{Directory, Identity};
use self::media::VideoService;
use self::oauth::ClientConfig;
use self::record::{Feature, POST_COLLECTION};
use self::xrpc::{method_url, Auth, Body, Effect, Failure, Xrpc, CREATE_POINTS};
use crate::config::{ConfigError, Env};
use crate::domain::{Account, PlatformKind, Profile, TargetOptions, TokenSet};
use crate::net::{AddressPolicy, FetchLimits, GuardedFetcher};
use crate::ports::{
    Authorization, AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress,
    PublishJob, Published, Recovery,
};

/// How Postora reaches Bluesky. Built from the environment by [`BlueskyConfig::from_env`], or by hand in tests.
#[derive(Debug, Clone)]
pub struct BlueskyConfig {
    pub directory: Directory,
    /// The video service, or `None` to upload videos as plain blobs.
    pub video: Option<VideoService>,
    /// Where permalinks point (`POSTORA_BLUESKY_APP_URL`, `https://bsky.app`).
    pub app_url: url::Url,
    /// atproto OAuth, when Postora's public URL can serve its client metadata.
    pub oauth: Option<ClientConfig>,
    /// Lets the servers a handle leads to be on loopback (`POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK`): tests only.
    pub allow_loopback: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl BlueskyConfig {
    pub const DEFAULT_PLC: &'static str = "https://plc.directory";
    pub const DEFAULT_HANDLE_RESOLVER: &'static str = "https://public.api.bsky.app";
    pub const DEFAULT_VIDEO: &'static str = "https://video.bsky.app";
    pub const DEFAULT_APP: &'static str = "https://bsky.app";

    /// `None` unless `POSTORA_BLUESKY` is on. OAuth is offered when `POSTORA_BLUESKY_OAUTH` is on (the client id is
    /// `POSTORA_PUBLIC_URL`'s client metadata, which must be https), as a confidential client when
    /// `POSTORA_BLUESKY_CLIENT_KEY` holds a P-256 key (PKCS#8 PEM).
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        if !env.flag("POSTORA_BLUESKY", false)? {
            return Ok(None);
        }
        let allow_loopback = env.flag("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", false)?;
        let video = match env.get("POSTORA_BLUESKY_VIDEO_URL") {
            Some("off") => None,
            _ => Some(VideoService {
                url: env.origin("POSTORA_BLUESKY_VIDEO_URL", Self::DEFAULT_VIDEO)?,
                poll_every: Duration::from_secs(2),
                max_wait: Duration::from_secs(15 * 60),
            }),
        };
        let oauth = if env.flag("POSTORA_BLUESKY_OAUTH", false)? {
            let public = env.origin("POSTORA_PUBLIC_URL", "http://127.0.0.1:8080")?;
            if public.scheme() != "https" && !allow_loopback {
                return Err(ConfigError::invalid(
                    "POSTORA_PUBLIC_URL",
                    "Bluesky OAuth needs an https public URL (its client id is the URL of Postora's client metadata)",
                ));
            }
            let key = match env.secret("POSTORA_BLUESKY_CLIENT_KEY") {
                None => None,
                Some(pem) => Some(
                    DpopKey::from_pkcs8_pem(secrecy::ExposeSecret::expose_secret(&pem))
                        .ok_or_else(|| {
                            ConfigError::invalid(
                                "POSTORA_BLUESKY_CLIENT_KEY",
                                "must be a P-256 private key in PKCS#8 PEM",
                            )
                        })?,
                ),
            };
            let base = public.as_str().trim_end_matches('/').to_owned();
            Some(ClientConfig {
                client_id: format!("{base}/oauth/bluesky/client-metadata.json"),
                redirect_uri: format!("{base}/oauth/bluesky/callback"),
                jwks_uri: format!("{base}/oauth/bluesky/jwks.json"),
                client_uri: base,
                key,
            })
        } else {
            None
        };
        Ok(Some(Self {
            directory: Directory {
                plc: env.origin("POSTORA_BLUESKY_PLC_URL", Self::DEFAULT_PLC)?,
                handle_resolver: env.origin(
                    "POSTORA_BLUESKY_HANDLE_RESOLVER_URL",
                    Self::DEFAULT_HANDLE_RESOLVER,
                )?,
            },
            video,
            app_url: env.origin("POSTORA_BLUESKY_APP_URL", Self::DEFAULT_APP)?,
            oauth,
            allow_loopback,
            connect_timeout: env.seconds("POSTORA_HTTP_CONNECT_TIMEOUT_SECS", 5)?,
            request_timeout: env.seconds("POSTORA_HTTP_TIMEOUT_SECS", 30)?,
        }))
    }
}

/// The account facts kept in its settings.
#[derive(Debug, Clone)]
struct Session {
    did: String,
    pds: url::Url,
    oauth: Option<OAuthSession>,
}

#[derive(Debug, Clone)]
struct OAuthSession {
    issuer: String,
    token_endpoint: String,
}

impl Session {
    fn of(account: &Account) -> Result<Self, PlatformError> {
        let s = &account.settings;
        let missing = || {
            PlatformError::Reauth(
                "the account's Bluesky settings are incomplete; connect it again".into(),
            )
        };
        let did = s
            .get("did")
            .and_then(Value::as_str)
            .ok_or_else(missing)?
            .to_owned();
        let pds = s
            .get("pds")
            .and_then(Value::as_str)
            .and_then(|p| url::Url::parse(p).ok())
            .ok_or_else(missing)?;
        let oauth = match s.get("auth").and_then(Value::as_str) {
            Some("oauth") => Some(OAuthSession {
                issuer: s
                    .get("issuer")
                    .and_then(Value::as_str)
                    .ok_or_else(missing)?
                    .to_owned(),
                token_endpoint: s
                    .get("token_endpoint")
                    .and_then(Value::as_str)
                    .ok_or_else(missing)?
                    .to_owned(),
            }),
            _ => None,
        };
        Ok(Self { did, pds, oauth })
    }
}

fn settings(identity: &Identity, oauth: Option<(&str, &str)>) -> Value {
    let mut s = json!({
        "did": identity.did,
        "pds": identity.pds.as_str(),
        "handle": identity.handle,
        "auth": if oauth.is_some() { "oauth" } else { "app_password" },
    });
    if let Some((issuer, token_endpoint)) = oauth {
        s["issuer"] = json!(issuer);
        s["token_endpoint"] = json!(token_endpoint);
    }
    s
}

pub struct BlueskyPlatform {
    xrpc: Xrpc,
    fetcher: Option<GuardedFetcher>,
    config: BlueskyConfig,
}

impl std::fmt::Debug for BlueskyPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlueskyPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Holds the DPoP key of an OAuth token set, read once per call.
enum Key {
    None,
    Dpop(DpopKey),
}

impl BlueskyPlatform {
    pub fn new(config: BlueskyConfig) -> Self {
        let policy = AddressPolicy {
            allow_loopback: config.allow_loopback,
        };
        let xrpc = Xrpc::new(policy, config.connect_timeout, config.request_timeout);
        let fetcher = GuardedFetcher::new(
            FetchLimits {
                max_bytes: media::MAX_IMAGE_BYTES,
                timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                max_redirects: crate::net::DEFAULT_MAX_REDIRECTS,
            },
            policy,
        )
        .ok();
        Self {
            xrpc,
            fetcher,
            config,
        }
    }

    pub fn shared(config: BlueskyConfig) -> Arc<Self> {
        Arc::new(Self::new(config))
    }

    /// The client metadata Postora serves at its client id, when OAuth is on.
    pub fn client_metadata(&self) -> Option<Value> {
        self.config.oauth.as_ref().map(ClientConfig::metadata)
    }

    /// The client's public keys, when OAuth is on.
    pub fn jwks(&self) -> Option<Value> {
        self.config.oauth.as_ref().map(ClientConfig::jwks)
    }

    fn key_of(tokens: &TokenSet) -> Result<Key, PlatformError> {
        match &tokens.dpop_key {
            None => Ok(Key::None),
            Some(k) => DpopKey::from_secret(k).map(Key::Dpop).ok_or_else(|| {
                PlatformError::Reauth("the session's DPoP key is unreadable".into())
            }),
        }
    }

    fn auth<'a>(tokens: &'a TokenSet, key: &'a Key) -> Auth<'a> {
        match key {
            Key::None => Auth::Bearer(&tokens.access_token),
            Key::Dpop(k) => Auth::Dpop(&tokens.access_token, k),
        }
    }

    async fn profile(&self, identity: &Identity, auth: Auth<'_>) -> Profile {
        let mut profile = Profile {
            platform_user_id: identity.did.clone(),
            username: identity.handle.clone(),
            ..Profile::default()
        };
        // The profile record, read from the PDS itself (no AppView needed).
        let url = method_url(
            &identity.pds,
            "com.atproto.repo.getRecord",
            &[
                ("repo", &identity.did),
                ("collection", "app.bsky.actor.profile"),
                ("rkey", "self"),
            ],
        );
        if let Ok(reply) = self
            .xrpc
            .send(
                reqwest::Method::GET,
                url,
                auth,
                Body::Empty,
                Effect::Read,
                "reading the profile",
            )
            .await
        {
            if let Ok(v) = reply.json::<Value>("reading the profile") {
                let r = &v["value"];
                profile.display_name = r["displayName"].as_str().map(str::to_owned);
                profile.biography = r["description"].as_str().map(str::to_owned);
                if let Some(cid) = r.pointer("/avatar/ref/$link").and_then(Value::as_str) {
                    profile.picture_url = Some(
                        method_url(
                            &identity.pds,
                            "com.atproto.sync.getBlob",
                            &[("did", &identity.did), ("cid", cid)],
                        )
                        .to_string(),
                    );
                }
            }
        }
        profile
    }

    fn permalink(&self, account: &Account, did: &str, rkey: &str) -> String {
        let who = account.profile.username.as_deref().unwrap_or(did);
        format!(
            "{}/profile/{who}/post/{rkey}",
            self.config.app_url.as_str().trim_end_matches('/')
        )
    }

    /// Reads the record under `rkey`: `Some` when it exists.
    async fn get_record(
        &self,
        session: &Session,
        auth: Auth<'_>,
        rkey: &str,
    ) -> Result<Option<(String, String)>, PlatformError> {
        let url = method_url(
            &session.pds,
            "com.atproto.repo.getRecord",
            &[
                ("repo", &session.did),
                ("collection", POST_COLLECTION),
                ("rkey", rkey),
            ],
        );
        match self
            .xrpc
            .send(
                reqwest::Method::GET,
                url,
                auth,
                Body::Empty,
                Effect::Read,
                "reading the post back",
            )
            .await
        {
            Ok(reply) => {
                let v: Value = reply.json("reading the post back")?;
                let uri = v["uri"].as_str().unwrap_or_default().to_owned();
                let cid = v["cid"].as_str().unwrap_or_default().to_owned();
                if uri.is_empty() || cid.is_empty() {
                    return Err(PlatformError::Transient(
                        "the record read back has no uri or cid".into(),
                    ));
                }
                Ok(Some((uri, cid)))
            }
            Err(Failure::Xrpc(e)) if e.error == "RecordNotFound" => Ok(None),
            Err(f) => Err(f.classify(Effect::Read)),
        }
    }

    async fn embed(
        &self,
        job: &PublishJob<'_>,
        session: &Session,
        auth: Auth<'_>,
        links: &[&str],
        progress: &dyn Progress,
    ) -> Result<Option<Value>, PlatformError> {
        if media::is_video(job.media) {
            let [video] = job.media else {
                return Err(PlatformError::Rejected(
                    "a Bluesky post carries one video alone".into(),
                ));
            };
            let upload = media::VideoUpload {
                xrpc: &self.xrpc,
                pds: &session.pds,
                did: &session.did,
                auth,
                service: self.config.video.as_ref(),
                checkpoint: job.checkpoint,
            };
            return upload.embed(video, progress).await.map(Some);
        }
        if !job.media.is_empty() {
            if job.media.len() > 4 {
                return Err(PlatformError::Rejected(
                    "a Bluesky post carries at most 4 images".into(),
                ));
            }
            return media::images(&self.xrpc, &session.pds, auth, job.media)
                .await
                .map(Some);
        }
        match (links.first(), &self.fetcher) {
            (Some(link), Some(fetcher)) => {
                Ok(media::card(fetcher, &self.xrpc, &session.pds, auth, link).await)
            }
            _ => Ok(None),
        }
    }

    async fn facets(&self, text: &str) -> (Vec<Value>, Vec<String>) {
        let spans = record::detect(text);
        let mut dids = std::collections::HashMap::new();
        for s in &spans {
            if let Feature::Mention(h) = &s.feature {
                if !dids.contains_key(h) {
                    let did = self
                        .config
                        .directory
                        .resolve_handle(&self.xrpc, h)
                        .await
                        .ok();
                    dids.insert(h.clone(), did);
                }
            }
        }
        let links = spans
            .iter()
            .filter_map(|s| match &s.feature {
                Feature::Link(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        (
            record::facets(&spans, |h| dids.get(h).cloned().flatten()),
            links,
        )
    }
}

#[async_trait]
impl Platform for BlueskyPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Bluesky
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    fn public_document(&self, name: &str) -> Option<Value> {
        match name {
            "client-metadata.json" => self.client_metadata(),
            "jwks.json" => self.jwks(),
            _ => None,
        }
    }

    /// The record key is derived from the delivery part, so the record can always be read back.
    fn can_recover(&self) -> bool {
        true
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Authorization, PlatformError> {
        let client = self.config.oauth.as_ref().ok_or_else(|| {
            PlatformError::Rejected(
                "Bluesky OAuth is not set up on this Postora; connect with a handle and an app password".into(),
            )
        })?;
        let handle = request.server.ok_or_else(|| {
            PlatformError::Rejected("name the Bluesky `handle` to connect".into())
        })?;
        let verifier = request
            .pkce_verifier
            .ok_or_else(|| PlatformError::Rejected("Bluesky OAuth needs PKCE".into()))?;
        let identity = self.config.directory.resolve(&self.xrpc, handle).await?;
        let meta = oauth::discover(&self.xrpc, &identity.pds).await?;
        let key = DpopKey::for_verifier(verifier)?;
        let url = oauth::push(
            &self.xrpc,
            client,
            &meta,
            &key,
            request.state,
            verifier,
            identity.handle.as_deref().or(Some(&identity.did)),
        )
        .await?;
        Ok(Authorization {
            url,
            context: Some(json!({
                "issuer": meta.issuer,
                "token_endpoint": meta.token_endpoint,
                "did": identity.did,
                "handle": identity.handle,
                "pds": identity.pds.as_str(),
            })),
        })
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let client = self
            .config
            .oauth
            .as_ref()
            .ok_or_else(|| PlatformError::Rejected("Bluesky OAuth is not set up".into()))?;
        let ctx = exchange
            .context
            .ok_or_else(|| PlatformError::Rejected("the sign-in lost its context".into()))?;
        let field = |k: &str| {
            ctx.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| PlatformError::Rejected("the sign-in lost its context".into()))
        };
        let (issuer, token_endpoint, did) =
            (field("issuer")?, field("token_endpoint")?, field("did")?);
        // RFC 9207: the callback names the server that answered; it must be the one asked.
        if exchange.issuer.is_some_and(|iss| iss != issuer) {
            return Err(PlatformError::Rejected(
                "the callback came from another authorization server".into(),
            ));
        }
        let verifier = exchange
            .pkce_verifier
            .ok_or_else(|| PlatformError::Rejected("Bluesky OAuth needs PKCE".into()))?;
        let key = DpopKey::for_verifier(verifier)?;
        let grant = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), exchange.code.to_owned()),
            ("redirect_uri".to_owned(), exchange.redirect_uri.to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ];
        let (tokens, sub) = oauth::token(
            &self.xrpc,
            client,
            &issuer,
            &token_endpoint,
            &key,
            grant,
            None,
        )
        .await?;
        if sub != did {
            return Err(PlatformError::Rejected(
                "the authorization server signed in another account".into(),
            ));
        }
        // The DID's own document must name the PDS whose authorization server this is.
        let identity = self.config.directory.resolve(&self.xrpc, &did).await?;
        let auth = Auth::Dpop(&tokens.access_token, &key);
        let profile = self.profile(&identity, auth).await;
        Ok(vec![Connection {
            profile,
            settings: settings(&identity, Some((&issuer, &token_endpoint))),
            tokens,
        }])
    }

    async fn connect_with_password(
        &self,
        identifier: &str,
        password: &SecretString,
    ) -> Result<Vec<Connection>, PlatformError> {
        let identity = self
            .config
            .directory
            .resolve(&self.xrpc, identifier)
            .await?;
        let answer = session::create(&self.xrpc, &identity.pds, &identity.did, password).await?;
        if answer.did != identity.did {
            return Err(PlatformError::Rejected(
                "the PDS signed in another account".into(),
            ));
        }
        let identity = Identity {
            handle: identity.handle.or(answer.handle.clone()),
            ..identity
        };
        let tokens = answer.into_tokens();
        let profile = self
            .profile(&identity, Auth::Bearer(&tokens.access_token))
            .await;
        Ok(vec![Connection {
            profile,
            settings: settings(&identity, None),
            tokens,
        }])
    }

    async fn refresh(
        &self,
        account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        let session = Session::of(account)?;
        match (&session.oauth, Self::key_of(tokens)?) {
            (Some(o), Key::Dpop(key)) => {
                let client = self.config.oauth.as_ref().ok_or_else(|| {
                    PlatformError::Reauth(
                        "Bluesky OAuth is no longer set up on this Postora".into(),
                    )
                })?;
                let grant = oauth::refresh_grant(tokens)?;
                let (set, sub) = oauth::token(
                    &self.xrpc,
                    client,
                    &o.issuer,
                    &o.token_endpoint,
                    &key,
                    grant,
                    Some(tokens),
                )
                .await?;
                if sub != session.did {
                    return Err(PlatformError::Reauth(
                        "the refresh answered for another account".into(),
                    ));
                }
                Ok(set)
            }
            (None, Key::None) => session::refresh(&self.xrpc, &session.pds, tokens).await,
            _ => Err(PlatformError::Reauth(
                "the account's session does not match its settings".into(),
            )),
        }
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let session = Session::of(job.account)?;
        let key = Self::key_of(job.tokens)?;
        let auth = Self::auth(job.tokens, &key);
        let now = Utc::now();
        self.xrpc.check_budget(&session.did, CREATE_POINTS, now)?;
        let rkey = record::record_key(job.idempotency_key);
        let reply = record::reply(job.thread).map_err(PlatformError::Rejected)?;
        let (facets, links) = self.facets(job.text).await;
        let link_refs: Vec<&str> = links.iter().map(String::as_str).collect();
        let embed = self
            .embed(job, &session, auth, &link_refs, progress)
            .await?;
        let langs = match job.options {
            Some(TargetOptions::Bluesky(o)) => o.langs.clone(),
            _ => Vec::new(),
        };
        let post = record::post(job.text, now, &langs, facets, embed, reply);
        let body = json!({
            "repo": session.did,
            "collection": POST_COLLECTION,
            "rkey": rkey,
            "record": post,
        });
        let sent = self
            .xrpc
            .send(
                reqwest::Method::POST,
                method_url(&session.pds, "com.atproto.repo.createRecord", &[]),
                auth,
                Body::Json(body),
                Effect::Publish,
                "creating the post",
            )
            .await;
        let (uri, cid) = match sent {
            Ok(reply) => {
                self.xrpc
                    .note_budget(&session.did, &reply.headers, Utc::now());
                let v: Value = serde_json::from_slice(&reply.body).map_err(|_| {
                    PlatformError::Unknown(
                        "the post was sent, but its answer was unreadable".into(),
                    )
                })?;
                match (v["uri"].as_str(), v["cid"].as_str()) {
                    (Some(u), Some(c)) => (u.to_owned(), c.to_owned()),
                    _ => return Err(PlatformError::Unknown("the answer named no record".into())),
                }
            }
            Err(failure) => {
                if let Some(e) = failure.xrpc() {
                    if e.status == 429 {
                        // Nothing was written; the reset says when the budget is back.
                        return Err(e.classify(Effect::Publish));
                    }
                }
                let error = failure.classify(Effect::Publish);
                // A record already under this key is this part, from an earlier attempt whose answer was lost (the
                // reference PDS answers a second create of a key with a 500).
                if matches!(error, PlatformError::Unknown(_)) {
                    if let Ok(Some((uri, cid))) = self.get_record(&session, auth, &rkey).await {
                        return Ok(Published {
                            permalink: Some(self.permalink(job.account, &session.did, &rkey)),
                            platform_post_id: uri,
                            reply_ref: Some(cid),
                            notice: None,
                        });
                    }
                }
                return Err(error);
            }
        };
        let rkey = record::rkey_of(&uri).unwrap_or(&rkey).to_owned();
        Ok(Published {
            permalink: Some(self.permalink(job.account, &session.did, &rkey)),
            platform_post_id: uri,
            reply_ref: Some(cid),
            notice: None,
        })
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let session = Session::of(job.account)?;
        let key = Self::key_of(job.tokens)?;
        let auth = Self::auth(job.tokens, &key);
        let rkey = record::record_key(job.idempotency_key);
        Ok(match self.get_record(&session, auth, &rkey).await? {
            Some((uri, cid)) => Recovery::Published(Published {
                permalink: Some(self.permalink(job.account, &session.did, &rkey)),
                platform_post_id: uri,
                reply_ref: Some(cid),
                notice: None,
            }),
            None => Recovery::NotPublished,
        })
    }

    async fn revoke(&self, account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        // An app-password session ends with deleteSession (Bearer refresh JWT); the app password itself is the
        // person's to revoke in Bluesky's settings. OAuth grants expire on their own if not refreshed.
        let Ok(session) = Session::of(account) else {
            return Ok(());
        };
        if let (None, Some(refresh)) = (&session.oauth, &tokens.refresh_token) {
            let _ = self
                .xrpc
                .send(
                    reqwest::Method::POST,
                    method_url(&session.pds, "com.atproto.server.deleteSession", &[]),
                    Auth::Bearer(refresh),
                    Body::Empty,
                    Effect::Read,
                    "ending the session",
                )
                .await;
        }
        Ok(())
    }
}
