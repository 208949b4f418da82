//! `postora dlq list` and `postora dlq redrive` on a data directory, as an operator runs them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postora::config::Env;
use postora::domain::{AccountId, PostId, WorkspaceId};
use postora::ports::{Outgoing, Queue, QueueMessage};
use postora::runtime::local::LocalBackend;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_postora");

fn dlq(dir: &Path, command: &str) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["dlq", command, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn dead_letters_are_listed_and_moved_back_onto_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    // A queue that gives up on a message after one receive, and hides nothing: the second receive dead-letters it.
    let env = Env::from_pairs([
        ("POSTORA_QUEUE_MAX_RECEIVES", "1"),
        ("POSTORA_QUEUE_VISIBILITY_SECS", "0"),
    ]);
    let local = LocalBackend::open(dir.path(), &env).unwrap();
    let message = QueueMessage {
        workspace_id: WorkspaceId::generate(),
        post_id: PostId::generate(),
        account_id: AccountId::generate(),
    };
    local
        .queue
        .send(&[Outgoing {
            message: message.clone(),
            delay: Duration::ZERO,
        }])
        .await
        .unwrap();
    assert_eq!(
        local.queue.receive(1, Duration::ZERO).await.unwrap().len(),
        1
    );
    assert!(local
        .queue
        .receive(1, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());

    let listed = dlq(dir.path(), "list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let body: QueueMessage = serde_json::from_str(listed[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, message);
    assert_eq!(listed[0]["receive_count"], 1);

    assert_eq!(
        dlq(dir.path(), "redrive"),
        [serde_json::json!({"redriven": 1})]
    );
    assert!(dlq(dir.path(), "list").is_empty());
    assert_eq!(local.queue.depth().await.unwrap(), 1, "back on the queue");
}

/// The same commands with `--backend aws`, on the AWS emulator `scripts/test` starts.
#[tokio::test]
async fn dead_letters_on_sqs_are_listed_and_moved_back_with_backend_aws() {
    use postora::adapters::aws::{AwsAdapters, AwsClients};
    use postora_test_support::aws::{emulator, fresh_resources};

    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let message = QueueMessage {
        workspace_id: WorkspaceId::generate(),
        post_id: PostId::generate(),
        account_id: AccountId::generate(),
    };
    let body = serde_json::to_string(&message).unwrap();
    AwsClients::new(&sdk, None)
        .sqs
        .send_message()
        .queue_url(adapters.queue.dead_letter_url())
        .message_body(&body)
        .send()
        .await
        .unwrap();

    let on_aws = |command: &str| -> Vec<Value> {
        let out = Command::new(BIN)
            .args(["--backend", "aws", "dlq", command])
            .env("POSTORA_TABLE", &config.table)
            .env("POSTORA_KMS_KEY", &config.kms_key)
            .env("POSTORA_QUEUE_URL", &config.queue)
            .env("POSTORA_DLQ_URL", &config.dead_letter_queue)
            .env("POSTORA_EVENT_BUS", &config.event_bus)
            .env("POSTORA_MEDIA_BUCKET", &config.media_bucket)
            .env("POSTORA_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let listed = on_aws("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["body"], body);
    assert_eq!(on_aws("redrive"), [serde_json::json!({"redriven": 1})]);
    assert!(on_aws("list").is_empty());
    let back = adapters
        .queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "back on the delivery queue");
    assert_eq!(back[0].body, body);
}
