//! Connecting an account through OAuth: start (a state kept ten minutes, PKCE where the platform takes it) and the
//! callback (the state consumed exactly once, the code exchanged, the tokens sealed, the account stored).

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::ids::random_token;
use crate::domain::records::OAUTH_STATE_TTL;
use crate::domain::{
    Account, AccountId, AccountStatus, AuditEntry, OAuthState, PlatformKind, WorkspaceId,
};
use crate::error::{Error, Result};
use crate::platforms::{oauth, AuthorizeRequest, CodeExchange};

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
}

impl App {
    pub async fn start_connect(
        &self,
        ws: &WorkspaceId,
        platform: PlatformKind,
    ) -> Result<ConnectStart> {
        let adapter = self
            .platforms
            .get(platform)
            .ok_or(Error::PlatformDisabled(platform))?;
        let state = random_token(32);
        let verifier = adapter.uses_pkce().then(oauth::new_pkce_verifier);
        let redirect_uri = self.settings.redirect_uri(platform);
        let url = adapter
            .authorize_url(&AuthorizeRequest {
                state: &state,
                redirect_uri: &redirect_uri,
                pkce_verifier: verifier.as_deref(),
            })
            .map_err(Error::Platform)?;
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
            })
            .await?;
        Ok(ConnectStart {
            authorize_url: url.to_string(),
            state,
            expires_at,
        })
    }

    pub async fn complete_connect(
        &self,
        platform: PlatformKind,
        params: &CallbackParams,
    ) -> Result<ConnectOutcome, CallbackError> {
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
            .filter(|s| s.platform == platform)
            .ok_or(CallbackError::BadState)?;
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
            })
            .await
            .map_err(|e| CallbackError::Exchange(e.to_string()))?;
        let mut accounts = Vec::new();
        for c in connections {
            let now = self.now();
            let candidate = Account {
                id: AccountId::generate(),
                workspace_id: stored.workspace_id.clone(),
                platform,
                profile: c.profile,
                status: AccountStatus::Active,
                settings: c.settings,
                token_expires_at: c.tokens.expires_at,
                created_at: now,
                updated_at: now,
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
        Ok(ConnectOutcome {
            workspace_id: stored.workspace_id,
            accounts,
            return_url: stored.return_url,
        })
    }
}
