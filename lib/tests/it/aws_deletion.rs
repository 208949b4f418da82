//! The data-deletion and privacy scenarios of `tests/deletion.rs`, on the AWS adapters (DynamoDB, KMS, SQS and
//! EventBridge on an AWS wire-protocol emulator). Run through `scripts/test`, which starts the emulator and sets
//! `AWS_ENDPOINT_URL`.

use crate::deletion_scenarios;

use deletion_scenarios::harness::DeletionApp;
use postora::runtime::Backend;
use postora_test_support::aws::Emulator;

async fn aws() -> DeletionApp {
    let emulator = Emulator::fresh().await;
    let adapters = &emulator.adapters;
    let backend = Backend {
        stores: adapters.stores(),
        keys: adapters.keys.clone(),
        queue: adapters.queue.clone(),
        bus: adapters.bus.clone(),
        blobs: adapters.blobs.clone(),
        mailer: adapters.backend().mailer,
    };
    DeletionApp::start(backend, tempfile::tempdir().unwrap()).await
}

#[tokio::test]
async fn one_person_is_deleted_from_every_workspace() {
    deletion_scenarios::one_person_is_deleted_from_every_workspace(&aws().await).await;
}

#[tokio::test]
async fn a_meta_request_reaches_the_pages_and_instagram_accounts_of_the_person() {
    deletion_scenarios::a_meta_request_reaches_the_pages_and_instagram_accounts_of_the_person(
        &aws().await,
    )
    .await;
}

#[tokio::test]
async fn deauthorize_revokes_and_stops_publishing() {
    deletion_scenarios::deauthorize_revokes_and_stops_publishing(&aws().await).await;
}

#[tokio::test]
async fn export_pages_give_every_record_once() {
    deletion_scenarios::export_pages_give_every_record_once(&aws().await).await;
}

#[tokio::test]
async fn a_malformed_export_cursor_is_refused() {
    deletion_scenarios::a_malformed_export_cursor_is_refused(&aws().await).await;
}

#[tokio::test]
async fn export_holds_everything_but_secrets() {
    deletion_scenarios::export_holds_everything_but_secrets(&aws().await).await;
}

#[tokio::test]
async fn erase_leaves_only_a_tombstone() {
    deletion_scenarios::erase_leaves_only_a_tombstone(&aws().await).await;
}

#[tokio::test]
async fn the_audit_log_pages_and_shows_no_token() {
    deletion_scenarios::the_audit_log_pages_and_shows_no_token(&aws().await).await;
}
