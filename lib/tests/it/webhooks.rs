//! Webhooks on the embedded backend: events go to an outbox in SQLite as they are published, and are POSTed from
//! there with retries and exponential backoff; what was never accepted stays listed, and can be put back. Time is
//! passed in, so the backoff is followed without sleeping.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use postora::adapters::local::{Db, LocalBus, Webhook, WebhookRetry};
use postora::domain::{Event, EventKind, WorkspaceId};
use postora::ports::EventBus;
use postora_test_support::webhook::{verify, WebhookReceiver};
use secrecy::SecretString;

const SECRET: &str = "whsec-test-only";

fn retry(max_attempts: u32) -> WebhookRetry {
    WebhookRetry {
        max_attempts,
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(60),
    }
}

fn bus(dir: &Path, url: &str, max_attempts: u32) -> Arc<LocalBus> {
    let db = Db::open(&dir.join("postora.db")).unwrap();
    Arc::new(LocalBus::new(
        db,
        Some(Webhook {
            url: url.parse().unwrap(),
            secret: SecretString::from(SECRET.to_owned()),
            retry: retry(max_attempts),
        }),
        reqwest::Client::new(),
    ))
}

fn event() -> Event {
    Event::new(
        EventKind::PostPublished,
        Some(WorkspaceId::generate()),
        Utc::now(),
        serde_json::json!({"post_id": "post_x", "account_id": "acc_y"}),
    )
}

fn at(t0: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t0 + chrono::Duration::seconds(secs)
}

/// A receiver that fails twice gets the event on the third attempt, once, signed, with the body the event is; the
/// attempts wait for their backoff (10 s, then 20 s), and publishing itself sent nothing.
#[tokio::test]
async fn a_failing_receiver_gets_the_event_after_retries_exactly_once_and_signed() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start(2).await;
    let bus = bus(dir.path(), &receiver.url, 5);
    let e = event();
    bus.publish(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(
        receiver.attempts(),
        0,
        "publishing does not call the webhook"
    );
    assert_eq!(bus.pending_webhooks().await.unwrap(), 1);

    let t0 = Utc::now();
    let first = bus.deliver_due(t0).await.unwrap();
    assert_eq!((first.attempted, first.retrying), (1, 1));
    // Not due again before its backoff.
    assert_eq!(bus.deliver_due(at(t0, 9)).await.unwrap().attempted, 0);
    let second = bus.deliver_due(at(t0, 10)).await.unwrap();
    assert_eq!((second.attempted, second.retrying), (1, 1));
    assert_eq!(bus.deliver_due(at(t0, 29)).await.unwrap().attempted, 0);
    let third = bus.deliver_due(at(t0, 30)).await.unwrap();
    assert_eq!((third.attempted, third.delivered), (1, 1));
    // Nothing more, ever.
    for secs in [31, 600, 86_400] {
        assert_eq!(bus.deliver_due(at(t0, secs)).await.unwrap().attempted, 0);
    }
    assert_eq!(receiver.attempts(), 3);
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "exactly once");
    let got = &accepted[0];
    assert_eq!(got.body, serde_json::to_vec(&e).unwrap());
    assert_eq!(got.event_id.as_deref(), Some(e.id.as_str()));
    assert!(
        verify(SECRET, &got.signature, &got.body, 60),
        "{}",
        got.signature
    );
    assert!(!verify("another secret", &got.signature, &got.body, 60));
    assert_eq!(bus.pending_webhooks().await.unwrap(), 0);
    assert!(bus.failed_webhooks(10).await.unwrap().is_empty());
}

/// A receiver that always fails is tried `max_attempts` times, then the event is in the failed list (with the last
/// error, and no secret); retrying it puts it back, and it is delivered once the receiver answers.
#[tokio::test]
async fn a_receiver_that_always_fails_leaves_the_event_in_the_failed_list_and_it_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start(usize::MAX).await;
    let bus = bus(dir.path(), &receiver.url, 3);
    let e = event();
    bus.publish(std::slice::from_ref(&e)).await.unwrap();
    let t0 = Utc::now();
    let mut runs = Vec::new();
    for secs in [0, 10, 30, 90, 1000, 100_000] {
        runs.push(bus.deliver_due(at(t0, secs)).await.unwrap());
    }
    assert_eq!(receiver.attempts(), 3, "three attempts, no more");
    assert_eq!(runs[2].failed, 1, "the third is the last: {runs:?}");
    assert!(runs[3..].iter().all(|r| r.attempted == 0));
    let failed = bus.failed_webhooks(10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event_id, e.id);
    assert_eq!(failed[0].kind, "post.published");
    assert_eq!(failed[0].attempts, 3);
    assert_eq!(failed[0].last_error.as_deref(), Some("HTTP 503"));
    assert!(!serde_json::to_string(&failed).unwrap().contains(SECRET));
    assert_eq!(bus.pending_webhooks().await.unwrap(), 0);
    assert_eq!(
        bus.webhook_status(&e.id).await.unwrap().as_deref(),
        Some("failed")
    );

    // Put back, it is tried at once, and delivered once the receiver takes it.
    receiver.fail_next(0);
    assert_eq!(
        bus.retry_failed(Some("evt-unknown"), at(t0, 200_000))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        bus.retry_failed(Some(&e.id), at(t0, 200_000))
            .await
            .unwrap(),
        1
    );
    let run = bus.deliver_due(at(t0, 200_000)).await.unwrap();
    assert_eq!(run.delivered, 1);
    assert_eq!(receiver.accepted().len(), 1);
    assert!(bus.failed_webhooks(10).await.unwrap().is_empty());
    assert_eq!(bus.webhook_status(&e.id).await.unwrap(), None);
}

/// A pending delivery survives a restart: the process that published it stops before the receiver took it, and the
/// next one, on the same data directory, delivers it once.
#[tokio::test]
async fn a_pending_delivery_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start(1).await;
    let e = event();
    let t0;
    {
        let before = bus(dir.path(), &receiver.url, 5);
        before.publish(std::slice::from_ref(&e)).await.unwrap();
        t0 = Utc::now();
        assert_eq!(before.deliver_due(t0).await.unwrap().retrying, 1);
    }
    let after = bus(dir.path(), &receiver.url, 5);
    assert_eq!(after.pending_webhooks().await.unwrap(), 1);
    assert_eq!(
        after.deliver_due(at(t0, 5)).await.unwrap().attempted,
        0,
        "its backoff is kept"
    );
    assert_eq!(after.deliver_due(at(t0, 10)).await.unwrap().delivered, 1);
    assert_eq!(receiver.accepted().len(), 1);
    assert_eq!(
        receiver.accepted()[0].event_id.as_deref(),
        Some(e.id.as_str())
    );
    // Publishing the same event again (a repeated publish) does not send it again.
    after.publish(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(after.deliver_due(at(t0, 20)).await.unwrap().attempted, 0);
    assert_eq!(receiver.accepted().len(), 1);
}
