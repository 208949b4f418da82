//! The publisher: turns a queued delivery into a platform post, exactly once.
//!
//! The claim (queued → publishing, with an attempt id and a lease) is written before any platform call, and only the
//! attempt holding the claim records the result. Just before a call that may publish, the attempt marks the
//! delivery as sent (renewing its lease); a later claim that finds that mark asks the platform whether the call
//! landed before anything else, and one that does not find it knows nothing reached the platform. Where the platform
//! can always answer that question ([`Platform::can_recover`](crate::ports::Platform::can_recover)), the claim
//! carries the mark itself and the separate write is saved. Only errors where
//! nothing can have been accepted are retried; a call that may have been accepted is recovered or marked in doubt,
//! never repeated blindly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::lease::{Attempt, LeaseError, RECORD_MARGIN};
use super::rate::{Hold, RateScope};
use super::tokens::{CurrentTokens, TokenProblem};
use super::App;
use crate::domain::{
    Account, AuditEntry, Claim, Delivery, DeliveryError, DeliveryKey, DeliveryStatus, Event,
    EventKind,
};
use crate::ports::{Outgoing, PlatformError, PublishJob, PublishMedia, Published, Recovery};
use crate::ports::{PublishInputs, QueueMessage, StoreError, MAX_QUEUE_DELAY};

/// After a delivery's attempts are used up, the platform is still asked this many more times whether its last call
/// landed before the delivery is left in doubt.
const RECOVERY_ASKS: u32 = 3;

/// How soon a message whose handling panicked comes back. Each return counts a receive, so a delivery that panics
/// every time reaches the dead-letter queue after the queue's receive limit, as any message that cannot be handled.
pub const PANIC_RETRY: Duration = Duration::from_secs(30);

/// An attempt is not started with less time than this before its deadline (beyond [`RECORD_MARGIN`]): the message
/// comes back for an invocation with time to publish, rather than claiming and being cut off at once.
pub const MIN_ATTEMPT_TIME: Duration = Duration::from_secs(2);

/// How soon a message comes back when its invocation had no time left to start an attempt.
const NO_TIME_RETRY: Duration = Duration::from_secs(1);

/// A delivery waiting on the platform comes back this long after its lease ends, so that the claim finds the lease
/// run out.
const RESUME_SLACK: Duration = Duration::from_secs(1);

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

/// How a publishing attempt ended, before it is written down.
#[derive(Debug)]
enum Outcome {
    Published(Published),
    /// Nothing reached the platform: try again at this time (the attempt counts).
    RetryAt(DateTime<Utc>, DeliveryError),
    /// A rate limit held the delivery back before any call: try again at this time (the attempt is given back).
    Defer(DateTime<Utc>, DeliveryError),
    /// A call may have landed and the platform could not be asked yet: ask at this time.
    RecoverAt(DateTime<Utc>, DeliveryError),
    /// The platform is still processing what was sent and checkpointed: continue from the checkpoint at this time
    /// (the attempt is given back).
    ResumeAt(DateTime<Utc>, DeliveryError),
    Failed(DeliveryError),
    InDoubt(DeliveryError),
    /// The claim was lost: another attempt owns the delivery now.
    Leave,
}

impl App {
    /// Handles one queue message body in a task of its own, so that a panic while handling it (a bug one delivery
    /// runs into) ends that task only: the other deliveries and requests carry on, and the message is not settled
    /// but comes back after [`PANIC_RETRY`]. The delivery's claim, if it was taken, runs out with its lease and
    /// recovery takes over, as after a crash.
    ///
    /// `invocation_ends` is when the invocation handling the message will be stopped, if it will be (on Lambda, the
    /// invocation's deadline): the attempt's outcome is recorded before then.
    pub async fn handle_message_isolated(
        self: &Arc<Self>,
        body: String,
        invocation_ends: Option<DateTime<Utc>>,
    ) -> Settle {
        let app = self.clone();
        let key = QueueMessage::parse(&body).ok().map(|m| m.key().to_string());
        match tokio::spawn(async move { app.handle_message_until(&body, invocation_ends).await })
            .await
        {
            Ok(settle) => settle,
            Err(e) => {
                // The panic's own message went to the panic hook; it is not repeated here, as it may quote anything.
                let what = if e.is_panic() {
                    "panicked"
                } else {
                    "was cancelled"
                };
                tracing::error!(
                    delivery = key.as_deref().unwrap_or("unreadable message"),
                    "handling a delivery {what}; its message will come back"
                );
                Settle::Retry(PANIC_RETRY)
            }
        }
    }

