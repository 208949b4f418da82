//! A delivery: one post going to one account, and the status machine it moves through.
//!
//! `SCHEDULED → QUEUED → PUBLISHING → PUBLISHED`, or `FAILED`, `IN_DOUBT`, `CANCELED`; a post that waits for approval
//! holds its deliveries in `PENDING_APPROVAL` (no timer: nothing dispatches them) until it is approved. Every transition here returns a
//! new value with the version bumped; the store writes it only if the stored version is still the one it was read at.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, DeliveryKey, PostId, WorkspaceId};
use super::options::TargetOptions;
use super::platform::PlatformKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Held until the post is approved; never dispatched.
    PendingApproval,
    Scheduled,
    Queued,
    Publishing,
    Published,
    Failed,
    InDoubt,
    Canceled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 8] = [
        DeliveryStatus::PendingApproval,
        DeliveryStatus::Scheduled,
        DeliveryStatus::Queued,
        DeliveryStatus::Publishing,
        DeliveryStatus::Published,
        DeliveryStatus::Failed,
        DeliveryStatus::InDoubt,
        DeliveryStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::PendingApproval => "pending_approval",
            DeliveryStatus::Scheduled => "scheduled",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Publishing => "publishing",
            DeliveryStatus::Published => "published",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::InDoubt => "in_doubt",
            DeliveryStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A terminal delivery never moves again on its own (a person may retry a failed or in-doubt one).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Published
                | DeliveryStatus::Failed
                | DeliveryStatus::InDoubt
                | DeliveryStatus::Canceled
        )
    }

    /// Whether a delivery in this status has a timer (`wake_at`): every live status but `pending_approval`, which
    /// waits for a person, not for a time.
    pub fn has_timer(self) -> bool {
        !self.is_terminal() && self != DeliveryStatus::PendingApproval
    }
}

/// Why a delivery failed, is in doubt, was canceled or is waiting to be retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryError {
    /// A stable snake_case code, for example `rate_limited`, `rejected`, `data_deletion`.
    pub code: String,
    /// What happened, for a person; includes the platform's own answer where there was one.
    pub message: String,
}

impl DeliveryError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub account_id: AccountId,
    pub platform: PlatformKind,
    /// Replaces the post's text (a thread's first part's) for this account, if set.
    pub text: Option<String>,
    /// What the person chose for this target on its platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<TargetOptions>,
    pub status: DeliveryStatus,
    pub scheduled_at: DateTime<Utc>,
    /// When the dispatcher must next look at this delivery: its due time while scheduled, the deadline to queue it
    /// again while queued, the end of the lease while publishing; `None` once terminal.
    pub wake_at: Option<DateTime<Utc>>,
    pub version: u64,
    /// Publishing attempts made in this generation.
    pub attempts: u32,
    /// Bumped when a person retries a failed or in-doubt delivery, so platform idempotency keys change with it.
    pub generation: u32,
    pub attempt_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// What the platform adapter recorded mid-publish (a container id, a publish id) so a crash can be recovered.
    pub checkpoint: Option<serde_json::Value>,
    /// Set just before a call that may publish goes out, and cleared once its outcome is known. While it is set,
    /// whoever claims the delivery next must first ask the platform whether that call landed; while it is not, an
    /// attempt that died left nothing on the platform and the next claim starts afresh.
    #[serde(default)]
    pub publish_sent_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub platform_post_id: Option<String>,
    pub permalink: Option<String>,
    /// For a thread, each part published so far, in order; each is recorded before the next part starts, so a crash
    /// resumes at the first part not in this list and never publishes one twice. Empty for a single post.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Published>,
    /// Something the person should know about how the post landed, from the platform (a video locked private).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub error: Option<DeliveryError>,
    pub updated_at: DateTime<Utc>,
}

