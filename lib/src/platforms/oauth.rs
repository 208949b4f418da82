//! OAuth 2.0 plumbing shared by the adapters whose token endpoints follow the standard (RFC 6749, RFC 7636).

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, StandardErrorResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::TokenSet;
use crate::ports::PlatformError;

/// The S256 challenge for a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()))
        .as_str()
        .to_owned()
}

pub type Client =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// An OAuth client for one platform app.
pub struct OAuthApp {
    client: Client,
}

/// Where the client sends its credentials at the token endpoint.
#[derive(Debug, Clone, Copy)]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 2.3.1), the default of most platforms.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

impl OAuthApp {
    pub fn new(
        client_id: &str,
        client_secret: &SecretString,
        authorize: url::Url,
        token: url::Url,
        auth: ClientAuth,
    ) -> Self {
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(authorize))
            .set_token_uri(TokenUrl::from_url(token))
            .set_auth_type(match auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Body => AuthType::RequestBody,
            });
        Self { client }
    }

    /// The consent URL with state, scopes and (if given) the PKCE challenge of `pkce_verifier`.
    pub fn authorize_url(
        &self,
        state: &str,
        redirect_uri: &str,
        scopes: &[&str],
        pkce_verifier: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<url::Url, PlatformError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| PlatformError::Rejected("the redirect URI is not a URL".into()))?;
        let state = state.to_owned();
        let mut req = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_redirect_uri(std::borrow::Cow::Owned(redirect))
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())));
        if let Some(v) = pkce_verifier {
            req = req.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(
                &PkceCodeVerifier::new(v.to_owned()),
            ));
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        Ok(req.url().0)
    }

    pub async fn exchange_code(
        &self,
        http: &reqwest::Client,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, PlatformError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| PlatformError::Rejected("the redirect URI is not a URL".into()))?;
        let mut req = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_redirect_uri(std::borrow::Cow::Owned(redirect));
        if let Some(v) = pkce_verifier {
            req = req.set_pkce_verifier(PkceCodeVerifier::new(v.to_owned()));
        }
        let token = req.request_async(http).await.map_err(map_token_error)?;
        Ok(token_set(&token, None, now))
    }

    /// Refreshes; keeps the old refresh token when the platform does not rotate it.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        tokens: &TokenSet,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, PlatformError> {
        let refresh = tokens
            .refresh_token
            .as_ref()
            .ok_or_else(|| PlatformError::Reauth("no refresh token was granted".into()))?;
        let token = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh.expose_secret().to_owned()))
            .request_async(http)
            .await
            .map_err(map_token_error)?;
        Ok(token_set(&token, Some(tokens), now))
    }
}

fn token_set(
    token: &BasicTokenResponse,
    previous: Option<&TokenSet>,
    now: DateTime<Utc>,
) -> TokenSet {
    let mut set = TokenSet::new(token.access_token().secret().to_owned(), now);
    set.refresh_token = token
        .refresh_token()
        .map(|r| SecretString::from(r.secret().to_owned()))
        .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
    set.expires_at = token
        .expires_in()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now + d);
    set.refresh_expires_at = previous.and_then(|p| p.refresh_expires_at);
    set.scope = token
        .scopes()
        .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" "));
    set
}

type TokenError = RequestTokenError<
    oauth2::HttpClientError<reqwest::Error>,
    StandardErrorResponse<BasicErrorResponseType>,
>;

/// Maps a token endpoint failure to the publisher's error classes. A token request changes nothing a person can
/// see, so transport failures are transient.
pub fn map_token_error(e: TokenError) -> PlatformError {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            BasicErrorResponseType::InvalidGrant
            | BasicErrorResponseType::UnauthorizedClient
            | BasicErrorResponseType::InvalidClient => PlatformError::Reauth(format!(
                "the platform refused the grant ({})",
                r.error().as_ref()
            )),
            other => PlatformError::Rejected(format!("token endpoint said {}", other.as_ref())),
        },
        RequestTokenError::Request(_) => {
            PlatformError::Transient("the token endpoint could not be reached".into())
        }
        RequestTokenError::Parse(_, _) => {
            PlatformError::Transient("the token endpoint answered something unreadable".into())
        }
        RequestTokenError::Other(m) => PlatformError::Transient(format!("token endpoint: {m}")),
    }
}
