//! The token refresher: refreshes tokens ahead of expiry (the token-refresher function on AWS, a daily task in
//! `postora serve`).
//!
//! A run pages through the accounts whose tokens expire within its window, soonest first, and refreshes those due
//! with a bounded number of refreshes in flight, however many there are. Refreshes of one account still take turns
//! (`App::refresh_tokens`), and an account is examined at most once per run, although a refresh moves it further
//! along the expiry listing. A run given a deadline stops starting refreshes before it, lets those in flight finish,
//! and reports what it left: the next run starts again from the soonest expiry, so it picks them up first.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::App;
use crate::domain::{Account, AccountId};
use crate::error::Result;

/// Accounts read per store request.
pub const REFRESH_PAGE_SIZE: usize = 200;
/// How long before a grant's end (LinkedIn's year) the workspace is told, through `account.grant_expiring`.
pub const GRANT_WARNING: chrono::Duration = chrono::Duration::days(7);
/// Refreshes in flight at once: each is a platform call, a store read and a conditional write.
pub const REFRESH_CONCURRENCY: usize = 16;

/// The token-refresher function's timeout (`Timeout` in `template.yaml`): the time budget of a run on Lambda.
pub const LAMBDA_RUN_BUDGET: Duration = Duration::from_secs(900);
/// A run on Lambda starts no refresh in its last 90 seconds: a refresh is one platform call (at most
/// `POSTORA_HTTP_TIMEOUT_SECS`, 30 s by default) and a few store writes, so those in flight finish and the report is
/// written before Lambda ends the invocation.
pub const LAMBDA_STOP_MARGIN: Duration = Duration::from_secs(90);

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RefreshReport {
    /// Accounts whose tokens expire within the window, examined this run.
    pub examined: usize,
    pub refreshed: usize,
    pub needs_reauth: usize,
    pub failed: usize,
    /// Accounts read but not examined because the run reached its deadline.
    pub deferred: usize,
    /// Whether the run reached the end of the listing. `false`: it stopped at its deadline, and more accounts than
    /// `deferred` may be left; the next run picks them up, soonest expiry first.
    pub complete: bool,
    /// The most refreshes that were in flight at once.
    pub peak_in_flight: usize,
}

/// How a run walks the accounts.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRun {
    /// Refresh tokens due within this window.
    pub window: chrono::Duration,
    /// Accounts read per store request.
    pub page_size: usize,
    /// Refreshes in flight at once.
    pub concurrency: usize,
    /// Start no refresh at or after this instant (the run's time budget less the time one refresh may take).
    pub stop_starting_at: Option<Instant>,
}

impl RefreshRun {
    pub fn new(window: chrono::Duration) -> Self {
        RefreshRun {
            window,
            page_size: REFRESH_PAGE_SIZE,
            concurrency: REFRESH_CONCURRENCY,
            stop_starting_at: None,
        }
    }

    /// Starts no refresh once less than `margin` is left of `budget`, counted from now.
    pub fn within(mut self, budget: Duration, margin: Duration) -> Self {
        self.stop_starting_at = Some(Instant::now() + budget.saturating_sub(margin));
        self
    }
}

/// What became of one account.
enum Outcome {
    Skipped,
    Refreshed,
    NeedsReauth,
    Failed,
}

impl App {
    /// Refreshes every active account whose token is due for a refresh within `window`, with the default page size
    /// and concurrency and no deadline.
    pub async fn refresh_expiring(
        self: &Arc<Self>,
        window: chrono::Duration,
    ) -> Result<RefreshReport> {
        self.refresh_run(RefreshRun::new(window)).await
    }

