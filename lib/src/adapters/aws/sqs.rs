//! [`SqsQueue`]: the delivery queue on Amazon SQS, with its dead-letter queue.
//!
//! Each message names one delivery; its delay (DelaySeconds, at most 15 minutes) makes it visible at the second the
//! delivery is due. A message received more than [`DELIVERY_QUEUE`]`.max_receive_count` times moves to the dead-letter
//! queue (the redrive policy bootstrap and template.yaml both set). Redriving moves messages back by receive, send and
//! delete, which works everywhere (StartMessageMoveTask is not available on every SQS-compatible service).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use crate::ports::{DeadLetter, Outgoing, Queue, QueueError, Received, MAX_QUEUE_DELAY};

/// The queue settings `postora aws bootstrap` applies and template.yaml declares (a test checks they agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// The publisher function's timeout. It fits one batch's worst case: the records run concurrently, every
    /// platform call is cut off in time to record its outcome before the invocation ends, and what is not cut (a
    /// token refresh, at most one connect and request timeout) leaves room for a whole platform call after it.
    pub publisher_timeout_secs: u32,
    /// At least six times the publisher's timeout plus the batching window, as AWS advises for SQS event sources, so
    /// Lambda can retry a throttled batch before its messages come back.
    pub visibility_timeout_secs: u32,
    /// Records per publisher invocation (at most 10 without a batching window).
    pub publisher_batch_size: u32,
    /// How long Lambda gathers records before invoking: none, so a delivery is handed over the second it is due.
    pub publisher_batching_window_secs: u32,
    /// Receives before a message is parked in the dead-letter queue.
    pub max_receive_count: u32,
    pub retention_secs: u32,
    /// The dead-letter queue keeps messages as long as SQS allows, so there is time to look and redrive.
    pub dead_letter_retention_secs: u32,
}

pub const DELIVERY_QUEUE: QueueSettings = QueueSettings {
    publisher_timeout_secs: 90,
    visibility_timeout_secs: 540,
    publisher_batch_size: 10,
    publisher_batching_window_secs: 0,
    max_receive_count: 5,
    retention_secs: 4 * 24 * 3600,
    dead_letter_retention_secs: 14 * 24 * 3600,
};

/// Most entries one SQS batch call may carry.
const SQS_BATCH: usize = 10;
/// The longest long-poll SQS allows.
const MAX_WAIT_SECS: u64 = 20;
/// The longest a message may be hidden.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;
/// How long a dead letter being read or moved stays hidden from other readers.
const DEAD_LETTER_HOLD_SECS: i32 = 60;
/// Long-poll briefly when reading the dead-letter queue: short polls may miss messages on a small queue.
const DEAD_LETTER_WAIT_SECS: i32 = 1;

/// The delivery queue and its dead-letter queue, by URL.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: String,
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> QueueError {
    match err.code() {
        Some(code) => QueueError::Unavailable(format!("{op}: {code}")),
        None => QueueError::Unavailable(format!("{op}: {}", DisplayErrorContext(err))),
    }
}

fn build_error(e: aws_sdk_sqs::error::BuildError) -> QueueError {
    QueueError::Unavailable(format!("a request could not be built: {e}"))
}

/// Whole seconds, rounded up so a message never becomes visible before it is due, capped at `max`.
fn ceil_secs(d: Duration, max: u64) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.min(max)).unwrap_or(i32::MAX)
}

