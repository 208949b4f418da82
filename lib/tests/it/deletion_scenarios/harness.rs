//! Postora with its real Meta adapters pointed at the fake Meta, over a backend the test chooses, on a random port:
//! people connect accounts through the real OAuth flow, posts are published by the real dispatcher and publisher,
//! and callbacks are signed the way Meta documents it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use postora::app::{App, Deps};
use postora::config::{Env, Settings};
use postora::domain::{Account, AccountId, Event, PlatformKind, WorkspaceId};
use postora::platforms::http::{client, HttpTimeouts};
use postora::platforms::meta::{
    FacebookPlatform, InstagramLogin, InstagramPlatform, ThreadsPlatform,
};
use postora::ports::{BusError, Clock, EventBus, SystemClock};
use postora::runtime::{self, Backend};
use serde_json::{json, Value};
use sha2::Sha256;

use postora_test_support::app::test_env;
use postora_test_support::fakes::meta::{FakeMeta, FACEBOOK_APP, THREADS_APP};

/// Shown on the privacy pages; has markup in it to prove it is escaped.
pub const OPERATOR_NAME: &str = "Example <Operator> Ltd";
pub const OPERATOR_CONTACT: &str = "privacy@operator.example";

/// Keeps every event the app emits, and passes it on.
pub struct RecordingBus {
    inner: Arc<dyn EventBus>,
    seen: Mutex<Vec<Event>>,
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, events: &[Event]) -> Result<(), BusError> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(events);
        self.inner.publish(events).await
    }
}

pub struct DeletionApp {
    pub base_url: String,
    pub app: Arc<App>,
    pub fake: FakeMeta,
    pub http: reqwest::Client,
    bus: Arc<RecordingBus>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
}

impl Drop for DeletionApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The environment of a test: the callback secrets are the fake Meta apps' secrets.
pub fn deletion_env(base_url: &str, fake: &FakeMeta) -> Env {
    let mut env = test_env(
        base_url,
        &[
            ("POSTORA_FACEBOOK_CLIENT_ID", FACEBOOK_APP.0),
            ("POSTORA_FACEBOOK_CLIENT_SECRET", FACEBOOK_APP.1),
            ("POSTORA_OPERATOR_NAME", OPERATOR_NAME),
            ("POSTORA_OPERATOR_CONTACT", OPERATOR_CONTACT),
        ],
    );
    for (k, v) in fake.threads_env() {
        env.set(&k, v);
    }
    env
}

