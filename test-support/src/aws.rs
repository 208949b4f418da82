//! Postora's AWS side on the AWS wire-protocol emulator `scripts/test` starts (moto server): the SDK configuration
//! for it, fresh resources for one test, and the environment a function binary needs to find them.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use postora::adapters::aws::bootstrap::{bootstrap, BootstrapReport};
use postora::adapters::aws::{AwsAdapters, AwsClients, AwsConfig, RequestMetrics};

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
        let adapters = AwsAdapters::connect(&sdk, &config, Some(&metrics))
            .await
            .expect("connect to the emulator");
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
