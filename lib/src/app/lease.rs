//! One publishing attempt and the lease it holds on its delivery.
//!
//! The claim gives the attempt a lease; another publisher may take the delivery over once the lease has run out. So
//! an attempt never lets a platform call outlive its lease unnoticed: before a call that may publish it renews the
//! lease (in the same write that marks the call as sent), checkpoints renew it again, and the call itself is cut off
//! a margin before the lease ends, so the attempt can still record what it knows before anyone else may claim. A cut
//! call counts as one whose outcome is unknown.
//!
//! An attempt may also run inside an invocation that ends at a fixed time (a Lambda invocation: its deadline). Then
//! the attempt's deadline is the earlier of the two: the lease's, or the invocation's less [`RECORD_MARGIN`], so the
//! outcome is always written before the invocation is stopped. Both cut calls the same way, in
//! [`Attempt::within_lease`], and adapters that wait on the platform see the time left through
//! [`Progress::time_left`].
//!
//! Every write is conditional on the version read; a write that finds another version re-reads the delivery and
//! tries again only while this attempt still holds the claim (the dispatcher touches a delivery whose lease ran out
//! without taking the claim away).

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::App;
use crate::domain::{AuditEntry, Delivery, DeliveryStatus, InvalidTransition, Published};
use crate::ports::StoreError;
use crate::ports::{PlatformError, Progress};

/// Writes of one attempt that meet load are tried this many times, with a short doubling pause between.
const WRITE_TRIES: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// How long before an invocation's end an attempt stops waiting on the platform, so that it can still record its
/// outcome (a conditional write, retried on load as above), settle its message and put its events on the bus.
pub const RECORD_MARGIN: Duration = Duration::from_secs(5);

/// When an attempt's platform calls must have ended: `lease_margin` before its lease runs out, or `record_margin`
/// before the invocation running it ends, whichever comes first.
pub fn attempt_deadline(
    lease_until: DateTime<Utc>,
    lease_margin: Duration,
    invocation_ends: Option<DateTime<Utc>>,
    record_margin: Duration,
) -> DateTime<Utc> {
    let before = |t: DateTime<Utc>, margin: Duration| {
        chrono::Duration::from_std(margin)
            .ok()
            .and_then(|m| t.checked_sub_signed(m))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let by_lease = before(lease_until, lease_margin);
    match invocation_ends {
        Some(ends) => by_lease.min(before(ends, record_margin)),
        None => by_lease,
    }
}

/// Makes the audit entry about a delivery as it is about to be written, at the time of the write.
type AuditOf<'f> = dyn Fn(&Delivery, DateTime<Utc>) -> AuditEntry + Sync + 'f;

/// Why an attempt could not write its delivery.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another attempt holds the delivery now, or it is no longer publishing.
    #[error("the claim on the delivery was lost")]
    Lost,
    /// The store would not take the write.
    #[error(transparent)]
    Store(StoreError),
}

/// A claimed delivery, as this attempt last wrote it.
pub struct Attempt<'a> {
    app: &'a App,
    id: String,
    delivery: tokio::sync::Mutex<Delivery>,
    lease_until: std::sync::Mutex<DateTime<Utc>>,
    /// When the invocation running this attempt ends, if it ends at a fixed time.
    invocation_ends: Option<DateTime<Utc>>,
}

