//! The token refresher under load: a platform whose token endpoint counts refreshes and how many are in flight, and
//! accounts due for a refresh, seeded straight into the stores.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use secrecy::SecretString;

use postora::app::App;
use postora::domain::{
    Account, AccountId, AccountStatus, PlatformKind, Profile, SealedTokens, TokenSet, WorkspaceId,
};
use postora::ports::{
    AuthorizeRequest, CodeExchange, Connection, Platform, PlatformError, Platforms, Progress,
    PublishJob, Published, Recovery,
};

/// A sandbox-kind platform that only refreshes: each refresh waits `pause`, then answers a token good for 60 days.
pub struct CountingTokenEndpoint {
    pause: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    per_account: Mutex<HashMap<AccountId, usize>>,
}

impl CountingTokenEndpoint {
    pub fn new(pause: Duration) -> Arc<Self> {
        Arc::new(CountingTokenEndpoint {
            pause,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            per_account: Mutex::new(HashMap::new()),
        })
    }

    /// The most refreshes the endpoint saw at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Refreshes per account.
    pub fn refreshes(&self) -> HashMap<AccountId, usize> {
        self.per_account.lock().unwrap().clone()
    }

    pub fn platforms(self: &Arc<Self>) -> Platforms {
        Platforms::new().with(self.clone())
    }
}

#[async_trait]
impl Platform for CountingTokenEndpoint {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Sandbox
    }

    fn authorize_url(&self, _request: &AuthorizeRequest<'_>) -> Result<url::Url, PlatformError> {
        Err(PlatformError::Rejected("refreshes only".into()))
    }

    async fn exchange_code(
        &self,
        _exchange: &CodeExchange<'_>,
    ) -> Result<Vec<Connection>, PlatformError> {
        Err(PlatformError::Rejected("refreshes only".into()))
    }

    async fn refresh(
        &self,
        account: &Account,
        _tokens: &TokenSet,
    ) -> Result<TokenSet, PlatformError> {
        let now_in = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now_in, Ordering::SeqCst);
        tokio::time::sleep(self.pause).await;
        *self
            .per_account
            .lock()
            .unwrap()
            .entry(account.id.clone())
            .or_default() += 1;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let now = Utc::now();
        Ok(TokenSet {
            access_token: SecretString::from(format!("fresh-{}", uuid::Uuid::new_v4())),
            refresh_token: Some(SecretString::from(format!("r-{}", uuid::Uuid::new_v4()))),
            expires_at: Some(now + chrono::Duration::days(60)),
            refresh_expires_at: None,
            scope: None,
            issued_at: now,
            dpop_key: None,
        })
    }

    async fn publish(
        &self,
        _job: &PublishJob<'_>,
        _progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        Err(PlatformError::Rejected("refreshes only".into()))
    }

    async fn recover(&self, _job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        Err(PlatformError::Rejected("refreshes only".into()))
    }
}

/// Stores `n` active sandbox accounts in `ws` whose tokens (issued 59 days ago) expire within the hour, so every one
/// is due for a refresh. Returns their ids.
pub async fn seed_due_accounts(app: &App, ws: &WorkspaceId, n: usize) -> Vec<AccountId> {
    let now = Utc::now();
    let expires = now + chrono::Duration::minutes(30);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let account = Account {
            id: AccountId::generate(),
            workspace_id: ws.clone(),
            platform: PlatformKind::Sandbox,
            profile: Profile {
                platform_user_id: format!("due-{i}-{}", uuid::Uuid::new_v4().simple()),
                username: None,
                display_name: None,
                picture_url: None,
                biography: None,
                granted_by: None,
            },
            status: AccountStatus::Active,
            settings: serde_json::json!({}),
            token_expires_at: Some(expires),
            created_at: now,
            updated_at: now,
            connected_at: Some(now),
            version: 1,
        };
        let account = app.stores.accounts.upsert_account(&account).await.unwrap();
        let tokens = TokenSet {
            access_token: SecretString::from(format!("old-{i}")),
            refresh_token: Some(SecretString::from(format!("old-r-{i}"))),
            expires_at: Some(expires),
            refresh_expires_at: None,
            scope: None,
            issued_at: now - chrono::Duration::days(59),
            dpop_key: None,
        };
        let ciphertext = app.vault.seal(ws, &account.id, &tokens).await.unwrap();
        let sealed = SealedTokens {
            ciphertext,
            version: 1,
            expires_at: Some(expires),
        };
        app.stores
            .accounts
            .put_tokens(ws, &account.id, &sealed, None)
            .await
            .unwrap();
        ids.push(account.id);
    }
    ids
}
