//! Meta's data-deletion and deauthorize callbacks, as use cases. A callback names one person by the app-scoped id
//! Meta gave them; every account that person granted Postora access to, in every workspace, is affected.
//!
//! Deletion keeps only what is needed to answer the same request again and to explain the past to the workspace: a
//! scrubbed account row (the platform's ids and the status `deleted`), audit entries reduced to what happened and
//! when, and the request itself with its confirmation code. Tokens, profile data and pending deliveries go.
//! Every step can run again: a repeated request, or one cut short, finishes the work and gives the same answer.
//!
//! A callback acts only on grants that existed when it was issued: an account connected again after the callback's
//! `issued_at` is a new grant the callback cannot be about, so a replayed deauthorize or deletion request leaves it
//! alone (the verifier has already refused requests issued more than
//! [`MAX_AGE`](crate::crypto::signed_request::MAX_AGE) ago).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::ids::random_token;
use crate::domain::{
    Account, AccountId, AccountStatus, AuditEntry, DeletionRequest, DeletionStatus, DeliveryError,
    Event, EventKind, PlatformKind, WorkspaceId,
};
use crate::error::Result;

/// Which Meta app a callback comes from, and so which platforms the user it names has accounts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackSource {
    /// The Meta app: Facebook Login (Pages, and Instagram accounts linked to them) and Instagram.
    Meta,
    /// The Threads app, which has its own secret and callbacks.
    Threads,
}

impl CallbackSource {
    /// The platforms whose accounts the callback's user may have granted.
    pub fn platforms(self) -> &'static [PlatformKind] {
        match self {
            CallbackSource::Meta => &[PlatformKind::Facebook, PlatformKind::Instagram],
            CallbackSource::Threads => &[PlatformKind::Threads],
        }
    }

    /// The platform a deletion request from this source is recorded under: one per source, so the same person's
    /// request is found again.
    pub fn recorded_as(self) -> PlatformKind {
        match self {
            CallbackSource::Meta => PlatformKind::Facebook,
            CallbackSource::Threads => PlatformKind::Threads,
        }
    }

    /// The source of a recorded request.
    pub fn of_recorded(platform: PlatformKind) -> Self {
        if platform == PlatformKind::Threads {
            CallbackSource::Threads
        } else {
            CallbackSource::Meta
        }
    }

    /// What a person knows the source as.
    pub fn label(self) -> &'static str {
        match self {
            CallbackSource::Meta => "Facebook or Instagram",
            CallbackSource::Threads => "Threads",
        }
    }
}

/// The reason code a delivery canceled by a data-deletion request carries.
pub const DATA_DELETION: &str = "data_deletion";
/// The reason code a delivery canceled by a deauthorize callback carries.
pub const DEAUTHORIZED: &str = "deauthorized";

/// What an audit entry about a deleted account keeps of its detail.
fn redacted_detail() -> serde_json::Value {
    serde_json::json!({ "redacted": DATA_DELETION })
}

/// A confirmation code: 128 random bits as 32 hexadecimal characters (alphanumeric, as Meta asks; unguessable, as
/// it is the only key to the status page).
fn new_confirmation_code() -> String {
    random_token(16)
}

