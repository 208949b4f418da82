//! LinkedIn (Posts API): "Sign In with LinkedIn using OpenID Connect" for the member, the organization Pages the
//! member administers as further accounts (the person chooses which to connect), posts through `POST /rest/posts`
//! with the configured `LinkedIn-Version`, media through the Images and Videos APIs, and recovery after a lost answer
//! through LinkedIn's refusal of a duplicate post (docs/platforms/linkedin.md).

pub mod api;
pub mod media;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use self::api::{
    classify, escape_commentary, named_post, send, send_raw, urn_segment, versioned, CallKind,
    Limits,
};
use self::media::{LinkedInCheckpoint, Uploader};
use crate::config::{ConfigError, Env};
use crate::domain::options::LinkedinVisibility;
use crate::domain::{Account, MediaKind, PlatformKind, Profile, TargetOptions, TokenSet};
use crate::platforms::http::{endpoint, read_body, read_transport_error};
use crate::platforms::polling::HintedPolling;
use crate::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Progress, PublishJob,
    Published, Recovery,
};

/// The documented paths below the configured origins.
pub mod paths {
    /// On `auth_origin`.
    pub const AUTHORIZE: &str = "/oauth/v2/authorization";
    pub const TOKEN: &str = "/oauth/v2/accessToken";
    /// On `api_origin`, as every path below.
    pub const USERINFO: &str = "/v2/userinfo";
    pub const ORGANIZATION_ACLS: &str = "/rest/organizationAcls";
    pub const ORGANIZATIONS: &str = "/rest/organizations";
    pub const POSTS: &str = "/rest/posts";
}

/// What Postora asks for a member: sign-in (OpenID Connect) and posting as the member.
pub const MEMBER_SCOPES: [&str; 3] = ["openid", "profile", "w_member_social"];
/// What it adds for organization Pages (Community Management API): posting as, and reading, the organizations.
pub const ORGANIZATION_SCOPES: [&str; 2] = ["w_organization_social", "r_organization_social"];

/// How to reach LinkedIn. Built from the environment by [`LinkedInConfig::from_env`], or by hand in tests.
#[derive(Clone)]
pub struct LinkedInConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `POSTORA_LINKEDIN_AUTH_URL`: the consent page and the token endpoints.
    pub auth_origin: url::Url,
    /// `POSTORA_LINKEDIN_API_URL`: the API.
    pub api_origin: url::Url,
    /// `POSTORA_LINKEDIN_VERSION`: the API version (YYYYMM) sent as `LinkedIn-Version`.
    pub version: String,
    /// `POSTORA_LINKEDIN_ORGANIZATIONS`: whether to ask for the organization scopes and offer the member's Pages.
    pub organizations: bool,
    /// `POSTORA_LINKEDIN_RATE_LIMIT_WAIT_SECS`: how long to hold an account after a 429 that gives no wait.
    pub rate_limit_wait: Duration,
    pub polling: HintedPolling,
}

impl fmt::Debug for LinkedInConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkedInConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("auth_origin", &self.auth_origin.as_str())
            .field("api_origin", &self.api_origin.as_str())
            .field("version", &self.version)
            .field("organizations", &self.organizations)
            .finish()
    }
}

/// Whether `v` is a LinkedIn API version: `YYYYMM`, optionally `.RR`.
pub fn valid_version(v: &str) -> bool {
    let (month, rev) = v.split_once('.').map_or((v, None), |(m, r)| (m, Some(r)));
    let month_ok = month.len() == 6
        && month.bytes().all(|b| b.is_ascii_digit())
        && matches!(month[4..].parse::<u8>(), Ok(1..=12))
        && month[..4].parse::<u16>().is_ok_and(|y| y >= 2022);
    month_ok && rev.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_digit()))
}

