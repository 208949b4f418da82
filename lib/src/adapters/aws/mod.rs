//! The AWS adapters: DynamoDB for every store, KMS for data keys, SQS for the delivery queue, EventBridge for domain
//! events, S3 for media objects, SES for mail. [`AwsAdapters::connect`] builds them all from one `SdkConfig`, which honours the standard AWS environment
//! (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL` to point every client at an emulator).

pub mod bootstrap;
pub mod dynamo;
pub mod eventbridge;
pub mod kms;
pub mod metrics;
pub mod s3;
pub mod ses;
pub mod sqs;
pub mod table;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

pub use self::dynamo::DynamoStore;
pub use self::eventbridge::EventBridgeBus;
pub use self::kms::KmsKeyService;
pub use self::metrics::{RequestCounts, RequestMetrics};
pub use self::s3::S3Blobs;
pub use self::ses::SesMailer;
pub use self::sqs::SqsQueue;
use crate::ports::Stores;

pub const ENV_TABLE: &str = "POSTORA_TABLE";
pub const ENV_KMS_KEY: &str = "POSTORA_KMS_KEY";
pub const ENV_QUEUE_URL: &str = "POSTORA_QUEUE_URL";
pub const ENV_DLQ_URL: &str = "POSTORA_DLQ_URL";
pub const ENV_EVENT_BUS: &str = "POSTORA_EVENT_BUS";
pub const ENV_MEDIA_BUCKET: &str = "POSTORA_MEDIA_BUCKET";
/// The address Postora's mail is sent from (an identity verified in SES); required once people sign up.
pub const ENV_MAIL_FROM: &str = "POSTORA_MAIL_FROM";
/// An SES configuration set to send through (optional).
pub const ENV_SES_CONFIGURATION_SET: &str = "POSTORA_SES_CONFIGURATION_SET";

/// The name every resource is derived from unless configured otherwise.
pub const DEFAULT_NAME: &str = "postora";

/// Which AWS resources Postora uses. Queues may be given by URL (as template.yaml passes them, saving a lookup per
/// cold start) or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub table: String,
    /// A key id, key ARN or `alias/<name>`.
    pub kms_key: String,
    pub queue: String,
    pub dead_letter_queue: String,
    pub event_bus: String,
    /// The S3 bucket media objects live in.
    pub media_bucket: String,
    /// The address mail is sent from; without it every message fails, saying so.
    pub mail_from: Option<String>,
    /// The SES configuration set mail is sent through, if any.
    pub ses_configuration_set: Option<String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self::named(DEFAULT_NAME)
    }
}

impl AwsConfig {
    /// Every resource named after `name`: table `name`, key `alias/name`, queues `name-deliveries` and
    /// `name-deliveries-dlq`, bus `name`, media bucket `name-media`. Tests use a fresh name each.
    pub fn named(name: &str) -> Self {
        Self {
            table: name.to_owned(),
            kms_key: format!("alias/{name}"),
            queue: format!("{name}-deliveries"),
            dead_letter_queue: format!("{name}-deliveries-dlq"),
            event_bus: name.to_owned(),
            media_bucket: format!("{name}-media"),
            mail_from: None,
            ses_configuration_set: None,
        }
    }

    /// Reads `POSTORA_TABLE`, `POSTORA_KMS_KEY`, `POSTORA_QUEUE_URL`, `POSTORA_DLQ_URL`, `POSTORA_EVENT_BUS`,
    /// `POSTORA_MEDIA_BUCKET`, `POSTORA_MAIL_FROM` and `POSTORA_SES_CONFIGURATION_SET`; each one unset or empty keeps
    /// its default (none for the last two).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`AwsConfig::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Self::default();
        let read = |name: &str, default: String| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        Self {
            table: read(ENV_TABLE, defaults.table),
            kms_key: read(ENV_KMS_KEY, defaults.kms_key),
            queue: read(ENV_QUEUE_URL, defaults.queue),
            dead_letter_queue: read(ENV_DLQ_URL, defaults.dead_letter_queue),
            event_bus: read(ENV_EVENT_BUS, defaults.event_bus),
            media_bucket: read(ENV_MEDIA_BUCKET, defaults.media_bucket),
            mail_from: lookup(ENV_MAIL_FROM)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            ses_configuration_set: lookup(ENV_SES_CONFIGURATION_SET)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        }
    }
}

/// A queue given by URL or by name: its name.
pub fn queue_name(url_or_name: &str) -> &str {
    url_or_name.rsplit('/').next().unwrap_or(url_or_name)
}

fn is_url(s: &str) -> bool {
    s.contains("://")
}

#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    #[error("the queue {name} does not exist; create it with `postora aws bootstrap` or set {var} to its URL")]
    QueueMissing { name: String, var: &'static str },
    #[error("AWS is unavailable: {0}")]
    Unavailable(String),
}

/// Loads the SDK configuration from the environment, with the SDK's whole default chain for credentials and region
/// (profiles, SSO, instance metadata): what the CLI on an operator's machine needs.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Loads the SDK configuration inside a Lambda function: the region and the role's credentials that Lambda puts in
/// the environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read directly.
/// A function has no profile file and needs no metadata lookup, and skipping the default chain takes about 3 ms off
/// every cold start (see BENCHMARKS.md). Endpoint settings such as `AWS_ENDPOINT_URL` are read as usual.
pub async fn load_function_sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).credentials_provider(
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    );
    if let Ok(region) = std::env::var("AWS_REGION") {
        loader = loader.region(aws_config::Region::new(region));
    }
    loader.load().await
}

