//! OAuth 2.0 plumbing shared by the adapters whose token endpoints follow the standard (RFC 6749, RFC 7636).

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, StandardErrorResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use super::http::CappedClient;
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
        let token = req
            .request_async(&CappedClient(http))
            .await
            .map_err(map_token_error)?;
        token_set(&token, None, now)
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
            .request_async(&CappedClient(http))
            .await
            .map_err(map_token_error)?;
        token_set(&token, Some(tokens), now)
    }
}

/// The token set a token answer grants, issued `now`. An `expires_in` no platform would grant (above ten years) is
/// a broken answer: an error, not a time.
fn token_set(
    token: &BasicTokenResponse,
    previous: Option<&TokenSet>,
    now: DateTime<Utc>,
) -> Result<TokenSet, PlatformError> {
    let expires_at = token
        .expires_in()
        .map(|d| crate::domain::bounds::token_expiry(now, i128::from(d.as_secs())))
        .transpose()
        .map_err(|e| PlatformError::Transient(format!("token endpoint: {e}")))?;
    let mut set = TokenSet::new(token.access_token().secret().to_owned(), now);
    set.refresh_token = token
        .refresh_token()
        .map(|r| SecretString::from(r.secret().to_owned()))
        .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
    set.expires_at = expires_at;
    set.refresh_expires_at = previous.and_then(|p| p.refresh_expires_at);
    set.scope = token
        .scopes()
        .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" "));
    Ok(set)
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
        // The answer was cut off at the body cap (the only message this crate's client carries as `Other`).
        RequestTokenError::Request(oauth2::HttpClientError::Other(m)) => {
            PlatformError::Transient(format!("token endpoint: {m}"))
        }
        RequestTokenError::Request(_) => {
            PlatformError::Transient("the token endpoint could not be reached".into())
        }
        RequestTokenError::Parse(_, _) => {
            PlatformError::Transient("the token endpoint answered something unreadable".into())
        }
        RequestTokenError::Other(m) => PlatformError::Transient(format!("token endpoint: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn answer(expires_in: &str) -> Option<BasicTokenResponse> {
        serde_json::from_str(&format!(
            r#"{{"access_token":"at-secret","token_type":"bearer","expires_in":{expires_in},"refresh_token":"rt"}}"#
        ))
        .ok()
    }

    #[test]
    fn an_absurd_expires_in_is_an_error_not_a_panic() {
        let now = Utc::now();
        let ok = token_set(&answer("3600").unwrap(), None, now).unwrap();
        assert_eq!(ok.expires_at, Some(now + chrono::Duration::hours(1)));
        for absurd in ["10000000000000", "18446744073709551615"] {
            let e = token_set(&answer(absurd).unwrap(), None, now).unwrap_err();
            assert_eq!(e.code(), "transient", "{absurd}");
            assert!(e.to_string().contains("expires in"), "{e}");
            assert!(!e.to_string().contains("at-secret"), "{e}");
        }
        // What the oauth2 crate cannot read at all is its own parse error (mapped by map_token_error).
        for unreadable in ["-1", "1e300", r#""NaN""#, "18446744073709551616"] {
            assert!(answer(unreadable).is_none(), "{unreadable}");
        }
    }

    proptest! {
        #[test]
        fn any_expires_in_gives_a_plausible_time_or_an_error(secs in any::<u64>()) {
            let now = Utc::now();
            if let Some(a) = answer(&secs.to_string()) {
                match token_set(&a, None, now) {
                    Ok(t) => prop_assert!(t.expires_at.is_some_and(|e| e >= now
                        && e <= now + chrono::Duration::seconds(crate::domain::bounds::MAX_TOKEN_LIFETIME_SECS))),
                    Err(e) => prop_assert_eq!(e.code(), "transient"),
                }
            }
        }
    }
}
