//! Mastodon, on any instance a person names (docs/platforms/mastodon.md).
//!
//! Postora has no app credentials for Mastodon: it registers itself with each instance (`POST /api/v1/apps`) the
//! first time someone connects an account there, and keeps that registration (the secret sealed) in the
//! [`ClientRegistrations`] port, so every process and restart reuses it. Consent is OAuth 2.0 with PKCE (S256);
//! tokens do not expire. Statuses carry `Idempotency-Key`, which the instance honours for about an hour: that is
//! what recovery after a lost answer rests on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Env};
use crate::domain::{
    Account, ContentLimits, MediaRules, PlatformKind, Profile, TargetOptions, TextMeasure, TokenSet,
};
use crate::net::AddressPolicy;
use crate::platforms::http::HttpTimeouts;
use crate::platforms::oauth::pkce_challenge;
use crate::ports::{
    Authorization, AuthorizeRequest, ClientRegistration, ClientRegistrations, CodeExchange,
    Connection, Platform, PlatformError, Progress, PublishJob, Published, Recovery,
    RegistrationError,
};

pub mod api;
pub mod instance;
pub mod media;

use api::Call;
pub use instance::{Instance, InstanceLimits};
pub use media::MediaPolling;

/// The scopes Postora asks for: posting statuses and media, and reading the account it posts as.
pub const SCOPES: &str = "write:statuses write:media read:accounts";

/// How long after a status call its `Idempotency-Key` is taken to be still honoured. Mastodon keeps it an hour;
/// five minutes are kept back for clocks and slow calls.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(55 * 60);

/// How Postora uses Mastodon. Built from the environment by [`MastodonConfig::from_env`], or by hand in tests.
#[derive(Debug, Clone)]
pub struct MastodonConfig {
    /// The name instances show for Postora's registration (`POSTORA_MASTODON_CLIENT_NAME`, default `Postora`).
    pub client_name: String,
    /// Lets instances on loopback addresses and plain `http` through (`POSTORA_MASTODON_ALLOW_LOOPBACK`). For tests
    /// only: it lets anyone who may connect an account make Postora call this machine.
    pub allow_loopback: bool,
    pub timeouts: HttpTimeouts,
    pub media: MediaPolling,
}

impl MastodonConfig {
    pub fn new() -> Self {
        Self {
            client_name: "Postora".into(),
            allow_loopback: false,
            timeouts: HttpTimeouts::default(),
            media: MediaPolling::default(),
        }
    }

    /// `None` unless `POSTORA_MASTODON` is `on` (or `true`, `1`, `yes`).
    pub fn from_env(env: &Env, timeouts: HttpTimeouts) -> Result<Option<Self>, ConfigError> {
        if !env.flag("POSTORA_MASTODON", false)? {
            return Ok(None);
        }
        let client_name = env
            .get("POSTORA_MASTODON_CLIENT_NAME")
            .unwrap_or("Postora")
            .to_owned();
        if client_name.chars().count() > 100 {
            return Err(ConfigError::invalid(
                "POSTORA_MASTODON_CLIENT_NAME",
                "must be at most 100 characters",
            ));
        }
        Ok(Some(Self {
            client_name,
            allow_loopback: env.flag("POSTORA_MASTODON_ALLOW_LOOPBACK", false)?,
            timeouts,
            media: MediaPolling::default(),
        }))
    }

    fn policy(&self) -> AddressPolicy {
        AddressPolicy {
            allow_loopback: self.allow_loopback,
        }
    }
}

impl Default for MastodonConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// What the adapter keeps on the account (`settings`): the instance, the account's id there, and the instance's
/// limits as they were at connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub instance: String,
    pub account_id: String,
    #[serde(default)]
    pub acct: Option<String>,
    #[serde(default)]
    pub limits: InstanceLimits,
}

/// What is kept with the OAuth state between consent and callback: nothing secret.
#[derive(Debug, Serialize, Deserialize)]
struct Context {
    instance: String,
    client_id: String,
}

