//! Connecting an account through OAuth: start (a state kept ten minutes, PKCE where the platform takes it) and the
//! callback (the state consumed exactly once, the code exchanged, the tokens sealed, the account stored).

use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::App;
use crate::domain::ids::random_token;
use crate::domain::records::OAUTH_STATE_TTL;
use crate::domain::{
    Account, AccountId, AccountStatus, AuditEntry, ConnectStarter, OAuthState, PlatformKind,
    Profile, SessionToken, TokenSet, WorkspaceId,
};
use crate::error::{Error, Result};
use crate::ports::{new_pkce_verifier, AuthorizeRequest, CodeExchange, Connection, PlatformError};

/// What a callback led to.
#[derive(Debug, Clone)]
pub enum Callback {
    Connected(ConnectOutcome),
    /// The consent gave access to several identities (a person's Facebook Pages): the person chooses which to connect.
    Choose(Choice),
}

/// A choice the person makes on a page Postora shows, within the state's lifetime. Holds no platform token (those
/// stay sealed until the person has chosen), and `Debug` does not show its own single-use token.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Single use; sent back with the choice. Whoever holds it may connect the identities offered, so it is kept
    /// like a secret: wiped when dropped, never in `Debug`.
    pub token: SecretString,
    pub platform: PlatformKind,
    pub options: Vec<ChoiceOption>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ChoiceOption {
    pub index: usize,
    pub name: String,
    pub username: Option<String>,
    pub platform_user_id: String,
}

/// What is sealed while the person chooses: each identity with its token set (a Facebook Page's own token).
#[derive(Serialize, Deserialize)]
struct PendingConnection {
    profile: Profile,
    settings: serde_json::Value,
    /// The token set's sealed-form plaintext: written only into the sealed blob, wiped from memory when dropped.
    #[serde(serialize_with = "expose_for_sealing")]
    tokens: SecretString,
}

impl std::fmt::Debug for PendingConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConnection")
            .field("profile", &self.profile)
            .field("tokens", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Serializes a token set into the plaintext that is sealed at once (and itself wiped, as `Zeroizing`).
fn expose_for_sealing<S: serde::Serializer>(
    tokens: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(tokens.expose_secret())
}

const PENDING_CONTEXT: &str = "pending-connections";

/// Where to send the person, and the state that comes back.
#[derive(Debug, Clone)]
pub struct ConnectStart {
    pub authorize_url: String,
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// What the callback received from the platform.
#[derive(Debug, Clone, Default)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The authorization server that answered (RFC 9207), where it says.
    pub iss: Option<String>,
}

/// The accounts a consent connected, and where to send the person next.
#[derive(Debug, Clone)]
pub struct ConnectOutcome {
    pub workspace_id: WorkspaceId,
    pub accounts: Vec<Account>,
    pub return_url: Option<String>,
}

/// Why a callback could not connect anything. Each is a 4xx page for the person.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the platform reported: {0}")]
    Denied(String),
    #[error("this sign-in link is unknown, expired or was already used; start again from Postora")]
    BadState,
    #[error("the platform's answer was incomplete: {0}")]
    Malformed(&'static str),
    #[error("the platform {0} is not enabled on this Postora")]
    Disabled(PlatformKind),
    #[error("the platform refused the sign-in: {0}")]
    Exchange(String),
    #[error("Postora could not store the account right now; please try again")]
    Unavailable,
    #[error("no account was chosen, so nothing was connected; start again from Postora to choose")]
    NothingChosen,
    #[error(
        "this connection was started by someone else, or in another browser or session: nothing was connected. \
         Sign in to Postora as the person who started it, in the same browser, and start again"
    )]
    NotStarter,
}

