//! The token refresher: refreshes tokens ahead of expiry (the token-refresher function on AWS, a daily task in
//! `postora serve`).

use serde::Serialize;

use super::App;
use crate::error::Result;

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RefreshReport {
    pub examined: usize,
    pub refreshed: usize,
    pub needs_reauth: usize,
    pub failed: usize,
}

impl App {
    /// Refreshes every active account whose token is due for a refresh within `window`.
    pub async fn refresh_expiring(&self, window: chrono::Duration) -> Result<RefreshReport> {
        let now = self.now();
        let accounts = self
            .stores
            .accounts
            .accounts_expiring_before(now + window, 10_000)
            .await?;
        let mut report = RefreshReport::default();
        for account in accounts {
            report.examined += 1;
            let Some(platform) = self.platforms.get(account.platform) else {
                continue;
            };
            let current = match self.current_tokens(&account).await {
                Ok(Some(t)) => t,
                _ => {
                    report.failed += 1;
                    continue;
                }
            };
            let due = platform.refresh_due(&current.tokens);
            if due.is_some_and(|d| d > now + window) {
                continue;
            }
            match self.refresh_tokens(&account, &current).await {
                Ok(_) => report.refreshed += 1,
                Err(super::tokens::TokenProblem::Reauth(_)) => report.needs_reauth += 1,
                Err(super::tokens::TokenProblem::Unavailable(reason)) => {
                    tracing::warn!(account = %account.id, %reason, "token refresh failed; will try again");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }
}
