//! `postora serve` as a person runs it: the real binary, its data directory, the CLI, and `kill -9`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_postora");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Server {
        let child = Command::new(BIN)
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir)
            .env("POSTORA_PUBLISH_LEASE_SECS", "3")
            .env("POSTORA_REQUEUE_AFTER_SECS", "3")
            .env("POSTORA_BACKOFF_BASE_SECS", "1")
            .env("POSTORA_BACKOFF_MAX_SECS", "2")
            .env("POSTORA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if healthy(port) {
                break;
            }
            assert!(Instant::now() < deadline, "postora serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, base }
    }

    fn kill_9(mut self) {
        // SIGKILL: no chance to finish anything in flight.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 probe, so waiting for the server needs no async runtime.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

fn create_workspace(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["workspace", "create", "ci", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["workspace_id"].as_str().unwrap().starts_with("ws_"));
    v["api_key"].as_str().unwrap().to_owned()
}

async fn connect(http: &reqwest::Client, base: &str, key: &str, user: &str) -> String {
    let start: Value = http
        .post(format!("{base}/v1/accounts/connect/sandbox"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // `curl -L <authorize_url>` connects a sandbox account: follow the redirects the same way.
    let page = reqwest::get(format!(
        "{}&user={user}",
        start["authorize_url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(page.status(), 200);
    let accounts: Value = http
        .get(format!("{base}/v1/accounts"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform_user_id"] == format!("sbx-{user}"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn all_posts(http: &reqwest::Client, base: &str, key: &str) -> Vec<Value> {
    let mut posts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/posts?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        posts.extend(page["posts"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return posts,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_loses_nothing_and_publishes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let key = create_workspace(dir.path());
    let mut server = Server::start(dir.path(), port);
    let http = reqwest::Client::new();
    let mut accounts = Vec::new();
    for user in ["ada", "bo", "cy"] {
        accounts.push(connect(&http, &server.base, &key, user).await);
    }
    let mut expected = 0;
    let mut rng = rand::thread_rng();
    for i in 0..60 {
        let n = 1 + i % 3;
        let targets: Vec<Value> = accounts
            .iter()
            .take(n)
            .map(|a| json!({"account_id": a}))
            .collect();
        expected += n;
        let mut body = json!({"text": format!("post {i}"), "targets": targets});
        if i >= 20 {
            let at = chrono::Utc::now() + chrono::Duration::milliseconds(rng.gen_range(500..6000));
            body["scheduled_at"] = json!(at.to_rfc3339());
        }
        let resp = http
            .post(format!("{}/v1/posts", server.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    // Kill it at random moments while posts are publishing, and start it again on the same data.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..900))).await;
        server.kill_9();
        server = Server::start(dir.path(), port);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let posts = loop {
        let posts = all_posts(&http, &server.base, &key).await;
        let done = posts
            .iter()
            .flat_map(|p| p["deliveries"].as_array().unwrap().iter())
            .all(|d| d["status"] == "published" || d["status"] == "in_doubt");
        if done {
            break posts;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries did not all settle after the restarts"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(posts.len(), 60, "no post was lost");
    let deliveries: Vec<&Value> = posts
        .iter()
        .flat_map(|p| p["deliveries"].as_array().unwrap().iter())
        .collect();
    assert_eq!(deliveries.len(), expected, "no delivery was lost");
    // Count from the platform's side: every delivery landed at most once.
    let accepted: Value = http
        .get(format!("{}/sandbox/posts", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for p in accepted["posts"].as_array().unwrap() {
        *per_key
            .entry(p["idempotency_key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        per_key.values().all(|&n| n == 1),
        "a delivery was published twice: {per_key:?}"
    );
    let published = deliveries
        .iter()
        .filter(|d| d["status"] == "published")
        .count();
    assert_eq!(
        per_key.len(),
        published,
        "every published delivery is on the platform, and nothing else is"
    );
}

/// Uploads an image to the media library; its id.
async fn upload_photo(http: &reqwest::Client, base: &str, key: &str, seed: u8) -> String {
    let resp = http
        .post(format!("{base}/v1/media?alt=photo%20{seed}"))
        .bearer_auth(key)
        .body(postora_test_support::media::jpeg_of(
            &postora_test_support::media::photo(64, 48, u32::from(seed)),
            85,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let item: Value = resp.json().await.unwrap();
    item["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_killed_in_the_middle_publishes_each_part_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let key = create_workspace(dir.path());
    let server = Server::start(dir.path(), port);
    let http = reqwest::Client::new();
    let account = connect(&http, &server.base, &key, "tess").await;
    let mut parts = Vec::new();
    for i in 0..4u8 {
        let media = upload_photo(&http, &server.base, &key, i).await;
        parts.push(json!({"text": format!("part {} of 4", i + 1), "media": [{"media_id": media}]}));
    }
    // The sandbox takes the first two parts, then accepts the third and holds its answer: Postora is killed while
    // the third part's call is out.
    let fault = http
        .post(format!("{}/sandbox/faults", server.base))
        .json(&json!({"kind": "slow", "after": 2, "delay_ms": 600_000, "user": "sbx-tess"}))
        .send()
        .await
        .unwrap();
    assert!(
        fault.status().is_success(),
        "{}",
        fault.text().await.unwrap()
    );
    let resp = http
        .post(format!("{}/v1/posts", server.base))
        .bearer_auth(&key)
        .json(&json!({"parts": parts, "targets": [{"account_id": account}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let post: Value = resp.json().await.unwrap();
    let post_id = post["id"].as_str().unwrap().to_owned();
    let sandbox_posts = |base: String| {
        let http = http.clone();
        async move {
            let v: Value = http
                .get(format!("{base}/sandbox/posts"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["posts"].as_array().unwrap().clone()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while sandbox_posts(server.base.clone()).await.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the third part never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill_9();
    let server = Server::start(dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivery = loop {
        let post: Value = http
            .get(format!("{}/v1/posts/{post_id}", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let d = post["deliveries"][0].clone();
        if d["status"] != "scheduled" && d["status"] != "queued" && d["status"] != "publishing" {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "the thread did not settle: {post}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivery["status"], "published", "{delivery}");
    let landed = sandbox_posts(server.base.clone()).await;
    assert_eq!(landed.len(), 4, "each part exactly once: {landed:?}");
    let recorded = delivery["parts"].as_array().unwrap();
    assert_eq!(recorded.len(), 4, "{delivery}");
    for (i, (p, r)) in landed.iter().zip(recorded).enumerate() {
        assert_eq!(p["text"], format!("part {} of 4", i + 1));
        assert_eq!(
            p["id"], r["platform_post_id"],
            "part {i} is recorded under its id"
        );
        assert_eq!(
            p["media"].as_array().unwrap().len(),
            1,
            "part {i} has its image"
        );
        let parent = if i == 0 {
            Value::Null
        } else {
            landed[i - 1]["id"].clone()
        };
        assert_eq!(
            p["reply_to"], parent,
            "part {i} replies to the part before it"
        );
    }
    assert_eq!(
        delivery["platform_post_id"], landed[0]["id"],
        "the thread is known by its first part"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_due_while_postora_was_down_are_published_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let key = create_workspace(dir.path());
    let server = Server::start(dir.path(), port);
    let http = reqwest::Client::new();
    let account = connect(&http, &server.base, &key, "dee").await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let resp = http
        .post(format!("{}/v1/posts", server.base))
        .bearer_auth(&key)
        .json(&json!({"text": "while away", "targets": [{"account_id": account}], "scheduled_at": at.to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    server.kill_9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let server = Server::start(dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let posts = all_posts(&http, &server.base, &key).await;
        if posts[0]["deliveries"][0]["status"] == "published" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not published after the restart: {posts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn admin_commands_work_on_the_data_directory_and_the_master_key_is_private() {
    let dir = tempfile::tempdir().unwrap();
    create_workspace(dir.path());
    let out = Command::new(BIN)
        .args(["workspace", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = Command::new(BIN)
        .args(["dlq", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(BIN).args(["openapi"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let bad = Command::new(BIN)
        .args(["workspace", "create", "  ", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success(), "an empty name is refused");
}