/// One client per service, all from the same `SdkConfig`, each counting its requests if `metrics` is given.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub s3: aws_sdk_s3::Client,
    pub ses: aws_sdk_sesv2::Client,
}

impl AwsClients {
    pub fn new(sdk: &SdkConfig, metrics: Option<&RequestMetrics>) -> Self {
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut kms = aws_sdk_kms::config::Builder::from(sdk);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        let mut eventbridge = aws_sdk_eventbridge::config::Builder::from(sdk);
        let mut s3 = S3Blobs::client_config(sdk);
        let mut ses = aws_sdk_sesv2::config::Builder::from(sdk);
        if let Some(m) = metrics {
            ses = ses.interceptor(m.clone());
            dynamodb = dynamodb.interceptor(m.clone());
            kms = kms.interceptor(m.clone());
            sqs = sqs.interceptor(m.clone());
            eventbridge = eventbridge.interceptor(m.clone());
            s3 = s3.interceptor(m.clone());
        }
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            eventbridge: aws_sdk_eventbridge::Client::from_conf(eventbridge.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            ses: aws_sdk_sesv2::Client::from_conf(ses.build()),
        }
    }

    /// The URL of a queue given by URL or by name.
    pub async fn queue_url(
        &self,
        url_or_name: &str,
        var: &'static str,
    ) -> Result<String, AwsSetupError> {
        if is_url(url_or_name) {
            return Ok(url_or_name.to_owned());
        }
        let result = self
            .sqs
            .get_queue_url()
            .queue_name(url_or_name)
            .send()
            .await;
        match result {
            Ok(out) => out.queue_url.ok_or_else(|| AwsSetupError::QueueMissing {
                name: url_or_name.to_owned(),
                var,
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist()) =>
            {
                Err(AwsSetupError::QueueMissing {
                    name: url_or_name.to_owned(),
                    var,
                })
            }
            Err(e) => Err(AwsSetupError::Unavailable(format!(
                "GetQueueUrl: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ))),
        }
    }
}

/// Every AWS adapter, built once (per Lambda cold start, or per `postora` process).
#[derive(Clone, Debug)]
pub struct AwsAdapters {
    pub store: Arc<DynamoStore>,
    pub keys: Arc<KmsKeyService>,
    pub queue: Arc<SqsQueue>,
    pub bus: Arc<EventBridgeBus>,
    pub blobs: Arc<S3Blobs>,
    pub mailer: Arc<SesMailer>,
}

impl AwsAdapters {
    /// Builds the adapters. Resolves queue names to URLs (one request each) unless URLs were given.
    pub async fn connect(
        sdk: &SdkConfig,
        config: &AwsConfig,
        metrics: Option<&RequestMetrics>,
    ) -> Result<Self, AwsSetupError> {
        let clients = AwsClients::new(sdk, metrics);
        let queue_url = clients.queue_url(&config.queue, ENV_QUEUE_URL).await?;
        let dead_letter_url = clients
            .queue_url(&config.dead_letter_queue, ENV_DLQ_URL)
            .await?;
        Ok(Self::from_clients(
            clients,
            config,
            queue_url,
            dead_letter_url,
        ))
    }

    /// Builds the adapters from clients and queue URLs already known.
    pub fn from_clients(
        clients: AwsClients,
        config: &AwsConfig,
        queue_url: String,
        dead_letter_url: String,
    ) -> Self {
        Self {
            store: Arc::new(DynamoStore::new(clients.dynamodb, &config.table)),
            keys: Arc::new(KmsKeyService::new(clients.kms, &config.kms_key)),
            queue: Arc::new(SqsQueue::new(clients.sqs, queue_url, dead_letter_url)),
            bus: Arc::new(EventBridgeBus::new(clients.eventbridge, &config.event_bus)),
            blobs: Arc::new(S3Blobs::new(clients.s3, &config.media_bucket)),
            mailer: Arc::new(SesMailer::new(
                clients.ses,
                config.mail_from.clone(),
                config.ses_configuration_set.clone(),
            )),
        }
    }

    /// The store ports, all on the one table.
    pub fn stores(&self) -> Stores {
        Stores::from_one(self.store.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_everything_postora() {
        let c = AwsConfig::from_lookup(|_| None);
        assert_eq!(c.table, "postora");
        assert_eq!(c.kms_key, "alias/postora");
        assert_eq!(c.queue, "postora-deliveries");
        assert_eq!(c.dead_letter_queue, "postora-deliveries-dlq");
        assert_eq!(c.event_bus, "postora");
        assert_eq!(c.media_bucket, "postora-media");
        assert_eq!((c.mail_from, c.ses_configuration_set), (None, None));
    }

    #[test]
    fn variables_override_and_empty_ones_do_not() {
        let c = AwsConfig::from_lookup(|name| match name {
            ENV_TABLE => Some("t".into()),
            ENV_QUEUE_URL => Some("https://sqs.eu-west-1.amazonaws.com/1/q".into()),
            ENV_EVENT_BUS => Some("  ".into()),
            ENV_MAIL_FROM => Some(" Postora <no-reply@example.com> ".into()),
            ENV_SES_CONFIGURATION_SET => Some("".into()),
            _ => None,
        });
        assert_eq!(
            c.mail_from.as_deref(),
            Some("Postora <no-reply@example.com>")
        );
        assert_eq!(c.ses_configuration_set, None);
        assert_eq!(c.table, "t");
        assert_eq!(queue_name(&c.queue), "q");
        assert_eq!(c.event_bus, "postora");
    }
}
