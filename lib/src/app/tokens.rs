//! Reading, sealing and refreshing an account's tokens. Refreshes of one account are serialized by a conditional
//! write on the token item's version: a refresher that loses the race reads the winner's tokens instead of
//! refreshing again (platforms that rotate refresh tokens invalidate the old one).
//!
//! Serializing the write is not enough on its own: with rotating refresh tokens, the loser's own call to the platform
//! presents a refresh token the winner has just spent, and the platform answers that the grant is gone. So refreshes
//! of one account also take turns within a process, each first re-reading the stored tokens and using a newer set if
//! there is one; and a refresh the platform refuses looks once more (after a moment, for a refresher in another
//! process) before the account is marked as needing to be connected again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::App;
use crate::domain::{
    Account, AccountId, AccountStatus, AuditEntry, DeliveryError, Event, EventKind, SealedTokens,
    TokenSet,
};
use crate::error::{Error, Result};
use crate::ports::PlatformError;
use crate::ports::StoreError;

/// Tokens in the clear with the stored version they were read at.
pub struct CurrentTokens {
    pub tokens: TokenSet,
    pub version: u64,
}

/// How long a refused refresh waits for a refresher in another process to store the tokens it rotated to.
const ROTATION_GRACE: Duration = Duration::from_secs(1);