impl DeletionApp {
    /// Starts Postora over `backend`; `data_dir` is whatever the backend keeps on disk (kept alive with the app).
    pub async fn start(backend: Backend, data_dir: tempfile::TempDir) -> DeletionApp {
        let fake = FakeMeta::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let env = deletion_env(&base_url, &fake);
        let settings = Settings::from_env(&env, &base_url).unwrap();
        let http = client(HttpTimeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
        });
        let platforms = runtime::platforms::from_env(&env)
            .unwrap()
            .with(Arc::new(ThreadsPlatform::new(
                http.clone(),
                fake.threads_config(),
            )))
            .with(Arc::new(FacebookPlatform::new(
                http.clone(),
                fake.facebook_config(),
            )))
            .with(Arc::new(InstagramPlatform::new(
                http.clone(),
                fake.instagram_config(InstagramLogin::Facebook),
            )));
        let bus = Arc::new(RecordingBus {
            inner: backend.bus.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let app = Arc::new(App::new(Deps {
            stores: backend.stores,
            keys: backend.keys,
            queue: backend.queue,
            bus: bus.clone(),
            blobs: backend.blobs,
            mailer: backend.mailer,
            clock: Arc::new(SystemClock) as Arc<dyn Clock>,
            platforms,
            remote: postora::net::media_fetcher(&settings.media),
            settings,
        }));
        let router = postora::http::full_router(app.clone(), axum::Router::new());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = app.clone();
        let task = tokio::spawn(async move {
            runtime::serve(serving, router, listener, 4, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        DeletionApp {
            base_url,
            app,
            fake,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            bus,
            stop: Some(stop),
            task: Some(task),
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Every event emitted so far.
    pub fn events(&self) -> Vec<Event> {
        self.bus
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates a workspace; returns (workspace id, API key).
    pub async fn workspace(&self, name: &str) -> (WorkspaceId, String) {
        let (ws, key) = self.app.create_workspace(name).await.unwrap();
        (ws.id, key.reveal().to_owned())
    }

    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, key: &str, path: &str) -> Value {
        let resp = self.get(key, path).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Connects `platform` in the workspace through Postora's OAuth flow and the fake Meta's consent page; returns
    /// the ids of the accounts the consent connected.
    pub async fn connect(&self, key: &str, platform: PlatformKind) -> Vec<AccountId> {
        let before = self.account_ids(key).await;
        let start: Value = self
            .http
            .post(self.url(&format!("/v1/accounts/connect/{platform}")))
            .bearer_auth(key)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let authorize = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
        let callback = self.fake.consent(&authorize).await;
        let page = self.http.get(callback).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        // Facebook asks the person which Pages to connect: choose every one offered.
        if let Some(at) = html.find("name=\"choice\" value=\"") {
            let token = html[at + 21..].split('"').next().unwrap().to_owned();
            let mut form = vec![("choice".to_owned(), token)];
            for option in html.split("name=\"account\" value=\"").skip(1) {
                form.push((
                    "account".to_owned(),
                    option.split('"').next().unwrap().to_owned(),
                ));
            }
            let chosen = self
                .http
                .post(self.url(&format!("/oauth/{platform}/choose")))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(chosen.status(), 200, "{}", chosen.text().await.unwrap());
        }
        let after = self.account_ids(key).await;
        after.into_iter().filter(|a| !before.contains(a)).collect()
    }

    async fn account_ids(&self, key: &str) -> Vec<AccountId> {
        self.get_json(key, "/v1/accounts").await["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| AccountId::parse(a["id"].as_str().unwrap()).unwrap())
            .collect()
    }

    /// Creates a post for `accounts` at `scheduled_at` (RFC 3339), with a photo uploaded to the media library when
    /// `photo`; returns its id.
    pub async fn schedule(
        &self,
        key: &str,
        accounts: &[&AccountId],
        scheduled_at: &str,
        photo: bool,
    ) -> String {
        let mut body = json!({
            "text": "hello from postora",
            "targets": accounts.iter().map(|a| json!({"account_id": a.as_str()})).collect::<Vec<_>>(),
            "scheduled_at": scheduled_at,
        });
        if photo {
            let uploaded = self
                .http
                .post(self.url("/v1/media"))
                .bearer_auth(key)
                .body(postora_test_support::media::jpeg(1080, 1080))
                .send()
                .await
                .unwrap();
            assert_eq!(uploaded.status(), 201);
            let item: Value = uploaded.json().await.unwrap();
            body["media"] = json!([{"media_id": item["id"]}]);
        }
        let resp = self
            .http
            .post(self.url("/v1/posts"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 201, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The delivery of `post` to `account`, as the API shows it.
    pub async fn delivery(&self, key: &str, post: &str, account: &AccountId) -> Value {
        let post = self.get_json(key, &format!("/v1/posts/{post}")).await;
        post["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["account_id"] == account.as_str())
            .cloned()
            .expect("the post has a delivery to the account")
    }

    /// Waits until the delivery is in a terminal status; returns it.
    pub async fn settled(&self, key: &str, post: &str, account: &AccountId) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let d = self.delivery(key, post, account).await;
            if matches!(
                d["status"].as_str(),
                Some("published" | "failed" | "in_doubt" | "canceled")
            ) {
                return d;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the delivery did not settle: {d}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The stored account row, deleted or not.
    pub async fn stored_account(&self, ws: &WorkspaceId, id: &AccountId) -> Account {
        self.app
            .stores
            .accounts
            .get_account(ws, id)
            .await
            .unwrap()
            .expect("the account row exists")
    }

    pub async fn has_tokens(&self, ws: &WorkspaceId, id: &AccountId) -> bool {
        self.app
            .stores
            .accounts
            .get_tokens(ws, id)
            .await
            .unwrap()
            .is_some()
    }

    /// The access token in the clear, to check that it appears nowhere.
    pub async fn access_token(&self, ws: &WorkspaceId, id: &AccountId) -> String {
        use secrecy::ExposeSecret;
        let sealed = self
            .app
            .stores
            .accounts
            .get_tokens(ws, id)
            .await
            .unwrap()
            .unwrap();
        let tokens = self
            .app
            .vault
            .open(ws, id, &sealed.ciphertext)
            .await
            .unwrap();
        tokens.access_token.expose_secret().to_owned()
    }

    /// Posts a form with `signed_request` to a callback.
    pub async fn callback(&self, path: &str, signed_request: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(&[("signed_request", signed_request)])
            .send()
            .await
            .unwrap()
    }
}

/// Signs a payload the way Meta documents it: base64url without padding of the JSON, HMAC-SHA256 of that encoded
/// string with the app secret, base64url without padding of the digest, then `<signature>.<payload>`.
pub fn sign(payload: &Value, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let encoded = b64.encode(payload.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(encoded.as_bytes());
    format!("{}.{encoded}", b64.encode(mac.finalize().into_bytes()))
}

/// A callback payload for `user_id`, issued now.
pub fn payload(user_id: &str) -> Value {
    json!({
        "algorithm": "HMAC-SHA256",
        "expires": 0,
        "issued_at": chrono::Utc::now().timestamp(),
        "user_id": user_id,
    })
}

/// A signed request for `user_id` from the Threads app.
pub fn threads_request(user_id: &str) -> String {
    sign(&payload(user_id), THREADS_APP.1)
}

/// A signed request for `user_id` from the Meta app (Facebook and Instagram).
pub fn meta_request(user_id: &str) -> String {
    sign(&payload(user_id), FACEBOOK_APP.1)
}

/// An RFC 3339 time `secs` seconds from now.
pub fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}
