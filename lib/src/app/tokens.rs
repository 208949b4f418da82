//! Reading, sealing and refreshing an account's tokens. Refreshes of one account are serialized by a conditional
//! write on the token item's version: a refresher that loses the race reads the winner's tokens instead of
//! refreshing again (platforms that rotate refresh tokens invalidate the old one).

use super::App;
use crate::domain::{
    Account, AccountStatus, AuditEntry, DeliveryError, Event, EventKind, SealedTokens, TokenSet,
};
use crate::error::{Error, Result};
use crate::platforms::PlatformError;
use crate::ports::StoreError;

/// Tokens in the clear with the stored version they were read at.
pub struct CurrentTokens {
    pub tokens: TokenSet,
    pub version: u64,
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

    /// Refreshes an account's tokens once, serialized against other refreshers. Returns the tokens to use.
    pub(crate) async fn refresh_tokens(
        &self,
        account: &Account,
        current: &CurrentTokens,
    ) -> Result<TokenSet, TokenProblem> {
        let platform = self.platforms.get(account.platform).ok_or_else(|| {
            TokenProblem::Unavailable(format!("{} is not enabled", account.platform))
        })?;
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
                        Ok(fresh)
                    }
                    // Someone else refreshed first: theirs is the current set.
                    Err(StoreError::Conflict) => match self.current_tokens(account).await {
                        Ok(Some(t)) => Ok(t.tokens),
                        Ok(None) => Err(TokenProblem::Reauth(
                            "the account's tokens were removed".into(),
                        )),
                        Err(e) => Err(TokenProblem::Unavailable(e.to_string())),
                    },
                    Err(e) => Err(TokenProblem::Unavailable(e.to_string())),
                }
            }
            Err(PlatformError::Reauth(reason)) => {
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
            let version = current.version;
            let tokens = self.refresh_tokens(account, &current).await?;
            return Ok(CurrentTokens {
                tokens,
                version: version + 1,
            });
        }
        Ok(current)
    }
}
