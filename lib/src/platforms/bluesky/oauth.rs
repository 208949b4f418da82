//! atproto OAuth: the authorization server discovered from the account's PDS (`/.well-known/oauth-protected-resource`,
//! then the issuer's `/.well-known/oauth-authorization-server`), a pushed authorization request (PAR) with PKCE and
//! a DPoP proof, the code and refresh token exchanged with DPoP (each retried once with the server's `DPoP-Nonce`),
//! and, for a confidential client, a `private_key_jwt` client assertion signed with Postora's key. The client id is
//! the HTTPS URL of the client metadata Postora serves ([`ClientConfig::metadata`]).

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::dpop::DpopKey;
use super::xrpc::{Auth, Body, Effect, Failure, Xrpc};
use crate::domain::TokenSet;
use crate::platforms::oauth::pkce_challenge;
use crate::ports::PlatformError;

/// The scope Postora asks for: the atproto identity and the transitional scope that lets it write posts and blobs.
pub const SCOPE: &str = "atproto transition:generic";

/// Postora as an atproto OAuth client.
#[derive(Clone)]
pub struct ClientConfig {
    /// `<public url>/oauth/bluesky/client-metadata.json`.
    pub client_id: String,
    /// `<public url>/oauth/bluesky/callback`.
    pub redirect_uri: String,
    /// `<public url>/oauth/bluesky/jwks.json`.
    pub jwks_uri: String,
    pub client_uri: String,
    /// The client's signing key (`POSTORA_BLUESKY_CLIENT_KEY`): a confidential client with `private_key_jwt`. A
    /// public client (`token_endpoint_auth_method: none`) without it.
    pub key: Option<DpopKey>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("confidential", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// The id the client's public key has in the JWKS.
    fn kid(&self) -> Option<String> {
        self.key.as_ref().map(|k| k.thumbprint())
    }

    /// The client metadata document (served at `client_id`).
    pub fn metadata(&self) -> Value {
        let mut m = json!({
            "client_id": self.client_id,
            "client_name": "Postora",
            "client_uri": self.client_uri,
            "application_type": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [self.redirect_uri],
            "scope": SCOPE,
            "dpop_bound_access_tokens": true,
            "token_endpoint_auth_method": "none",
        });
        if self.key.is_some() {
            m["token_endpoint_auth_method"] = json!("private_key_jwt");
            m["token_endpoint_auth_signing_alg"] = json!("ES256");
            m["jwks_uri"] = json!(self.jwks_uri);
        }
        m
    }

    /// The public keys document (served at `jwks_uri`); empty for a public client.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .key
            .iter()
            .map(|k| {
                let mut jwk = k.public_jwk();
                jwk["kid"] = json!(k.thumbprint());
                jwk["use"] = json!("sig");
                jwk["alg"] = json!("ES256");
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }

    /// `client_id`, and for a confidential client its assertion for `issuer`.
    fn client_auth(&self, issuer: &str) -> Vec<(String, String)> {
        let mut form = vec![("client_id".to_owned(), self.client_id.clone())];
        if let (Some(key), Some(kid)) = (&self.key, self.kid()) {
            let now = Utc::now().timestamp();
            let assertion = key.sign(
                json!({"kid": kid, "typ": "JWT"}),
                &json!({
                    "iss": self.client_id, "sub": self.client_id, "aud": issuer,
                    "jti": crate::domain::ids::random_token(16), "iat": now, "exp": now + 60,
                }),
            );
            form.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion".into(), assertion));
        }
        form
    }
}

/// An authorization server's endpoints, as its metadata says.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub pushed_authorization_request_endpoint: String,
}

/// Finds the authorization server of a PDS.
pub async fn discover(xrpc: &Xrpc, pds: &url::Url) -> Result<ServerMetadata, PlatformError> {
    let get = |url: url::Url, what: &'static str| async move {
        xrpc.send(
            reqwest::Method::GET,
            url,
            Auth::None,
            Body::Empty,
            Effect::Read,
            what,
        )
        .await
        .map_err(|f| match f {
            Failure::Xrpc(_) => {
                PlatformError::Rejected(format!("{what}: the server has no OAuth metadata"))
            }
            Failure::Platform(p) => p,
        })
    };
    let resource: Value = get(
        pds.join("/.well-known/oauth-protected-resource")
            .map_err(|_| bad("the PDS address"))?,
        "discovering the account's authorization server",
    )
    .await?
    .json("discovering the account's authorization server")?;
    let issuer = resource
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(|s| url::Url::parse(s).ok())
        .ok_or_else(|| bad("the PDS names no authorization server"))?;
    let meta: ServerMetadata = get(
        issuer
            .join("/.well-known/oauth-authorization-server")
            .map_err(|_| bad("the issuer address"))?,
        "reading the authorization server's metadata",
    )
    .await?
    .json("reading the authorization server's metadata")?;
    if meta.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
        return Err(bad(
            "the authorization server's metadata names another issuer",
        ));
    }
    for endpoint in [
        &meta.authorization_endpoint,
        &meta.token_endpoint,
        &meta.pushed_authorization_request_endpoint,
    ] {
        let u = url::Url::parse(endpoint).map_err(|_| bad("an endpoint is not a URL"))?;
        xrpc.check_url(&u)?;
    }
    Ok(meta)
}

fn bad(what: &str) -> PlatformError {
    PlatformError::Rejected(format!("Bluesky OAuth: {what}"))
}

