//! Helpers for the tests that run the AWS adapters on an AWS wire-protocol emulator (moto server). `scripts/test`
//! starts the emulator and exports `AWS_ENDPOINT_URL`; without it these tests fail, saying so, rather than pass
//! without having run.

#![allow(dead_code)]

use aws_config::SdkConfig;
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

/// The SDK configuration for the emulator named by `AWS_ENDPOINT_URL`; fails, saying how to run the tests, without it.
pub async fn emulator_sdk_config() -> SdkConfig {
    postora::adapters::aws::testing::emulator().await
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
