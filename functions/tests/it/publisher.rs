//! The publisher binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with
//! events/publisher/: a malformed message fails alone, and a delivery message is published from the table; and
//! with a short deadline against a fake Meta, where media still processing is recorded in time and resumed later.

use std::path::Path;
use std::time::Duration;

use postora::adapters::aws::AwsAdapters;
use postora::app::connect::{Callback, CallbackParams};
use postora::app::posts::{NewPost, TargetInput};
use postora::config::Env;
use postora::domain::{
    Account, AccountId, AccountStatus, Delivery, DeliveryKey, DeliveryStatus, PlatformKind, Post,
    PostId, Profile, WorkspaceId,
};
use postora::ports::{AccountStore, PostRecord, PostStore, Queue, QueueMessage, Received};
use postora::runtime::build_app;
use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::fakes::meta::{ContainerScript, FakeMeta, Outcome};
use postora_test_support::lambda::{
    invoke_binary, invoke_binary_with_deadline, samples, Answer, Sample,
};

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
                approval: None,
                id: key.post_id.clone(),
                workspace_id: key.workspace_id.clone(),
                text: "Hello".into(),
                media: vec![],
                thread: vec![],
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

/// One SQS event carrying `messages`, as Lambda hands them to the publisher.
fn sqs_event(name: &str, messages: &[Received]) -> Sample {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    Sample {
        name: name.into(),
        payload: serde_json::json!({ "Records": records }),
    }
}

/// Waits up to `within` for a message on the delivery queue.
async fn next_message(adapters: &AwsAdapters, within: Duration) -> Vec<Received> {
    let started = std::time::Instant::now();
    loop {
        let got = adapters
            .queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap();
        if !got.is_empty() || started.elapsed() > within {
            return got;
        }
    }
}

/// An invocation with a short deadline, against a Meta whose media container stays IN_PROGRESS: the publisher
/// answers before the deadline with the outcome recorded (the container checkpointed, the delivery still publishing
/// and its attempt given back), the delivery comes back by itself, and once Meta is done the next invocation
/// publishes that same container, once.
#[tokio::test]
async fn a_short_deadline_records_media_still_processing_and_the_delivery_resumes_it_later() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let fake = FakeMeta::start().await;
    let mut env = function_env(&config);
    env.extend(fake.threads_env());

    // Connect a Threads account and create a post for now, with Postora's own code over the same resources.
    let app = build_app(
        adapters.backend(),
        &Env::from_pairs(env.clone()),
        "http://127.0.0.1:9",
    )
    .unwrap();
    let (ws, _) = app.create_workspace("deadline").await.unwrap();
    let start = app
        .start_connect(
            &ws.id,
            PlatformKind::Threads,
            None,
            postora::domain::ConnectStarter::ApiKey {
                key_id: "test".into(),
            },
        )
        .await
        .unwrap();
    let back = fake
        .consent(&url::Url::parse(&start.authorize_url).unwrap())
        .await;
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let Callback::Connected(connected) = app
        .complete_connect(
            PlatformKind::Threads,
            &CallbackParams {
                code: param("code"),
                state: param("state"),
                ..CallbackParams::default()
            },
            None,
        )
        .await
        .unwrap()
    else {
        panic!("one Threads account connects at once");
    };
    fake.script_containers(ContainerScript {
        in_progress_polls: 1_000_000,
        outcome: Outcome::Finished,
    });
    let (record, _) = app
        .create_post(
            &ws.id,
            &NewPost {
                text: "A clip that takes a while.".into(),
                media: vec![],
                parts: vec![],
                targets: vec![TargetInput {
                    account_id: connected.accounts[0].id.to_string(),
                    text: None,
                    options: None,
                }],
                scheduled_at: None,
            },
            None,
            &postora::app::approval::Author::new(
                postora::domain::By::ApiKey("test".into()),
                postora::domain::Role::Owner,
            ),
        )
        .await
        .unwrap();
    let key = record.deliveries[0].key();
    let first = next_message(&adapters, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1, "the post for now is queued at once");

    let deadline = Duration::from_secs(12);
    let (answers, timings) = invoke_binary_with_deadline(
        Path::new(env!("CARGO_BIN_EXE_publisher")),
        "publisher",
        &env,
        vec![sqs_event("processing", &first)],
        Duration::from_secs(60),
        deadline,
    )
    .await
    .unwrap();
    let settled = serde_json::json!({ "batchItemFailures": [] });
    assert_eq!(
        answers,
        vec![("processing".to_owned(), Answer::Response(settled.clone()))]
    );
    let took = timings.invocations[0].1;
    assert!(
        took < deadline,
        "the function answered after {took:?}, past its deadline"
    );
    let waiting = adapters.store.get_delivery(&key).await.unwrap().unwrap();
    assert_eq!(waiting.status, DeliveryStatus::Publishing, "{waiting:?}");
    assert!(
        waiting.checkpoint.is_some(),
        "the container is checkpointed"
    );
    assert_eq!(waiting.attempts, 0, "waiting on Meta uses no attempt");
    assert_eq!(waiting.error.as_ref().unwrap().code, "processing");
    assert_eq!((fake.container_count(), fake.post_count()), (1, 0));
    // Not a batch item failure, so Lambda deletes the message.
    adapters.queue.ack(&first[0].receipt).await.unwrap();

    // Nothing is lost: the delivery comes back by itself, after a delay.
    let again = next_message(&adapters, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 1, "the delivery comes back to continue");
    assert_eq!(QueueMessage::parse(&again[0].body).unwrap().key(), key);

    // Meta is done now. The message comes twice (SQS delivers at least once): it is published once, from the
    // checkpointed container.
    fake.finish_containers();
    let mut twice = again.clone();
    twice.push(Received {
        id: format!("{}-copy", again[0].id),
        ..again[0].clone()
    });
    let (answers, _) = invoke_binary_with_deadline(
        Path::new(env!("CARGO_BIN_EXE_publisher")),
        "publisher",
        &env,
        vec![sqs_event("resumed", &twice)],
        Duration::from_secs(60),
        deadline,
    )
    .await
    .unwrap();
    assert_eq!(
        answers,
        vec![("resumed".to_owned(), Answer::Response(settled))]
    );
    let published = adapters.store.get_delivery(&key).await.unwrap().unwrap();
    assert_eq!(published.status, DeliveryStatus::Published, "{published:?}");
    assert_eq!(
        (fake.container_count(), fake.post_count()),
        (1, 1),
        "the same container, published once"
    );
    assert_eq!(
        published.platform_post_id.as_deref(),
        Some(fake.posts()[0].id.as_str())
    );
    assert_eq!(published.attempts, 1);
}
