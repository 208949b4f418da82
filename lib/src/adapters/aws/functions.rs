//! What the Lambda functions share, kept free of the Lambda runtime crates so it can be tested like any library
//! code: building the app over the AWS adapters once per cold start, the public URL of the HTTP functions, and the
//! SQS batch contract of the publisher (partial batch failures, a malformed body failing only its own record).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{load_sdk_config, AwsAdapters, AwsConfig, AwsSetupError};
use crate::app::publish::Settle;
use crate::app::App;
use crate::config::Env;
use crate::runtime::{self, Backend, StartError};

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
        }
    }
}

impl From<AwsSetupError> for StartError {
    fn from(e: AwsSetupError) -> Self {
        StartError::Other(e.to_string())
    }
}

/// Builds the app on the AWS adapters from the process environment: once per cold start.
///
/// `default_public_url` is used when `POSTORA_PUBLIC_URL` is unset. The sandbox platform stays off unless
/// `POSTORA_SANDBOX=on`: its endpoints are only served by `postora serve`.
pub async fn app_from_env(default_public_url: &str) -> Result<Arc<App>, StartError> {
    let env = Env::from_process();
    let sdk = load_sdk_config().await;
    let adapters = AwsAdapters::connect(&sdk, &AwsConfig::from_env(), None).await?;
    runtime::build_app(adapters.backend(), &env, default_public_url, false)
}

/// The origin an HTTP function answers at, from the host API Gateway received the request on. A function cannot be
/// told its own API's address by the template without a dependency cycle, so until `POSTORA_PUBLIC_URL` is set the
/// first request's host stands in for it.
pub fn public_url_from_host(host: Option<&str>) -> String {
    let valid = |h: &&str| {
        !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    };
    match host.filter(valid) {
        Some(h) => format!("https://{h}"),
        None => UNKNOWN_PUBLIC_URL.to_owned(),
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
/// fails alone.
pub async fn publish_batch(app: Arc<App>, batch: SqsBatch) -> BatchResponse {
    let mut running = JoinSet::new();
    for record in batch.records {
        let app = app.clone();
        running.spawn(async move {
            let settle = app.handle_message(&record.body).await;
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
    }
    let mut failures = Vec::new();
    while let Some(done) = running.join_next().await {
        match done {
            Ok(Some(id)) => failures.push(BatchItemFailure {
                item_identifier: id,
            }),
            Ok(None) => {}
            // A panicking record cannot say which it was; the others are settled, so fail nothing silently.
            Err(e) => tracing::error!(error = %e, "a publish task stopped"),
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

    #[test]
    fn the_public_url_comes_from_a_plausible_host_only() {
        assert_eq!(
            public_url_from_host(Some("abc.execute-api.eu-west-1.amazonaws.com")),
            "https://abc.execute-api.eu-west-1.amazonaws.com"
        );
        assert_eq!(public_url_from_host(None), UNKNOWN_PUBLIC_URL);
        assert_eq!(
            public_url_from_host(Some("evil.example/path")),
            UNKNOWN_PUBLIC_URL
        );
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
