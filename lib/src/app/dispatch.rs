//! The dispatcher: moves due deliveries onto the queue, each delayed to the second it is due, and sends again any
//! delivery whose requeue deadline or lease ran out. Every move is a conditional write, so overlapping dispatchers
//! do no harm: the loser of a race skips the delivery.

use std::time::Duration;

use serde::Serialize;

use super::App;
use crate::domain::Delivery;
use crate::error::Result;
use crate::ports::{Outgoing, StoreError, MAX_DELIVERY_BATCH, MAX_QUEUE_DELAY};

/// What one dispatcher run did.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct DispatchReport {
    /// Scheduled deliveries moved onto the queue.
    pub queued: usize,
    /// Queued or publishing deliveries sent again after their deadline.
    pub requeued: usize,
    /// Deliveries another dispatcher or publisher changed first.
    pub skipped: usize,
}

/// Most pages one run reads from each index, so a run always ends.
const MAX_PAGES: usize = 50;

impl App {
    /// One dispatcher run.
    pub async fn dispatch_tick(&self) -> Result<DispatchReport> {
        let mut report = DispatchReport::default();
        let horizon =
            chrono::Duration::from_std(self.settings.dispatcher.horizon).unwrap_or_default();
        let batch = self.settings.dispatcher.batch.max(1);
        for _ in 0..MAX_PAGES {
            let due = self
                .stores
                .posts
                .due_deliveries(self.now() + horizon, batch)
                .await?;
            let n = due.len();
            let (sent, skipped) = self.enqueue(due).await?;
            report.queued += sent;
            report.skipped += skipped;
            if n < batch || sent == 0 {
                break;
            }
        }
        for _ in 0..MAX_PAGES {
            let expired = self
                .stores
                .posts
                .expired_deliveries(self.now(), batch)
                .await?;
            let n = expired.len();
            let (sent, skipped) = self.enqueue(expired).await?;
            report.requeued += sent;
            report.skipped += skipped;
            if n < batch || sent == 0 {
                break;
            }
        }
        if report.queued + report.requeued > 0 {
            tracing::debug!(
                queued = report.queued,
                requeued = report.requeued,
                skipped = report.skipped,
                "dispatched"
            );
        }
        Ok(report)
    }

    /// Queues, right away, those of `deliveries` that are due within the dispatcher's horizon (a post created for
    /// now). A failure here is harmless: the dispatcher's next run finds them.
    pub(crate) async fn dispatch_soon(&self, deliveries: &[Delivery]) {
        let horizon =
            chrono::Duration::from_std(self.settings.dispatcher.horizon).unwrap_or_default();
        let limit = self.now() + horizon;
        let soon: Vec<Delivery> = deliveries
            .iter()
            .filter(|d| {
                d.status == crate::domain::DeliveryStatus::Scheduled
                    && d.wake_at.is_some_and(|w| w <= limit)
            })
            .cloned()
            .collect();
        if soon.is_empty() {
            return;
        }
        if let Err(e) = self.enqueue(soon).await {
            tracing::warn!(error = %e, "could not queue a post due now; the dispatcher will");
        }
    }

    /// Moves each delivery to queued (or refreshes its deadline) and sends one message per delivery, delayed until
    /// it is due. Returns (sent, skipped). The moves go to the store in batches, each one all-or-nothing request;
    /// a batch in which another dispatcher or a publisher got to some delivery first is written again one by one,
    /// so only those are skipped.
    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<(usize, usize)> {
        let now = self.now();
        let requeue_after =
            chrono::Duration::from_std(self.settings.dispatcher.requeue_after).unwrap_or_default();
        let mut moves = Vec::with_capacity(deliveries.len());
        let mut skipped = 0;
        for d in deliveries {
            match d.queue(now, requeue_after) {
                Ok(next) => moves.push((d, next)),
                Err(_) => skipped += 1,
            }
        }
        let mut outgoing = Vec::with_capacity(moves.len());
        for batch in moves.chunks(MAX_DELIVERY_BATCH) {
            let changes: Vec<(Delivery, u64)> = batch
                .iter()
                .map(|(d, next)| (next.clone(), d.version))
                .collect();
            let written: Vec<&(Delivery, Delivery)> =
                match self.stores.posts.save_deliveries(&changes).await {
                    Ok(()) => batch.iter().collect(),
                    Err(StoreError::Conflict) => {
                        let mut written = Vec::with_capacity(batch.len());
                        for pair in batch {
                            match self
                                .stores
                                .posts
                                .save_delivery(&pair.1, pair.0.version)
                                .await
                            {
                                Ok(()) => written.push(pair),
                                Err(StoreError::Conflict | StoreError::NotFound) => skipped += 1,
                                Err(e) => return Err(e.into()),
                            }
                        }
                        written
                    }
                    Err(e) => return Err(e.into()),
                };
            for (d, next) in written {
                let delay = if d.status == crate::domain::DeliveryStatus::Scheduled {
                    (d.wake_at.unwrap_or(now) - now)
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .min(MAX_QUEUE_DELAY)
                } else {
                    Duration::ZERO
                };
                outgoing.push(Outgoing {
                    message: next.key().into(),
                    delay,
                });
            }
        }
        // If this send fails, the deliveries stay queued without a message until their requeue deadline, when the
        // dispatcher sends them again.
        self.queue.send(&outgoing).await?;
        Ok((outgoing.len(), skipped))
    }
}
