//! Helpers for the tests that run the AWS adapters on an AWS wire-protocol emulator (moto server). `scripts/test`
//! starts the emulator and exports `AWS_ENDPOINT_URL`; without it these tests fail, saying so, rather than pass
//! without having run.

#![allow(dead_code)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use postora::adapters::aws::bootstrap::{bootstrap, BootstrapReport};
use postora::adapters::aws::{AwsAdapters, AwsClients, AwsConfig, RequestMetrics};

/// Everything one test needs: its own freshly created resources and adapters over them.
pub struct Emulator {
    pub sdk: SdkConfig,
    pub config: AwsConfig,
    pub clients: AwsClients,
    pub adapters: AwsAdapters,
    pub metrics: RequestMetrics,
    pub bootstrap: BootstrapReport,
}

/// The SDK configuration for the emulator named by `AWS_ENDPOINT_URL`, with static test credentials so the SDK
/// never probes for real ones.
pub async fn emulator_sdk_config() -> SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "AWS_ENDPOINT_URL is not set. These tests run the AWS adapters against an AWS emulator (moto server): \
                 run them through scripts/test, which starts one and sets AWS_ENDPOINT_URL, or start \
                 `moto_server -H 127.0.0.1 -p PORT` and export AWS_ENDPOINT_URL=http://127.0.0.1:PORT \
                 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
            )
        });
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

/// A name no other test uses, so tests never share a table or queue (SQS purges are limited to one a minute).
pub fn fresh_name() -> String {
    format!("pt-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl Emulator {
    /// Creates a fresh set of resources with `postora aws bootstrap`'s code and connects the adapters to them.
    pub async fn fresh() -> Emulator {
        let sdk = emulator_sdk_config().await;
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