impl LinkedInConfig {
    pub const DEFAULT_AUTH_ORIGIN: &'static str = "https://www.linkedin.com";
    pub const DEFAULT_API_ORIGIN: &'static str = "https://api.linkedin.com";
    /// The version Postora was written against; LinkedIn serves each version for about a year.
    pub const DEFAULT_VERSION: &'static str = "202610";
    /// A day's limit resets at midnight UTC; an hour is a middle ground between hammering and waiting a day.
    pub const DEFAULT_RATE_LIMIT_WAIT_SECS: u64 = 3600;

    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            auth_origin: url::Url::parse(Self::DEFAULT_AUTH_ORIGIN).expect("a valid literal"),
            api_origin: url::Url::parse(Self::DEFAULT_API_ORIGIN).expect("a valid literal"),
            version: Self::DEFAULT_VERSION.into(),
            organizations: false,
            rate_limit_wait: Duration::from_secs(Self::DEFAULT_RATE_LIMIT_WAIT_SECS),
            polling: HintedPolling {
                default_wait: Duration::from_secs(5),
                max_wait: Duration::from_secs(60),
                give_up_after: Duration::from_secs(30 * 60),
            },
        }
    }

    /// `None` when `POSTORA_LINKEDIN_CLIENT_ID` and `POSTORA_LINKEDIN_CLIENT_SECRET` are both unset; an error naming
    /// the variable when only one is, or when a value is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let (id_name, secret_name) = (
            "POSTORA_LINKEDIN_CLIENT_ID",
            "POSTORA_LINKEDIN_CLIENT_SECRET",
        );
        let half = |missing: &str, present: &str| {
            ConfigError::invalid(
                missing,
                format!(
                    "it must be set too, since {present} is (set both to enable LinkedIn, or neither)"
                ),
            )
        };
        let (id, secret) = match (env.get(id_name), env.secret(secret_name)) {
            (None, None) => return Ok(None),
            (Some(id), Some(secret)) => (id.to_owned(), secret),
            (Some(_), None) => return Err(half(secret_name, id_name)),
            (None, Some(_)) => return Err(half(id_name, secret_name)),
        };
        let version = env
            .get(api::VERSION_SETTING)
            .unwrap_or(Self::DEFAULT_VERSION)
            .trim()
            .to_owned();
        if !valid_version(&version) {
            return Err(ConfigError::invalid(
                api::VERSION_SETTING,
                "a LinkedIn API version is YYYYMM (such as 202610)",
            ));
        }
        let mut c = Self::new(id, secret);
        c.auth_origin = env.origin("POSTORA_LINKEDIN_AUTH_URL", Self::DEFAULT_AUTH_ORIGIN)?;
        c.api_origin = env.origin("POSTORA_LINKEDIN_API_URL", Self::DEFAULT_API_ORIGIN)?;
        c.version = version;
        c.organizations = env.flag("POSTORA_LINKEDIN_ORGANIZATIONS", false)?;
        c.rate_limit_wait = env.seconds(
            "POSTORA_LINKEDIN_RATE_LIMIT_WAIT_SECS",
            Self::DEFAULT_RATE_LIMIT_WAIT_SECS,
        )?;
        let poll = env.seconds("POSTORA_LINKEDIN_VIDEO_POLL_SECS", 5)?;
        c.polling.default_wait = poll;
        c.polling.max_wait = c.polling.max_wait.max(poll);
        Ok(Some(c))
    }
}

pub struct LinkedInPlatform {
    http: reqwest::Client,
    config: LinkedInConfig,
}

impl fmt::Debug for LinkedInPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkedInPlatform")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

#[derive(Deserialize)]
struct Acl {
    organization: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Deserialize)]
struct Acls {
    #[serde(default)]
    elements: Vec<Acl>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Organization {
    #[serde(default)]
    localized_name: Option<String>,
    #[serde(default)]
    vanity_name: Option<String>,
}

#[derive(Deserialize)]
struct PostRead {
    author: String,
}

/// The token endpoint's answer (LinkedIn adds `refresh_token_expires_in` for partner apps).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// A post's link.
pub fn permalink(urn: &str) -> String {
    format!("https://www.linkedin.com/feed/update/{urn}/")
}

/// The body of `POST /rest/posts`.
pub fn post_body(
    author: &str,
    text: &str,
    media: &[(String, MediaKind, Option<String>)],
    options: Option<&TargetOptions>,
) -> serde_json::Value {
    let mut body = json!({
        "author": author,
        "commentary": escape_commentary(text),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": false,
    });
    if let Some(TargetOptions::Linkedin(o)) = options {
        if let Some(v) = o.visibility {
            body["visibility"] = json!(v.as_api());
        }
        if let Some(d) = o.disable_reshare {
            body["isReshareDisabledByAuthor"] = json!(d);
        }
    }
    let item = |(urn, _, alt): &(String, MediaKind, Option<String>)| {
        let mut m = json!({ "id": urn });
        if let Some(alt) = alt.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            // LinkedIn takes at most 4,086 characters of alternative text.
            m["altText"] = json!(alt.chars().take(4086).collect::<String>());
        }
        m
    };
    match media {
        [] => {}
        [one] => body["content"] = json!({ "media": item(one) }),
        many => {
            body["content"] =
                json!({ "multiImage": { "images": many.iter().map(item).collect::<Vec<_>>() } })
        }
    }
    body
}