fn receive_count(m: &Message) -> u32 {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

impl SqsQueue {
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_url: dead_letter_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        wait_secs: i32,
        visibility_secs: Option<i32>,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max.clamp(1, SQS_BATCH)).unwrap_or(10))
            .wait_time_seconds(wait_secs)
            .set_visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| failure("ReceiveMessage", &e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Sends bodies to the delivery queue in one batch (at most ten); returns the positions that failed.
    async fn send_batch(&self, bodies: &[(String, i32)]) -> Result<Vec<usize>, QueueError> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, (body, delay))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .delay_seconds(*delay)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| failure("SendMessageBatch", &e))?;
        Ok(out
            .failed()
            .iter()
            .filter_map(|f| f.id().parse().ok())
            .collect())
    }

    async fn delete_batch(&self, url: &str, receipts: &[&str]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*r)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| failure("DeleteMessageBatch", &e))?;
        match out.failed().first() {
            Some(f) => Err(QueueError::Unavailable(format!(
                "DeleteMessageBatch: {}",
                f.code()
            ))),
            None => Ok(()),
        }
    }

    /// Makes messages read from the dead-letter queue visible again at once.
    async fn release(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.dead_letter_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| failure("ChangeMessageVisibilityBatch", &e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        for chunk in messages.chunks(SQS_BATCH) {
            let bodies = chunk
                .iter()
                .map(|m| {
                    serde_json::to_string(&m.message)
                        .map(|body| (body, ceil_secs(m.delay, MAX_QUEUE_DELAY.as_secs())))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    QueueError::Unavailable(format!("a message could not be encoded: {e}"))
                })?;
            let mut failed = self.send_batch(&bodies).await?;
            // SQS may refuse single entries of a batch for load; send those once more before giving up.
            if !failed.is_empty() {
                let again: Vec<_> = failed
                    .iter()
                    .filter_map(|i| bodies.get(*i).cloned())
                    .collect();
                failed = self.send_batch(&again).await?;
            }
            if !failed.is_empty() {
                return Err(QueueError::Unavailable(format!(
                    "SendMessageBatch: {} of {} messages were not accepted",
                    failed.len(),
                    bodies.len()
                )));
            }
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let messages = self
            .receive_from(&self.queue_url, max, ceil_secs(wait, MAX_WAIT_SECS), None)
            .await?;
        Ok(messages
            .into_iter()
            .filter_map(|m| {
                let receive_count = receive_count(&m);
                Some(Received {
                    id: m.message_id?,
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                    receive_count,
                })
            })
            .collect())
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| failure("DeleteMessage", &e))?;
        Ok(())
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(ceil_secs(delay, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map_err(|e| failure("ChangeMessageVisibility", &e))?;
        Ok(())
    }

    /// Reads up to `max` dead letters without removing them: they are received, then made visible again.
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut seen = HashSet::new();
        let mut letters = Vec::new();
        let mut receipts = Vec::new();
        while letters.len() < max {
            let batch = self
                .receive_from(
                    &self.dead_letter_url,
                    max - letters.len(),
                    DEAD_LETTER_WAIT_SECS,
                    Some(DEAD_LETTER_HOLD_SECS),
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let receive_count = receive_count(&m);
                if let Some(r) = m.receipt_handle {
                    receipts.push(r);
                }
                if let Some(id) = m.message_id {
                    if seen.insert(id.clone()) {
                        letters.push(DeadLetter {
                            id,
                            body: m.body.unwrap_or_default(),
                            receive_count,
                        });
                    }
                }
            }
        }
        self.release(&receipts).await?;
        letters.truncate(max);
        Ok(letters)
    }

    async fn redrive(&self) -> Result<usize, QueueError> {
        let mut moved = 0;
        loop {
            let batch = self
                .receive_from(
                    &self.dead_letter_url,
                    SQS_BATCH,
                    DEAD_LETTER_WAIT_SECS,
                    Some(DEAD_LETTER_HOLD_SECS),
                )
                .await?;
            if batch.is_empty() {
                return Ok(moved);
            }
            let bodies: Vec<(String, i32)> = batch
                .iter()
                .map(|m| (m.body.clone().unwrap_or_default(), 0))
                .collect();
            let failed = self.send_batch(&bodies).await?;
            // Sent first, deleted after: a crash in between leaves a duplicate, which the publisher's claim absorbs.
            let sent: Vec<&str> = batch
                .iter()
                .enumerate()
                .filter(|(i, _)| !failed.contains(i))
                .filter_map(|(_, m)| m.receipt_handle.as_deref())
                .collect();
            self.delete_batch(&self.dead_letter_url, &sent).await?;
            moved += sent.len();
            if !failed.is_empty() {
                return Err(QueueError::Unavailable(format!(
                    "SendMessageBatch: {} dead letters could not be moved back ({moved} were)",
                    failed.len()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_and_stop_at_the_cap() {
        assert_eq!(ceil_secs(Duration::from_millis(0), 900), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1), 900), 1);
        assert_eq!(ceil_secs(Duration::from_millis(2000), 900), 2);
        assert_eq!(ceil_secs(Duration::from_secs(3600), 900), 900);
    }

    #[test]
    fn the_visibility_timeout_outlasts_the_publisher() {
        let q = DELIVERY_QUEUE;
        assert!(q.visibility_timeout_secs > q.publisher_timeout_secs);
        assert!(q.dead_letter_retention_secs >= q.retention_secs);
    }
}
