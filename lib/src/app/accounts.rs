//! Connected accounts: reading them, and stopping one (disconnect, reauth, revocation, deletion).

use super::App;
use crate::domain::{Account, AccountId, AccountStatus, AuditEntry, DeliveryError, WorkspaceId};
use crate::error::{Error, Result};
use crate::ports::StoreError;

impl App {
    pub async fn list_accounts(&self, ws: &WorkspaceId) -> Result<Vec<Account>> {
        let mut accounts = self.stores.accounts.list_accounts(ws).await?;
        accounts.retain(|a| a.status != AccountStatus::Deleted);
        Ok(accounts)
    }

    pub async fn get_account(&self, ws: &WorkspaceId, id: &AccountId) -> Result<Account> {
        self.stores
            .accounts
            .get_account(ws, id)
            .await?
            .filter(|a| a.status != AccountStatus::Deleted)
            .ok_or(Error::NotFound("account"))
    }

    /// What the account may choose when posting, as its platform says now (TikTok's creator info), for a client's
    /// posting screen; `None` where the platform has nothing to show. Tokens due for a refresh are refreshed first.
    pub async fn account_options(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
    ) -> Result<Option<serde_json::Value>> {
        let account = self.get_account(ws, id).await?;
        let platform = self
            .platforms
            .get(account.platform)
            .ok_or(Error::PlatformDisabled(account.platform))?;
        if account.status != AccountStatus::Active {
            return Err(Error::Conflict {
                code: "account_not_active",
                message: format!(
                    "the account is {} and must be connected again",
                    account.status.as_str()
                ),
            });
        }
        let sealed = self
            .stores
            .accounts
            .get_tokens(&account.workspace_id, &account.id)
            .await?;
        let current = match self.tokens_for_publish(&account, sealed).await {
            Ok(c) => c,
            Err(super::tokens::TokenProblem::Reauth(why)) => {
                return Err(Error::Conflict {
                    code: "account_not_active",
                    message: format!("the account must be connected again: {why}"),
                })
            }
            Err(super::tokens::TokenProblem::Unavailable(m)) => return Err(Error::Unavailable(m)),
        };
        platform
            .creator_options(&account, &current.tokens)
            .await
            .map_err(Error::Platform)
    }

    /// Disconnects an account at its owner's request: revoke at the platform where it offers an endpoint, delete the
    /// tokens, cancel pending deliveries, and keep only a scrubbed record so past deliveries still make sense. `by` is
    /// who asked, for the audit log (none when the workspace is being erased).
    pub async fn disconnect_account(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
        by: Option<crate::domain::ActedBy>,
    ) -> Result<Account> {
        let account = self.get_account(ws, id).await?;
        let mut revoked_at_platform = false;
        if let (Some(platform), Ok(Some(current))) = (
            self.platforms.get(account.platform),
            self.current_tokens(&account).await,
        ) {
            match platform.revoke(&account, &current.tokens).await {
                Ok(()) => revoked_at_platform = true,
                Err(e) => {
                    tracing::warn!(account = %account.id, error = %e, "revocation at the platform failed; deleting locally")
                }
            }
        }
        self.stores.accounts.delete_tokens(ws, id).await?;
        let canceled = self
            .cancel_pending_deliveries(
                &account,
                DeliveryError::new("account_disconnected", "the account was disconnected"),
            )
            .await;
        let scrubbed = self
            .set_account_status(&account, AccountStatus::Deleted, true)
            .await?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "account.disconnected",
                serde_json::json!({"platform": account.platform, "revoked_at_platform": revoked_at_platform, "deliveries_canceled": canceled}),
            )
            .account(id)
            .acted_by(by),
        )
        .await;
        Ok(scrubbed)
    }

    /// Writes a new status (optionally scrubbing the profile), retrying on concurrent changes.
    pub(crate) async fn set_account_status(
        &self,
        account: &Account,
        status: AccountStatus,
        scrub: bool,
    ) -> Result<Account> {
        for _ in 0..5 {
            let current = self
                .stores
                .accounts
                .get_account(&account.workspace_id, &account.id)
                .await?
                .ok_or(Error::NotFound("account"))?;
            let next = if scrub {
                current.scrubbed(status, self.now())
            } else {
                let mut n = current.clone();
                n.status = status;
                n.updated_at = self.now();
                n.version += 1;
                n
            };
            match self
                .stores
                .accounts
                .update_account(&next, current.version)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::conflict(
            "conflict",
            "the account kept changing; try again",
        ))
    }

    /// Cancels every scheduled or queued delivery of an account. Returns how many were canceled.
    pub(crate) async fn cancel_pending_deliveries(
        &self,
        account: &Account,
        reason: DeliveryError,
    ) -> usize {
        self.stop_pending_deliveries(account, |d, now| d.cancel(reason.clone(), now).ok())
            .await
    }

    /// Fails every scheduled or queued delivery of an account (its grant is gone). Returns how many.
    pub(crate) async fn fail_pending_deliveries(
        &self,
        account: &Account,
        error: DeliveryError,
    ) -> usize {
        self.stop_pending_deliveries(account, |d, now| d.fail_pending(error.clone(), now).ok())
            .await
    }

    async fn stop_pending_deliveries<F>(&self, account: &Account, stop: F) -> usize
    where
        F: Fn(
            &crate::domain::Delivery,
            chrono::DateTime<chrono::Utc>,
        ) -> Option<crate::domain::Delivery>,
    {
        let mut stopped = 0;
        for _round in 0..3 {
            let live = match self
                .stores
                .posts
                .live_deliveries_for_account(&account.workspace_id, &account.id)
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(account = %account.id, error = %e, "could not list deliveries to stop");
                    return stopped;
                }
            };
            let mut conflicts = 0;
            for d in live {
                let Some(next) = stop(&d, self.now()) else {
                    continue;
                };
                match self.stores.posts.save_delivery(&next, d.version).await {
                    Ok(()) => stopped += 1,
                    Err(StoreError::Conflict) => conflicts += 1,
                    Err(e) => {
                        tracing::warn!(delivery = %d.key(), error = %e, "could not stop a delivery")
                    }
                }
            }
            if conflicts == 0 {
                break;
            }
        }
        stopped
    }
}