impl LinkedInPlatform {
    pub fn new(http: reqwest::Client, config: LinkedInConfig) -> Self {
        Self { http, config }
    }

    fn api(&self, path: &str) -> url::Url {
        endpoint(&self.config.api_origin, path)
    }

    fn limits(&self) -> Limits {
        Limits {
            rate_limit_wait: self.config.rate_limit_wait,
        }
    }

    fn scopes(&self) -> Vec<&'static str> {
        let mut s = MEMBER_SCOPES.to_vec();
        if self.config.organizations {
            s.extend(ORGANIZATION_SCOPES);
        }
        s
    }

    async fn token_call(
        &self,
        form: &[(&str, &str)],
        previous: Option<&TokenSet>,
    ) -> Result<TokenSet, PlatformError> {
        let what = "LinkedIn's token endpoint";
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let secret = self.config.client_secret.expose_secret();
        fields.push(("client_id", &self.config.client_id));
        fields.push(("client_secret", secret));
        let resp = self
            .http
            .post(endpoint(&self.config.auth_origin, paths::TOKEN))
            .form(&fields)
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        let status = resp.status().as_u16();
        let body = read_body(resp)
            .await
            .map_err(|e| e.into_platform(what, false))?;
        if !(200..300).contains(&status) {
            let e: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            let why = e
                .error_description
                .or(e.error)
                .unwrap_or_else(|| format!("HTTP {status}"));
            let why: String = why.chars().take(300).collect();
            return Err(if (400..500).contains(&status) {
                PlatformError::Reauth(format!("LinkedIn refused the grant: {why}"))
            } else {
                PlatformError::Transient(format!("{what} answered {status}"))
            });
        }
        let t: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            PlatformError::Transient(format!("{what} answered something unreadable"))
        })?;
        let now = Utc::now();
        let expiry = |secs: Option<i64>| {
            secs.map(|s| crate::domain::bounds::token_expiry(now, i128::from(s)))
                .transpose()
                .map_err(|e| PlatformError::Transient(format!("{what}: {e}")))
        };
        let mut set = TokenSet::new(t.access_token, now);
        set.expires_at = expiry(t.expires_in)?;
        set.refresh_token = t
            .refresh_token
            .map(SecretString::from)
            .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
        // The refresh token lasts a year from the first grant, whatever is refreshed: LinkedIn says what is left.
        set.refresh_expires_at = expiry(t.refresh_token_expires_in)?
            .or_else(|| previous.and_then(|p| p.refresh_expires_at));
        set.scope = t.scope;
        // No token outlives its grant: where the refresh token ends first, that is when the account needs a new
        // consent, and when the refresher (which lists accounts by token expiry) must see it.
        if let (Some(token), Some(grant)) = (set.expires_at, set.refresh_expires_at) {
            set.expires_at = Some(token.min(grant));
        }
        Ok(set)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: url::Url,
        token: &SecretString,
        what: &str,
    ) -> Result<T, PlatformError> {
        send(
            versioned(self.http.get(url), token, &self.config.version),
            CallKind::Read,
            &self.config.version,
            self.limits(),
            what,
        )
        .await?
        .json(what)
    }

    /// The member, and each organization they administer (when organizations are on).
    async fn identities(&self, tokens: &TokenSet) -> Result<Vec<Connection>, PlatformError> {
        let token = &tokens.access_token;
        // `/v2/userinfo` is the OpenID Connect endpoint: unversioned, a bearer token only.
        let what = "reading the LinkedIn member";
        let resp = self
            .http
            .get(self.api(paths::USERINFO))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        let status = resp.status().as_u16();
        let body = read_body(resp)
            .await
            .map_err(|e| e.into_platform(what, false))?;
        if !(200..300).contains(&status) {
            return Err(PlatformError::Reauth(format!(
                "{what}: LinkedIn answered {status}"
            )));
        }
        let me: UserInfo = serde_json::from_slice(&body)
            .map_err(|_| PlatformError::Transient(format!("{what}: unreadable answer")))?;
        let member = format!("urn:li:person:{}", me.sub);
        // The grant ends when the refresh token does (a year from the first consent), or with the access token where
        // LinkedIn gave no refresh token.
        let grant_ends = if tokens.refresh_token.is_some() {
            tokens.refresh_expires_at
        } else {
            tokens.expires_at
        };
        let mut out = vec![Connection {
            profile: Profile {
                platform_user_id: member.clone(),
                username: None,
                display_name: me.name.clone(),
                picture_url: me.picture.clone(),
                biography: None,
                granted_by: None,
            },
            tokens: tokens.clone(),
            settings: json!({ "author": member, "member": member, "grant_expires_at": grant_ends }),
        }];
        if !self.config.organizations {
            return Ok(out);
        }
        let mut url = self.api(paths::ORGANIZATION_ACLS);
        url.set_query(Some("q=roleAssignee&role=ADMINISTRATOR&state=APPROVED"));
        let acls: Acls = match self
            .get_json(url, token, "listing the member's LinkedIn Pages")
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(platform = "linkedin", error = %e, "could not list the member's organizations; connecting the member only");
                return Ok(out);
            }
        };
        for acl in acls.elements {
            if acl.role.as_deref().is_some_and(|r| r != "ADMINISTRATOR")
                || acl.state.as_deref().is_some_and(|s| s != "APPROVED")
            {
                continue;
            }
            let Some(id) = acl.organization.strip_prefix("urn:li:organization:") else {
                continue;
            };
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let org: Organization = self
                .get_json(
                    self.api(&format!("{}/{id}", paths::ORGANIZATIONS)),
                    token,
                    "reading a LinkedIn Page",
                )
                .await
                .unwrap_or(Organization {
                    localized_name: None,
                    vanity_name: None,
                });
            out.push(Connection {
                profile: Profile {
                    platform_user_id: acl.organization.clone(),
                    username: org.vanity_name,
                    display_name: org
                        .localized_name
                        .or_else(|| Some(acl.organization.clone())),
                    picture_url: None,
                    biography: None,
                    granted_by: Some(member.clone()),
                },
                tokens: tokens.clone(),
                settings: json!({ "author": acl.organization, "member": member, "grant_expires_at": grant_ends }),
            });
        }
        Ok(out)
    }

    /// The author URN a post to this account is made by.
    fn author(account: &Account) -> String {
        account
            .settings
            .get("author")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| account.profile.platform_user_id.clone())
    }

    /// The post LinkedIn names in a refusal of a duplicate, if it is this account's.
    async fn owned_duplicate(
        &self,
        job: &PublishJob<'_>,
        urn: &str,
    ) -> Result<Option<Published>, PlatformError> {
        let url = self.api(&format!("{}/{}", paths::POSTS, urn_segment(urn)));
        let post: PostRead = self
            .get_json(
                url,
                &job.tokens.access_token,
                "reading the LinkedIn post a duplicate names",
            )
            .await?;
        Ok((post.author == Self::author(job.account))
            .then(|| Published::new(urn.to_owned(), Some(permalink(urn)))))
    }
}

