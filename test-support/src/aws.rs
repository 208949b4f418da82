//! Postora's AWS side on the AWS wire-protocol emulator `scripts/test` starts (moto server): the SDK configuration
//! for it, fresh resources for one test, and the environment a function binary needs to find them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use postora::adapters::aws::bootstrap::{bootstrap, BootstrapReport};
use postora::adapters::aws::{AwsAdapters, AwsClients, AwsConfig, RequestMetrics, S3Blobs};

/// What a test without an emulator is told.
pub const NO_EMULATOR: &str = "AWS_ENDPOINT_URL is not set. These tests run Postora's AWS side against an AWS \
     emulator (moto server): run them through scripts/test, which starts one and sets AWS_ENDPOINT_URL, or start \
     `moto_server -H 127.0.0.1 -p PORT` and export AWS_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=test \
     AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1";

/// The SDK configuration for the emulator named by `AWS_ENDPOINT_URL`, with static test credentials so the SDK never
/// looks for real ones. Panics with [`NO_EMULATOR`] when the variable is unset: such tests must fail, not pass unrun.
pub async fn emulator() -> SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| panic!("{NO_EMULATOR}"));
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "postora-tests",
        ))
        .load()
        .await
}

/// Creates a fresh set of resources (named after a new random name) with bootstrap's own code.
pub async fn fresh_resources(sdk: &SdkConfig) -> Result<(AwsConfig, BootstrapReport), String> {
    let config = AwsConfig::named(&fresh_name());
    let report = bootstrap(&AwsClients::new(sdk, None), &config)
        .await
        .map_err(|e| e.to_string())?;
    Ok((config, report))
}

/// The environment a function needs to find its resources, as template.yaml sets it.
pub fn function_env(config: &AwsConfig) -> Vec<(String, String)> {
    vec![
        (
            postora::adapters::aws::ENV_TABLE.into(),
            config.table.clone(),
        ),
        (
            postora::adapters::aws::ENV_KMS_KEY.into(),
            config.kms_key.clone(),
        ),
        (
            postora::adapters::aws::ENV_QUEUE_URL.into(),
            config.queue.clone(),
        ),
        (
            postora::adapters::aws::ENV_DLQ_URL.into(),
            config.dead_letter_queue.clone(),
        ),
        (
            postora::adapters::aws::ENV_EVENT_BUS.into(),
            config.event_bus.clone(),
        ),
        (
            postora::adapters::aws::ENV_MEDIA_BUCKET.into(),
            config.media_bucket.clone(),
        ),
        ("POSTORA_BACKEND".into(), "aws".into()),
        ("POSTORA_SANDBOX".into(), "off".into()),
        ("RUST_LOG".into(), "warn".into()),
    ]
}

/// Everything one test needs: its own freshly created resources and adapters over them.
pub struct Emulator {
    pub sdk: SdkConfig,
    pub config: AwsConfig,
    pub clients: AwsClients,
    pub adapters: AwsAdapters,
    pub metrics: RequestMetrics,
    pub bootstrap: BootstrapReport,
}

/// A name no other test uses, so tests never share a table or queue (SQS purges are limited to one a minute).
pub fn fresh_name() -> String {
    format!("pt-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl Emulator {
    /// Creates a fresh set of resources with `postora aws bootstrap`'s code and connects the adapters to them.
    pub async fn fresh() -> Emulator {
        let sdk = emulator().await;
        let config = AwsConfig::named(&fresh_name());
        let metrics = RequestMetrics::new();
        let clients = AwsClients::new(&sdk, Some(&metrics));
        let report = bootstrap(&clients, &config)
            .await
            .expect("bootstrap on the emulator");
        let mut adapters = AwsAdapters::connect(&sdk, &config, Some(&metrics))
            .await
            .expect("connect to the emulator");
        let mut clients = clients;
        clients.s3 = emulator_s3(&sdk, &metrics);
        adapters.blobs = Arc::new(S3Blobs::new(clients.s3.clone(), &config.media_bucket));
        metrics.reset();
        Emulator {
            sdk,
            config,
            clients,
            adapters,
            metrics,
            bootstrap: report,
        }
    }
}

impl Emulator {
    /// The backend Postora runs on over these resources.
    pub fn backend(&self) -> postora::runtime::Backend {
        postora::runtime::Backend {
            stores: self.adapters.stores(),
            keys: self.adapters.keys.clone(),
            queue: self.adapters.queue.clone(),
            bus: self.adapters.bus.clone(),
            blobs: self.adapters.blobs.clone(),
            mailer: self.adapters.backend().mailer,
        }
    }
}

/// Stores a secret in the emulator's Secrets Manager under a fresh name and returns the name, as an operator creates
/// a platform's credentials secret before deploying.
pub async fn store_secret(sdk: &SdkConfig, value: &str) -> String {
    let name = format!("postora-test/{}", fresh_name());
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create a secret on the emulator");
    name
}

/// A platform's credentials secret as README tells an operator to create it.
pub fn credentials_json(client_id: &str, client_secret: &str) -> String {
    serde_json::json!({ "client_id": client_id, "client_secret": client_secret }).to_string()
}

/// The S3 client the adapters use, as `AwsClients` builds it, with [`S3RootNames`] between it and the emulator.
pub fn emulator_s3(sdk: &SdkConfig, metrics: &RequestMetrics) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        S3Blobs::client_config(sdk)
            .interceptor(metrics.clone())
            .interceptor(S3RootNames)
            .build(),
    )
}

/// The emulator (moto 5.2) names the root element of its ListParts and CompleteMultipartUpload answers
/// `ListPartsResponse` and `CompleteMultipartUploadResponse`, where S3 names them `ListPartsResult` and
/// `CompleteMultipartUploadResult`, and the SDK refuses an answer with another root. This renames them, and touches
/// no other answer, so the S3 adapter is tested as it talks to S3.
#[derive(Debug)]
pub struct S3RootNames;

/// The operations whose answers [`S3RootNames`] renames.
const MISNAMED: [&str; 2] = ["ListParts", "CompleteMultipartUpload"];

impl Intercept for S3RootNames {
    fn name(&self) -> &'static str {
        "S3RootNames"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned());
        if !operation.is_some_and(|o| MISNAMED.contains(&o.as_str())) {
            return Ok(());
        }
        let body = std::mem::replace(context.response_mut().body_mut(), SdkBody::taken());
        *context.response_mut().body_mut() = SdkBody::from_body_1_x(Renamed {
            inner: body,
            read: Vec::new(),
            done: false,
        });
        Ok(())
    }
}

/// A body read whole, then handed on with the root element renamed.
struct Renamed {
    inner: SdkBody,
    read: Vec<u8>,
    done: bool,
}

impl http_body::Body for Renamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.read.extend_from_slice(&data);
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let mut text = String::from_utf8_lossy(&self.read).into_owned();
                    for op in MISNAMED {
                        text = text
                            .replace(&format!("<{op}Response"), &format!("<{op}Result"))
                            .replace(&format!("</{op}Response>"), &format!("</{op}Result>"));
                    }
                    return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(text)))));
                }
            }
        }
    }
}