/// One lock per account, so that refreshes of one account in this process take turns.
#[derive(Default)]
pub(crate) struct RefreshTurns(Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshTurns {
    fn of(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the turns nobody is waiting for, so the map stays as small as the refreshes in flight.
        map.retain(|_, turn| Arc::strong_count(turn) > 1);
        map.entry(account.clone()).or_default().clone()
    }
}

/// Why tokens could not be had.
#[derive(Debug)]
pub enum TokenProblem {
    /// The account must be reconnected (already marked and its deliveries failed).
    Reauth(String),
    /// Try again later.
    Unavailable(String),
}

impl App {
    /// Seals and stores a new token set for an account, overwriting what was there.
    pub(crate) async fn store_tokens(&self, account: &Account, tokens: &TokenSet) -> Result<()> {
        let version = self
            .stores
            .accounts
            .get_tokens(&account.workspace_id, &account.id)
            .await?
            .map(|t| t.version + 1)
            .unwrap_or(1);
        let ciphertext = self
            .vault
            .seal(&account.workspace_id, &account.id, tokens)
            .await?;
        let sealed = SealedTokens {
            ciphertext,
            version,
            expires_at: tokens.expires_at,
        };
        self.stores
            .accounts
            .put_tokens(&account.workspace_id, &account.id, &sealed, None)
            .await?;
        Ok(())
    }

    pub(crate) async fn current_tokens(&self, account: &Account) -> Result<Option<CurrentTokens>> {
        let sealed = self
            .stores
            .accounts
            .get_tokens(&account.workspace_id, &account.id)
            .await?;
        self.open_tokens(account, sealed).await
    }

    /// Opens tokens already read from the store (the publisher reads them with the delivery).
    pub(crate) async fn open_tokens(
        &self,
        account: &Account,
        sealed: Option<SealedTokens>,
    ) -> Result<Option<CurrentTokens>> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let tokens = self
            .vault
            .open(&account.workspace_id, &account.id, &sealed.ciphertext)
            .await?;
        Ok(Some(CurrentTokens {
            tokens,
            version: sealed.version,
        }))
    }

    /// The stored tokens, if they are newer than `version` (someone refreshed or reconnected since).
    async fn newer_tokens(
        &self,
        account: &Account,
        version: u64,
    ) -> Result<Option<CurrentTokens>, TokenProblem> {
        match self.current_tokens(account).await {
            Ok(Some(t)) if t.version != version => Ok(Some(t)),
            Ok(Some(_)) => Ok(None),
            Ok(None) => Err(TokenProblem::Reauth(
                "the account's tokens were removed".into(),
            )),
            Err(e) => Err(TokenProblem::Unavailable(e.to_string())),
        }
    }

    /// Refreshes an account's tokens, which were `current` when the caller read them, serialized against other
    /// refreshers. Returns the tokens to use: a newer set someone else stored meanwhile, or a fresh one.
    pub(crate) async fn refresh_tokens(
        &self,
        account: &Account,
        current: &CurrentTokens,
    ) -> Result<CurrentTokens, TokenProblem> {
        let platform = self.platforms.get(account.platform).ok_or_else(|| {
            TokenProblem::Unavailable(format!("{} is not enabled", account.platform))
        })?;
        let turn = self.refresh_turns.of(&account.id);
        let _turn = turn.lock().await;
        if let Some(newer) = self.newer_tokens(account, current.version).await? {
            return Ok(newer);
        }
        match platform.refresh(account, &current.tokens).await {
            Ok(fresh) => {
                let ciphertext = self
                    .vault
                    .seal(&account.workspace_id, &account.id, &fresh)
                    .await
                    .map_err(|e| TokenProblem::Unavailable(e.to_string()))?;
                let sealed = SealedTokens {
                    ciphertext,
                    version: current.version + 1,
                    expires_at: fresh.expires_at,
                };
                match self
                    .stores
                    .accounts
                    .put_tokens(
                        &account.workspace_id,
                        &account.id,
                        &sealed,
                        Some(current.version),
                    )
                    .await
                {
                    Ok(()) => {
                        self.note_token_expiry(account, fresh.expires_at).await;
                        self.audit(
                            AuditEntry::new(
                                account.workspace_id.clone(),
                                self.now(),
                                "token.refreshed",
                                serde_json::json!({"platform": account.platform, "expires_at": fresh.expires_at}),
                            )
                            .account(&account.id),
                        )
                        .await;
                        Ok(CurrentTokens {
                            tokens: fresh,
                            version: current.version + 1,
                        })
                    }
                    // Someone else refreshed first: theirs is the current set.
                    Err(StoreError::Conflict) => match self.current_tokens(account).await {
                        Ok(Some(t)) => Ok(t),
                        Ok(None) => Err(TokenProblem::Reauth(
                            "the account's tokens were removed".into(),
                        )),
                        Err(e) => Err(TokenProblem::Unavailable(e.to_string())),
                    },
                    Err(e) => Err(TokenProblem::Unavailable(e.to_string())),
                }
            }
            Err(PlatformError::Reauth(reason)) => {
                // A refresher in another process may have spent this refresh token a moment ago.
                for pause in [Duration::ZERO, ROTATION_GRACE] {
                    tokio::time::sleep(pause).await;
                    if let Some(newer) = self.newer_tokens(account, current.version).await? {
                        return Ok(newer);
                    }
                }
                self.audit(
                    AuditEntry::new(
                        account.workspace_id.clone(),
                        self.now(),
                        "token.refresh_failed",
                        serde_json::json!({"platform": account.platform, "reason": reason}),
                    )
                    .account(&account.id),
                )
                .await;
                self.mark_needs_reauth(account, &reason).await;
                Err(TokenProblem::Reauth(reason))
            }
            Err(other) => {
                self.audit(
                    AuditEntry::new(
                        account.workspace_id.clone(),
                        self.now(),
                        "token.refresh_failed",
                        serde_json::json!({"platform": account.platform, "reason": other.to_string()}),
                    )
                    .account(&account.id),
                )
                .await;
                Err(TokenProblem::Unavailable(other.to_string()))
            }
        }
    }

    async fn note_token_expiry(
        &self,
        account: &Account,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        for _ in 0..3 {
            let Ok(Some(mut fresh)) = self
                .stores
                .accounts
                .get_account(&account.workspace_id, &account.id)
                .await
            else {
                return;
            };
            let expected = fresh.version;
            fresh.token_expires_at = expires_at;
            fresh.updated_at = self.now();
            fresh.version += 1;
            match self.stores.accounts.update_account(&fresh, expected).await {
                Err(StoreError::Conflict) => continue,
                _ => return,
            }
        }
    }

    /// The grant is gone: the account needs reconnecting, its pending deliveries fail with a clear error, and
    /// `account.needs_reauth` is emitted.
    pub(crate) async fn mark_needs_reauth(&self, account: &Account, reason: &str) {
        let now = self.now();
        for _ in 0..3 {
            let Ok(Some(current)) = self
                .stores
                .accounts
                .get_account(&account.workspace_id, &account.id)
                .await
            else {
                break;
            };
            if current.status != AccountStatus::Active {
                break;
            }
            let mut next = current.clone();
            next.status = AccountStatus::NeedsReauth;
            next.updated_at = now;
            next.version += 1;
            match self
                .stores
                .accounts
                .update_account(&next, current.version)
                .await
            {
                Err(StoreError::Conflict) => continue,
                _ => break,
            }
        }
        let error = DeliveryError::new(
            "needs_reauth",
            format!(
                "the {} account must be connected again: {reason}",
                account.platform
            ),
        );
        let failed = self.fail_pending_deliveries(account, error).await;
        self.emit(vec![Event::new(
            EventKind::AccountNeedsReauth,
            Some(account.workspace_id.clone()),
            now,
            serde_json::json!({"account_id": account.id, "platform": account.platform, "deliveries_failed": failed}),
        )])
        .await;
    }

    /// Tokens for publishing: refreshed first when they expire within the margin.
    pub(crate) async fn tokens_for_publish(
        &self,
        account: &Account,
        sealed: Option<SealedTokens>,
    ) -> Result<CurrentTokens, TokenProblem> {
        let current = match self.open_tokens(account, sealed).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(TokenProblem::Reauth(
                    "no tokens are stored for this account".into(),
                ))
            }
            Err(Error::Unavailable(m)) => return Err(TokenProblem::Unavailable(m)),
            Err(e) => return Err(TokenProblem::Unavailable(e.to_string())),
        };
        let margin =
            chrono::Duration::from_std(self.settings.publisher.refresh_margin).unwrap_or_default();
        if current.tokens.expires_within(self.now(), margin)
            && current.tokens.refresh_token.is_some()
        {
            return self.refresh_tokens(account, &current).await;
        }
        Ok(current)
    }
}
