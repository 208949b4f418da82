//! The publisher: turns a queued delivery into a platform post, exactly once.
//!
//! The claim (queued → publishing, with an attempt id and a lease) is written before any platform call, and only the
//! attempt holding the claim records the result. A message that finds an expired lease asks the platform whether the
//! earlier attempt landed before anything else. Only errors where nothing can have been accepted are retried; a call
//! that may have been accepted is recovered or marked in doubt, never repeated blindly.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rand::Rng;

use super::tokens::TokenProblem;
use super::App;
use crate::domain::{
    Account, AuditEntry, Claim, Delivery, DeliveryError, DeliveryKey, DeliveryStatus, Event,
    EventKind, Post,
};
use crate::platforms::{Platform, PlatformError, Progress, PublishJob, Published, Recovery};
use crate::ports::{QueueMessage, StoreError};

/// What to do with the queue message afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Handled (published, failed, in doubt, rescheduled, or nothing to do): delete the message.
    Done,
    /// Could not be handled now (the store or key service is unavailable): let the message come back.
    Retry(Duration),
    /// The message itself is unreadable: leave it to the dead-letter queue.
    Poison(String),
}

/// Records checkpoints on the delivery, conditional on the attempt still holding the claim.
struct DeliveryProgress<'a> {
    app: &'a App,
    attempt_id: &'a str,
    delivery: tokio::sync::Mutex<Delivery>,
}

#[async_trait]
impl Progress for DeliveryProgress<'_> {
    async fn checkpoint(&self, value: serde_json::Value) -> Result<(), PlatformError> {
        let mut current = self.delivery.lock().await;
        let next = current
            .with_checkpoint(self.attempt_id, value, self.app.now())
            .map_err(|_| PlatformError::Interrupted)?;
        match self
            .app
            .stores
            .posts
            .save_delivery(&next, current.version)
            .await
        {
            Ok(()) => {
                *current = next;
                Ok(())
            }
            Err(StoreError::Conflict) => Err(PlatformError::Interrupted),
            // The checkpoint could not be written: stop before the platform does anything more.
            Err(e) => Err(PlatformError::Transient(format!(
                "could not record progress: {e}"
            ))),
        }
    }
}

/// How a publishing attempt ended, before it is written down.
enum Outcome {
    Published(Published),
    RetryAt(chrono::DateTime<Utc>, DeliveryError),
    Failed(DeliveryError),
    InDoubt(DeliveryError),
    /// Leave the delivery as it is (claim lost, or the lease will bring it back for recovery).
    Leave,
}

