//! The port conformance suite, unchanged, against the AWS adapters on an AWS wire-protocol emulator (moto server).
//! Run through `scripts/test`, which starts the emulator and sets `AWS_ENDPOINT_URL`.

use std::time::Duration;

use postora::adapters::aws::sqs::DELIVERY_QUEUE;
use postora_test_support::aws::Emulator;
use postora_test_support::conformance;
use postora_test_support::conformance::media::LinkChecks;

#[tokio::test]
async fn the_dynamodb_store_conforms() {
    let env = Emulator::fresh().await;
    conformance::stores(&env.adapters.stores()).await;
}

#[tokio::test]
async fn the_kms_key_service_conforms() {
    let env = Emulator::fresh().await;
    conformance::keys(env.adapters.keys.as_ref()).await;
}

#[tokio::test]
async fn the_sqs_queue_conforms() {
    let env = Emulator::fresh().await;
    conformance::queue(
        env.adapters.queue.as_ref(),
        Duration::from_secs(u64::from(DELIVERY_QUEUE.visibility_timeout_secs)),
        DELIVERY_QUEUE.max_receive_count,
    )
    .await;
}

#[tokio::test]
async fn the_s3_objects_conform() {
    let env = Emulator::fresh().await;
    conformance::media::objects(env.adapters.blobs.as_ref()).await;
    conformance::media::multipart(env.adapters.blobs.as_ref()).await;
}

/// The emulator checks neither the signature nor the expiry of a presigned URL: the links are followed, and what they
/// say (their expiry, signature, response type) is checked.
#[tokio::test]
async fn the_s3_objects_links_conform() {
    let env = Emulator::fresh().await;
    conformance::media::fetch_links(env.adapters.blobs.as_ref(), LinkChecks::Presigned).await;
}