impl App {
    /// Starts connecting an account of `platform`. `server` is the server the person named, for a platform of many
    /// (a Mastodon instance, a Bluesky handle); `field` is the request field it came in, which a refusal names.
    pub async fn start_connect(
        &self,
        ws: &WorkspaceId,
        platform: PlatformKind,
        server: Option<(&str, &str)>,
        started_by: ConnectStarter,
    ) -> Result<ConnectStart> {
        let adapter = self
            .platforms
            .get(platform)
            .ok_or(Error::PlatformDisabled(platform))?;
        let state = random_token(32);
        let verifier = adapter.uses_pkce().then(new_pkce_verifier);
        let redirect_uri = self.settings.redirect_uri(platform);
        let authorization = adapter
            .authorize(&AuthorizeRequest {
                state: &state,
                redirect_uri: &redirect_uri,
                pkce_verifier: verifier.as_deref(),
                server: server.map(|(_, s)| s),
            })
            .await
            .map_err(|e| match (server, e) {
                // What is wrong with the server the person named (private, unreachable, not the platform's kind of
                // server) is theirs to fix: a 422 naming the field.
                (Some((field, _)), PlatformError::Rejected(m) | PlatformError::Transient(m)) => {
                    Error::invalid(field, m)
                }
                (_, e) => Error::Platform(e),
            })?;
        let url = authorization.url;
        let expires_at = self.now() + OAUTH_STATE_TTL;
        self.stores
            .ephemeral
            .put_oauth_state(&OAuthState {
                state: state.clone(),
                workspace_id: ws.clone(),
                platform,
                pkce_verifier: verifier,
                redirect_uri,
                return_url: self.settings.return_url.as_ref().map(|u| u.to_string()),
                expires_at,
                pending: None,
                context: authorization.context,
                started_by: Some(started_by),
            })
            .await?;
        Ok(ConnectStart {
            authorize_url: url.to_string(),
            state,
            expires_at,
        })
    }

