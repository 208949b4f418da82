//! What the Lambda functions share, kept free of the Lambda runtime crates so it can be tested like any library
//! code: building the app over the AWS adapters once per cold start, and the
//! publisher's side of the SQS batch contract (partial batch failures, a malformed body failing only its own record,
//! the batch's events put together).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::secrets::{self, Function};
use super::{assemble, build_app, platforms, Backend, StartError};
use crate::adapters::aws::{load_function_sdk_config, AwsAdapters, AwsConfig, AwsSetupError};
use crate::app::publish::Settle;
use crate::app::App;
use crate::config::{Env, Settings};
use crate::domain::Event;
use crate::ports::{BusError, EventBus, Platforms};

/// The public URL a function falls back to when `POSTORA_PUBLIC_URL` is unset and no request tells it better. The
/// `.invalid` top-level domain never resolves, so a link built on it is visibly wrong rather than silently elsewhere.
pub const UNKNOWN_PUBLIC_URL: &str = "https://postora.invalid";

impl AwsAdapters {
    /// The adapters as the ports the app is built on.
    pub fn backend(&self) -> Backend {
        Backend {
            stores: self.stores(),
            keys: self.keys.clone(),
            queue: self.queue.clone(),
            bus: self.bus.clone(),
            blobs: self.blobs.clone(),
            mailer: self.mailer.clone(),
        }
    }
}

impl From<AwsSetupError> for StartError {
    fn from(e: AwsSetupError) -> Self {
        StartError::Other(e.to_string())
    }
}

/// What a function has at cold start: its environment, with the secrets it reads ([`Function::secrets`]) fetched
/// from Secrets Manager into it, and the SDK configuration, loaded once and shared by the secrets client and the
/// adapters.
pub struct ColdStart {
    pub env: Env,
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl ColdStart {
    /// The SDK configuration, loaded the first time it is asked for.
    async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk.get_or_init(load_function_sdk_config).await
    }

    /// The ports of the AWS backend, from the resources the environment names.
    async fn backend(&self) -> Result<Backend, StartError> {
        Ok(
            AwsAdapters::connect(self.sdk().await, &AwsConfig::from_env(), None)
                .await?
                .backend(),
        )
    }
}

/// A function's cold start: the process environment, with the secrets `function` reads fetched from Secrets Manager
/// into it. A secret that cannot be read stops the cold start with an error naming it.
pub async fn function_env(function: Function) -> Result<ColdStart, StartError> {
    let mut start = ColdStart {
        env: Env::from_process(),
        sdk: tokio::sync::OnceCell::new(),
    };
    if !function.secrets().is_empty() {
        let client = aws_sdk_secretsmanager::Client::new(start.sdk().await);
        secrets::resolve(&mut start.env, function, &client).await?;
    }
    Ok(start)
}

/// Builds the app on the AWS adapters from a function's cold start ([`function_env`]): once per cold start.
///
/// `default_public_url` is used when `POSTORA_PUBLIC_URL` is unset. The sandbox platform stays off unless
/// `POSTORA_SANDBOX=on`: its endpoints are only served by `postora serve`.
pub async fn app_from_env(
    start: &ColdStart,
    default_public_url: &str,
) -> Result<Arc<App>, StartError> {
    build_app(start.backend().await?, &start.env, default_public_url)
}

/// Holds the events of one batch and puts them on the bus together when the batch is done: one PutEvents for up to
/// ten published posts instead of one each. The batch ends before the invocation returns, so nothing is held across
/// a freeze of the Lambda instance.
pub struct BatchedEvents {
    inner: Arc<dyn EventBus>,
    pending: Mutex<Vec<Event>>,
}

