//! The publisher binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with
//! events/publisher/: a malformed message fails alone, and a delivery message is published from the table.

use std::path::Path;
use std::time::Duration;

use postora::adapters::aws::AwsAdapters;
use postora::domain::{
    Account, AccountId, AccountStatus, Delivery, DeliveryKey, DeliveryStatus, PlatformKind, Post,
    PostId, Profile, WorkspaceId,
};
use postora::ports::{AccountStore, PostRecord, PostStore};
use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

#[tokio::test]
async fn the_publisher_settles_a_batch_and_fails_only_the_malformed_message() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/publisher")).unwrap();
    let batch = &events.iter().find(|s| s.name == "batch").unwrap().payload;

    // The first record names a delivery that is queued for an account on a platform this deployment has off.
    let first: serde_json::Value =
        serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
    let key = DeliveryKey {
        workspace_id: WorkspaceId::parse(first["workspace_id"].as_str().unwrap()).unwrap(),
        post_id: PostId::parse(first["post_id"].as_str().unwrap()).unwrap(),
        account_id: AccountId::parse(first["account_id"].as_str().unwrap()).unwrap(),
    };
    let now = chrono::Utc::now();
    adapters
        .store
        .upsert_account(&Account {
            id: key.account_id.clone(),
            workspace_id: key.workspace_id.clone(),
            platform: PlatformKind::Sandbox,
            profile: Profile {
                platform_user_id: "u1".into(),
                ..Profile::default()
            },
            status: AccountStatus::Active,
            settings: serde_json::Value::Null,
            token_expires_at: None,
            created_at: now,
            updated_at: now,
            connected_at: Some(now),
            version: 1,
        })
        .await
        .unwrap();
    let scheduled = Delivery::new(
        key.workspace_id.clone(),
        key.post_id.clone(),
        key.account_id.clone(),
        PlatformKind::Sandbox,
        None,
        now,
        now,
    );
    let queued = scheduled
        .queue(now, chrono::Duration::seconds(120))
        .unwrap();
    adapters
        .store
        .create_post(&PostRecord {
            post: Post {
                id: key.post_id.clone(),
                workspace_id: key.workspace_id.clone(),
                text: "Hello".into(),
                media: vec![],
                scheduled_at: now,
                created_at: now,
                updated_at: now,
                version: 1,
            },
            deliveries: vec![queued],
        })
        .await
        .unwrap();

    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_publisher")),
        "publisher",
        &function_env(&config),
        events.clone(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let malformed = batch["Records"][2]["messageId"].as_str().unwrap();
    assert_eq!(
        answers,
        vec![(
            "batch".to_owned(),
            Answer::Response(serde_json::json!({
                "batchItemFailures": [{"itemIdentifier": malformed}]
            }))
        )]
    );
    let after = adapters.store.get_delivery(&key).await.unwrap().unwrap();
    assert_eq!(after.status, DeliveryStatus::Failed);
    assert_eq!(after.error.unwrap().code, "platform_disabled");
}