    /// One refresher run.
    pub async fn refresh_run(self: &Arc<Self>, run: RefreshRun) -> Result<RefreshReport> {
        let now = self.now();
        let before = now + run.window;
        let concurrency = run.concurrency.max(1);
        let mut report = RefreshReport::default();
        let mut seen: HashSet<AccountId> = HashSet::new();
        let mut in_flight: JoinSet<Outcome> = JoinSet::new();
        let mut cursor: Option<String> = None;
        let mut stopped = false;
        'pages: loop {
            let page = self
                .stores
                .accounts
                .accounts_expiring_before(before, run.page_size.max(1), cursor.as_deref())
                .await?;
            let mut accounts = page.items.into_iter();
            while let Some(account) = accounts.next() {
                // A refreshed account moves along the listing and may come round again: once per run is enough.
                if !seen.insert(account.id.clone()) {
                    continue;
                }
                while in_flight.len() >= concurrency {
                    collect(&mut report, in_flight.join_next().await);
                }
                if run.stop_starting_at.is_some_and(|t| Instant::now() >= t) {
                    report.deferred += 1 + accounts.filter(|a| !seen.contains(&a.id)).count();
                    stopped = true;
                    break 'pages;
                }
                report.examined += 1;
                let app = self.clone();
                in_flight.spawn(async move { app.refresh_one(account, before).await });
                report.peak_in_flight = report.peak_in_flight.max(in_flight.len());
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        while let Some(done) = in_flight.join_next().await {
            collect(&mut report, Some(done));
        }
        report.complete = !stopped;
        if !stopped {
            self.warn_of_expiring_grants().await?;
        }
        if stopped {
            tracing::warn!(
                examined = report.examined,
                deferred = report.deferred,
                "token refresh run reached its deadline; the next run picks up the rest"
            );
        }
        Ok(report)
    }

    /// Emits `account.grant_expiring` for every active account whose grant ends within [`GRANT_WARNING`], on each
    /// run (daily) until it is connected again: a grant's end is never later than its token's expiry's listing.
    async fn warn_of_expiring_grants(&self) -> Result<()> {
        let now = self.now();
        let before = now + GRANT_WARNING;
        let mut cursor: Option<String> = None;
        let mut events = Vec::new();
        loop {
            let page = self
                .stores
                .accounts
                .accounts_expiring_before(before, REFRESH_PAGE_SIZE, cursor.as_deref())
                .await?;
            for account in &page.items {
                let Some(ends) = account.grant_expires_at() else {
                    continue;
                };
                if account.can_publish() && ends <= before {
                    events.push(crate::domain::Event::new(
                        crate::domain::EventKind::AccountGrantExpiring,
                        Some(account.workspace_id.clone()),
                        now,
                        serde_json::json!({"account_id": account.id, "platform": account.platform, "grant_expires_at": ends}),
                    ));
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if !events.is_empty() {
            tracing::info!(
                accounts = events.len(),
                "grants ending soon; the accounts must be connected again"
            );
        }
        self.emit(events).await;
        Ok(())
    }

    async fn refresh_one(
        &self,
        account: Account,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Outcome {
        let Some(platform) = self.platforms.get(account.platform) else {
            return Outcome::Skipped;
        };
        let current = match self.current_tokens(&account).await {
            Ok(Some(t)) => t,
            _ => return Outcome::Failed,
        };
        let due = platform.refresh_due(&current.tokens);
        if due.is_some_and(|d| d > before) {
            return Outcome::Skipped;
        }
        match self.refresh_tokens(&account, &current).await {
            Ok(_) => Outcome::Refreshed,
            Err(super::tokens::TokenProblem::Reauth(_)) => Outcome::NeedsReauth,
            Err(super::tokens::TokenProblem::Unavailable(reason)) => {
                tracing::warn!(account = %account.id, %reason, "token refresh failed; will try again");
                Outcome::Failed
            }
        }
    }
}

fn collect(
    report: &mut RefreshReport,
    done: Option<std::result::Result<Outcome, tokio::task::JoinError>>,
) {
    match done {
        Some(Ok(Outcome::Refreshed)) => report.refreshed += 1,
        Some(Ok(Outcome::NeedsReauth)) => report.needs_reauth += 1,
        Some(Ok(Outcome::Failed)) => report.failed += 1,
        Some(Ok(Outcome::Skipped)) | None => {}
        // A refresh that panicked ends only itself.
        Some(Err(e)) => {
            tracing::warn!(error = %e, "a token refresh task ended abnormally");
            report.failed += 1;
        }
    }
}