/// A post (or one part of a thread) as it landed on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub platform_post_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    /// What a reply to this post must name besides its id, where the platform asks for more (the content id of a
    /// Bluesky record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_ref: Option<String>,
    /// Something the person should know about how it landed (YouTube locked a video private), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl Published {
    pub fn new(platform_post_id: impl Into<String>, permalink: Option<String>) -> Self {
        Self {
            platform_post_id: platform_post_id.into(),
            permalink,
            reply_ref: None,
            notice: None,
        }
    }

    /// The same, with something the person should know about it.
    pub fn with_notice(self, notice: impl Into<String>) -> Self {
        Self {
            notice: Some(notice.into()),
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} delivery cannot become {to}")]
pub struct InvalidTransition {
    pub from: &'static str,
    pub to: &'static str,
}

/// What a publisher holds after claiming a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A fresh attempt: nothing was sent to the platform before.
    Fresh,
    /// An earlier attempt's lease ran out mid-publish: ask the platform whether it landed before anything else.
    Recover { previous_attempt: String },
}

impl Delivery {
    pub fn new(
        workspace_id: WorkspaceId,
        post_id: PostId,
        account_id: AccountId,
        platform: PlatformKind,
        text: Option<String>,
        scheduled_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            workspace_id,
            post_id,
            account_id,
            platform,
            text,
            options: None,
            status: DeliveryStatus::Scheduled,
            scheduled_at,
            wake_at: Some(scheduled_at),
            version: 1,
            attempts: 0,
            generation: 0,
            attempt_id: None,
            lease_until: None,
            checkpoint: None,
            publish_sent_at: None,
            published_at: None,
            platform_post_id: None,
            permalink: None,
            parts: Vec::new(),
            notice: None,
            error: None,
            updated_at: now,
        }
    }

    pub fn key(&self) -> DeliveryKey {
        DeliveryKey {
            workspace_id: self.workspace_id.clone(),
            post_id: self.post_id.clone(),
            account_id: self.account_id.clone(),
        }
    }

    /// The idempotency key a platform sees for this delivery's current generation.
    pub fn idempotency_key(&self) -> String {
        if self.generation == 0 {
            self.key().idempotency_key()
        } else {
            format!("{}.{}", self.key().idempotency_key(), self.generation)
        }
    }

    /// The idempotency key of part `index` of a thread (part 0 is the delivery's own key, so a single post keeps it).
    pub fn part_idempotency_key(&self, index: usize) -> String {
        match index {
            0 => self.idempotency_key(),
            i => format!("{}.p{i}", self.idempotency_key()),
        }
    }

    /// Still editable by the user: scheduled (or held for approval) and never attempted.
    pub fn is_untouched(&self) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Scheduled | DeliveryStatus::PendingApproval
        ) && self.attempts == 0
            && self.generation == 0
    }

    fn next(&self, status: DeliveryStatus, now: DateTime<Utc>) -> Self {
        let mut d = self.clone();
        d.status = status;
        d.version += 1;
        d.updated_at = now;
        d
    }

    fn refuse(&self, to: DeliveryStatus) -> InvalidTransition {
        InvalidTransition {
            from: self.status.as_str(),
            to: to.as_str(),
        }
    }

    /// The dispatcher hands a due delivery to the queue. `requeue_after` is how long it may stay queued before the
    /// dispatcher sends it again.
    pub fn queue(
        &self,
        now: DateTime<Utc>,
        requeue_after: Duration,
    ) -> Result<Self, InvalidTransition> {
        match self.status {
            DeliveryStatus::Scheduled => {
                let due = self.wake_at.unwrap_or(self.scheduled_at).max(now);
                let mut d = self.next(DeliveryStatus::Queued, now);
                d.wake_at = Some(due + requeue_after);
                Ok(d)
            }
            // Queued too long (the message was lost) or publishing with an expired lease: send it again. The
            // publisher that receives it decides, from the stored state, whether to publish or to recover.
            DeliveryStatus::Queued | DeliveryStatus::Publishing
                if self.wake_at.is_some_and(|w| w <= now) =>
            {
                let mut d = self.clone();
                d.version += 1;
                d.updated_at = now;
                d.wake_at = Some(now + requeue_after);
                Ok(d)
            }
            _ => Err(self.refuse(DeliveryStatus::Queued)),
        }
    }

    /// A publisher takes the delivery for one attempt, before any platform call.
    pub fn claim(
        &self,
        now: DateTime<Utc>,
        attempt_id: &str,
        lease: Duration,
    ) -> Result<(Self, Claim), InvalidTransition> {
        let claimable = match self.status {
            DeliveryStatus::Queued => true,
            DeliveryStatus::Publishing => self.lease_until.is_some_and(|l| l <= now),
            _ => false,
        };
        if !claimable {
            return Err(self.refuse(DeliveryStatus::Publishing));
        }
        let claim = if self.may_have_landed() {
            // An earlier attempt sent something and nobody learned how it ended.
            Claim::Recover {
                previous_attempt: self.attempt_id.clone().unwrap_or_default(),
            }
        } else {
            Claim::Fresh
        };
        let mut d = self.next(DeliveryStatus::Publishing, now);
        d.attempt_id = Some(attempt_id.to_owned());
        d.lease_until = Some(now + lease);
        d.wake_at = Some(now + lease);
        d.attempts += 1;
        Ok((d, claim))
    }

    /// [`claim`](Self::claim), with the call marked as sent in the same write (see [`sending`](Self::sending)): for
    /// platforms that can always say whether an attempt landed, where a crash before the call costs only a question
    /// and the separate mark would cost a write per delivery.
    pub fn claim_sending(
        &self,
        now: DateTime<Utc>,
        attempt_id: &str,
        lease: Duration,
    ) -> Result<(Self, Claim), InvalidTransition> {
        let (mut d, claim) = self.claim(now, attempt_id, lease)?;
        d.publish_sent_at = Some(now);
        Ok((d, claim))
    }

    /// Whether an earlier attempt may have reached the platform without its outcome being recorded.
    pub fn may_have_landed(&self) -> bool {
        self.publish_sent_at.is_some() || self.checkpoint.is_some()
    }

    fn check_attempt(&self, attempt_id: &str, to: DeliveryStatus) -> Result<(), InvalidTransition> {
        if self.status == DeliveryStatus::Publishing
            && self.attempt_id.as_deref() == Some(attempt_id)
        {
            Ok(())
        } else {
            Err(self.refuse(to))
        }
    }

    /// The attempt holding the claim keeps it until `until` (it is still working).
    pub fn renew_lease(
        &self,
        attempt_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.check_attempt(attempt_id, DeliveryStatus::Publishing)?;
        let mut d = self.next(DeliveryStatus::Publishing, now);
        d.lease_until = Some(until);
        d.wake_at = Some(until);
        Ok(d)
    }

    /// The attempt is about to send a call that may publish: from now on, a crash leaves a delivery that must be
    /// recovered rather than published again. The lease is renewed to `until` in the same write.
    pub fn sending(
        &self,
        attempt_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        let mut d = self.renew_lease(attempt_id, until, now)?;
        d.publish_sent_at = Some(now);
        Ok(d)
    }

    /// The attempt records what the platform told it mid-publish, so a crash after this point can be recovered, and
    /// renews its lease to `until`.
    pub fn with_checkpoint(
        &self,
        attempt_id: &str,
        checkpoint: serde_json::Value,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        let mut d = self.renew_lease(attempt_id, until, now)?;
        d.checkpoint = Some(checkpoint);
        Ok(d)
    }

    /// A part of a thread landed: record it (with the lease renewed to `until`) before the next part starts. The
    /// adapter's checkpoint belonged to that part and is cleared; the sent mark is cleared too, or set again at once
    /// when `next_sent` (a platform that can always tell whether a call landed saves the write that would mark the
    /// next part's call).
    pub fn with_part(
        &self,
        attempt_id: &str,
        part: Published,
        next_sent: bool,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        let mut d = self.renew_lease(attempt_id, until, now)?;
        d.parts.push(part);
        d.checkpoint = None;
        d.publish_sent_at = next_sent.then_some(now);
        Ok(d)
    }

    pub fn published(
        &self,
        attempt_id: &str,
        platform_post_id: String,
        permalink: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.check_attempt(attempt_id, DeliveryStatus::Published)?;
        let mut d = self.end(DeliveryStatus::Published, None, now);
        d.platform_post_id = Some(platform_post_id);
        d.permalink = permalink;
        d.published_at = Some(now);
        Ok(d)
    }

    /// The last part landed (the only part of a single post): the delivery is published. A thread is known by its
    /// first part's id and permalink, and lists every part.
    pub fn published_last(
        &self,
        attempt_id: &str,
        last: Published,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        let notice = self
            .parts
            .iter()
            .chain(std::iter::once(&last))
            .find_map(|p| p.notice.clone());
        let mut d = match self.parts.first().cloned() {
            None => self.published(
                attempt_id,
                last.platform_post_id.clone(),
                last.permalink.clone(),
                now,
            )?,
            Some(root) => {
                let mut d =
                    self.published(attempt_id, root.platform_post_id, root.permalink, now)?;
                d.parts.push(last);
                d
            }
        };
        d.notice = notice;
        Ok(d)
    }

    /// Nothing reached the platform; try again at `at`.
    pub fn retry_at(
        &self,
        attempt_id: &str,
        at: DateTime<Utc>,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.check_attempt(attempt_id, DeliveryStatus::Scheduled)?;
        let mut d = self.next(DeliveryStatus::Scheduled, now);
        d.wake_at = Some(at);
        d.lease_until = None;
        d.checkpoint = None;
        d.publish_sent_at = None;
        d.error = Some(error);
        Ok(d)
    }

    /// The attempt made no platform call (a rate limit held it back): try again at `at`, and give the attempt back so
    /// waiting never uses up the delivery's attempts.
    pub fn defer(
        &self,
        attempt_id: &str,
        at: DateTime<Utc>,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        let mut d = self.retry_at(attempt_id, at, error, now)?;
        d.attempts = d.attempts.saturating_sub(1);
        Ok(d)
    }

    /// An earlier attempt may have landed and the platform could not be asked yet: keep the delivery publishing, with
    /// what recovery needs, and let its lease run out at `at` so the dispatcher sends it again to be recovered.
    pub fn recover_later(
        &self,
        attempt_id: &str,
        at: DateTime<Utc>,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.check_attempt(attempt_id, DeliveryStatus::Publishing)?;
        let mut d = self.next(DeliveryStatus::Publishing, now);
        d.lease_until = Some(at);
        d.wake_at = Some(at);
        d.error = Some(error);
        Ok(d)
    }

    /// The platform is still processing what the attempt sent (its checkpoint says what): keep the delivery
    /// publishing with its checkpoint and sent mark, let its lease run out at `at`, when it comes back to continue
    /// from the checkpoint, and give the attempt back, so waiting on the platform never uses up attempts (the adapter
    /// bounds the whole wait).
    pub fn resume_at(
        &self,
        attempt_id: &str,
        at: DateTime<Utc>,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        let mut d = self.recover_later(attempt_id, at, error, now)?;
        d.attempts = d.attempts.saturating_sub(1);
        Ok(d)
    }

    pub fn failed(
        &self,
        attempt_id: &str,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.check_attempt(attempt_id, DeliveryStatus::Failed)?;
        Ok(self.end(DeliveryStatus::Failed, Some(error), now))
    }

    pub fn in_doubt(
        &self,
        attempt_id: &str,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.check_attempt(attempt_id, DeliveryStatus::InDoubt)?;
        Ok(self.end(DeliveryStatus::InDoubt, Some(error), now))
    }

    /// The delivery stops for good in `status`, with `error` kept for the person: no timer, no lease, no sent mark.
    fn end(
        &self,
        status: DeliveryStatus,
        error: Option<DeliveryError>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut d = self.next(status, now);
        d.wake_at = None;
        d.lease_until = None;
        d.publish_sent_at = None;
        d.error = error;
        d
    }

    /// Ends a delivery that has not started publishing.
    fn end_pending(
        &self,
        status: DeliveryStatus,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        match self.status {
            DeliveryStatus::PendingApproval
            | DeliveryStatus::Scheduled
            | DeliveryStatus::Queued => Ok(self.end(status, Some(error), now)),
            _ => Err(self.refuse(status)),
        }
    }

    /// Stops a delivery that has not started publishing.
    pub fn cancel(
        &self,
        reason: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.end_pending(DeliveryStatus::Canceled, reason, now)
    }

    /// Stops a delivery that has not started publishing, as failed: its account can no longer publish.
    pub fn fail_pending(
        &self,
        error: DeliveryError,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        self.end_pending(DeliveryStatus::Failed, error, now)
    }

    /// A person asks for another try. An in-doubt delivery may already be on the platform, so it needs `confirm`.
    pub fn retry_by_person(
        &self,
        confirm: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        match (self.status, confirm) {
            (DeliveryStatus::Failed, _) | (DeliveryStatus::InDoubt, true) => {
                let mut d = self.next(DeliveryStatus::Scheduled, now);
                d.wake_at = Some(now);
                d.attempts = 0;
                d.generation += 1;
                d.attempt_id = None;
                d.lease_until = None;
                d.checkpoint = None;
                d.publish_sent_at = None;
                d.error = None;
                Ok(d)
            }
            _ => Err(self.refuse(DeliveryStatus::Scheduled)),
        }
    }

    /// An untouched delivery (scheduled, or held for approval) gets a new time or text (the post was edited); it
    /// keeps its status.
    pub fn reschedule(
        &self,
        scheduled_at: DateTime<Utc>,
        text: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidTransition> {
        if !self.is_untouched() {
            return Err(self.refuse(self.status));
        }
        let mut d = self.next(self.status, now);
        d.scheduled_at = scheduled_at;
        d.wake_at = (d.status == DeliveryStatus::Scheduled).then_some(scheduled_at);
        d.text = text;
        Ok(d)
    }

    /// The post must wait for approval: an untouched delivery is held, with no timer, so nothing dispatches it.
    pub fn hold_for_approval(&self, now: DateTime<Utc>) -> Result<Self, InvalidTransition> {
        if !self.is_untouched() {
            return Err(self.refuse(DeliveryStatus::PendingApproval));
        }
        let mut d = self.next(DeliveryStatus::PendingApproval, now);
        d.wake_at = None;
        Ok(d)
    }

    /// The post was approved: a held delivery is scheduled for its time (at once if that has passed).
    pub fn approve(&self, now: DateTime<Utc>) -> Result<Self, InvalidTransition> {
        if self.status != DeliveryStatus::PendingApproval {
            return Err(self.refuse(DeliveryStatus::Scheduled));
        }
        let mut d = self.next(DeliveryStatus::Scheduled, now);
        d.wake_at = Some(self.scheduled_at);
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fresh() -> Delivery {
        let now = Utc::now();
        Delivery::new(
            WorkspaceId::generate(),
            PostId::generate(),
            AccountId::generate(),
            PlatformKind::Sandbox,
            None,
            now,
            now,
        )
    }

    #[test]
    fn a_delivery_walks_the_happy_path_and_each_step_bumps_the_version() {
        let now = Utc::now();
        let d = fresh();
        let q = d.queue(now, Duration::seconds(120)).unwrap();
        assert_eq!(q.status, DeliveryStatus::Queued);
        let (p, claim) = q.claim(now, "a1", Duration::seconds(60)).unwrap();
        assert_eq!(claim, Claim::Fresh);
        let done = p.published("a1", "123".into(), None, now).unwrap();
        assert_eq!(done.status, DeliveryStatus::Published);
        assert_eq!(done.wake_at, None);
        assert_eq!(done.version, d.version + 3);
    }

    #[test]
    fn only_the_attempt_holding_the_claim_may_record_a_result() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(60))
            .unwrap();
        assert!(p.published("a2", "x".into(), None, now).is_err());
        assert!(p.failed("a2", DeliveryError::new("x", "y"), now).is_err());
    }

    #[test]
    fn a_claim_that_carries_the_sent_mark_is_recovered_by_the_next_claim() {
        let now = Utc::now();
        let q = fresh().queue(now, Duration::seconds(1)).unwrap();
        let (p, claim) = q.claim_sending(now, "a1", Duration::seconds(60)).unwrap();
        assert_eq!(claim, Claim::Fresh);
        assert_eq!(p.publish_sent_at, Some(now));
        assert_eq!(p.version, q.version + 1, "one write");
        let later = now + Duration::seconds(61);
        let (_, claim) = p.claim(later, "a2", Duration::seconds(60)).unwrap();
        assert_eq!(
            claim,
            Claim::Recover {
                previous_attempt: "a1".into()
            }
        );
        let retried = p
            .retry_at("a1", later, DeliveryError::new("x", "y"), now)
            .unwrap();
        assert_eq!(retried.publish_sent_at, None, "an outcome clears the mark");
    }

    #[test]
    fn waiting_on_the_platform_keeps_the_checkpoint_and_gives_the_attempt_back() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim_sending(now, "a1", Duration::seconds(60))
            .unwrap();
        let checkpoint = serde_json::json!({"meta_container": {"id": "c1"}});
        let p = p
            .with_checkpoint("a1", checkpoint.clone(), now + Duration::seconds(60), now)
            .unwrap();
        let at = now + Duration::seconds(4);
        let waiting = p
            .resume_at("a1", at, DeliveryError::new("processing", "x"), now)
            .unwrap();
        assert_eq!(waiting.status, DeliveryStatus::Publishing);
        assert_eq!(waiting.checkpoint, Some(checkpoint));
        assert_eq!(waiting.attempts, p.attempts - 1);
        assert_eq!((waiting.lease_until, waiting.wake_at), (Some(at), Some(at)));
        assert!(waiting.claim(now, "a2", Duration::seconds(60)).is_err());
        let (_, claim) = waiting.claim(at, "a2", Duration::seconds(60)).unwrap();
        assert_eq!(
            claim,
            Claim::Recover {
                previous_attempt: "a1".into()
            },
            "the next attempt continues from the checkpoint"
        );
        assert!(p
            .resume_at("a2", at, DeliveryError::new("processing", "x"), now)
            .is_err());
    }

    #[test]
    fn a_live_lease_cannot_be_claimed_but_an_expired_one_is_recovered() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(60))
            .unwrap();
        let sent = p.sending("a1", now + Duration::seconds(60), now).unwrap();
        assert!(sent.claim(now, "a2", Duration::seconds(60)).is_err());
        let later = now + Duration::seconds(61);
        let (recovering, claim) = sent.claim(later, "a2", Duration::seconds(60)).unwrap();
        assert_eq!(
            claim,
            Claim::Recover {
                previous_attempt: "a1".into()
            }
        );
        assert!(
            recovering.publish_sent_at.is_some(),
            "the mark stays until someone learns the outcome"
        );
    }

    #[test]
    fn an_attempt_that_died_before_sending_anything_is_claimed_afresh() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(60))
            .unwrap();
        let later = now + Duration::seconds(61);
        let (_, claim) = p.claim(later, "a2", Duration::seconds(60)).unwrap();
        assert_eq!(claim, Claim::Fresh);
    }

    #[test]
    fn a_lease_is_renewed_only_by_the_attempt_holding_it() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(10))
            .unwrap();
        let until = now + Duration::seconds(30);
        let renewed = p.renew_lease("a1", until, now).unwrap();
        assert_eq!(renewed.lease_until, Some(until));
        assert_eq!(
            renewed.wake_at,
            Some(until),
            "the dispatcher's timer follows the lease"
        );
        assert!(p.renew_lease("a2", until, now).is_err());
        let checkpointed = renewed
            .with_checkpoint("a1", serde_json::json!({"container": "c1"}), until, now)
            .unwrap();
        let (_, claim) = checkpointed
            .claim(until, "a2", Duration::seconds(10))
            .unwrap();
        assert!(matches!(claim, Claim::Recover { .. }));
    }

    #[test]
    fn waiting_for_a_rate_limit_gives_the_attempt_back() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(60))
            .unwrap();
        assert_eq!(p.attempts, 1);
        let at = now + Duration::seconds(30);
        let held = p
            .defer("a1", at, DeliveryError::new("rate_limited", "wait"), now)
            .unwrap();
        assert_eq!(held.status, DeliveryStatus::Scheduled);
        assert_eq!(held.attempts, 0);
        assert_eq!(held.wake_at, Some(at));
    }

    #[test]
    fn recovering_later_keeps_the_delivery_publishing_until_the_platform_can_be_asked() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(60))
            .unwrap();
        let sent = p.sending("a1", now + Duration::seconds(60), now).unwrap();
        let at = now + Duration::seconds(5);
        let waiting = sent
            .recover_later(
                "a1",
                at,
                DeliveryError::new("unknown_outcome", "timeout"),
                now,
            )
            .unwrap();
        assert_eq!(waiting.status, DeliveryStatus::Publishing);
        assert_eq!(waiting.wake_at, Some(at));
        assert!(waiting.claim(now, "a2", Duration::seconds(60)).is_err());
        let (_, claim) = waiting.claim(at, "a2", Duration::seconds(60)).unwrap();
        assert!(matches!(claim, Claim::Recover { .. }));
    }

    #[test]
    fn in_doubt_needs_confirmation_to_retry() {
        let now = Utc::now();
        let (p, _) = fresh()
            .queue(now, Duration::seconds(1))
            .unwrap()
            .claim(now, "a1", Duration::seconds(60))
            .unwrap();
        let doubt = p
            .in_doubt("a1", DeliveryError::new("unknown", "timeout"), now)
            .unwrap();
        assert!(doubt.retry_by_person(false, now).is_err());
        let again = doubt.retry_by_person(true, now).unwrap();
        assert_eq!(again.status, DeliveryStatus::Scheduled);
        assert_ne!(again.idempotency_key(), doubt.idempotency_key());
    }

    #[test]
    fn a_held_delivery_is_never_queued_until_approved() {
        let now = Utc::now();
        let held = fresh().hold_for_approval(now).unwrap();
        assert_eq!(held.status, DeliveryStatus::PendingApproval);
        assert_eq!(held.wake_at, None, "no timer: the dispatcher never sees it");
        assert!(held
            .queue(now + Duration::days(1), Duration::seconds(1))
            .is_err());
        assert!(held.claim(now, "a1", Duration::seconds(1)).is_err());
        let edited = held
            .reschedule(now + Duration::hours(1), Some("new".into()), now)
            .unwrap();
        assert_eq!(
            edited.status,
            DeliveryStatus::PendingApproval,
            "an edit keeps it held"
        );
        assert_eq!(edited.wake_at, None);
        let approved = edited.approve(now).unwrap();
        assert_eq!(approved.status, DeliveryStatus::Scheduled);
        assert_eq!(approved.wake_at, Some(now + Duration::hours(1)));
        assert!(approved.approve(now).is_err());
        let again = approved.hold_for_approval(now).unwrap();
        assert_eq!(again.status, DeliveryStatus::PendingApproval);
        let queued = approved.queue(now, Duration::seconds(1)).unwrap();
        assert!(
            queued.hold_for_approval(now).is_err(),
            "a queued delivery cannot be held"
        );
        assert_eq!(
            held.cancel(DeliveryError::new("c", "c"), now)
                .unwrap()
                .status,
            DeliveryStatus::Canceled
        );
    }

    #[derive(Debug, Clone)]
    enum Step {
        Hold,
        Approve,
        Queue,
        Claim(u8),
        Send(u8),
        Publish(u8),
        Retry(u8),
        Defer(u8),
        RecoverLater(u8),
        Fail(u8),
        Doubt(u8),
        Cancel,
        PersonRetry(bool),
        Advance(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Hold),
            Just(Step::Approve),
            Just(Step::Queue),
            (0u8..3).prop_map(Step::Claim),
            (0u8..3).prop_map(Step::Send),
            (0u8..3).prop_map(Step::Publish),
            (0u8..3).prop_map(Step::Retry),
            (0u8..3).prop_map(Step::Defer),
            (0u8..3).prop_map(Step::RecoverLater),
            (0u8..3).prop_map(Step::Fail),
            (0u8..3).prop_map(Step::Doubt),
            Just(Step::Cancel),
            any::<bool>().prop_map(Step::PersonRetry),
            (0u16..400).prop_map(Step::Advance),
        ]
    }

    proptest! {
        /// Whatever happens, a published delivery stays published, versions only grow, and terminal and held
        /// deliveries have no timer while the others always have one.
        #[test]
        fn the_status_machine_keeps_its_invariants(steps in proptest::collection::vec(step(), 0..40)) {
            let mut now = Utc::now();
            let mut d = fresh();
            for s in steps {
                let before = d.clone();
                let next = match s {
                    Step::Hold => d.hold_for_approval(now).ok(),
                    Step::Approve => d.approve(now).ok(),
                    Step::Queue => d.queue(now, Duration::seconds(120)).ok(),
                    Step::Claim(a) => match d.claim(now, &format!("a{a}"), Duration::seconds(60)) {
                        Ok((claimed, claim)) => {
                            // A claim recovers exactly when an earlier attempt may have reached the platform.
                            prop_assert_eq!(matches!(claim, Claim::Recover { .. }), d.may_have_landed());
                            Some(claimed)
                        }
                        Err(_) => None,
                    },
                    Step::Send(a) => d.sending(&format!("a{a}"), now + Duration::seconds(60), now).ok(),
                    Step::Publish(a) => d.published(&format!("a{a}"), "id".into(), None, now).ok(),
                    Step::Retry(a) => d.retry_at(&format!("a{a}"), now, DeliveryError::new("t", "t"), now).ok(),
                    Step::Defer(a) => d.defer(&format!("a{a}"), now, DeliveryError::new("t", "t"), now).ok(),
                    Step::RecoverLater(a) => d.recover_later(&format!("a{a}"), now, DeliveryError::new("t", "t"), now).ok(),
                    Step::Fail(a) => d.failed(&format!("a{a}"), DeliveryError::new("f", "f"), now).ok(),
                    Step::Doubt(a) => d.in_doubt(&format!("a{a}"), DeliveryError::new("u", "u"), now).ok(),
                    Step::Cancel => d.cancel(DeliveryError::new("c", "c"), now).ok(),
                    Step::PersonRetry(c) => d.retry_by_person(c, now).ok(),
                    Step::Advance(s) => { now += Duration::seconds(i64::from(s)); None }
                };
                if let Some(n) = next {
                    prop_assert!(n.version > before.version);
                    prop_assert!(before.status != DeliveryStatus::Published, "published moved to {:?}", n.status);
                    prop_assert!(before.status != DeliveryStatus::Canceled);
                    d = n;
                }
                prop_assert_eq!(d.status.has_timer(), d.wake_at.is_some());
                // A held delivery has never been attempted: approval comes before any publishing.
                prop_assert!(d.status != DeliveryStatus::PendingApproval || d.is_untouched());
                // Only a delivery that is publishing can have a call out whose outcome nobody knows.
                prop_assert!(d.publish_sent_at.is_none() || d.status == DeliveryStatus::Publishing);
            }
        }
    }

    #[test]
    fn a_notice_from_any_part_is_kept_on_the_published_delivery() {
        let now = Utc::now();
        let q = fresh().queue(now, Duration::seconds(120)).unwrap();
        let (claimed, _) = q.claim(now, "a1", Duration::seconds(60)).unwrap();
        let first = Published::new("p1", None).with_notice("made private");
        let one = claimed
            .with_part("a1", first, false, now + Duration::seconds(60), now)
            .unwrap();
        let done = one
            .published_last("a1", Published::new("p2", None), now)
            .unwrap();
        assert_eq!(done.notice.as_deref(), Some("made private"));
        assert_eq!(done.platform_post_id.as_deref(), Some("p1"));
        assert_eq!(done.parts.len(), 2);
    }
}