    /// Completes a consent at the callback. `session` is the session the request came with: what a person started
    /// completes only with their own session (the one that started it), so a link completed in anyone else's
    /// browser connects nothing.
    pub async fn complete_connect(
        &self,
        platform: PlatformKind,
        params: &CallbackParams,
        session: Option<&SessionToken>,
    ) -> Result<Callback, CallbackError> {
        let adapter = self
            .platforms
            .get(platform)
            .ok_or(CallbackError::Disabled(platform))?;
        let state = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or(CallbackError::BadState)?;
        // The state is consumed before anything else, so a denial or a replay cannot use it again.
        let stored = self
            .stores
            .ephemeral
            .take_oauth_state(state, self.now())
            .await
            .map_err(|_| CallbackError::Unavailable)?
            .filter(|s| s.platform == platform && s.pending.is_none())
            .ok_or(CallbackError::BadState)?;
        self.check_starter(&stored, session).await?;
        if let Some(error) = &params.error {
            let detail = params.error_description.as_deref().unwrap_or(error);
            return Err(CallbackError::Denied(detail.chars().take(200).collect()));
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or(CallbackError::Malformed("no code"))?;
        let connections = adapter
            .exchange_code(&CodeExchange {
                code,
                redirect_uri: &stored.redirect_uri,
                pkce_verifier: stored.pkce_verifier.as_deref(),
                context: stored.context.as_ref(),
                issuer: params.iss.as_deref(),
            })
            .await
            .map_err(|e| CallbackError::Exchange(e.to_string()))?;
        if connections.is_empty() {
            return Err(CallbackError::Exchange(
                "the consent gave access to no account Postora can publish to".into(),
            ));
        }
        if adapter.person_chooses_accounts() && connections.len() > 1 {
            return self
                .offer_choice(&stored, connections)
                .await
                .map(Callback::Choose);
        }
        let accounts = self
            .store_connections(&stored.workspace_id, platform, connections)
            .await?;
        Ok(Callback::Connected(ConnectOutcome {
            workspace_id: stored.workspace_id,
            accounts,
            return_url: stored.return_url,
        }))
    }

    /// A connection a person started goes on only in the browser session that started it, while that session is
    /// live: the request must carry the same session (its token's hash is the one kept with the state).
    async fn check_starter(
        &self,
        stored: &OAuthState,
        session: Option<&SessionToken>,
    ) -> Result<(), CallbackError> {
        let Some(ConnectStarter::Person {
            person_id,
            session_hash,
        }) = &stored.started_by
        else {
            return Ok(());
        };
        let Some(token) = session else {
            return Err(CallbackError::NotStarter);
        };
        let same = bool::from(subtle::ConstantTimeEq::ct_eq(
            token.hash().as_bytes(),
            session_hash.as_bytes(),
        ));
        if !same || &token.person() != person_id {
            return Err(CallbackError::NotStarter);
        }
        match self.check_session(token, None).await {
            Ok(_) => Ok(()),
            Err(Error::Unavailable(_)) => Err(CallbackError::Unavailable),
            Err(_) => Err(CallbackError::NotStarter),
        }
    }

    /// Keeps the identities sealed for ten minutes under a new single-use token, for the person to choose from.
    async fn offer_choice(
        &self,
        stored: &OAuthState,
        connections: Vec<Connection>,
    ) -> Result<Choice, CallbackError> {
        let options = connections
            .iter()
            .enumerate()
            .map(|(index, c)| ChoiceOption {
                index,
                name: c
                    .profile
                    .display_name
                    .clone()
                    .or_else(|| c.profile.username.clone())
                    .unwrap_or_else(|| c.profile.platform_user_id.clone()),
                username: c.profile.username.clone(),
                platform_user_id: c.profile.platform_user_id.clone(),
            })
            .collect();
        let pending: Vec<PendingConnection> = connections
            .into_iter()
            .map(|c| PendingConnection {
                profile: c.profile,
                settings: c.settings,
                tokens: SecretString::from(
                    String::from_utf8_lossy(&c.tokens.to_plaintext()).into_owned(),
                ),
            })
            .collect();
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&pending).map_err(|_| CallbackError::Unavailable)?,
        );
        drop(pending);
        let sealed = self
            .vault
            .seal_for(&stored.workspace_id, PENDING_CONTEXT, &plain)
            .await
            .map_err(|_| CallbackError::Unavailable)?;
        let token = random_token(32);
        let expires_at = self.now() + OAUTH_STATE_TTL;
        self.stores
            .ephemeral
            .put_oauth_state(&OAuthState {
                state: token.clone(),
                pkce_verifier: None,
                expires_at,
                pending: Some(base64::engine::general_purpose::STANDARD.encode(sealed)),
                ..stored.clone()
            })
            .await
            .map_err(|_| CallbackError::Unavailable)?;
        Ok(Choice {
            token: SecretString::from(token),
            platform: stored.platform,
            options,
            expires_at,
        })
    }

    /// Connects the identities the person chose (by index) from a pending choice. The choice is used once.
    pub async fn finish_choice(
        &self,
        platform: PlatformKind,
        token: &str,
        chosen: &[usize],
        session: Option<&SessionToken>,
    ) -> Result<ConnectOutcome, CallbackError> {
        if token.is_empty() || token.len() > 256 {
            return Err(CallbackError::BadState);
        }
        let stored = self
            .stores
            .ephemeral
            .take_oauth_state(token, self.now())
            .await
            .map_err(|_| CallbackError::Unavailable)?
            .filter(|s| s.platform == platform)
            .ok_or(CallbackError::BadState)?;
        self.check_starter(&stored, session).await?;
        let sealed = stored
            .pending
            .as_deref()
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .ok_or(CallbackError::BadState)?;
        if chosen.is_empty() {
            return Err(CallbackError::NothingChosen);
        }
        let plain = self
            .vault
            .open_for(&stored.workspace_id, PENDING_CONTEXT, &sealed)
            .await
            .map_err(|_| CallbackError::BadState)?;
        let pending: Vec<PendingConnection> =
            serde_json::from_slice(&plain).map_err(|_| CallbackError::BadState)?;
        let mut connections = Vec::new();
        for (index, p) in pending.into_iter().enumerate() {
            if !chosen.contains(&index) {
                continue;
            }
            let tokens = TokenSet::from_plaintext(p.tokens.expose_secret().as_bytes())
                .ok_or(CallbackError::BadState)?;
            connections.push(Connection {
                profile: p.profile,
                tokens,
                settings: p.settings,
            });
        }
        if connections.is_empty() {
            return Err(CallbackError::NothingChosen);
        }
        let accounts = self
            .store_connections(&stored.workspace_id, platform, connections)
            .await?;
        Ok(ConnectOutcome {
            workspace_id: stored.workspace_id,
            accounts,
            return_url: stored.return_url,
        })
    }

    /// Connects an account with an identifier and a password made for apps (a Bluesky handle and app password):
    /// the platform signs in once, and the session it gives is stored like a consent's tokens. A refused password
    /// is a 422 naming `password_field`; a handle that leads nowhere, one naming `identifier_field`.
    pub async fn connect_with_password(
        &self,
        ws: &WorkspaceId,
        platform: PlatformKind,
        (identifier_field, identifier): (&str, &str),
        (password_field, password): (&str, &SecretString),
    ) -> Result<Vec<Account>> {
        let adapter = self
            .platforms
            .get(platform)
            .ok_or(Error::PlatformDisabled(platform))?;
        let connections = adapter
            .connect_with_password(identifier, password)
            .await
            .map_err(|e| match e {
                PlatformError::Reauth(m) => Error::invalid(password_field, m),
                PlatformError::Rejected(m) | PlatformError::Transient(m) => {
                    Error::invalid(identifier_field, m)
                }
                other => Error::Platform(other),
            })?;
        self.store_connections(ws, platform, connections)
            .await
            .map_err(|e| match e {
                CallbackError::BadState => Error::NotFound("workspace"),
                other => Error::Unavailable(other.to_string()),
            })
    }

    async fn store_connections(
        &self,
        ws: &WorkspaceId,
        platform: PlatformKind,
        connections: Vec<Connection>,
    ) -> Result<Vec<Account>, CallbackError> {
        // The workspace may have been erased while the person was on the consent page.
        match self.stores.workspaces.get_workspace(ws).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(CallbackError::BadState),
            Err(_) => return Err(CallbackError::Unavailable),
        }
        let mut accounts = Vec::new();
        for c in connections {
            let now = self.now();
            let candidate = Account {
                id: AccountId::generate(),
                workspace_id: ws.clone(),
                platform,
                profile: c.profile,
                status: AccountStatus::Active,
                settings: c.settings,
                token_expires_at: c.tokens.expires_at,
                created_at: now,
                updated_at: now,
                connected_at: Some(now),
                version: 1,
            };
            let account = self
                .stores
                .accounts
                .upsert_account(&candidate)
                .await
                .map_err(|_| CallbackError::Unavailable)?;
            self.store_tokens(&account, &c.tokens)
                .await
                .map_err(|_| CallbackError::Unavailable)?;
            self.audit(
                AuditEntry::new(
                    account.workspace_id.clone(),
                    now,
                    "account.connected",
                    serde_json::json!({"platform": platform, "platform_user_id": account.profile.platform_user_id}),
                )
                .account(&account.id),
            )
            .await;
            accounts.push(account);
        }
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_choice_shows_no_token() {
        let choice = Choice {
            token: SecretString::from("choice-token-very-secret".to_owned()),
            platform: PlatformKind::Facebook,
            options: vec![ChoiceOption {
                index: 0,
                name: "A Page".into(),
                username: Some("apage".into()),
                platform_user_id: "1234".into(),
            }],
            expires_at: Utc::now(),
        };
        for shown in [
            format!("{choice:?}"),
            format!("{:#?}", Callback::Choose(choice.clone())),
        ] {
            assert!(!shown.contains("very-secret"), "{shown}");
            assert!(shown.contains("A Page"), "{shown}");
        }
    }

    #[test]
    fn a_pending_page_keeps_its_token_secret_until_it_is_sealed_and_after() {
        let mut tokens = TokenSet::new("page-token-very-secret", Utc::now());
        tokens.scope = Some("pages_manage_posts".into());
        let pending = vec![PendingConnection {
            profile: Profile {
                platform_user_id: "1234".into(),
                display_name: Some("A Page".into()),
                ..Profile::default()
            },
            settings: serde_json::json!({"page_id": "1234"}),
            tokens: SecretString::from(
                String::from_utf8_lossy(&tokens.to_plaintext()).into_owned(),
            ),
        }];
        let shown = format!("{pending:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        // What is sealed holds the token, and reads back into the same token set.
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&pending).unwrap());
        let back: Vec<PendingConnection> = serde_json::from_slice(&plain).unwrap();
        let reread = TokenSet::from_plaintext(back[0].tokens.expose_secret().as_bytes()).unwrap();
        assert_eq!(
            reread.access_token.expose_secret(),
            "page-token-very-secret"
        );
        assert_eq!(reread.scope.as_deref(), Some("pages_manage_posts"));
        assert!(!format!("{back:?}").contains("very-secret"));
    }
}
