//! Starting Postora for a test: on a random port with a fresh data directory, with the sandbox network beside it,
//! and talking to it as a client would.

use std::sync::Arc;
use std::time::Duration;

use postora::app::App;
use postora::config::Env;
use postora::domain::{AccountId, WorkspaceId};
use postora::runtime::{self, local::LocalBackend};
use postora::sandbox::Sandbox;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// A running Postora: the HTTP server, dispatcher and publishers, on the local backend.
pub struct TestApp {
    pub base_url: String,
    pub app: Arc<App>,
    pub local: LocalBackend,
    /// The sandbox network, when it is on (it is unless a real platform is configured or `POSTORA_SANDBOX=off`).
    pub sandbox: Option<Sandbox>,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for [`spawn_app_with`]: extra environment variables.
pub fn test_env(base_url: &str, extra: &[(&str, &str)]) -> Env {
    let mut env = Env::from_pairs([
        ("POSTORA_PUBLIC_URL", base_url),
        ("POSTORA_BACKOFF_BASE_SECS", "1"),
        ("POSTORA_BACKOFF_MAX_SECS", "2"),
        ("POSTORA_HTTP_TIMEOUT_SECS", "5"),
    ]);
    for (k, v) in extra {
        env.set(k, *v);
    }
    env
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_app_in(dir, extra).await
}

/// Starts Postora on an existing data directory (a restart).
pub async fn spawn_app_in(dir: tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    spawn(dir, extra, None).await
}

/// Starts Postora on other ports (the AWS adapters on the emulator); the sandbox platform keeps its own file in a
/// fresh directory, as any platform keeps its own data.
pub async fn spawn_app_on(backend: runtime::Backend, extra: &[(&str, &str)]) -> TestApp {
    spawn(tempfile::tempdir().unwrap(), extra, Some(backend)).await
}

async fn spawn(
    dir: tempfile::TempDir,
    extra: &[(&str, &str)],
    other: Option<runtime::Backend>,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let env = test_env(&base_url, extra);
    let local = LocalBackend::open_at(dir.path(), &env, &base_url).unwrap();
    // On another backend the objects are not local files, and this process serves no links to them.
    let local_blobs = other.is_none().then(|| local.blobs.clone());
    let backend = other.unwrap_or_else(|| local.backend.clone());
    let (app, sandbox) = runtime::local::app_with_sandbox(backend, &env, &base_url, dir.path())
        .await
        .unwrap();
    let router = runtime::local::router(app.clone(), sandbox.as_ref(), local_blobs.as_deref());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app2 = app.clone();
    let task = tokio::spawn(async move {
        runtime::serve(app2, router, listener, 16, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        base_url,
        app,
        local,
        sandbox,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        data_dir: dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Stops the server and its loops gracefully and hands back the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    /// Creates a workspace; returns (workspace id, API key).
    pub async fn workspace(&self, name: &str) -> (String, String) {
        let (ws, key) = self.app.create_workspace(name).await.unwrap();
        (ws.id.to_string(), key.reveal().to_owned())
    }

    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Connects a sandbox account for `user` by following the authorize URL, as `curl -L` would.
    pub async fn connect_sandbox(&self, key: &str, user: &str) -> String {
        let start: Value = self
            .post_json(key, "/v1/accounts/connect/sandbox", &json!({}))
            .await
            .json()
            .await
            .unwrap();
        let authorize = format!("{}&user={user}", start["authorize_url"].as_str().unwrap());
        let consent = self.http.get(authorize).send().await.unwrap();
        assert_eq!(consent.status(), 303, "the sandbox approves and redirects");
        let callback = consent.headers()["location"].to_str().unwrap().to_owned();
        let page = self.http.get(callback).send().await.unwrap();
        assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
        let accounts: Value = self.get(key, "/v1/accounts").await.json().await.unwrap();
        accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["platform_user_id"] == format!("sbx-{user}"))
            .expect("the connected account is listed")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a post; returns the response body (asserting 201).
    pub async fn create_post(&self, key: &str, body: &Value) -> Value {
        let resp = self.post_json(key, "/v1/posts", body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 201, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Polls a post until every delivery is in a terminal status, or panics after `timeout`.
    pub async fn wait_settled(&self, key: &str, post_id: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let post: Value = self
                .get(key, &format!("/v1/posts/{post_id}"))
                .await
                .json()
                .await
                .unwrap();
            let settled = post["deliveries"].as_array().unwrap().iter().all(|d| {
                matches!(
                    d["status"].as_str(),
                    Some("published" | "failed" | "in_doubt" | "canceled")
                )
            });
            if settled {
                return post;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "post did not settle in time: {post}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The account's current tokens, in the clear (the test's own view, to look for them elsewhere).
    pub async fn secrets_of(&self, ws: &str, account: &str) -> Vec<String> {
        let ws = WorkspaceId::parse(ws).unwrap();
        let acc = AccountId::parse(account).unwrap();
        let Some(sealed) = self
            .app
            .stores
            .accounts
            .get_tokens(&ws, &acc)
            .await
            .unwrap()
        else {
            return Vec::new();
        };
        let tokens = self
            .app
            .vault
            .open(&ws, &acc, &sealed.ciphertext)
            .await
            .unwrap();
        let mut out = vec![tokens.access_token.expose_secret().to_owned()];
        out.extend(
            tokens
                .refresh_token
                .iter()
                .map(|r| r.expose_secret().to_owned()),
        );
        out
    }

    /// Every post the sandbox platform accepted.
    pub async fn sandbox_posts(&self) -> Vec<Value> {
        let body: Value = self
            .http
            .get(self.url("/sandbox/posts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["posts"].as_array().unwrap().clone()
    }
}

/// Local objects under `dir` (with `clock` for their links, if given), their link routes served on a loopback port
/// the links point at, as `postora serve` serves them. The server runs until the test's runtime ends.
pub async fn served_blobs(
    dir: &std::path::Path,
    clock: Option<Arc<dyn postora::ports::Clock>>,
) -> postora::adapters::local::LocalBlobs {
    served_blobs_with(dir, |blobs| match clock {
        Some(clock) => blobs.with_clock(clock),
        None => blobs,
    })
    .await
}

/// [`served_blobs`], configured by `configure` before it is served.
pub async fn served_blobs_with(
    dir: &std::path::Path,
    configure: impl FnOnce(postora::adapters::local::LocalBlobs) -> postora::adapters::local::LocalBlobs,
) -> postora::adapters::local::LocalBlobs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let blobs = configure(postora::adapters::local::LocalBlobs::open(dir, &base).unwrap());
    let router = blobs.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    blobs
}

/// Every file under `dir`, however deep.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