#[async_trait]
impl Platform for LinkedInPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Linkedin
    }

    fn person_chooses_accounts(&self) -> bool {
        true
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        let mut url = endpoint(&self.config.auth_origin, paths::AUTHORIZE);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("state", request.state)
            .append_pair("scope", &self.scopes().join(" "));
        Ok(url)
    }

    async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        let tokens = self
            .token_call(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", exchange.code),
                    ("redirect_uri", exchange.redirect_uri),
                ],
                None,
            )
            .await?;
        self.identities(&tokens).await
    }

    /// Only partner apps get refresh tokens; a refresh renews the access token and leaves the refresh token (and
    /// the year it lasts from the first grant) as it was.
    async fn refresh(
        &self,
        _account: &Account,
        tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        let Some(refresh) = tokens.refresh_token.as_ref() else {
            return Err(PlatformError::Reauth(
                "LinkedIn grants this app no refresh token: the account must be connected again before its token runs out".into(),
            ));
        };
        if tokens.refresh_expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(PlatformError::Reauth(
                "the LinkedIn grant is a year old: the account must be connected again".into(),
            ));
        }
        self.token_call(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose_secret()),
            ],
            Some(tokens),
        )
        .await
    }

    async fn publish(
        &self,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        if !job.thread.is_empty() {
            return Err(PlatformError::Rejected(
                "LinkedIn posts do not form threads".into(),
            ));
        }
        let mut checkpoint = LinkedInCheckpoint::read(job.checkpoint).unwrap_or_default();
        if checkpoint.post_sent_at.is_some() {
            return Err(PlatformError::Unknown(
                "an earlier attempt sent this post to LinkedIn and its answer was lost".into(),
            ));
        }
        if job.text.trim().is_empty() && job.media.is_empty() {
            return Err(PlatformError::Rejected(
                "a LinkedIn post needs text or media".into(),
            ));
        }
        let author = Self::author(job.account);
        if author.starts_with("urn:li:organization:")
            && matches!(job.options, Some(TargetOptions::Linkedin(o)) if o.visibility == Some(LinkedinVisibility::Connections))
        {
            return Err(PlatformError::Rejected(
                "a LinkedIn Page's posts are public: `connections` visibility is for a member's posts".into(),
            ));
        }
        let urns = if job.media.is_empty() {
            vec![]
        } else {
            Uploader {
                http: &self.http,
                origin: &self.config.api_origin,
                token: &job.tokens.access_token,
                version: &self.config.version,
                limits: self.limits(),
                polling: self.config.polling,
                owner: &author,
            }
            .upload_all(job.media, &mut checkpoint, progress)
            .await?
        };
        let media: Vec<_> = urns
            .into_iter()
            .zip(job.media)
            .map(|(urn, m)| (urn, m.kind, m.alt.clone()))
            .collect();
        let body = post_body(&author, job.text, &media, job.options);
        checkpoint.post_sent_at = Some(Utc::now());
        checkpoint.save(progress).await?;
        let what = "publishing to LinkedIn";
        let sent = send_raw(
            versioned(
                self.http.post(self.api(paths::POSTS)),
                &job.tokens.access_token,
                &self.config.version,
            )
            .json(&body),
            CallKind::Publish,
            what,
        )
        .await?;
        let answer = match sent {
            Ok(a) => a,
            Err((refusal, headers)) => {
                if refusal.is_duplicate() {
                    if let Some(urn) = named_post(&refusal.message()) {
                        if let Some(found) = self.owned_duplicate(job, &urn).await? {
                            tracing::info!(platform = "linkedin", post = %urn, "LinkedIn already holds this post");
                            return Ok(found);
                        }
                    }
                }
                let e = classify(
                    &refusal,
                    &headers,
                    CallKind::Publish,
                    &self.config.version,
                    self.limits(),
                    what,
                );
                if !matches!(e, PlatformError::Unknown(_)) {
                    // LinkedIn answered and refused: nothing was published.
                    checkpoint.post_sent_at = None;
                    checkpoint.save(progress).await?;
                }
                return Err(e);
            }
        };
        let urn = answer
            .header("x-restli-id")
            .or_else(|| answer.header("x-linkedin-id"))
            .filter(|u| u.starts_with("urn:li:"))
            .ok_or_else(|| {
                PlatformError::Unknown(format!("{what}: LinkedIn answered without the post's URN"))
            })?;
        tracing::info!(platform = "linkedin", post = %urn, "published");
        Ok(Published::new(urn.clone(), Some(permalink(&urn))))
    }

    async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let Some(sent_at) = LinkedInCheckpoint::read(job.checkpoint).and_then(|c| c.post_sent_at)
        else {
            // The adapter records that it is about to send the post before it does: without that record, this
            // part was never sent.
            return Ok(Recovery::NotPublished);
        };
        Ok(Recovery::Unknowable(format!(
            "LinkedIn may have published it: its answer to the post sent at {} was lost, and LinkedIn offers no way to look a post up by what it says; check the account's feed, then retry (a duplicate LinkedIn still holds is recognised, never posted twice) or mark it published",
            sent_at.format("%Y-%m-%d %H:%M UTC")
        )))
    }

    /// Nothing is revoked at LinkedIn when an account is disconnected: the member's one grant serves their profile
    /// and every Page they connected, and revoking it for one would cut off the others. The member removes
    /// Postora in LinkedIn's settings ("Permitted services") to end the grant itself.
    async fn revoke(&self, _account: &Account, _tokens: &TokenSet) -> Result<(), PlatformError> {
        Ok(())
    }

    /// Refresh a few days ahead of the 60-day expiry, where a refresh token was granted (partner apps only):
    /// without one there is nothing to refresh, and the account is connected again when its token runs out.
    fn refresh_due(&self, tokens: &TokenSet) -> Option<DateTime<Utc>> {
        tokens.refresh_token.as_ref()?;
        let expires = tokens.expires_at?;
        let lifetime = expires - tokens.issued_at;
        Some(expires - (lifetime / 5).min(chrono::Duration::days(3)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["202610", "202401", "202610.01"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in [
            "2026-10", "20261", "202613", "202600", "abcdef", "202610.1", "199901",
        ] {
            assert!(!valid_version(bad), "{bad}");
        }
        let env = Env::from_pairs([
            ("POSTORA_LINKEDIN_CLIENT_ID", "abc"),
            ("POSTORA_LINKEDIN_CLIENT_SECRET", "shh-secret"),
            ("POSTORA_LINKEDIN_VERSION", "2026-10"),
        ]);
        assert!(LinkedInConfig::from_env(&env)
            .unwrap_err()
            .to_string()
            .contains("POSTORA_LINKEDIN_VERSION"));
    }

    #[test]
    fn config_needs_both_credentials() {
        assert!(LinkedInConfig::from_env(&Env::default()).unwrap().is_none());
        let half = Env::from_pairs([("POSTORA_LINKEDIN_CLIENT_ID", "abc")]);
        assert!(LinkedInConfig::from_env(&half)
            .unwrap_err()
            .to_string()
            .contains("POSTORA_LINKEDIN_CLIENT_SECRET"));
        let env = Env::from_pairs([
            ("POSTORA_LINKEDIN_CLIENT_ID", "abc"),
            ("POSTORA_LINKEDIN_CLIENT_SECRET", "shh-secret"),
        ]);
        let c = LinkedInConfig::from_env(&env).unwrap().unwrap();
        assert_eq!(c.version, LinkedInConfig::DEFAULT_VERSION);
        assert!(!format!("{c:?}").contains("shh-secret"));
    }

    #[test]
    fn post_bodies() {
        let b = post_body("urn:li:person:1", "hi (there)", &[], None);
        assert_eq!(b["visibility"], "PUBLIC");
        let o = TargetOptions::Linkedin(crate::domain::options::LinkedinOptions {
            visibility: Some(LinkedinVisibility::Connections),
            disable_reshare: Some(true),
        });
        let c = post_body("urn:li:person:1", "hi", &[], Some(&o));
        assert_eq!(c["visibility"], "CONNECTIONS");
        assert_eq!(c["isReshareDisabledByAuthor"], true);
        assert_eq!(b["commentary"], r"hi \(there\)");
        assert!(b.get("content").is_none());
        let one = post_body(
            "urn:li:person:1",
            "",
            &[(
                "urn:li:image:1".into(),
                MediaKind::Image,
                Some("a kite".into()),
            )],
            None,
        );
        assert_eq!(
            one["content"],
            json!({"media": {"id": "urn:li:image:1", "altText": "a kite"}})
        );
        let two = post_body(
            "urn:li:person:1",
            "",
            &[
                ("urn:li:image:1".into(), MediaKind::Image, None),
                ("urn:li:image:2".into(), MediaKind::Image, Some("b".into())),
            ],
            None,
        );
        assert_eq!(
            two["content"],
            json!({"multiImage": {"images": [{"id": "urn:li:image:1"}, {"id": "urn:li:image:2", "altText": "b"}]}})
        );
    }
}
