//! The platform conformance suite: the same scenarios, run end to end through Postora's API against every platform
//! adapter and its peer (a fake server that follows the platform's documentation, or the platform's own reference
//! server), on the local backend and on the AWS one. A platform passes when every scenario its
//! [`Capabilities`] call for passes; adding a platform means an adapter, a peer and a row in `lib/tests/it`.
//!
//! A peer plays both the platform and the person: it approves the consent screen, shows what it holds as
//! published, and misbehaves on command the way the platform documents it does (rate limits with the platform's
//! own headers, a revoked grant, refused content, an answer lost after the post landed).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use postora::domain::PlatformKind;
use serde_json::{json, Value};

use crate::app::{spawn_app_on, spawn_app_with, TestApp};
use crate::aws::Emulator;
use crate::logs::Capturing;
use crate::media::{jpeg_of, mp4, photo, Movie};

pub mod bluesky;
pub mod meta;
pub mod sandbox;

/// How a platform's tokens are renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Tokens do not expire (Mastodon) or cannot be renewed ahead of time.
    Never,
    /// A refresh gives a new access token; the grant stays as it was.
    Renews,
    /// A refresh gives a new pair and the old refresh token is dead (X, Bluesky): refreshes of one account must take
    /// turns and the new pair must be stored before it is used.
    Rotates,
}

/// What Postora can find out about a publish call whose answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostAnswer {
    /// The platform can be asked (an idempotency key, a client-chosen record key, a checkpointed container): the
    /// delivery ends `published`, once.
    Recovered,
    /// The post can be looked for among the account's recent posts (X): `published` when found, never a second post.
    Searched,
    /// Nothing can tell: the delivery ends `in_doubt`, never published twice.
    InDoubt,
}

/// What the suite checks for a platform.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub refresh: Refresh,
    /// Whether the consent sends a PKCE challenge (and the token request its verifier).
    pub pkce: bool,
    /// Whether posts may carry images with alternative text.
    pub images: bool,
    /// Whether posts may carry a video.
    pub video: bool,
    /// Whether the platform publishes threads.
    pub threads: bool,
    pub lost_answer: LostAnswer,
    /// What every post needs (Instagram: an image or a video; TikTok and YouTube: a video): the scenarios about
    /// something else give theirs one.
    pub needs_media: NeedsMedia,
}

/// What a platform needs every post to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsMedia {
    /// Text alone is a post.
    Nothing,
    /// A photo or a video; the suite gives a photo.
    Image,
    /// A video.
    Video,
}

/// One post as the peer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPost {
    /// The platform's id for it (what Postora records as `platform_post_id`).
    pub id: String,
    pub text: String,
    /// The id of the post it replies to, for a thread's later parts.
    pub reply_to: Option<String>,
    pub media: Vec<PeerMedia>,
}

/// One image or video attached to a post, as the peer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMedia {
    /// `image` or `video`.
    pub kind: String,
    pub alt: Option<String>,
}

/// A platform under test: what switches it on in Postora, and the control surface of its peer.
#[async_trait]
pub trait PlatformPeer: Send + Sync {
    fn kind(&self) -> PlatformKind;

    fn capabilities(&self) -> Capabilities;

    /// The environment that switches the platform on in Postora and points it at this peer (client id and
    /// secret, endpoint URLs, and `POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK` or the like where the peer is on loopback).
    fn env(&self) -> Vec<(String, String)>;

    /// The body of `POST /v1/accounts/connect/{platform}` for a person called `user` (a Mastodon instance, a
    /// Bluesky handle), if the platform needs one.
    fn connect_body(&self, _user: &str) -> Option<Value> {
        None
    }

    /// The handle and app password the person called `user` would type, for a platform connected that way
    /// (Bluesky) rather than through a consent screen; the peer creates the person on first use. `None` (the
    /// default) connects through the platform's consent.
    async fn app_password(&self, _user: &str) -> Option<(String, String)> {
        None
    }