impl BatchedEvents {
    pub fn new(inner: Arc<dyn EventBus>) -> Self {
        Self {
            inner,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Puts every held event on the bus.
    pub async fn flush(&self) -> Result<(), BusError> {
        let events = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if events.is_empty() {
            return Ok(());
        }
        self.inner.publish(&events).await
    }
}

#[async_trait]
impl EventBus for BatchedEvents {
    async fn publish(&self, events: &[Event]) -> Result<(), BusError> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}

/// The publisher function's state for the life of an instance: the app, with its events batched per SQS batch.
pub struct Publisher {
    pub app: Arc<App>,
    events: Arc<BatchedEvents>,
}

impl Publisher {
    /// Builds the publisher over a backend; its events go to the backend's bus a batch at a time.
    pub fn new(mut backend: Backend, settings: Settings, platforms: Platforms) -> Self {
        let events = Arc::new(BatchedEvents::new(backend.bus.clone()));
        backend.bus = events.clone();
        let app = assemble(backend, settings, platforms);
        Self { app, events }
    }

    /// Builds the publisher on the AWS adapters from its cold start ([`function_env`]): once per cold start.
    pub async fn from_env(start: &ColdStart) -> Result<Self, StartError> {
        let backend = start.backend().await?;
        let platforms = platforms::configured(&start.env, &backend)?;
        Ok(Self::new(
            backend,
            Settings::from_env(&start.env, UNKNOWN_PUBLIC_URL)?,
            platforms,
        ))
    }

    /// Publishes a batch, then puts its events on the bus. `invocation_ends` is when Lambda will stop the
    /// invocation (its deadline): every attempt records its outcome before then.
    pub async fn handle(
        &self,
        batch: SqsBatch,
        invocation_ends: Option<DateTime<Utc>>,
    ) -> BatchResponse {
        let answer = publish_batch(self.app.clone(), batch, invocation_ends).await;
        if let Err(e) = self.events.flush().await {
            tracing::warn!(error = %e, "could not publish the batch's events");
        }
        answer
    }
}

/// An SQS event as Lambda delivers it: only the fields the publisher reads.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsRecord>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord {
    pub message_id: String,
    #[serde(default)]
    pub receipt_handle: String,
    #[serde(default)]
    pub body: String,
}

/// The answer to an SQS event with `ReportBatchItemFailures`: the messages that must come back; the rest are deleted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

/// How soon a malformed message comes back, so it reaches the dead-letter queue in seconds rather than after several
/// visibility timeouts.
const POISON_RETRY: Duration = Duration::from_secs(1);

/// Publishes every record of a batch at once and reports the ones that must come back. A record to retry later is
/// hidden for its delay first (the queue's visibility timeout is far longer than a retry should wait); a malformed one
/// fails alone. A record whose handling panics is reported too, so Lambda never deletes a message that was not
/// settled, and the others are unaffected.
///
/// The records are handled concurrently, so a batch takes as long as its slowest attempt, and every attempt ends in
/// time to record its outcome before `invocation_ends` (see [`crate::app::lease`]).
pub async fn publish_batch(
    app: Arc<App>,
    batch: SqsBatch,
    invocation_ends: Option<DateTime<Utc>>,
) -> BatchResponse {
    let mut running = JoinSet::new();
    let mut by_task = HashMap::new();
    for record in batch.records {
        let app = app.clone();
        let message_id = record.message_id.clone();
        let task = running.spawn(async move {
            let settle = app
                .handle_message_isolated(record.body.clone(), invocation_ends)
                .await;
            let delay = match settle {
                Settle::Done => return None,
                Settle::Retry(delay) => delay,
                Settle::Poison(reason) => {
                    tracing::warn!(message = %record.message_id, %reason, "an unreadable message will go to the dead-letter queue");
                    POISON_RETRY
                }
            };
            if !record.receipt_handle.is_empty() {
                if let Err(e) = app.queue.retry_later(&record.receipt_handle, delay).await {
                    tracing::warn!(message = %record.message_id, error = %e, "could not delay a message; it comes back after the visibility timeout");
                }
            }
            Some(record.message_id)
        });
        by_task.insert(task.id(), message_id);
    }
    let mut failures = Vec::new();
    while let Some(done) = running.join_next_with_id().await {
        match done {
            Ok((_, Some(id))) => failures.push(BatchItemFailure {
                item_identifier: id,
            }),
            Ok((_, None)) => {}
            // The task stopped before it could answer (a panic while settling): its message must come back.
            Err(e) => {
                tracing::error!(error = %e, "a publish task stopped; its message will come back");
                if let Some(id) = by_task.remove(&e.id()) {
                    failures.push(BatchItemFailure {
                        item_identifier: id,
                    });
                }
            }
        }
    }
    failures.sort_by(|a, b| a.item_identifier.cmp(&b.item_identifier));
    BatchResponse {
        batch_item_failures: failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembers the size of every `publish` call.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<usize>>);

    #[async_trait]
    impl EventBus for Recorder {
        async fn publish(&self, events: &[Event]) -> Result<(), BusError> {
            self.0.lock().unwrap().push(events.len());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_batchs_events_go_out_together_when_it_ends() {
        let recorder = Arc::new(Recorder::default());
        let batched = BatchedEvents::new(recorder.clone());
        let event = || {
            Event::new(
                crate::domain::EventKind::PostPublished,
                None,
                chrono::Utc::now(),
                serde_json::json!({}),
            )
        };
        for _ in 0..3 {
            batched.publish(&[event()]).await.unwrap();
        }
        assert!(recorder.0.lock().unwrap().is_empty());
        batched.flush().await.unwrap();
        batched.flush().await.unwrap();
        assert_eq!(*recorder.0.lock().unwrap(), vec![3]);
    }

    #[test]
    fn an_sqs_event_parses_and_the_answer_has_lambdas_shape() {
        let batch: SqsBatch = serde_json::from_str(
            r#"{"Records":[{"messageId":"m1","receiptHandle":"r1","body":"{}","eventSource":"aws:sqs"}]}"#,
        )
        .unwrap();
        assert_eq!(batch.records[0].message_id, "m1");
        let answer = BatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: "m1".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
    }
}