impl<'a> Attempt<'a> {
    /// An attempt on a claimed delivery; `invocation_ends` is when the invocation running it will be stopped, if it
    /// will be (on Lambda, the invocation's deadline).
    pub fn new(
        app: &'a App,
        id: String,
        claimed: Delivery,
        invocation_ends: Option<DateTime<Utc>>,
    ) -> Self {
        let lease_until = claimed.lease_until.unwrap_or_else(|| app.now());
        Self {
            app,
            id,
            delivery: tokio::sync::Mutex::new(claimed),
            lease_until: std::sync::Mutex::new(lease_until),
            invocation_ends,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The delivery as this attempt last wrote or read it.
    pub async fn delivery(&self) -> Delivery {
        self.delivery.lock().await.clone()
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.app.settings.publisher.lease).unwrap_or_default()
    }

    /// When a platform call must have ended: a margin before the lease runs out, or before the invocation ends
    /// (see [`attempt_deadline`]).
    pub fn deadline(&self) -> DateTime<Utc> {
        let until = *self.lease_until.lock().unwrap_or_else(|e| e.into_inner());
        attempt_deadline(
            until,
            self.app.settings.publisher.lease_margin(),
            self.invocation_ends,
            RECORD_MARGIN,
        )
    }

    /// How long until [`deadline`](Self::deadline); zero once it has passed.
    pub fn time_left(&self) -> Duration {
        (self.deadline() - self.app.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    /// Marks that a call which may publish is about to go out, renewing the lease for it. Nothing may be sent if
    /// this fails.
    pub async fn sending(&self) -> Result<(), LeaseError> {
        let (id, until) = (self.id.clone(), self.app.now() + self.lease());
        self.write(move |d, now| d.sending(&id, until, now)).await
    }

    /// A part of a thread landed: record it before the next part starts (see [`Delivery::with_part`]).
    pub async fn part_published(&self, part: Published, next_sent: bool) -> Result<(), LeaseError> {
        let (id, until) = (self.id.clone(), self.app.now() + self.lease());
        self.write(move |d, now| d.with_part(&id, part.clone(), next_sent, until, now))
            .await
    }

    /// Runs a platform call, cutting it off at the deadline. Checkpoints written meanwhile move the lease's part of
    /// the deadline on; the invocation's part never moves.
    pub async fn within_lease<T>(
        &self,
        call: impl Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, PlatformError> {
        tokio::pin!(call);
        loop {
            let left = self.time_left();
            tokio::select! {
                result = &mut call => return result,
                _ = tokio::time::sleep(left) => {
                    if self.deadline() <= self.app.now() {
                        return Err(PlatformError::Unknown(
                            "the platform call did not finish within the attempt's deadline".into(),
                        ));
                    }
                }
            }
        }
    }

    /// Writes the result of this attempt (`change` is a terminal move or a retry), conditional on still holding the
    /// claim. Load is retried a few times: a result that is known but not written would have to be recovered.
    ///
    /// `audit` makes the entry about the delivery as written; it goes into the same write, so a result costs one
    /// request and the log never tells of a result that was not recorded.
    pub async fn finish(
        &self,
        change: impl Fn(&Delivery, DateTime<Utc>) -> Result<Delivery, InvalidTransition>,
        audit: impl Fn(&Delivery, DateTime<Utc>) -> AuditEntry + Sync,
    ) -> Result<Delivery, LeaseError> {
        self.write_with(change, Some(&audit)).await?;
        Ok(self.delivery().await)
    }

    /// One conditional write of a change to the delivery, kept on the claim: a version conflict re-reads and tries
    /// again while this attempt still holds the claim; load is retried with a short pause.
    async fn write(
        &self,
        change: impl Fn(&Delivery, DateTime<Utc>) -> Result<Delivery, InvalidTransition>,
    ) -> Result<(), LeaseError> {
        self.write_with(change, None).await
    }

    /// [`write`](Self::write), with an audit entry about the written delivery appended in the same write.
    async fn write_with(
        &self,
        change: impl Fn(&Delivery, DateTime<Utc>) -> Result<Delivery, InvalidTransition>,
        audit: Option<&AuditOf<'_>>,
    ) -> Result<(), LeaseError> {
        let mut current = self.delivery.lock().await;
        let mut pause = FIRST_PAUSE;
        for tries in 1..=WRITE_TRIES {
            let now = self.app.now();
            let next = change(&current, now).map_err(|_| LeaseError::Lost)?;
            let posts = &self.app.stores.posts;
            let saved = match audit {
                Some(audit) => {
                    posts
                        .save_delivery_with_audit(&next, current.version, &audit(&next, now))
                        .await
                }
                None => posts.save_delivery(&next, current.version).await,
            };
            let failure = match saved {
                Ok(()) => {
                    if let Some(until) = next.lease_until {
                        *self.lease_until.lock().unwrap_or_else(|e| e.into_inner()) = until;
                    }
                    *current = next;
                    return Ok(());
                }
                Err(StoreError::Conflict) => match self.reread(&current).await {
                    Ok(Some(fresh)) => {
                        *current = fresh;
                        continue;
                    }
                    Ok(None) => return Err(LeaseError::Lost),
                    Err(e) => e,
                },
                Err(StoreError::NotFound) => return Err(LeaseError::Lost),
                Err(e) => e,
            };
            if tries == WRITE_TRIES {
                return Err(LeaseError::Store(failure));
            }
            tracing::debug!(error = %failure, "a delivery write met load; trying again");
            tokio::time::sleep(pause).await;
            pause = pause.saturating_mul(2);
        }
        // Every try met a conflict and still held the claim: someone keeps writing, so let the claim go.
        Err(LeaseError::Lost)
    }

    /// The stored delivery, if this attempt still holds its claim.
    async fn reread(&self, current: &Delivery) -> Result<Option<Delivery>, StoreError> {
        let stored = self.app.stores.posts.get_delivery(&current.key()).await?;
        Ok(stored.filter(|d| {
            d.status == DeliveryStatus::Publishing && d.attempt_id.as_deref() == Some(&self.id)
        }))
    }
}

/// Adapters record their progress through the attempt: each checkpoint is written with the claim and renews the
/// lease, so a slow multi-step publish keeps its claim as long as it keeps making progress.
#[async_trait]
impl Progress for Attempt<'_> {
    async fn checkpoint(&self, value: serde_json::Value) -> Result<(), PlatformError> {
        let (id, until) = (self.id.clone(), self.app.now() + self.lease());
        match self
            .write(move |d, now| d.with_checkpoint(&id, value.clone(), until, now))
            .await
        {
            Ok(()) => Ok(()),
            Err(LeaseError::Lost) => Err(PlatformError::Interrupted),
            // The checkpoint could not be written: stop before the platform does anything more.
            Err(LeaseError::Store(e)) => Err(PlatformError::Transient(format!(
                "could not record progress: {e}"
            ))),
        }
    }

    fn time_left(&self) -> Option<Duration> {
        Some(Attempt::time_left(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + secs)
    }

    const TEN: Duration = Duration::from_secs(10);
    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn without_an_invocation_the_lease_sets_the_deadline() {
        assert_eq!(attempt_deadline(at(120), TEN, None, FIVE), at(110));
    }

    #[test]
    fn an_invocation_that_ends_first_sets_the_deadline_less_the_time_to_record() {
        // Lambda stops the invocation at 60 s; the lease would allow 110 s.
        assert_eq!(attempt_deadline(at(120), TEN, Some(at(60)), FIVE), at(55));
        // A lease that ends first still wins.
        assert_eq!(attempt_deadline(at(30), TEN, Some(at(60)), FIVE), at(20));
        // An invocation already nearly over leaves a deadline in the past: calls are cut at once.
        assert_eq!(attempt_deadline(at(120), TEN, Some(at(3)), FIVE), at(-2));
    }

    #[test]
    fn extreme_times_and_margins_do_not_panic() {
        let max = Duration::from_secs(u64::MAX);
        assert_eq!(
            attempt_deadline(DateTime::<Utc>::MIN_UTC, max, Some(at(0)), max),
            DateTime::<Utc>::MIN_UTC
        );
        assert_eq!(
            attempt_deadline(
                DateTime::<Utc>::MAX_UTC,
                TEN,
                Some(DateTime::<Utc>::MAX_UTC),
                FIVE
            ),
            DateTime::<Utc>::MAX_UTC - chrono::Duration::seconds(10)
        );
    }
}
