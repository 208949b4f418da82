//! The dispatcher binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with
//! events/dispatcher/: a tick moves a due delivery onto the queue.

use std::path::Path;
use std::time::Duration;

use postora::adapters::aws::AwsAdapters;
use postora::domain::{
    AccountId, Delivery, DeliveryStatus, PlatformKind, Post, PostId, WorkspaceId,
};
use postora::ports::{PostRecord, PostStore, Queue};
use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

#[tokio::test]
async fn a_tick_queues_the_deliveries_that_are_due() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let now = chrono::Utc::now();
    let ws = WorkspaceId::generate();
    let post = Post {
        approval: None,
        id: PostId::generate(),
        workspace_id: ws.clone(),
        text: "Due now".into(),
        media: vec![],
        thread: vec![],
        scheduled_at: now,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let delivery = Delivery::new(
        ws,
        post.id.clone(),
        AccountId::generate(),
        PlatformKind::Sandbox,
        None,
        now,
        now,
    );
    adapters
        .store
        .create_post(&PostRecord {
            post,
            deliveries: vec![delivery.clone()],
        })
        .await
        .unwrap();

    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/dispatcher")).unwrap();
    let count = events.len();
    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_dispatcher")),
        "dispatcher",
        &function_env(&config),
        events,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(answers.len(), count);
    let Answer::Response(report) = &answers[0].1 else {
        panic!("the tick failed: {answers:?}");
    };
    assert_eq!(report["queued"], 1, "{report}");
    let stored = adapters
        .store
        .get_delivery(&delivery.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeliveryStatus::Queued);
    let received = adapters
        .queue
        .receive(10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
}