/// What a publish checkpoints: the part's key, the attachments uploaded, and when the status call was first sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    key: String,
    #[serde(default)]
    media: Vec<media::Uploaded>,
    #[serde(default)]
    status_sent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    mastodon: Checkpoint,
}

impl Checkpoint {
    /// The checkpoint an earlier attempt at this very part recorded, if any.
    fn of(job: &PublishJob<'_>) -> Option<Checkpoint> {
        let saved: Saved = serde_json::from_value(job.checkpoint?.clone()).ok()?;
        (saved.mastodon.key == job.idempotency_key).then_some(saved.mastodon)
    }

    async fn record(&self, progress: &dyn Progress) -> Result<(), PlatformError> {
        let value = serde_json::to_value(Saved {
            mastodon: self.clone(),
        })
        .map_err(|_| PlatformError::Transient("could not record the publishing progress".into()))?;
        progress.checkpoint(value).await
    }
}

#[derive(Deserialize)]
struct AppAnswer {
    client_id: String,
    client_secret: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct CredentialAccount {
    id: serde_json::Value,
    username: Option<String>,
    display_name: Option<String>,
    avatar: Option<String>,
    note: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    id: serde_json::Value,
    url: Option<String>,
    uri: Option<String>,
}

fn text_id(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn store_error(e: RegistrationError) -> PlatformError {
    tracing::warn!(error = %e, "the Mastodon client registration could not be read or kept");
    PlatformError::Transient(
        "Postora could not read or keep its registration with the instance right now; try again"
            .into(),
    )
}

/// The Mastodon adapter.
pub struct MastodonPlatform {
    /// The guarded client; `None` if it could not be built, and then every instance is refused.
    http: Option<reqwest::Client>,
    registrations: Arc<dyn ClientRegistrations>,
    config: MastodonConfig,
    /// One registration at a time per instance in this process; across processes the store's conditional put decides.
    registering: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for MastodonPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MastodonPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MastodonPlatform {
    pub fn new(registrations: Arc<dyn ClientRegistrations>, config: MastodonConfig) -> Self {
        let http = instance::guarded_client(
            config.policy(),
            config.timeouts.connect,
            config.timeouts.request,
        );
        Self {
            http,
            registrations,
            config,
            registering: Mutex::new(HashMap::new()),
        }
    }

    fn http(&self) -> Result<&reqwest::Client, PlatformError> {
        self.http.as_ref().ok_or_else(|| {
            PlatformError::Transient(
                "Postora cannot reach Mastodon instances now (no HTTP client)".into(),
            )
        })
    }

    fn instance(&self, raw: &str) -> Result<Instance, PlatformError> {
        Instance::parse(raw, self.config.policy())
    }

    fn settings(account: &Account) -> Result<Settings, PlatformError> {
        serde_json::from_value(account.settings.clone()).map_err(|_| {
            PlatformError::Reauth(
                "the account does not say which instance it is on; connect it again".into(),
            )
        })
    }

    /// Checks that the instance is a Mastodon server, and reads its limits (`/api/v2/instance`, or
    /// `/api/v1/instance` on instances older than 4.0).
    pub async fn instance_limits(
        &self,
        instance: &Instance,
    ) -> Result<InstanceLimits, PlatformError> {
        let http = self.http()?;
        let host = instance.host();
        for path in ["/api/v2/instance", "/api/v1/instance"] {
            let answer = api::send(
                http.get(instance.endpoint(path)),
                instance,
                "reading the instance",
                Call::Safe,
            )
            .await
            .map_err(|e| match e {
                PlatformError::Transient(_) | PlatformError::Unknown(_) => {
                    PlatformError::Rejected(format!("{host} could not be reached"))
                }
                other => other,
            })?;
            match answer.status.as_u16() {
                200 => {
                    return instance::limits_from(&answer.body).ok_or_else(|| {
                        PlatformError::Rejected(format!(
                        "{host} is not a Mastodon-compatible server (its {path} is not Mastodon's)"
                    ))
                    })
                }
                404 | 410 if path == "/api/v2/instance" => continue,
                status => {
                    return Err(PlatformError::Rejected(format!(
                        "{host} is not a Mastodon-compatible server ({path} answered {status})"
                    )))
                }
            }
        }
        Err(PlatformError::Rejected(format!(
            "{host} is not a Mastodon-compatible server (it has no /api/v2/instance)"
        )))
    }

    /// The registration with `instance` for `redirect_uri`: the one kept, or a new one (registered once, even when
    /// several connect at once).
    async fn registration(
        &self,
        instance: &Instance,
        redirect_uri: &str,
    ) -> Result<ClientRegistration, PlatformError> {
        let gate = self
            .registering
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(instance.as_str().to_owned())
            .or_default()
            .clone();
        let _held = gate.lock().await;
        let kept = self
            .registrations
            .get(PlatformKind::Mastodon, instance.as_str())
            .await
            .map_err(store_error)?;
        if let Some(r) = kept {
            if r.redirect_uri == redirect_uri {
                return Ok(r);
            }
            // Postora's public URL changed: the old registration cannot send people back here.
            self.registrations
                .remove(PlatformKind::Mastodon, instance.as_str(), &r.client_id)
                .await
                .map_err(store_error)?;
        }
        let fresh = self.register(instance, redirect_uri).await?;
        self.registrations
            .put_if_absent(fresh)
            .await
            .map_err(store_error)
    }

    /// `POST /api/v1/apps`.
    async fn register(
        &self,
        instance: &Instance,
        redirect_uri: &str,
    ) -> Result<ClientRegistration, PlatformError> {
        let website = url::Url::parse(redirect_uri)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let request = self.http()?.post(instance.endpoint("/api/v1/apps")).form(&[
            ("client_name", self.config.client_name.as_str()),
            ("redirect_uris", redirect_uri),
            ("scopes", SCOPES),
            ("website", website.as_str()),
        ]);
        let what = "registering Postora with the instance";
        let answer = api::send(request, instance, what, Call::Safe).await?;
        if !answer.status.is_success() {
            return Err(match api::failure(&answer, what, Call::Safe) {
                PlatformError::Rejected(m) => PlatformError::Rejected(format!(
                    "{} refused to register Postora: {m}",
                    instance.host()
                )),
                other => other,
            });
        }
        let app: AppAnswer = answer.json(what, Call::Safe)?;
        if app.client_id.is_empty() || app.client_secret.is_empty() {
            return Err(PlatformError::Transient(format!(
                "{what}: no client credentials in the answer"
            )));
        }
        tracing::info!(instance = %instance.host(), "registered Postora with a Mastodon instance");
        Ok(ClientRegistration {
            platform: PlatformKind::Mastodon,
            server: instance.as_str().to_owned(),
            client_id: app.client_id,
            client_secret: SecretString::from(app.client_secret),
            redirect_uri: redirect_uri.to_owned(),
            created_at: Utc::now(),
        })
    }

    async fn profile(
        &self,
        instance: &Instance,
        token: &SecretString,
    ) -> Result<(Profile, Settings), PlatformError> {
        let what = "reading the Mastodon account";
        let request = self
            .http()?
            .get(instance.endpoint("/api/v1/accounts/verify_credentials"))
            .bearer_auth(token.expose_secret());
        let answer = api::send(request, instance, what, Call::Safe).await?;
        if !answer.status.is_success() {
            return Err(api::failure(&answer, what, Call::Safe));
        }
        let me: CredentialAccount = answer.json(what, Call::Safe)?;
        let id = text_id(&me.id).ok_or_else(|| {
            PlatformError::Transient(format!("{what}: the answer names no account"))
        })?;
        let host = instance.host();
        let acct = me.username.as_ref().map(|u| format!("{u}@{host}"));
        let profile = Profile {
            // Account ids are unique per instance only: the instance makes them unique everywhere.
            platform_user_id: format!("{id}@{host}"),
            username: acct.clone(),
            display_name: me.display_name.filter(|d| !d.is_empty()),
            picture_url: me.avatar,
            biography: me.note.filter(|n| !n.is_empty()),
            granted_by: None,
        };
        Ok((
            profile,
            Settings {
                instance: instance.as_str().to_owned(),
                account_id: id,
                acct,
                limits: InstanceLimits::default(),
            },
        ))
    }

    /// Makes sure every item is uploaded and ready, checkpointing each upload; answers the attachment ids in order.
    async fn attachments(
        &self,
        job: &PublishJob<'_>,
        instance: &Instance,
        checkpoint: &mut Checkpoint,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, PlatformError> {
        let http = self.http()?;
        let token = &job.tokens.access_token;
        let polling = &self.config.media;
        let mut ids = Vec::with_capacity(job.media.len());
        for item in job.media {
            let media_id = item.id.to_string();
            let mut fresh_upload = false;
            loop {
                let known = checkpoint
                    .media
                    .iter()
                    .position(|u| u.media == media_id && u.sha256 == item.sha256);
                let index = match known {
                    Some(i) => i,
                    None => {
                        let up = media::upload(
                            http,
                            instance,
                            token,
                            item,
                            polling,
                            progress.time_left(),
                        )
                        .await?;
                        checkpoint.media.push(up);
                        checkpoint.record(progress).await?;
                        fresh_upload = true;
                        checkpoint.media.len() - 1
                    }
                };
                let uploaded = checkpoint.media[index].clone();
                if uploaded.ready {
                    ids.push(uploaded.id);
                    break;
                }
                match media::wait_ready(http, instance, token, &uploaded, polling, progress).await?
                {
                    media::State::Ready => {
                        checkpoint.media[index].ready = true;
                        ids.push(uploaded.id);
                        break;
                    }
                    _ if fresh_upload => {
                        return Err(PlatformError::Transient(
                            "the instance lost the media it had just taken".into(),
                        ))
                    }
                    _ => {
                        // Gone (removed while unattached): upload it again.
                        checkpoint.media.remove(index);
                    }
                }
            }
        }
        Ok(ids)
    }

    fn status_body(job: &PublishJob<'_>, media_ids: &[String]) -> serde_json::Value {
        let mut body = serde_json::json!({ "status": job.text });
        if !media_ids.is_empty() {
            body["media_ids"] = serde_json::json!(media_ids);
        }
        if let Some(parent) = job.thread.last() {
            body["in_reply_to_id"] = serde_json::json!(parent.platform_post_id);
        }
        if let Some(TargetOptions::Mastodon(o)) = job.options {
            if let Some(v) = o.visibility {
                body["visibility"] = serde_json::json!(v.as_str());
            }
            if let Some(s) = o.spoiler_text.as_ref().filter(|s| !s.is_empty()) {
                body["spoiler_text"] = serde_json::json!(s);
            }
            if let Some(l) = o.language.as_ref().filter(|l| !l.is_empty()) {
                body["language"] = serde_json::json!(l);
            }
        }
        body
    }
}

#[async_trait]
impl Platform for MastodonPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Mastodon
    }

    fn limits_for(&self, account: &Account) -> ContentLimits {
        let limits = Self::settings(account)
            .map(|s| s.limits)
            .unwrap_or_default();
        ContentLimits {
            max_text: limits.max_characters,
            measure: TextMeasure::Mastodon {
                url_chars: limits.characters_reserved_per_url,
            },
            ..self.limits()
        }
    }

    /// The instance's attachment count and file sizes, where narrower than Mastodon's defaults.
    fn media_rules_for(&self, account: &Account) -> MediaRules {
        let limits = Self::settings(account)
            .map(|s| s.limits)
            .unwrap_or_default();
        let mut rules = self.kind().media_rules();
        rules.max_items = limits.max_media_attachments;
        rules.max_videos = rules.max_videos.min(limits.max_media_attachments);
        let narrower = |ours: Option<u64>, theirs: Option<u64>| match (ours, theirs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(images) = rules.images.as_mut() {
            images.max_bytes = narrower(images.max_bytes, limits.image_size_limit);
        }
        if let Some(video) = rules.video.as_mut() {
            video.max_bytes = narrower(video.max_bytes, limits.video_size_limit);
        }
        rules
    }

    fn uses_pkce(&self) -> bool {
        true
    }

    /// A status call is checkpointed before it is sent and carries the part's `Idempotency-Key`: within the hour
    /// the instance keeps the key, sending it again is safe; see [`Platform::recover`] for after.
    fn can_recover(&self) -> bool {
        true
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Authorization, PlatformError> {
        let raw = request.server.ok_or_else(|| {
            PlatformError::Rejected(
                "name the Mastodon instance to connect, such as mastodon.social".into(),
            )
        })?;
        let instance = self.instance(raw)?;
        self.instance_limits(&instance).await?;
        let registration = self.registration(&instance, request.redirect_uri).await?;
        let verifier = request.pkce_verifier.ok_or_else(|| {
            PlatformError::Rejected("a Mastodon connection needs a PKCE verifier".into())
        })?;
        let mut url = instance.endpoint("/oauth/authorize");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &registration.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", request.state)
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        let context = serde_json::to_value(Context {
            instance: instance.as_str().to_owned(),
            client_id: registration.client_id,
        })
        .map_err(|_| PlatformError::Transient("could not keep the instance".into()))?;
        Ok(Authorization {
            url,
            context: Some(context),
        })
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let context: Context = exchange
            .context
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .ok_or_else(|| {
                PlatformError::Rejected("the sign-in does not say which instance it was for".into())
            })?;
        let instance = self.instance(&context.instance)?;
        if let Some(iss) = exchange.issuer {
            if iss.trim_end_matches('/') != instance.as_str() {
                return Err(PlatformError::Rejected(
                    "the sign-in came back from another server than the instance it was sent to"
                        .into(),
                ));
            }
        }
        let registration = self
            .registrations
            .get(PlatformKind::Mastodon, instance.as_str())
            .await
            .map_err(store_error)?
            .filter(|r| r.client_id == context.client_id)
            .ok_or_else(|| {
                PlatformError::Rejected(
                    "Postora's registration with the instance changed; start again".into(),
                )
            })?;
        let verifier = exchange.pkce_verifier.unwrap_or_default();
        let request = self.http()?.post(instance.endpoint("/oauth/token")).form(&[
            ("grant_type", "authorization_code"),
            ("code", exchange.code),
            ("client_id", registration.client_id.as_str()),
            ("client_secret", registration.client_secret.expose_secret()),
            ("redirect_uri", exchange.redirect_uri),
            ("code_verifier", verifier),
            ("scope", SCOPES),
        ]);
        let what = "exchanging the Mastodon code";
        let answer = api::send(request, &instance, what, Call::Safe).await?;
        if !answer.status.is_success() {
            let said = api::error_text(&answer.body).unwrap_or_default();
            if said.contains("invalid_client") || said.contains("Client authentication failed") {
                // The instance forgot Postora's app: the next connection registers again.
                let _ = self
                    .registrations
                    .remove(
                        PlatformKind::Mastodon,
                        instance.as_str(),
                        &registration.client_id,
                    )
                    .await;
                return Err(PlatformError::Rejected(
                    "the instance no longer knows Postora's registration; connect again".into(),
                ));
            }
            return Err(match answer.status.as_u16() {
                400 | 401 => {
                    PlatformError::Rejected(format!("the instance refused the sign-in ({said})"))
                }
                _ => api::failure(&answer, what, Call::Safe),
            });
        }
        let token: TokenAnswer = answer.json(what, Call::Safe)?;
        if token.access_token.is_empty() {
            return Err(PlatformError::Transient(format!(
                "{what}: no token in the answer"
            )));
        }
        let now = Utc::now();
        let mut tokens = TokenSet::new(token.access_token, now);
        tokens.scope = token.scope;
        let (profile, mut settings) = self.profile(&instance, &tokens.access_token).await?;
        settings.limits = self.instance_limits(&instance).await?;
        let settings = serde_json::to_value(&settings).map_err(|_| {
            PlatformError::Transient("could not keep the account's instance".into())
        })?;
        tracing::info!(instance = %instance.host(), "connected a Mastodon account");
        Ok(vec![Connection {
            profile,
            tokens,
            settings,
        }])
    }

    /// Mastodon's tokens do not expire, so there is nothing to refresh: a refused token was revoked.
    async fn refresh(
        &self,
        _account: &Account,
        _tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        Err(PlatformError::Reauth(
            "Mastodon tokens do not expire; a refused one was revoked, so connect the account again".into(),
        ))
    }

    fn refresh_due(&self, _tokens: &TokenSet) -> Option<DateTime<Utc>> {
        None
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let settings = Self::settings(job.account)?;
        let instance = self.instance(&settings.instance)?;
        if job.media.len() > settings.limits.max_media_attachments {
            return Err(PlatformError::Rejected(format!(
                "{} takes at most {} attachments per status",
                instance.host(),
                settings.limits.max_media_attachments
            )));
        }
        if job.text.trim().is_empty() && job.media.is_empty() {
            return Err(PlatformError::Rejected(
                "a status needs text or media".into(),
            ));
        }
        let mut checkpoint = Checkpoint::of(job).unwrap_or_else(|| Checkpoint {
            key: job.idempotency_key.to_owned(),
            ..Checkpoint::default()
        });
        let media_ids = self
            .attachments(job, &instance, &mut checkpoint, progress)
            .await?;
        if checkpoint.status_sent_at.is_none() {
            checkpoint.status_sent_at = Some(Utc::now());
        }
        // Recorded before the call: recovery knows whether, and since when, the key may have been used.
        checkpoint.record(progress).await?;
        let what = "posting the status";
        let request = self
            .http()?
            .post(instance.endpoint("/api/v1/statuses"))
            .bearer_auth(job.tokens.access_token.expose_secret())
            .header("Idempotency-Key", job.idempotency_key)
            .json(&Self::status_body(job, &media_ids));
        let answer = api::send(request, &instance, what, Call::Publishes).await?;
        if !answer.status.is_success() {
            return Err(api::failure(&answer, what, Call::Publishes));
        }
        let status: Status = answer.json(what, Call::Publishes)?;
        let id = text_id(&status.id)
            .ok_or_else(|| PlatformError::Unknown(format!("{what}: the answer names no status")))?;
        tracing::info!(instance = %instance.host(), status = %id, "published a Mastodon status");
        Ok(Published {
            platform_post_id: id,
            permalink: status.url.or(status.uri),
            reply_ref: None,
            notice: None,
        })
    }

    /// No status call recorded: nothing can have landed. One recorded within [`IDEMPOTENCY_WINDOW`]: publishing
    /// again with the same `Idempotency-Key` answers the status the first call made, if it made one, so it is safe.
    /// Later than that the instance has forgotten the key, and nothing else tells whether the call landed.
    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let Some(sent_at) = Checkpoint::of(job).and_then(|c| c.status_sent_at) else {
            return Ok(Recovery::NotPublished);
        };
        let since = (Utc::now() - sent_at).to_std().unwrap_or(Duration::ZERO);
        if since < IDEMPOTENCY_WINDOW {
            Ok(Recovery::NotPublished)
        } else {
            Ok(Recovery::Unknowable(format!(
                "the status call was sent at {} and its answer lost; the instance keeps its Idempotency-Key for about \
                 an hour, which has passed, so Postora cannot tell whether it was published",
                sent_at.to_rfc3339()
            )))
        }
    }

    async fn revoke(&self, account: &Account, tokens: &TokenSet) -> Result<(), PlatformError> {
        let settings = Self::settings(account)?;
        let instance = self.instance(&settings.instance)?;
        let Some(registration) = self
            .registrations
            .get(PlatformKind::Mastodon, instance.as_str())
            .await
            .map_err(store_error)?
        else {
            tracing::warn!(instance = %instance.host(), "no registration with the instance to revoke the token with");
            return Ok(());
        };
        let request = self
            .http()?
            .post(instance.endpoint("/oauth/revoke"))
            .form(&[
                ("client_id", registration.client_id.as_str()),
                ("client_secret", registration.client_secret.expose_secret()),
                ("token", tokens.access_token.expose_secret()),
            ]);
        let what = "revoking the Mastodon token";
        let answer = api::send(request, &instance, what, Call::Safe).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(api::failure(&answer, what, Call::Safe))
        }
    }
}