    /// Plays the person called `user` at the consent screen: given the authorize URL Postora answered, approves
    /// and returns the URL the platform sends the browser to (Postora's callback, with its code and state). The
    /// peer creates the person on first use.
    async fn consent(&self, authorize_url: &str, user: &str) -> String;

    /// The platform's id for `user`, as Postora lists it in `platform_user_id`.
    async fn user_id(&self, user: &str) -> String;

    /// Every post the peer holds by `user`, oldest first.
    async fn posts(&self, user: &str) -> Vec<PeerPost>;

    /// Revokes the grant of every token issued to `user`: calls with them fail as the platform fails a revoked
    /// grant, and so do refreshes.
    async fn revoke(&self, user: &str);

    /// Makes the access tokens of `user` expire now (the refresh token, if any, stays good).
    async fn expire_access(&self, user: &str);

    /// The next publish call is refused with the platform's rate-limit answer, its headers saying to wait `wait`.
    async fn rate_limit_next(&self, wait: Duration);

    /// The next publish call is refused as the platform refuses content for good, with `message`.
    async fn reject_next(&self, message: &str);

    /// The next publish call lands, but its answer never reaches Postora (the connection drops).
    async fn lose_next_answer(&self);

    /// How many token refreshes of `user` the peer has answered, and the most that were in flight at once.
    async fn refreshes(&self, user: &str) -> (usize, usize);

    /// For a platform whose consent gives access to several accounts and lets the person choose (Facebook Pages,
    /// LinkedIn organizations): given the choice page Postora answered at the callback, the form fields to POST to
    /// `/oauth/{platform}/choose` to choose the account of `user`. `None` for platforms without a choice.
    async fn choose(&self, _choice_page: &str, _user: &str) -> Option<Vec<(String, String)>> {
        None
    }

    /// The options every post's target carries on this platform, for a platform with required options (YouTube's
    /// title and made-for-kids declaration). `None` (the default): targets carry none.
    /// The options every post's target carries, for a platform that requires some the person chooses (TikTok's
    /// privacy level). `None` (the default) sends none.
    fn target_options(&self) -> Option<Value> {
        None
    }

    /// Called once Postora is up, for a peer that lives inside it (the sandbox).
    async fn attach(&self, _postora: &TestApp) {}
}

/// Where Postora keeps its records for a run of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the local key file, queue and objects: `postora serve`.
    Local,
    /// DynamoDB, KMS, SQS, EventBridge and S3 on the emulator.
    Aws,
}

/// How long a delivery may take to settle before a scenario fails.
const SETTLE: Duration = Duration::from_secs(60);

/// Postora running with one platform switched on and pointed at its peer, a workspace, and its API key.
pub struct Stage {
    pub postora: TestApp,
    pub key: String,
    pub workspace: String,
    pub peer: Arc<dyn PlatformPeer>,
}

impl Stage {
    pub async fn start(peer: Arc<dyn PlatformPeer>, backend: Backend) -> Stage {
        let mut env = peer.env();
        if peer.kind() != PlatformKind::Sandbox {
            env.push(("POSTORA_SANDBOX".into(), "off".into()));
        }
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let postora = match backend {
            Backend::Local => spawn_app_with(&pairs).await,
            Backend::Aws => spawn_app_on(Emulator::fresh().await.backend(), &pairs).await,
        };
        peer.attach(&postora).await;
        let (workspace, key) = postora.workspace("suite").await;
        Stage {
            postora,
            key,
            workspace,
            peer,
        }
    }

