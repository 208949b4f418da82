//! Webhooks as an operator sees them: a delivery that used every attempt is listed by `postora webhooks failed`,
//! put back by `postora webhooks retry`, and delivered by the next `postora serve` on the data directory (after one
//! more failure and its backoff), signed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postora::config::Env;
use postora::domain::{Event, EventKind, WorkspaceId};
use postora::ports::EventBus;
use postora::runtime::local::LocalBackend;
use postora_test_support::webhook::{verify, WebhookReceiver};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_postora");
const SECRET: &str = "whsec-cli-test";

fn postora(dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn failed_deliveries_are_listed_retried_and_delivered_by_the_next_serve() {
    let dir = tempfile::tempdir().unwrap();
    let down = WebhookReceiver::start(usize::MAX).await;
    let event = Event::new(
        EventKind::PostFailed,
        Some(WorkspaceId::generate()),
        chrono::Utc::now(),
        serde_json::json!({"post_id": "post_x"}),
    );
    {
        let env = Env::from_pairs([
            ("POSTORA_WEBHOOK_URL", down.url.as_str()),
            ("POSTORA_WEBHOOK_SECRET", SECRET),
            ("POSTORA_WEBHOOK_MAX_ATTEMPTS", "1"),
        ]);
        let local = LocalBackend::open(dir.path(), &env).unwrap();
        local
            .bus
            .publish(std::slice::from_ref(&event))
            .await
            .unwrap();
        let run = local.bus.deliver_due(chrono::Utc::now()).await.unwrap();
        assert_eq!(run.failed, 1);
    }
    let failed = postora(dir.path(), &["webhooks", "failed"]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["event_id"], event.id.as_str());
    assert_eq!(failed[0]["kind"], "post.failed");
    assert_eq!(failed[0]["attempts"], 1);
    assert_eq!(failed[0]["last_error"], "HTTP 503");
    assert_eq!(
        postora(dir.path(), &["webhooks", "pending"])[0]["pending"],
        0
    );
    assert_eq!(
        postora(dir.path(), &["webhooks", "retry", "--all"])[0]["retrying"],
        1
    );
    assert_eq!(
        postora(dir.path(), &["webhooks", "pending"])[0]["pending"],
        1
    );
    assert!(postora(dir.path(), &["webhooks", "failed"]).is_empty());

    // The next serve delivers it from the outbox: the receiver fails once more, then takes it after 1 s.
    let up = WebhookReceiver::start(1).await;
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("POSTORA_WEBHOOK_URL", &up.url)
        .env("POSTORA_WEBHOOK_SECRET", SECRET)
        .env("POSTORA_WEBHOOK_BACKOFF_BASE_SECS", "1")
        .env("POSTORA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while up.accepted().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer, to see that nothing comes twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = child.kill();
    let _ = child.wait();
    let accepted = up.accepted();
    assert_eq!(accepted.len(), 1, "delivered exactly once");
    assert_eq!(up.attempts(), 2, "one failure, then the delivery");
    assert_eq!(accepted[0].body, serde_json::to_vec(&event).unwrap());
    assert!(verify(
        SECRET,
        &accepted[0].signature,
        &accepted[0].body,
        60
    ));
    assert_eq!(
        postora(dir.path(), &["webhooks", "pending"])[0]["pending"],
        0
    );
}
