//! `postora` on the AWS backend, against the AWS wire-protocol emulator `scripts/test` starts: `postora aws
//! bootstrap` creates the resources and changes nothing the second time, the admin commands work with `--backend aws`
//! or `POSTORA_BACKEND=aws`, and `postora serve --backend aws` connects, schedules and publishes through the sandbox
//! as it does on one machine.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use postora_test_support::aws::NO_EMULATOR;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_postora");

/// The `postora` command with fresh AWS resource names, on the emulator.
fn postora(name: &str) -> Command {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()),
        "{NO_EMULATOR}"
    );
    let mut cmd = Command::new(BIN);
    cmd.env("POSTORA_TABLE", name)
        .env("POSTORA_KMS_KEY", format!("alias/{name}"))
        .env("POSTORA_QUEUE_URL", format!("{name}-deliveries"))
        .env("POSTORA_DLQ_URL", format!("{name}-deliveries-dlq"))
        .env("POSTORA_EVENT_BUS", name)
        .env("POSTORA_MEDIA_BUCKET", format!("{name}-media"))
        .env("POSTORA_LOG", "warn")
        .env_remove("POSTORA_BACKEND");
    cmd
}

fn fresh_name() -> String {
    format!("cli-{}", &uuid_like()[..12])
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| format!("{:x}", rng.gen::<u8>() % 16))
        .collect()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn bootstrapped() -> String {
    let name = fresh_name();
    run(postora(&name).args(["aws", "bootstrap"]));
    name
}

#[test]
fn bootstrap_creates_everything_once_and_then_changes_nothing() {
    let name = fresh_name();
    let first = run(postora(&name).args(["aws", "bootstrap"]));
    let first = String::from_utf8_lossy(&first.stdout);
    for resource in ["table", "key", "queue", "event bus", "bucket"] {
        assert!(
            first
                .lines()
                .any(|l| l.starts_with(resource) && l.ends_with("created")),
            "{resource} was not created:\n{first}"
        );
    }
    let second = run(postora(&name).args(["aws", "bootstrap"]));
    let second = String::from_utf8_lossy(&second.stdout);
    let steps: Vec<&str> = second
        .lines()
        .filter(|l| !l.contains("queue URL"))
        .collect();
    assert!(!steps.is_empty());
    assert!(
        steps.iter().all(|l| l.ends_with("already in place")),
        "the second run changed something:\n{second}"
    );
}

#[test]
fn admin_commands_work_on_the_aws_backend() {
    let name = bootstrapped();
    let out = run(postora(&name).args(["--backend", "aws", "workspace", "create", "on aws"]));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["workspace_id"].as_str().unwrap().to_owned();
    let out = run(postora(&name)
        .env("POSTORA_BACKEND", "aws")
        .args(["workspace", "list"]));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&id), "{listed}");
    let out = run(postora(&name).args(["--backend", "aws", "dlq", "list"]));
    assert!(out.stdout.is_empty());
    let out = run(postora(&name).args(["--backend", "aws", "dispatch"]));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["queued"], 0);

    // Resources that were never bootstrapped are named in the error, with what to do.
    let missing = postora(&fresh_name())
        .args(["--backend", "aws", "dispatch"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("postora aws bootstrap"));
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(name: &str, dir: &Path, port: u16) -> Server {
    let child = postora(name)
        .args(["--backend", "aws", "serve", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "postora serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_aws_connects_schedules_and_publishes_once() {
    let name = bootstrapped();
    let out = run(postora(&name).args(["--backend", "aws", "workspace", "create", "serve"]));
    let key = serde_json::from_slice::<Value>(&out.stdout).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = serve(&name, dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let start: Value = http
        .post(format!("{base}/v1/accounts/connect/sandbox"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = reqwest::get(format!(
        "{}&user=ava",
        start["authorize_url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(page.status(), 200);
    let accounts: Value = http
        .get(format!("{base}/v1/accounts"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();

    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    for body in [
        json!({"text": "now", "targets": [{"account_id": account}]}),
        json!({"text": "soon", "targets": [{"account_id": account}], "scheduled_at": soon.to_rfc3339()}),
    ] {
        let resp = http
            .post(format!("{base}/v1/posts"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = http
            .get(format!("{base}/v1/posts"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let statuses: Vec<&str> = page["posts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["deliveries"].as_array().unwrap())
            .map(|d| d["status"].as_str().unwrap())
            .collect();
        if statuses.len() == 2 && statuses.iter().all(|s| *s == "published") {
            break;
        }
        assert!(Instant::now() < deadline, "not published: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted: Value = http
        .get(format!("{base}/sandbox/posts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        accepted["posts"].as_array().unwrap().len(),
        2,
        "each post reached the platform once"
    );
}