    fn platform(&self) -> &'static str {
        self.peer.kind().as_str()
    }

    /// Starts connecting, returns the authorize URL Postora answered.
    pub async fn authorize_url(&self, user: &str) -> String {
        let body = self.peer.connect_body(user).unwrap_or_else(|| json!({}));
        let resp = self
            .postora
            .post_json(
                &self.key,
                &format!("/v1/accounts/connect/{}", self.platform()),
                &body,
            )
            .await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "connect: {text}");
        let start: Value = serde_json::from_str(&text).unwrap();
        start["authorize_url"].as_str().unwrap().to_owned()
    }

    /// Connects `user` as a person does (Postora's connect, the platform's consent, Postora's callback; or, where
    /// the platform takes an app password, Postora's app-password connect); the account's id.
    pub async fn connect(&self, user: &str) -> String {
        if let Some((handle, password)) = self.peer.app_password(user).await {
            let resp = self
                .postora
                .post_json(
                    &self.key,
                    &format!("/v1/accounts/connect/{}/app-password", self.platform()),
                    &json!({ "handle": handle, "app_password": password }),
                )
                .await;
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 201, "app-password connect: {text}");
        } else {
            let authorize = self.authorize_url(user).await;
            let back = self.peer.consent(&authorize, user).await;
            let page = self.postora.http.get(&back).send().await.unwrap();
            let status = page.status();
            let html = page.text().await.unwrap();
            assert_eq!(status, 200, "callback: {html}");
            if let Some(form) = self.peer.choose(&html, user).await {
                let chosen = self
                    .postora
                    .http
                    .post(
                        self.postora
                            .url(&format!("/oauth/{}/choose", self.platform())),
                    )
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                let status = chosen.status();
                assert_eq!(status, 200, "choice: {}", chosen.text().await.unwrap());
            }
        }
        let id = self.peer.user_id(user).await;
        self.account_of(&id)
            .await
            .unwrap_or_else(|| panic!("the account of {user} ({id}) is listed"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn account_of(&self, platform_user_id: &str) -> Option<Value> {
        let accounts: Value = self
            .postora
            .get(&self.key, "/v1/accounts")
            .await
            .json()
            .await
            .unwrap();
        accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["platform_user_id"] == platform_user_id)
            .cloned()
    }

    pub async fn account(&self, id: &str) -> Value {
        let resp = self
            .postora
            .get(&self.key, &format!("/v1/accounts/{id}"))
            .await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Uploads a file to the media library; its id.
    pub async fn upload(&self, bytes: Vec<u8>, alt: Option<&str>) -> String {
        let mut url = self.postora.url("/v1/media");
        if let Some(alt) = alt {
            url = format!(
                "{url}?alt={}",
                url::form_urlencoded::byte_serialize(alt.as_bytes()).collect::<String>()
            );
        }
        let resp = self
            .postora
            .http
            .post(url)
            .bearer_auth(&self.key)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 201, "upload: {text}");
        serde_json::from_str::<Value>(&text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A photo of its own (the seed makes it differ from the others).
    pub async fn upload_photo(&self, seed: u32, alt: &str) -> String {
        self.upload(jpeg_of(&photo(640, 480, seed), 85), Some(alt))
            .await
    }

    /// A short landscape video.
    pub async fn upload_video(&self) -> String {
        let movie = Movie {
            width: 1280,
            height: 720,
            seconds: 8,
            ..Movie::default()
        };
        self.upload(mp4(&movie, 200_000), None).await
    }

    /// A post's target naming `account`, with the options the peer's platform requires.
    pub fn target(&self, account: &str) -> Value {
        let mut target = json!({ "account_id": account });
        if let Some(options) = self.peer.target_options() {
            target["options"] = options;
        }
        target
    }

    /// Creates a post to `account`; its id.
    pub async fn post(&self, account: &str, mut body: Value) -> String {
        body["targets"] = json!([self.target(account)]);
        if body.get("media").is_none() {
            let needed = match self.peer.capabilities().needs_media {
                NeedsMedia::Nothing => None,
                NeedsMedia::Image => Some(
                    self.upload_photo(9, "A photo, since every post here needs one")
                        .await,
                ),
                NeedsMedia::Video => Some(self.upload_video().await),
            };
            if let Some(media) = needed {
                body["media"] = json!([{ "media_id": media }]);
            }
        }
        let created = self.postora.create_post(&self.key, &body).await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// The post's one delivery once it settled.
    pub async fn settled(&self, post: &str) -> Value {
        self.settled_within(post, SETTLE).await
    }

    pub async fn settled_within(&self, post: &str, timeout: Duration) -> Value {
        let post = self.postora.wait_settled(&self.key, post, timeout).await;
        post["deliveries"][0].clone()
    }

    /// The post's one delivery as it is now.
    pub async fn delivery(&self, post: &str) -> Value {
        let post: Value = self
            .postora
            .get(&self.key, &format!("/v1/posts/{post}"))
            .await
            .json()
            .await
            .unwrap();
        post["deliveries"][0].clone()
    }

    /// How many audit entries have this action.
    pub async fn audited(&self, action: &str) -> usize {
        let page: Value = self
            .postora
            .get(&self.key, "/v1/audit?limit=200")
            .await
            .json()
            .await
            .unwrap();
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    }

    /// What the API answers about the workspace, put together: accounts, posts, audit log and export.
    pub async fn everything_shown(&self) -> String {
        let mut shown = String::new();
        for path in [
            "/v1/accounts",
            "/v1/posts?limit=200",
            "/v1/audit?limit=200",
            "/v1/export",
        ] {
            let resp = self.postora.get(&self.key, path).await;
            shown.push_str(&resp.text().await.unwrap());
        }
        shown
    }
}

fn assert_published_once(delivery: &Value, posts: &[PeerPost]) {
    assert_eq!(delivery["status"], "published", "{delivery}");
    assert_eq!(
        posts.len(),
        1,
        "exactly one post on the platform: {posts:?}"
    );
    assert_eq!(
        delivery["platform_post_id"].as_str(),
        Some(posts[0].id.as_str()),
        "the delivery records the platform's id"
    );
}

/// A text no other run uses.
fn fresh_text(what: &str) -> String {
    format!("{what} {}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

// ---------------------------------------------------------------------------------------------------------------
// The scenarios

/// Connecting: the consent carries a PKCE challenge where the platform takes one (there is no consent where the
/// person gives an app password), and the account is listed with the profile the platform gave.
pub async fn connects_with_its_profile(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let stage = Stage::start(peer.clone(), backend).await;
    if peer.app_password("ada").await.is_none() {
        let authorize = url::Url::parse(&stage.authorize_url("ada").await).unwrap();
        let query: std::collections::HashMap<String, String> =
            authorize.query_pairs().into_owned().collect();
        if peer.capabilities().pkce {
            assert_eq!(
                query.get("code_challenge_method").map(String::as_str),
                Some("S256"),
                "{authorize}"
            );
            assert!(
                query.get("code_challenge").is_some_and(|c| c.len() >= 43),
                "{authorize}"
            );
        }
    }
    let id = stage.connect("ada").await;
    let account = stage.account(&id).await;
    assert_eq!(account["platform"], peer.kind().as_str());
    assert_eq!(account["platform_user_id"], peer.user_id("ada").await);
    assert_eq!(account["status"], "active", "{account}");
    assert!(
        account["username"].is_string() || account["display_name"].is_string(),
        "the profile names the account: {account}"
    );
}

/// A text post lands once, with its id and permalink recorded.
pub async fn publishes_text(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let text = fresh_text("Hello from the platform suite");
    let post = stage.post(&account, json!({ "text": text })).await;
    let delivery = stage.settled(&post).await;
    let posts = peer.posts("ada").await;
    assert_published_once(&delivery, &posts);
    assert_eq!(posts[0].text, text);
    assert!(delivery["permalink"].is_string(), "{delivery}");
}

/// Images land with their alternative text, in order.
pub async fn publishes_images_with_alt(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    if !peer.capabilities().images {
        return;
    }
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let first = stage.upload_photo(1, "A red kite over the hill").await;
    let second = stage.upload_photo(2, "The same kite, landed").await;
    let post = stage
        .post(
            &account,
            json!({ "text": fresh_text("Two photos"), "media": [{ "media_id": first }, { "media_id": second }] }),
        )
        .await;
    let delivery = stage.settled(&post).await;
    let posts = peer.posts("ada").await;
    assert_published_once(&delivery, &posts);
    let alts: Vec<_> = posts[0]
        .media
        .iter()
        .map(|m| (m.kind.as_str(), m.alt.as_deref()))
        .collect();
    assert_eq!(
        alts,
        [
            ("image", Some("A red kite over the hill")),
            ("image", Some("The same kite, landed"))
        ]
    );
}

/// A video lands (uploaded or fetched as the platform takes it, processing waited for).
pub async fn publishes_a_video(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    if !peer.capabilities().video {
        return;
    }
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let video = stage.upload_video().await;
    let post = stage
        .post(
            &account,
            json!({ "text": fresh_text("A clip"), "media": [{ "media_id": video }] }),
        )
        .await;
    let delivery = stage.settled(&post).await;
    let posts = peer.posts("ada").await;
    assert_published_once(&delivery, &posts);
    assert_eq!(posts[0].media.len(), 1);
    assert_eq!(posts[0].media[0].kind, "video");
}

/// A thread lands part by part, each replying to the one before, and the delivery lists every part; a platform
/// without threads refuses one for its target.
pub async fn publishes_a_thread(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let caps = peer.capabilities();
    let mut middle = json!({ "text": fresh_text("2/3, with a photo") });
    if caps.images {
        middle["media"] =
            json!([{ "media_id": stage.upload_photo(3, "A photo in a thread").await }]);
    }
    let texts = [
        fresh_text("1/3"),
        middle["text"].as_str().unwrap().to_owned(),
        fresh_text("3/3"),
    ];
    let body = json!({
        "parts": [{ "text": texts[0] }, middle, { "text": texts[2] }],
        "targets": [stage.target(&account)],
    });
    if !caps.threads {
        let resp = stage
            .postora
            .post_json(&stage.key, "/v1/posts", &body)
            .await;
        assert_eq!(resp.status(), 422);
        let error: Value = resp.json().await.unwrap();
        let detail = &error["error"]["details"][0];
        assert_eq!(detail["target"], account.as_str(), "{error}");
        assert_eq!(detail["rule"], "threads", "{error}");
        return;
    }
    let post = stage.postora.create_post(&stage.key, &body).await;
    let delivery = stage.settled(post["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "published", "{delivery}");
    let posts = peer.posts("ada").await;
    assert_eq!(posts.len(), 3, "each part exactly once: {posts:?}");
    let parts = delivery["parts"]
        .as_array()
        .expect("the delivery lists its parts");
    assert_eq!(parts.len(), 3, "{delivery}");
    for (i, (landed, recorded)) in posts.iter().zip(parts).enumerate() {
        assert_eq!(landed.text, texts[i], "part {i} in order");
        assert_eq!(
            recorded["platform_post_id"].as_str(),
            Some(landed.id.as_str())
        );
        let parent = (i > 0).then(|| posts[i - 1].id.clone());
        assert_eq!(
            landed.reply_to, parent,
            "part {i} replies to the part before it"
        );
    }
    if caps.images {
        assert_eq!(posts[1].media.len(), 1, "the middle part carries its photo");
    }
    assert_eq!(
        delivery["platform_post_id"].as_str(),
        Some(posts[0].id.as_str())
    );
}

/// An answer lost after the platform took the post: recovered as the platform allows, never published twice.
pub async fn recovers_a_lost_answer(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    peer.lose_next_answer().await;
    let text = fresh_text("Lost in the wire");
    let post = stage.post(&account, json!({ "text": text })).await;
    let delivery = stage.settled(&post).await;
    let posts = peer.posts("ada").await;
    match peer.capabilities().lost_answer {
        LostAnswer::Recovered | LostAnswer::Searched => assert_published_once(&delivery, &posts),
        LostAnswer::InDoubt => {
            assert_eq!(delivery["status"], "in_doubt", "{delivery}");
            assert_eq!(posts.len(), 1, "the post the lost call made is there, once");
        }
    }
    assert_eq!(posts[0].text, text);
}

/// A rate limit: the delivery waits at least as long as the platform's own headers said, then lands once.
pub async fn honours_rate_limits(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let wait = Duration::from_secs(3);
    peer.rate_limit_next(wait).await;
    let before = chrono::Utc::now();
    let post = stage
        .post(&account, json!({ "text": fresh_text("Patience") }))
        .await;
    // Watch the delivery while it waits: it names the limit and is due no earlier than the platform said.
    let deadline = tokio::time::Instant::now() + SETTLE;
    let waiting = loop {
        let d = stage.delivery(&post).await;
        if d["status"] == "scheduled"
            && d["error"]["code"]
                .as_str()
                .is_some_and(|c| c.contains("rate_limited"))
        {
            break d;
        }
        assert_ne!(
            d["status"], "published",
            "published before the limit was waited out: {d}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the limit was never met: {d}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(waiting["scheduled_at"].clone()).unwrap();
    // The platform states its wait in whole seconds: allow one for its rounding.
    let earliest =
        before + chrono::Duration::from_std(wait).unwrap() - chrono::Duration::seconds(1);
    assert!(
        due >= earliest,
        "due at {due}, before the limit ends ({earliest}): {waiting}"
    );
    // Some platforms state their wait in minutes.
    let delivery = stage
        .settled_within(&post, SETTLE + Duration::from_secs(90))
        .await;
    assert_published_once(&delivery, &peer.posts("ada").await);
}

/// A revoked grant: the delivery fails as `needs_reauth` and so does the account, and nothing is posted.
pub async fn revoked_grant_needs_reauth(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    peer.revoke("ada").await;
    let post = stage
        .post(&account, json!({ "text": fresh_text("After the revoke") }))
        .await;
    let delivery = stage.settled(&post).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["error"]["code"], "needs_reauth", "{delivery}");
    assert_eq!(stage.account(&account).await["status"], "needs_reauth");
    assert!(peer.posts("ada").await.is_empty());
}

/// Content the platform refuses: the delivery fails with the platform's own message, and is not tried again.
pub async fn rejected_content_fails_with_the_platforms_message(
    peer: Arc<dyn PlatformPeer>,
    backend: Backend,
) {
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let message = "The suite refuses this post on purpose";
    peer.reject_next(message).await;
    let post = stage
        .post(&account, json!({ "text": fresh_text("Refused") }))
        .await;
    let delivery = stage.settled(&post).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert!(
        delivery["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(message)),
        "the platform's message is kept: {delivery}"
    );
    assert_eq!(
        delivery["attempts"], 1,
        "refused content is not tried again: {delivery}"
    );
    assert!(peer.posts("ada").await.is_empty());
}

/// Tokens renewed: where a refresh token rotates, publishes that meet an expired token at once refresh in turn
/// and all land; where it renews, the refresher renews ahead of expiry. Either way the new tokens work.
pub async fn refreshes_tokens_in_turn(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let caps = peer.capabilities();
    if caps.refresh == Refresh::Never {
        return;
    }
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    peer.expire_access("ada").await;
    if caps.refresh == Refresh::Rotates {
        let mut posts = Vec::new();
        for i in 0..3 {
            posts.push(
                stage
                    .post(
                        &account,
                        json!({ "text": fresh_text(&format!("At once {i}")) }),
                    )
                    .await,
            );
        }
        for post in &posts {
            let d = stage.settled(post).await;
            assert_eq!(d["status"], "published", "{d}");
        }
        let (answered, in_flight) = peer.refreshes("ada").await;
        assert!(answered >= 1, "the expired token was refreshed");
        assert!(
            in_flight <= 1,
            "refreshes of one account take turns ({in_flight} at once)"
        );
    } else {
        let report = stage
            .postora
            .app
            .refresh_expiring(chrono::Duration::days(400))
            .await
            .unwrap();
        assert_eq!(report.refreshed, 1, "{report:?}");
    }
    assert!(stage.audited("token.refreshed").await >= 1);
    assert_eq!(stage.account(&account).await["status"], "active");
    // The stored pair is the new one: a later refresh and publish still work.
    peer.expire_access("ada").await;
    if caps.refresh == Refresh::Renews {
        stage
            .postora
            .app
            .refresh_expiring(chrono::Duration::days(400))
            .await
            .unwrap();
    }
    let post = stage
        .post(&account, json!({ "text": fresh_text("Still mine") }))
        .await;
    assert_eq!(stage.settled(&post).await["status"], "published");
}

/// No token Postora holds for the account (nor the app password it was connected with) appears in a log line or
/// anything the API answers, through a connect, a refresh and a publish.
pub async fn never_shows_a_token(peer: Arc<dyn PlatformPeer>, backend: Backend) {
    let (logs, _capturing) = Capturing::start();
    let stage = Stage::start(peer.clone(), backend).await;
    let account = stage.connect("ada").await;
    let mut secrets = stage.postora.secrets_of(&stage.workspace, &account).await;
    if peer.capabilities().refresh != Refresh::Never {
        peer.expire_access("ada").await;
        stage
            .postora
            .app
            .refresh_expiring(chrono::Duration::days(400))
            .await
            .unwrap();
        secrets.extend(stage.postora.secrets_of(&stage.workspace, &account).await);
    }
    let post = stage
        .post(&account, json!({ "text": fresh_text("Quiet") }))
        .await;
    assert_eq!(stage.settled(&post).await["status"], "published");
    secrets.extend(stage.postora.secrets_of(&stage.workspace, &account).await);
    // The app password the person typed is a secret too, though Postora does not keep it.
    if let Some((_, password)) = peer.app_password("ada").await {
        secrets.push(password);
    }
    assert!(!secrets.is_empty(), "the account has tokens to look for");
    let shown = stage.everything_shown().await;
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!logged.is_empty(), "the logs were captured");
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !shown.contains(secret.as_str()),
            "a token is in an API answer"
        );
        assert!(
            !logged.contains(secret.as_str()),
            "a token is in a log line"
        );
    }
}

/// What starting a peer gives: the peer, or (for a peer that needs an outside server, such as Bluesky's reference
/// PDS) `None` when that server is not there; the peer has said so, and the test passes without running.
pub trait IntoPeer {
    fn into_peer(self) -> Option<Arc<dyn PlatformPeer>>;
}

impl IntoPeer for Arc<dyn PlatformPeer> {
    fn into_peer(self) -> Option<Arc<dyn PlatformPeer>> {
        Some(self)
    }
}

impl IntoPeer for Option<Arc<dyn PlatformPeer>> {
    fn into_peer(self) -> Option<Arc<dyn PlatformPeer>> {
        self
    }
}

/// Runs every scenario of the suite against a platform's peer, on both backends: one test per scenario and
/// backend. `$make` is an async block that starts a fresh peer (each test gets its own), or `None` to skip.
#[macro_export]
macro_rules! platform_suite {
    ($make:expr) => {
        $crate::platform_suite!(@backend local, Local, $make);
        $crate::platform_suite!(@backend aws, Aws, $make);
    };
    (@backend $module:ident, $backend:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::platform_suite!(@cases $backend, $make;
                connects_with_its_profile,
                publishes_text,
                publishes_images_with_alt,
                publishes_a_video,
                publishes_a_thread,
                recovers_a_lost_answer,
                honours_rate_limits,
                revoked_grant_needs_reauth,
                rejected_content_fails_with_the_platforms_message,
                refreshes_tokens_in_turn,
                never_shows_a_token
            );
        }
    };
    (@cases $backend:ident, $make:expr; $($scenario:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(peer) = $crate::platform_suite::IntoPeer::into_peer($make.await) else {
                    return;
                };
                $crate::platform_suite::$scenario(peer, $crate::platform_suite::Backend::$backend).await;
            }
        )*
    };
}