    /// Handles one queue message body, with no deadline but the lease's.
    pub async fn handle_message(&self, body: &str) -> Settle {
        self.handle_message_until(body, None).await
    }

    /// Handles one queue message body in an invocation that ends at `invocation_ends`, if it ends at a fixed time.
    pub async fn handle_message_until(
        &self,
        body: &str,
        invocation_ends: Option<DateTime<Utc>>,
    ) -> Settle {
        let message = match QueueMessage::parse(body) {
            Ok(m) => m,
            Err(reason) => return Settle::Poison(reason),
        };
        match self
            .publish_delivery_until(&message.key(), invocation_ends)
            .await
        {
            Ok(settle) => settle,
            Err(e) => {
                tracing::warn!(delivery = %message.key(), error = %e, "publishing could not run; the message will come back");
                Settle::Retry(Duration::from_secs(5))
            }
        }
    }

    /// Publishes one delivery if it is queued (or its lease has run out).
    pub async fn publish_delivery(&self, key: &DeliveryKey) -> crate::error::Result<Settle> {
        self.publish_delivery_until(key, None).await
    }

    /// [`publish_delivery`](Self::publish_delivery) in an invocation that ends at `invocation_ends`: the attempt's
    /// calls are cut off in time to record its outcome before then.
    pub async fn publish_delivery_until(
        &self,
        key: &DeliveryKey,
        invocation_ends: Option<DateTime<Utc>>,
    ) -> crate::error::Result<Settle> {
        if let Some(ends) = invocation_ends {
            let needed = RECORD_MARGIN.saturating_add(MIN_ATTEMPT_TIME);
            if (ends - self.now()).to_std().unwrap_or(Duration::ZERO) < needed {
                // Nothing is claimed: the message comes back to an invocation with time for an attempt.
                return Ok(Settle::Retry(NO_TIME_RETRY));
            }
        }
        // One read for everything the attempt needs; the claim below is conditional on the delivery's version, so
        // the rest cannot be older than what the claim was taken on.
        let Some(inputs) = self.stores.posts.publish_inputs(key).await? else {
            return Ok(Settle::Done);
        };
        let delivery = inputs.delivery.clone();
        if !matches!(
            delivery.status,
            DeliveryStatus::Queued | DeliveryStatus::Publishing
        ) {
            // Terminal, or scheduled again (a retry): the dispatcher owns it now.
            return Ok(Settle::Done);
        }
        let attempt_id = uuid::Uuid::new_v4().simple().to_string();
        let lease = chrono::Duration::from_std(self.settings.publisher.lease).unwrap_or_default();
        // Where the platform can always tell whether a call landed, the claim carries the sent mark itself.
        let marked = self
            .platforms
            .get(delivery.platform)
            .is_some_and(|p| p.can_recover());
        let claimed = if marked {
            delivery.claim_sending(self.now(), &attempt_id, lease)
        } else {
            delivery.claim(self.now(), &attempt_id, lease)
        };
        let Ok((claimed, claim)) = claimed else {
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
        let attempt = Attempt::new(self, attempt_id, claimed, invocation_ends);
        let outcome = self.attempt(&attempt, &claim, marked, inputs).await;
        self.record(&attempt, outcome).await
    }

    async fn attempt(
        &self,
        attempt: &Attempt<'_>,
        claim: &Claim,
        marked: bool,
        inputs: PublishInputs,
    ) -> Outcome {
        let delivery = attempt.delivery().await;
        let recovering = matches!(claim, Claim::Recover { .. });
        let Some(account) = inputs.account else {
            return give_up(
                recovering,
                DeliveryError::new("account_missing", "the account no longer exists"),
            );
        };
        let Some(platform) = self.platforms.get(account.platform) else {
            return give_up(
                recovering,
                DeliveryError::new(
                    "platform_disabled",
                    format!("{} is not enabled", account.platform),
                ),
            );
        };
        // An account that can no longer publish still lets an earlier call be looked up, where its tokens allow.
        if !recovering && !account.can_publish() {
            return Outcome::Failed(DeliveryError::new(
                "account_cannot_publish",
                format!("the account is {}", account.status.as_str()),
            ));
        }
        let Some(post) = inputs.post else {
            return give_up(
                recovering,
                DeliveryError::new("post_missing", "the post no longer exists"),
            );
        };
        if !recovering {
            if let Some(hold) = self
                .rate
                .hold_for(&account.id, account.platform, self.now())
            {
                return Outcome::Defer(self.spread(hold.until), hold_error(&hold));
            }
        }
        let mut tokens = match self.tokens_for_publish(&account, inputs.tokens).await {
            Ok(t) => t,
            Err(TokenProblem::Reauth(reason)) => {
                return give_up(recovering, needs_reauth(&reason));
            }
            Err(TokenProblem::Unavailable(reason)) => {
                return self.later(
                    &delivery,
                    recovering,
                    DeliveryError::new("token_unavailable", reason),
                    None,
                )
            }
        };
        let parts = post.part_count();
        let platform_recovers = platform.can_recover();
        // The current part's media, handed to the platform; read again only when the part changes.
        let mut media: Option<(usize, Vec<PublishMedia>)> = None;
        let mut refreshed = false;
        // Whether it is known that the current part's earlier call did not land.
        let mut cleared = !recovering;
        // Whether the sent mark for the current part's call is written already (by the claim on platforms that can
        // recover, or by the record of the part before).
        let mut marked = marked && !recovering;
        loop {
            let current = attempt.delivery().await;
            // Each part is recorded before the next starts: the first one not recorded is the one to publish.
            let index = current.parts.len();
            let Some((text, items)) = post.part(index, delivery.text.as_deref()) else {
                // Every part is recorded: the post has no part left (it was shortened under the delivery).
                return match current.parts.last() {
                    Some(last) => Outcome::Published(last.clone()),
                    None => give_up(
                        recovering,
                        DeliveryError::new("post_missing", "the post has nothing to publish"),
                    ),
                };
            };
            if media.as_ref().is_none_or(|(i, _)| *i != index) {
                match self
                    .publish_media(&post.workspace_id, items, account.platform)
                    .await
                {
                    Ok(m) => media = Some((index, m)),
                    Err(PlatformError::Rejected(reason)) => {
                        return give_up(recovering, DeliveryError::new("media_refused", reason));
                    }
                    Err(e) => {
                        return self.later(
                            &delivery,
                            recovering,
                            DeliveryError::new("media_unavailable", e.to_string()),
                            None,
                        )
                    }
                }
            }
            let part_media = media.as_ref().map_or(&[][..], |(_, m)| m.as_slice());
            let idempotency_key = current.part_idempotency_key(index);
            let job = PublishJob {
                account: &account,
                tokens: &tokens.tokens,
                text,
                media: part_media,
                thread: &current.parts,
                options: current.options.as_ref(),
                due_at: current.scheduled_at,
                idempotency_key: &idempotency_key,
                checkpoint: current.checkpoint.as_ref(),
            };
            let landed = if !cleared {
                match attempt.within_lease(platform.recover(&job)).await {
                    Ok(Recovery::Published(p)) => p,
                    Ok(Recovery::Unknowable(why)) => {
                        return Outcome::InDoubt(DeliveryError::new("outcome_unknown", why))
                    }
                    Ok(Recovery::NotPublished) => {
                        cleared = true;
                        continue;
                    }
                    Err(PlatformError::TokenExpired) if !refreshed => {
                        refreshed = true;
                        match self
                            .refresh_after_expiry(&delivery, &account, &tokens, true)
                            .await
                        {
                            Ok(t) => tokens = t,
                            Err(o) => return o,
                        }
                        continue;
                    }
                    Err(PlatformError::Reauth(reason)) => {
                        self.mark_needs_reauth(&account, &reason).await;
                        return give_up(true, needs_reauth(&reason));
                    }
                    Err(e) => {
                        tracing::warn!(delivery = %delivery.key(), error = %e, "recovery could not ask the platform");
                        let at = self.hinted(&e);
                        return self.later(
                            &delivery,
                            true,
                            DeliveryError::new(e.code(), e.to_string()),
                            at,
                        );
                    }
                }
            } else {
                let sent = if std::mem::take(&mut marked) {
                    Ok(())
                } else {
                    attempt.sending().await
                };
                match sent {
                    Ok(()) => {}
                    Err(LeaseError::Lost) => return Outcome::Leave,
                    // Nothing was sent: the call is refused before it starts.
                    Err(LeaseError::Store(e)) => {
                        return self.retry_or_fail(
                            &delivery,
                            DeliveryError::new(
                                "store_unavailable",
                                format!("the call could not be marked as sent: {e}"),
                            ),
                            None,
                        )
                    }
                }
                match attempt.within_lease(platform.publish(&job, attempt)).await {
                    Ok(p) => p,
                    Err(PlatformError::TokenExpired) if !refreshed => {
                        refreshed = true;
                        match self
                            .refresh_after_expiry(&delivery, &account, &tokens, false)
                            .await
                        {
                            Ok(t) => tokens = t,
                            Err(o) => return o,
                        }
                        continue;
                    }
                    Err(e) => return self.classify(&delivery, &account, e).await,
                }
            };
            if index + 1 >= parts {
                return Outcome::Published(landed);
            }
            // A part of a thread landed: record it before the next one starts. Where the platform can always tell
            // whether a call landed, the same write marks the next part's call as sent.
            match attempt.part_published(landed, platform_recovers).await {
                Ok(()) => {
                    marked = platform_recovers;
                    cleared = true;
                    refreshed = false;
                }
                Err(LeaseError::Lost) => return Outcome::Leave,
                Err(LeaseError::Store(e)) => {
                    // The part landed but is not recorded. Its call is marked as sent, so once the lease runs out
                    // the next claim asks the platform about it instead of publishing it again.
                    tracing::warn!(delivery = %delivery.key(), part = index, error = %e, "a published part could not be recorded");
                    return Outcome::Leave;
                }
            }
        }
    }

    /// The token the call used expired: refresh it once (or take the newer set someone else stored meanwhile). On
    /// failure, what happens to the delivery.
    async fn refresh_after_expiry(
        &self,
        delivery: &Delivery,
        account: &Account,
        used: &CurrentTokens,
        recovering: bool,
    ) -> Result<CurrentTokens, Outcome> {
        match self.refresh_tokens(account, used).await {
            Ok(t) => Ok(t),
            Err(TokenProblem::Reauth(reason)) => Err(give_up(recovering, needs_reauth(&reason))),
            Err(TokenProblem::Unavailable(reason)) => Err(self.later(
                delivery,
                recovering,
                DeliveryError::new("token_refresh_failed", reason),
                None,
            )),
        }
    }

    /// Maps the error of a publish call to what happens to the delivery.
    async fn classify(
        &self,
        delivery: &Delivery,
        account: &Account,
        error: PlatformError,
    ) -> Outcome {
        let code = error.code();
        match error {
            // Nothing was accepted: try again later, with whatever tokens are current then.
            PlatformError::TokenExpired => self.retry_or_fail(
                delivery,
                DeliveryError::new(code, "the token expired again right after a refresh"),
                None,
            ),
            PlatformError::Reauth(reason) => {
                self.mark_needs_reauth(account, &reason).await;
                Outcome::Failed(needs_reauth(&reason))
            }
            PlatformError::RateLimited {
                retry_after,
                ref message,
            } => {
                let until = self.after(retry_after, delivery.attempts);
                self.rate
                    .block(RateScope::Account(account.id.clone()), until);
                self.retry_or_fail(delivery, DeliveryError::new(code, message), Some(until))
            }
            PlatformError::AppRateLimited {
                retry_after,
                ref message,
            } => {
                let until = self.after(retry_after, delivery.attempts);
                tracing::warn!(platform = %account.platform, %until, "the platform limits this app; holding its deliveries");
                self.rate.block(RateScope::App(account.platform), until);
                self.retry_or_fail(delivery, DeliveryError::new(code, message), Some(until))
            }
            PlatformError::Transient(m) => {
                self.retry_or_fail(delivery, DeliveryError::new(code, m), None)
            }
            PlatformError::Rejected(m) => Outcome::Failed(DeliveryError::new(code, m)),
            PlatformError::Interrupted => Outcome::Leave,
            // Nothing was published and what was sent is checkpointed: continue from there, without using an attempt.
            PlatformError::Processing {
                retry_after,
                ref message,
            } => Outcome::ResumeAt(
                crate::domain::bounds::after_hint(self.now(), retry_after),
                DeliveryError::new(code, message),
            ),
            // The platform may have taken it. Give it a moment to settle, then ask; never publish again before that.
            PlatformError::Unknown(m) => {
                self.later(delivery, true, DeliveryError::new(code, m), None)
            }
        }
    }

    /// Something stopped the attempt for now. Where an earlier call may have landed, ask again later (in doubt once
    /// asking keeps failing); otherwise retry later, or fail once the attempts are used up.
    fn later(
        &self,
        delivery: &Delivery,
        recovering: bool,
        error: DeliveryError,
        at: Option<DateTime<Utc>>,
    ) -> Outcome {
        if !recovering {
            return self.retry_or_fail(delivery, error, at);
        }
        let max = self.settings.publisher.max_attempts;
        if delivery.attempts >= max.saturating_add(RECOVERY_ASKS) {
            let message = format!(
                "the platform may have published it, and asking failed {} times: {}",
                delivery.attempts, error.message
            );
            return Outcome::InDoubt(DeliveryError::new(error.code, message));
        }
        let at = at.unwrap_or_else(|| self.after(None, delivery.attempts));
        Outcome::RecoverAt(at, error)
    }

    fn retry_or_fail(
        &self,
        delivery: &Delivery,
        error: DeliveryError,
        at: Option<DateTime<Utc>>,
    ) -> Outcome {
        if delivery.attempts >= self.settings.publisher.max_attempts {
            let message = format!(
                "gave up after {} attempts: {}",
                delivery.attempts, error.message
            );
            return Outcome::Failed(DeliveryError::new(error.code, message));
        }
        let at = at.unwrap_or_else(|| self.after(None, delivery.attempts));
        Outcome::RetryAt(at, error)
    }

    /// When to try again: after the platform's hint if it gave one (at most a day, however long the hint), else
    /// after the backoff for `attempts`.
    fn after(&self, hint: Option<Duration>, attempts: u32) -> DateTime<Utc> {
        match hint {
            Some(hint) => crate::domain::bounds::after_hint(self.now(), hint),
            None => crate::domain::bounds::after(self.now(), self.backoff(attempts)),
        }
    }

    /// The platform's hint carried by a rate-limit error, as a time.
    fn hinted(&self, error: &PlatformError) -> Option<DateTime<Utc>> {
        match error {
            PlatformError::RateLimited {
                retry_after: Some(wait),
                ..
            }
            | PlatformError::AppRateLimited {
                retry_after: Some(wait),
                ..
            } => Some(self.after(Some(*wait), 0)),
            _ => None,
        }
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

    /// A time at or a little after `until`, so deliveries held by one rate limit do not all return at once.
    fn spread(&self, until: DateTime<Utc>) -> DateTime<Utc> {
        let wait = (until - self.now()).num_milliseconds().clamp(0, 5_000);
        let jitter = chrono::Duration::milliseconds(rand::thread_rng().gen_range(0..=wait));
        until.checked_add_signed(jitter).unwrap_or(until)
    }

    /// Writes the outcome, conditional on the attempt still holding the claim, and tells the world.
    async fn record(
        &self,
        attempt: &Attempt<'_>,
        outcome: Outcome,
    ) -> crate::error::Result<Settle> {
        let (event, action) = match &outcome {
            Outcome::Published(_) => (Some(EventKind::PostPublished), "delivery.published"),
            Outcome::RetryAt(..) => (None, "delivery.retry_scheduled"),
            Outcome::Defer(..) => (None, "delivery.deferred"),
            Outcome::RecoverAt(..) => (None, "delivery.recovery_scheduled"),
            Outcome::ResumeAt(..) => (None, "delivery.resume_scheduled"),
            Outcome::Failed(_) => (Some(EventKind::PostFailed), "delivery.failed"),
            Outcome::InDoubt(_) => (Some(EventKind::PostInDoubt), "delivery.in_doubt"),
            Outcome::Leave => return Ok(Settle::Done),
        };
        let audit = |d: &Delivery, now: DateTime<Utc>| {
            AuditEntry::new(d.workspace_id.clone(), now, action, settled_detail(d))
                .post(&d.post_id)
                .account(&d.account_id)
        };
        let id = attempt.id().to_owned();
        let written = match &outcome {
            Outcome::Published(p) => {
                attempt
                    .finish(|d, now| d.published_last(&id, p.clone(), now), audit)
                    .await
            }
            Outcome::RetryAt(at, e) => {
                attempt
                    .finish(|d, now| d.retry_at(&id, *at, e.clone(), now), audit)
                    .await
            }
            Outcome::Defer(at, e) => {
                attempt
                    .finish(|d, now| d.defer(&id, *at, e.clone(), now), audit)
                    .await
            }
            Outcome::RecoverAt(at, e) => {
                attempt
                    .finish(|d, now| d.recover_later(&id, *at, e.clone(), now), audit)
                    .await
            }
            Outcome::ResumeAt(at, e) => {
                attempt
                    .finish(|d, now| d.resume_at(&id, *at, e.clone(), now), audit)
                    .await
            }
            Outcome::Failed(e) => {
                attempt
                    .finish(|d, now| d.failed(&id, e.clone(), now), audit)
                    .await
            }
            Outcome::InDoubt(e) => {
                attempt
                    .finish(|d, now| d.in_doubt(&id, e.clone(), now), audit)
                    .await
            }
            Outcome::Leave => return Ok(Settle::Done),
        };
        let next = match written {
            Ok(next) => next,
            Err(LeaseError::Lost) => {
                let key = attempt.delivery().await.key();
                tracing::warn!(delivery = %key, "the claim was lost before the result could be recorded");
                return Ok(Settle::Done);
            }
            // The result is known but not written: keep the message so it comes back. Once the lease runs out, the
            // next claim asks the platform (if a call was sent) instead of publishing again.
            Err(LeaseError::Store(e)) => return Err(e.into()),
        };
        if let Outcome::ResumeAt(at, _) = &outcome {
            self.come_back_at(&next, *at).await;
        }
        if let Some(kind) = event {
            self.emit(vec![Event::new(
                kind,
                Some(next.workspace_id.clone()),
                next.updated_at,
                settled_detail(&next),
            )])
            .await;
        }
        tracing::info!(delivery = %next.key(), status = next.status.as_str(), attempts = next.attempts, "delivery settled");
        Ok(Settle::Done)
    }
}

impl App {
    /// Sends the delivery's message again, delayed until just after `at`, when its lease has run out and the next
    /// claim continues from its checkpoint. A fresh message rather than the same one back, so waiting on a platform
    /// never counts toward the dead-letter queue's receive limit. If the send fails, the delivery is not lost: its
    /// timer is `at`, and the dispatcher queues it again once that has passed.
    async fn come_back_at(&self, delivery: &Delivery, at: DateTime<Utc>) {
        let delay = (at - self.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .saturating_add(RESUME_SLACK)
            .min(MAX_QUEUE_DELAY);
        let message: QueueMessage = delivery.key().into();
        if let Err(e) = self.queue.send(&[Outgoing { message, delay }]).await {
            tracing::warn!(delivery = %delivery.key(), error = %e, "could not queue the delivery to continue; the dispatcher will");
        }
    }
}

/// What the audit log and the event say about a delivery whose attempt ended.
fn settled_detail(d: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "post_id": d.post_id,
        "account_id": d.account_id,
        "platform": d.platform,
        "status": d.status,
        "platform_post_id": d.platform_post_id,
        "permalink": d.permalink,
        "error": d.error,
        "attempts": d.attempts,
    })
}

/// Nothing more can be done for the delivery. Where an earlier call may have landed, it is in doubt rather than
/// failed, so a person does not publish it again by retrying.
fn give_up(recovering: bool, error: DeliveryError) -> Outcome {
    if recovering {
        let message = format!(
            "{}; an earlier attempt may have published it and the platform could not be asked",
            error.message
        );
        Outcome::InDoubt(DeliveryError::new(error.code, message))
    } else {
        Outcome::Failed(error)
    }
}

fn needs_reauth(reason: &str) -> DeliveryError {
    DeliveryError::new(
        "needs_reauth",
        format!("the account must be connected again: {reason}"),
    )
}

fn hold_error(hold: &Hold) -> DeliveryError {
    match &hold.scope {
        RateScope::Account(_) => DeliveryError::new(
            "rate_limited",
            "the account is rate limited; waiting for the platform's hint",
        ),
        RateScope::App(platform) => DeliveryError::new(
            "app_rate_limited",
            format!("{platform} limits Postora's app; every delivery to it waits for the platform's hint"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giving_up_on_a_recovery_leaves_the_delivery_in_doubt_never_failed() {
        let e = DeliveryError::new("account_missing", "the account no longer exists");
        assert!(matches!(give_up(false, e.clone()), Outcome::Failed(_)));
        match give_up(true, e) {
            Outcome::InDoubt(err) => {
                assert_eq!(err.code, "account_missing");
                assert!(err.message.contains("may have published"));
            }
            other => panic!("expected in doubt, got {other:?}"),
        }
    }
}
