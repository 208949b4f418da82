//! Exactly once on the AWS adapters (DynamoDB, KMS, SQS, EventBridge on the emulator): platform faults, duplicate
//! and reordered queue messages, counted from what the sandbox platform accepted.

use std::collections::HashMap;
use std::time::Duration;

use postora::ports::{Outgoing, QueueMessage};
use postora_test_support::app::TestApp;
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(40);

async fn on_aws(extra: &[(&str, &str)]) -> TestApp {
    let aws = postora_test_support::aws::Emulator::fresh().await;
    let backend = postora::runtime::Backend {
        stores: aws.adapters.stores(),
        keys: aws.adapters.keys.clone(),
        queue: aws.adapters.queue.clone(),
        bus: aws.adapters.bus.clone(),
        blobs: aws.adapters.blobs.clone(),
        mailer: aws.adapters.backend().mailer,
    };
    postora_test_support::app::spawn_app_on(backend, extra).await
}

/// Every idempotency key the platform accepted, with how many posts it made.
async fn accepted(t: &TestApp) -> HashMap<String, usize> {
    let mut per_key = HashMap::new();
    for p in t.sandbox_posts().await {
        *per_key
            .entry(p["idempotency_key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    per_key
}

async fn fault(t: &TestApp, body: Value) {
    let resp = t
        .http
        .post(t.url("/sandbox/faults"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_faults_and_duplicate_messages_publish_each_delivery_once_on_aws() {
    // The sandbox in `lookup` mode makes a new post for every request, so a publisher that repeats itself shows.
    let t = on_aws(&[
        ("POSTORA_SANDBOX_IDEMPOTENCY", "lookup"),
        ("POSTORA_HTTP_TIMEOUT_SECS", "2"),
    ])
    .await;
    let (ws, key) = t.workspace("faults").await;
    let ws = postora::domain::WorkspaceId::parse(&ws).unwrap();
    let a = t.connect_sandbox(&key, "ava").await;
    let b = t.connect_sandbox(&key, "bea").await;
    for f in [
        json!({"kind": "fail_before_accept", "count": 2}),
        json!({"kind": "accept_then_drop", "count": 2}),
        json!({"kind": "rate_limit", "count": 1, "retry_after_secs": 1, "user": "sbx-ava"}),
        json!({"kind": "slow", "count": 1, "delay_ms": 3000}),
    ] {
        fault(&t, f).await;
    }
    let mut ids = Vec::new();
    for i in 0..6 {
        let post = t.create_post(&key, &json!({"text": format!("aws {i}"), "targets": [{"account_id": a}, {"account_id": b}]})).await;
        ids.push(post["id"].as_str().unwrap().to_owned());
    }
    // Duplicate and reordered copies of every delivery's message, as SQS may deliver them.
    let mut copies = Vec::new();
    for id in ids.iter().rev() {
        for acc in [&b, &a] {
            let message = QueueMessage {
                workspace_id: ws.clone(),
                post_id: postora::domain::PostId::parse(id).unwrap(),
                account_id: postora::domain::AccountId::parse(acc).unwrap(),
            };
            copies.push(Outgoing {
                message,
                delay: Duration::ZERO,
            });
        }
    }
    t.app.queue.send(&copies).await.unwrap();
    let mut statuses = Vec::new();
    for id in &ids {
        let post = t.wait_settled(&key, id, SETTLE).await;
        for d in post["deliveries"].as_array().unwrap() {
            statuses.push((d["status"].as_str().unwrap().to_owned(), d["error"].clone()));
        }
    }
    let left: Value = t
        .http
        .get(t.url("/sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(left["faults"], json!([]), "every fault was met");
    let per_key = accepted(&t).await;
    assert!(
        per_key.values().all(|&n| n == 1),
        "a delivery was published twice: {per_key:?}"
    );
    let published = statuses.iter().filter(|(s, _)| s == "published").count();
    let in_doubt = statuses.iter().filter(|(s, _)| s == "in_doubt").count();
    assert_eq!(
        published + in_doubt,
        12,
        "every delivery is published or in doubt: {statuses:?}"
    );
    assert_eq!(
        per_key.len(),
        published,
        "what the platform holds is exactly what Postora recorded as published"
    );
}