/// Whether `code` could be a confirmation code. Anything else is answered "not found" without a lookup.
pub fn is_confirmation_code(code: &str) -> bool {
    (16..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What a deauthorize callback did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deauthorized {
    pub accounts_revoked: usize,
    pub deliveries_canceled: usize,
}

impl App {
    /// Meta's data-deletion callback: records the request (or finds the one already recorded for this person), then
    /// deletes the tokens, cancels the pending deliveries with reason `data_deletion`, marks each account deleted and
    /// scrubs its profile, and reduces its audit entries to what happened and when. Emits `deletion.completed`.
    /// Accounts connected again after `issued_at` are left alone: the request is about an earlier grant.
    pub async fn request_data_deletion(
        &self,
        source: CallbackSource,
        user_id: &str,
        issued_at: DateTime<Utc>,
    ) -> Result<DeletionRequest> {
        let candidate = DeletionRequest {
            confirmation_code: new_confirmation_code(),
            platform: source.recorded_as(),
            platform_user_id: user_id.to_owned(),
            status: DeletionStatus::Received,
            received_at: self.now(),
            completed_at: None,
            accounts_deleted: 0,
            deliveries_canceled: 0,
        };
        let request = self.stores.records.put_deletion_request(&candidate).await?;
        let accounts = self
            .accounts_granted_before(source, user_id, issued_at)
            .await?;
        let mut newly_deleted: BTreeMap<WorkspaceId, Vec<AccountId>> = BTreeMap::new();
        let mut canceled = 0;
        for account in &accounts {
            let (was_deleted_now, n) = self.delete_account_data(account).await?;
            canceled += n;
            if was_deleted_now {
                newly_deleted
                    .entry(account.workspace_id.clone())
                    .or_default()
                    .push(account.id.clone());
            }
        }
        if request.status == DeletionStatus::Completed && newly_deleted.is_empty() && canceled == 0
        {
            return Ok(request);
        }
        let done = DeletionRequest {
            status: DeletionStatus::Completed,
            completed_at: Some(self.now()),
            accounts_deleted: u32::try_from(accounts.len()).unwrap_or(u32::MAX),
            deliveries_canceled: request
                .deliveries_canceled
                .saturating_add(u32::try_from(canceled).unwrap_or(u32::MAX)),
            ..request
        };
        self.stores.records.update_deletion_request(&done).await?;
        tracing::info!(
            confirmation_code = %done.confirmation_code,
            source = source.label(),
            accounts = accounts.len(),
            deliveries_canceled = canceled,
            "a data-deletion request was carried out"
        );
        self.emit(deletion_events(&done, &newly_deleted, canceled, self.now()))
            .await;
        Ok(done)
    }

    /// Meta's deauthorize callback: the person removed Postora at the platform. Their accounts are marked revoked,
    /// their tokens deleted and their pending deliveries canceled; the profiles stay, so the workspace can see which
    /// account needs connecting again. Accounts connected again after `issued_at` are left alone: the person removed
    /// an earlier grant, not the one they gave since.
    pub async fn deauthorize_platform_user(
        &self,
        source: CallbackSource,
        user_id: &str,
        issued_at: DateTime<Utc>,
    ) -> Result<Deauthorized> {
        let mut outcome = Deauthorized::default();
        for account in self
            .accounts_granted_before(source, user_id, issued_at)
            .await?
        {
            // A deleted account stays deleted; only its tokens are checked once more.
            if account.status != AccountStatus::Deleted {
                if account.status != AccountStatus::Revoked {
                    self.set_account_status(&account, AccountStatus::Revoked, false)
                        .await?;
                    outcome.accounts_revoked += 1;
                }
                let canceled = self
                    .cancel_pending_deliveries(
                        &account,
                        DeliveryError::new(
                            DEAUTHORIZED,
                            format!("Postora's access was removed at {}", account.platform),
                        ),
                    )
                    .await;
                outcome.deliveries_canceled += canceled;
                self.audit(
                    AuditEntry::new(
                        account.workspace_id.clone(),
                        self.now(),
                        "account.revoked",
                        serde_json::json!({"platform": account.platform, "reason": DEAUTHORIZED, "deliveries_canceled": canceled}),
                    )
                    .account(&account.id),
                )
                .await;
            }
            self.stores
                .accounts
                .delete_tokens(&account.workspace_id, &account.id)
                .await?;
        }
        tracing::info!(
            source = source.label(),
            accounts_revoked = outcome.accounts_revoked,
            deliveries_canceled = outcome.deliveries_canceled,
            "a deauthorize callback was carried out"
        );
        Ok(outcome)
    }

    /// A recorded deletion request, for its status page.
    pub async fn deletion_request(&self, code: &str) -> Result<Option<DeletionRequest>> {
        if !is_confirmation_code(code) {
            return Ok(None);
        }
        Ok(self.stores.records.get_deletion_request(code).await?)
    }

    /// The accounts `user_id` granted access to whose current grant began no later than `issued_at`, the time the
    /// callback about them was issued.
    async fn accounts_granted_before(
        &self,
        source: CallbackSource,
        user_id: &str,
        issued_at: DateTime<Utc>,
    ) -> Result<Vec<Account>> {
        let mut accounts = Vec::new();
        for platform in source.platforms() {
            accounts.extend(
                self.stores
                    .accounts
                    .accounts_by_platform_user(*platform, user_id)
                    .await?,
            );
        }
        accounts.retain(|account| {
            let concerned = account.callback_concerns_current_grant(issued_at);
            if !concerned {
                tracing::info!(
                    source = source.label(),
                    account_id = %account.id,
                    %issued_at,
                    connected_at = %account.connected_since(),
                    "a callback issued before the account was connected again leaves it alone"
                );
            }
            concerned
        });
        Ok(accounts)
    }

    /// Deletes one account's data. The account is marked deleted first, so no publisher starts on it while its
    /// deliveries are canceled and its tokens removed. Returns whether this call deleted it (rather than an earlier
    /// one) and how many deliveries it canceled.
    async fn delete_account_data(&self, account: &Account) -> Result<(bool, usize)> {
        let newly = account.status != AccountStatus::Deleted;
        if newly {
            self.set_account_status(account, AccountStatus::Deleted, true)
                .await?;
        }
        let canceled = self
            .cancel_pending_deliveries(
                account,
                DeliveryError::new(
                    DATA_DELETION,
                    "the account's owner asked the platform to delete their data",
                ),
            )
            .await;
        self.stores
            .accounts
            .delete_tokens(&account.workspace_id, &account.id)
            .await?;
        self.stores
            .records
            .redact_audit(&account.workspace_id, &account.id, &redacted_detail())
            .await?;
        if newly || canceled > 0 {
            self.audit(
                AuditEntry::new(
                    account.workspace_id.clone(),
                    self.now(),
                    "account.deleted",
                    serde_json::json!({"platform": account.platform, "reason": DATA_DELETION, "deliveries_canceled": canceled}),
                )
                .account(&account.id),
            )
            .await;
        }
        Ok((newly, canceled))
    }
}

/// One `deletion.completed` per workspace that lost an account, so each workspace's subscribers hear of it; one
/// without a workspace when the person had nothing here.
fn deletion_events(
    request: &DeletionRequest,
    deleted: &BTreeMap<WorkspaceId, Vec<AccountId>>,
    canceled: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Event> {
    let detail = |accounts: &[AccountId]| {
        serde_json::json!({
            "confirmation_code": request.confirmation_code,
            "source": CallbackSource::of_recorded(request.platform).label(),
            "accounts": accounts,
            "deliveries_canceled": canceled,
        })
    };
    if deleted.is_empty() {
        return vec![Event::new(
            EventKind::DeletionCompleted,
            None,
            now,
            detail(&[]),
        )];
    }
    deleted
        .iter()
        .map(|(ws, accounts)| {
            Event::new(
                EventKind::DeletionCompleted,
                Some(ws.clone()),
                now,
                detail(accounts),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_codes_are_long_random_and_alphanumeric() {
        let a = new_confirmation_code();
        let b = new_confirmation_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(is_confirmation_code(&a));
        assert!(!is_confirmation_code("short"));
        assert!(!is_confirmation_code(&format!("{a}-")));
        assert!(!is_confirmation_code(&"a".repeat(65)));
    }

    #[test]
    fn a_meta_request_is_recorded_once_for_facebook_and_instagram() {
        assert_eq!(
            CallbackSource::of_recorded(CallbackSource::Meta.recorded_as()),
            CallbackSource::Meta
        );
        assert_eq!(
            CallbackSource::of_recorded(CallbackSource::Threads.recorded_as()),
            CallbackSource::Threads
        );
        assert!(CallbackSource::Meta
            .platforms()
            .contains(&PlatformKind::Instagram));
    }
}
