//! App-password sessions: `com.atproto.server.createSession` once, at connect, and
//! `com.atproto.server.refreshSession` (which rotates the refresh JWT) from then on. Never a login per post.

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::dpop::jwt_expiry;
use super::xrpc::{method_url, Auth, Body, Effect, Failure, Xrpc};
use crate::domain::TokenSet;
use crate::ports::PlatformError;

/// What createSession and refreshSession answer (the fields Postora uses).
#[derive(Deserialize)]
pub struct SessionAnswer {
    #[serde(rename = "accessJwt")]
    access_jwt: String,
    #[serde(rename = "refreshJwt")]
    refresh_jwt: String,
    pub did: String,
    #[serde(default)]
    pub handle: Option<String>,
}

impl std::fmt::Debug for SessionAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAnswer")
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

impl SessionAnswer {
    /// The token set: the access JWT, the refresh JWT, and when each expires (read from their `exp`).
    pub fn into_tokens(self) -> TokenSet {
        let now = Utc::now();
        let mut t = TokenSet::new(self.access_jwt, now);
        t.expires_at = jwt_expiry(t.access_token.expose_secret());
        t.refresh_expires_at = jwt_expiry(&self.refresh_jwt);
        t.refresh_token = Some(SecretString::from(self.refresh_jwt));
        t
    }
}

/// Signs in with an app password. A refused password is `Reauth` (the caller names the `app_password` field).
pub async fn create(
    xrpc: &Xrpc,
    pds: &url::Url,
    identifier: &str,
    password: &SecretString,
) -> Result<SessionAnswer, PlatformError> {
    let body = serde_json::json!({"identifier": identifier, "password": password.expose_secret()});
    let reply = xrpc
        .send(
            reqwest::Method::POST,
            method_url(pds, "com.atproto.server.createSession", &[]),
            Auth::None,
            Body::Json(body),
            Effect::Read,
            "signing in to Bluesky",
        )
        .await
        .map_err(|f| match &f {
            Failure::Xrpc(e) if e.error == "AuthFactorTokenRequired" => PlatformError::Reauth(
                "this account asks for a sign-in code: use an app password (Settings, App passwords)".into(),
            ),
            Failure::Xrpc(e) if e.status == 401 || e.error == "AuthenticationRequired" => {
                PlatformError::Reauth("Bluesky refused this handle and app password".into())
            }
            Failure::Xrpc(e) if e.error == "AccountTakedown" => {
                PlatformError::Reauth("this Bluesky account is taken down".into())
            }
            _ => f.classify(Effect::Read),
        })?;
    reply.json("signing in to Bluesky")
}

/// Refreshes a session: a new access JWT and a new refresh JWT (the old one is dead once this answers). Any
/// refusal of the refresh JWT means the person must connect again.
pub async fn refresh(
    xrpc: &Xrpc,
    pds: &url::Url,
    tokens: &TokenSet,
) -> Result<TokenSet, PlatformError> {
    let refresh = tokens
        .refresh_token
        .as_ref()
        .ok_or_else(|| PlatformError::Reauth("no refresh token was kept".into()))?;
    let reply = xrpc
        .send(
            reqwest::Method::POST,
            method_url(pds, "com.atproto.server.refreshSession", &[]),
            Auth::Bearer(refresh),
            Body::Empty,
            Effect::Read,
            "refreshing the Bluesky session",
        )
        .await
        .map_err(|f| match f.xrpc() {
            Some(e) if e.status == 429 => f.classify(Effect::Read),
            Some(e) if e.status < 500 => PlatformError::Reauth(format!(
                "Bluesky refused to refresh the session ({}); connect the account again",
                e.describe()
            )),
            _ => f.classify(Effect::Read),
        })?;
    let answer: SessionAnswer = reply.json("refreshing the Bluesky session")?;
    Ok(answer.into_tokens())
}