/// Pushes the authorization request; answers the URL to send the person to.
#[allow(clippy::too_many_arguments)]
pub async fn push(
    xrpc: &Xrpc,
    client: &ClientConfig,
    meta: &ServerMetadata,
    key: &DpopKey,
    state: &str,
    verifier: &str,
    login_hint: Option<&str>,
) -> Result<url::Url, PlatformError> {
    let mut form = client.client_auth(&meta.issuer);
    form.extend(
        [
            ("response_type", "code"),
            ("code_challenge_method", "S256"),
            ("scope", SCOPE),
            ("state", state),
            ("redirect_uri", client.redirect_uri.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    form.push(("code_challenge".into(), pkce_challenge(verifier)));
    if let Some(h) = login_hint {
        form.push(("login_hint".into(), h.to_owned()));
    }
    let url = url::Url::parse(&meta.pushed_authorization_request_endpoint)
        .map_err(|_| bad("the PAR endpoint"))?;
    let reply = xrpc
        .send(
            reqwest::Method::POST,
            url,
            Auth::DpopOnly(key),
            Body::Form(form),
            Effect::Read,
            "pushing the authorization request",
        )
        .await
        .map_err(|f| match f {
            Failure::Xrpc(e) => PlatformError::Rejected(format!(
                "the authorization server refused the request: {}",
                e.describe()
            )),
            Failure::Platform(p) => p,
        })?;
    #[derive(Deserialize)]
    struct Pushed {
        request_uri: String,
    }
    let pushed: Pushed = reply.json("pushing the authorization request")?;
    let mut authorize = url::Url::parse(&meta.authorization_endpoint)
        .map_err(|_| bad("the authorization endpoint"))?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("request_uri", &pushed.request_uri);
    Ok(authorize)
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    sub: String,
}

/// Calls the token endpoint with a grant; answers the token set (bound to `key`) and the account's DID.
pub async fn token(
    xrpc: &Xrpc,
    client: &ClientConfig,
    issuer: &str,
    token_endpoint: &str,
    key: &DpopKey,
    grant: Vec<(String, String)>,
    previous: Option<&TokenSet>,
) -> Result<(TokenSet, String), PlatformError> {
    let mut form = client.client_auth(issuer);
    form.extend(grant);
    let url = url::Url::parse(token_endpoint).map_err(|_| bad("the token endpoint"))?;
    let reply = xrpc
        .send(
            reqwest::Method::POST,
            url,
            Auth::DpopOnly(key),
            Body::Form(form),
            Effect::Read,
            "calling the token endpoint",
        )
        .await
        .map_err(|f| match f.xrpc() {
            Some(e)
                if e.error == "invalid_grant" || e.error == "invalid_client" || e.status == 401 =>
            {
                PlatformError::Reauth(format!(
                    "the authorization server refused the grant ({})",
                    e.describe()
                ))
            }
            Some(e) if e.status == 429 => f.classify(Effect::Read),
            Some(e) if e.status < 500 => PlatformError::Rejected(e.describe()),
            _ => f.classify(Effect::Read),
        })?;
    let answer: TokenAnswer = reply.json("calling the token endpoint")?;
    if !answer
        .token_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
    {
        return Err(bad("the token is not DPoP-bound"));
    }
    let now = Utc::now();
    let mut set = TokenSet::new(answer.access_token, now);
    set.expires_at = answer
        .expires_in
        .map(|s| crate::domain::bounds::token_expiry(now, i128::from(s)))
        .transpose()
        .map_err(|e| PlatformError::Transient(format!("token endpoint: {e}")))?;
    set.refresh_token = answer
        .refresh_token
        .map(SecretString::from)
        .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
    set.scope = answer.scope;
    set.dpop_key = Some(key.to_secret());
    Ok((set, answer.sub))
}

/// The `refresh_token` grant.
pub fn refresh_grant(tokens: &TokenSet) -> Result<Vec<(String, String)>, PlatformError> {
    let refresh = tokens
        .refresh_token
        .as_ref()
        .ok_or_else(|| PlatformError::Reauth("no refresh token was kept".into()))?;
    Ok(vec![
        ("grant_type".into(), "refresh_token".into()),
        ("refresh_token".into(), refresh.expose_secret().to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(key: Option<DpopKey>) -> ClientConfig {
        ClientConfig {
            client_id: "https://p.example/oauth/bluesky/client-metadata.json".into(),
            redirect_uri: "https://p.example/oauth/bluesky/callback".into(),
            jwks_uri: "https://p.example/oauth/bluesky/jwks.json".into(),
            client_uri: "https://p.example".into(),
            key,
        }
    }

    #[test]
    fn metadata_says_how_the_client_authenticates() {
        let public = client(None).metadata();
        assert_eq!(public["token_endpoint_auth_method"], "none");
        assert_eq!(public["dpop_bound_access_tokens"], true);
        assert!(public.get("jwks_uri").is_none());
        let key = DpopKey::generate();
        let c = client(Some(key.clone()));
        assert_eq!(
            c.metadata()["token_endpoint_auth_method"],
            "private_key_jwt"
        );
        let jwks = c.jwks();
        assert_eq!(jwks["keys"][0]["kid"], key.thumbprint());
        assert!(jwks["keys"][0].get("d").is_none());
        let form = c.client_auth("https://issuer.example");
        assert!(form.iter().any(|(k, _)| k == "client_assertion"));
    }
}