impl App {
    /// Handles one queue message body.
    pub async fn handle_message(&self, body: &str) -> Settle {
        let message: QueueMessage = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => return Settle::Poison(format!("unreadable delivery message: {e}")),
        };
        match self.publish_delivery(&message.key()).await {
            Ok(settle) => settle,
            Err(e) => {
                tracing::warn!(delivery = %message.key(), error = %e, "publishing could not run; the message will come back");
                Settle::Retry(Duration::from_secs(5))
            }
        }
    }

    /// Publishes one delivery if it is queued (or its lease has run out).
    pub async fn publish_delivery(&self, key: &DeliveryKey) -> crate::error::Result<Settle> {
        let Some(delivery) = self.stores.posts.get_delivery(key).await? else {
            return Ok(Settle::Done);
        };
        if !matches!(
            delivery.status,
            DeliveryStatus::Queued | DeliveryStatus::Publishing
        ) {
            // Terminal, or scheduled again (a retry): the dispatcher owns it now.
            return Ok(Settle::Done);
        }
        let now = self.now();
        let attempt_id = uuid::Uuid::new_v4().simple().to_string();
        let lease = chrono::Duration::from_std(self.settings.publisher.lease).unwrap_or_default();
        let Ok((claimed, claim)) = delivery.claim(now, &attempt_id, lease) else {
            // Another attempt holds a live lease; if it dies, the dispatcher sends the delivery again.
            return Ok(Settle::Done);
        };
        match self
            .stores
            .posts
            .save_delivery(&claimed, delivery.version)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(Settle::Done),
            Err(e) => return Err(e.into()),
        }
        let outcome = self.attempt(&claimed, &attempt_id, &claim).await;
        self.record(claimed, &attempt_id, outcome).await
    }

    async fn attempt(&self, delivery: &Delivery, attempt_id: &str, claim: &Claim) -> Outcome {
        let now = self.now();
        let account = match self
            .stores
            .accounts
            .get_account(&delivery.workspace_id, &delivery.account_id)
            .await
        {
            Ok(Some(a)) => a,
            Ok(None) => {
                return Outcome::Failed(DeliveryError::new(
                    "account_missing",
                    "the account no longer exists",
                ))
            }
            Err(e) => {
                return self.retry_or_fail(
                    delivery,
                    DeliveryError::new("store_unavailable", e.to_string()),
                    None,
                )
            }
        };
        let Some(platform) = self.platforms.get(account.platform) else {
            return Outcome::Failed(DeliveryError::new(
                "platform_disabled",
                format!("{} is not enabled", account.platform),
            ));
        };
        if !account.can_publish() && *claim == Claim::Fresh {
            return Outcome::Failed(DeliveryError::new(
                "account_cannot_publish",
                format!("the account is {}", account.status.as_str()),
            ));
        }
        let post = match self
            .stores
            .posts
            .get_post(&delivery.workspace_id, &delivery.post_id)
            .await
        {
            Ok(Some(r)) => r.post,
            Ok(None) => {
                return Outcome::Failed(DeliveryError::new(
                    "post_missing",
                    "the post no longer exists",
                ))
            }
            Err(e) => {
                return self.retry_or_fail(
                    delivery,
                    DeliveryError::new("store_unavailable", e.to_string()),
                    None,
                )
            }
        };
        if *claim == Claim::Fresh {
            if let Some(until) = self.rate.blocked_until(&account.id, now) {
                return Outcome::RetryAt(
                    until,
                    DeliveryError::new(
                        "rate_limited",
                        "the account is rate limited; waiting for the platform's hint",
                    ),
                );
            }
        }
        let tokens = match self.tokens_for_publish(&account).await {
            Ok(t) => t.tokens,
            Err(TokenProblem::Reauth(reason)) => {
                return Outcome::Failed(DeliveryError::new(
                    "needs_reauth",
                    format!("the account must be connected again: {reason}"),
                ))
            }
            Err(TokenProblem::Unavailable(reason)) => {
                return self.retry_or_fail(
                    delivery,
                    DeliveryError::new("token_unavailable", reason),
                    None,
                )
            }
        };
        let text = delivery.text.clone().unwrap_or_else(|| post.text.clone());
        let idempotency_key = delivery.idempotency_key();
        let mut tokens = tokens;
        let mut refreshed = false;
        loop {
            let job = PublishJob {
                account: &account,
                tokens: &tokens,
                text: &text,
                media: &post.media,
                idempotency_key: &idempotency_key,
                checkpoint: delivery.checkpoint.as_ref(),
            };
            if let Claim::Recover { .. } = claim {
                match platform.recover(&job).await {
                    Ok(Recovery::Published(p)) => return Outcome::Published(p),
                    Ok(Recovery::Unknowable(why)) => {
                        return Outcome::InDoubt(DeliveryError::new("outcome_unknown", why))
                    }
                    Ok(Recovery::NotPublished) => {}
                    Err(PlatformError::TokenExpired) if !refreshed => {
                        refreshed = true;
                        match self.refresh_after_expiry(&account).await {
                            Ok(t) => {
                                tokens = t;
                                continue;
                            }
                            Err(o) => return o,
                        }
                    }
                    // Recovery could not ask; leave the lease to run out and ask again.
                    Err(e) => {
                        tracing::warn!(delivery = %delivery.key(), error = %e, "recovery could not reach the platform");
                        return Outcome::Leave;
                    }
                }
            }
            let progress = DeliveryProgress {
                app: self,
                attempt_id,
                delivery: tokio::sync::Mutex::new(delivery.clone()),
            };
            let result = platform.publish(&job, &progress).await;
            match result {
                Ok(p) => return Outcome::Published(p),
                Err(PlatformError::TokenExpired) if !refreshed => {
                    refreshed = true;
                    match self.refresh_after_expiry(&account).await {
                        Ok(t) => tokens = t,
                        Err(o) => return o,
                    }
                }
                Err(e) => {
                    return self
                        .classify(
                            delivery,
                            &account,
                            platform.as_ref(),
                            &job_data(&tokens, &text, &post, &idempotency_key, &progress).await,
                            e,
                        )
                        .await
                }
            }
        }
    }

    async fn refresh_after_expiry(
        &self,
        account: &Account,
    ) -> Result<crate::domain::TokenSet, Outcome> {
        let current = match self.current_tokens(account).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(Outcome::Failed(DeliveryError::new(
                    "needs_reauth",
                    "no tokens are stored for this account",
                )))
            }
            Err(e) => {
                return Err(Outcome::RetryAt(
                    self.now() + chrono::Duration::seconds(30),
                    DeliveryError::new("token_unavailable", e.to_string()),
                ))
            }
        };
        match self.refresh_tokens(account, &current).await {
            Ok(t) => Ok(t),
            Err(TokenProblem::Reauth(reason)) => Err(Outcome::Failed(DeliveryError::new(
                "needs_reauth",
                format!("the account must be connected again: {reason}"),
            ))),
            Err(TokenProblem::Unavailable(reason)) => Err(Outcome::RetryAt(
                self.now() + chrono::Duration::seconds(30),
                DeliveryError::new("token_refresh_failed", reason),
            )),
        }
    }

    /// Maps a platform error to what happens to the delivery.
    async fn classify(
        &self,
        delivery: &Delivery,
        account: &Account,
        platform: &dyn Platform,
        job: &JobData,
        error: PlatformError,
    ) -> Outcome {
        let code = error.code();
        match error {
            PlatformError::TokenExpired => Outcome::Failed(DeliveryError::new(
                code,
                "the token expired again right after a refresh",
            )),
            PlatformError::Reauth(reason) => {
                self.mark_needs_reauth(account, &reason).await;
                Outcome::Failed(DeliveryError::new(
                    "needs_reauth",
                    format!("the account must be connected again: {reason}"),
                ))
            }
            PlatformError::RateLimited {
                retry_after,
                message,
            } => {
                let wait = retry_after.unwrap_or_else(|| self.backoff(delivery.attempts));
                let until = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                self.rate.block(&account.id, until);
                self.retry_or_fail(delivery, DeliveryError::new(code, message), Some(until))
            }
            PlatformError::Transient(m) => {
                self.retry_or_fail(delivery, DeliveryError::new(code, m), None)
            }
            PlatformError::Rejected(m) => Outcome::Failed(DeliveryError::new(code, m)),
            PlatformError::Interrupted => Outcome::Leave,
            PlatformError::Unknown(m) => {
                // The platform may have taken it: ask before anything else.
                let job = PublishJob {
                    account,
                    tokens: &job.tokens,
                    text: &job.text,
                    media: &job.post.media,
                    idempotency_key: &job.idempotency_key,
                    checkpoint: job.checkpoint.as_ref(),
                };
                match platform.recover(&job).await {
                    Ok(Recovery::Published(p)) => Outcome::Published(p),
                    Ok(Recovery::NotPublished) => {
                        self.retry_or_fail(delivery, DeliveryError::new(code, m), None)
                    }
                    Ok(Recovery::Unknowable(why)) => {
                        Outcome::InDoubt(DeliveryError::new(code, format!("{m}; {why}")))
                    }
                    Err(e) => {
                        tracing::warn!(delivery = %delivery.key(), error = %e, "could not ask the platform after an unclear answer");
                        Outcome::Leave
                    }
                }
            }
        }
    }

    fn retry_or_fail(
        &self,
        delivery: &Delivery,
        error: DeliveryError,
        at: Option<chrono::DateTime<Utc>>,
    ) -> Outcome {
        if delivery.attempts >= self.settings.publisher.max_attempts {
            let message = format!(
                "gave up after {} attempts: {}",
                delivery.attempts, error.message
            );
            return Outcome::Failed(DeliveryError::new(error.code, message));
        }
        let at = at.unwrap_or_else(|| {
            self.now()
                + chrono::Duration::from_std(self.backoff(delivery.attempts)).unwrap_or_default()
        });
        Outcome::RetryAt(at, error)
    }

    /// Exponential backoff with jitter: base × 2^(attempts-1), capped, then a random 50-100% of it.
    fn backoff(&self, attempts: u32) -> Duration {
        let p = &self.settings.publisher;
        let exp = p
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(20)));
        let capped = exp.min(p.backoff_max);
        let factor = rand::thread_rng().gen_range(0.5..=1.0);
        capped.mul_f64(factor)
    }

    /// Writes the outcome, conditional on the attempt still holding the claim, and tells the world.
    async fn record(
        &self,
        claimed: Delivery,
        attempt_id: &str,
        outcome: Outcome,
    ) -> crate::error::Result<Settle> {
        if let Outcome::Leave = outcome {
            return Ok(Settle::Done);
        }
        // Re-read: checkpoints may have moved the version on.
        let Some(current) = self.stores.posts.get_delivery(&claimed.key()).await? else {
            return Ok(Settle::Done);
        };
        let now = self.now();
        let (next, event, action) = match &outcome {
            Outcome::Published(p) => (
                current.published(
                    attempt_id,
                    p.platform_post_id.clone(),
                    p.permalink.clone(),
                    now,
                ),
                Some(EventKind::PostPublished),
                "delivery.published",
            ),
            Outcome::RetryAt(at, e) => (
                current.retry_at(attempt_id, *at, e.clone(), now),
                None,
                "delivery.retry_scheduled",
            ),
            Outcome::Failed(e) => (
                current.failed(attempt_id, e.clone(), now),
                Some(EventKind::PostFailed),
                "delivery.failed",
            ),
            Outcome::InDoubt(e) => (
                current.in_doubt(attempt_id, e.clone(), now),
                Some(EventKind::PostInDoubt),
                "delivery.in_doubt",
            ),
            Outcome::Leave => return Ok(Settle::Done),
        };
        let Ok(next) = next else {
            tracing::warn!(delivery = %claimed.key(), "the claim was lost before the result could be recorded");
            return Ok(Settle::Done);
        };
        match self
            .stores
            .posts
            .save_delivery(&next, current.version)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                tracing::warn!(delivery = %claimed.key(), "the claim was lost before the result could be recorded");
                return Ok(Settle::Done);
            }
            // The result is known but not written: keep the message so it comes back; the lease expires and recovery
            // finds the post on the platform instead of publishing it again.
            Err(e) => return Err(e.into()),
        }
        let detail = serde_json::json!({
            "post_id": next.post_id,
            "account_id": next.account_id,
            "platform": next.platform,
            "status": next.status,
            "platform_post_id": next.platform_post_id,
            "permalink": next.permalink,
            "error": next.error,
            "attempts": next.attempts,
        });
        self.audit(
            AuditEntry::new(next.workspace_id.clone(), now, action, detail.clone())
                .post(&next.post_id)
                .account(&next.account_id),
        )
        .await;
        if let Some(kind) = event {
            self.emit(vec![Event::new(
                kind,
                Some(next.workspace_id.clone()),
                now,
                detail,
            )])
            .await;
        }
        tracing::info!(delivery = %next.key(), status = next.status.as_str(), attempts = next.attempts, "delivery settled");
        Ok(Settle::Done)
    }
}

/// What a publish call was made with, kept for recovery after an unclear answer.
struct JobData {
    tokens: crate::domain::TokenSet,
    text: String,
    post: Post,
    idempotency_key: String,
    checkpoint: Option<serde_json::Value>,
}

async fn job_data(
    tokens: &crate::domain::TokenSet,
    text: &str,
    post: &Post,
    idempotency_key: &str,
    progress: &DeliveryProgress<'_>,
) -> JobData {
    JobData {
        tokens: tokens.clone(),
        text: text.to_owned(),
        post: post.clone(),
        idempotency_key: idempotency_key.to_owned(),
        checkpoint: progress.delivery.lock().await.checkpoint.clone(),
    }
}
