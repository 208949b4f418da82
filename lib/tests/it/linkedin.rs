//! LinkedIn beyond the platform suite, against the fake LinkedIn through Postora's API: the member chooses to
//! connect the organization Page they administer and posts as it, a repeated post LinkedIn refuses as a duplicate
//! is recorded as the account's existing post, a retired API version fails naming the setting to change, and every
//! call carries the configured version.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use postora_test_support::app::spawn_app_with;
use postora_test_support::fakes::linkedin::{choice_token, option_named, FakeLinkedIn};
use postora_test_support::platform_suite::{PlatformPeer, Stage};
use serde_json::{json, Value};

async fn stage_with(fake: &Arc<FakeLinkedIn>, extra: &[(&str, &str)]) -> Stage {
    let mut env = fake.env_pairs();
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env.push(("POSTORA_SANDBOX".into(), "off".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let postora = spawn_app_with(&pairs).await;
    let (workspace, key) = postora.workspace("linkedin").await;
    Stage {
        postora,
        key,
        workspace,
        peer: fake.clone() as Arc<dyn PlatformPeer>,
    }
}

async fn accounts(stage: &Stage) -> Vec<Value> {
    let v: Value = stage
        .postora
        .get(&stage.key, "/v1/accounts")
        .await
        .json()
        .await
        .unwrap();
    v["accounts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_connects_the_page_they_administer_and_posts_as_it() {
    let fake = Arc::new(FakeLinkedIn::start().await);
    let stage = stage_with(&fake, &[]).await;
    let authorize = stage.authorize_url("grace").await;
    let scopes = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(
        scopes,
        "openid profile w_member_social w_organization_social r_organization_social"
    );
    let back = fake.approve(&authorize, "grace");
    let page = stage
        .postora
        .http
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(option_named(&page, "Grace Lovelace").is_some(), "{page}");
    let org = option_named(&page, "Grace Industries").expect("the Page is offered");
    assert!(
        accounts(&stage).await.is_empty(),
        "nothing before the choice"
    );
    let chosen = stage
        .postora
        .http
        .post(stage.postora.url("/oauth/linkedin/choose"))
        .form(&[("choice", choice_token(&page).unwrap()), ("account", org)])
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 200);
    let listed = accounts(&stage).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let urn = fake.organization_of("grace");
    assert_eq!(listed[0]["platform_user_id"], urn.as_str());
    let account = listed[0]["id"].as_str().unwrap().to_owned();

    let photo = stage.upload_photo(4, "The team at the fair").await;
    let post = stage
        .post(
            &account,
            json!({"text": "News from #Grace (Industries) @ the fair", "media": [{"media_id": photo}]}),
        )
        .await;
    let delivery = stage.settled(&post).await;
    assert_eq!(delivery["status"], "published", "{delivery}");
    let posts = fake.posts_by(&urn);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].text, "News from #Grace (Industries) @ the fair");
    assert_eq!(
        posts[0].media[0].alt.as_deref(),
        Some("The team at the fair")
    );
    assert_eq!(
        delivery["permalink"],
        format!("https://www.linkedin.com/feed/update/{}/", posts[0].id)
    );
    assert!(
        fake.calls(Method::POST, "/rest/")
            .iter()
            .all(|v| v.as_deref() == Some("202610")),
        "every versioned call names the configured version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_linkedin_already_holds_is_recorded_as_that_post() {
    let fake = Arc::new(FakeLinkedIn::start().await);
    let stage = stage_with(&fake, &[]).await;
    let account = stage.connect("ada").await;
    let first = stage.post(&account, json!({"text": "Same words"})).await;
    let first = stage.settled(&first).await;
    assert_eq!(first["status"], "published", "{first}");
    let again = stage.post(&account, json!({"text": "Same words"})).await;
    let again = stage.settled(&again).await;
    assert_eq!(again["status"], "published", "{again}");
    assert_eq!(again["platform_post_id"], first["platform_post_id"]);
    assert_eq!(fake.posts("ada").await.len(), 1, "LinkedIn holds it once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_api_version_fails_naming_the_setting() {
    let fake = Arc::new(FakeLinkedIn::start().await);
    let stage = stage_with(
        &fake,
        &[
            ("POSTORA_LINKEDIN_VERSION", "202301"),
            ("POSTORA_LINKEDIN_ORGANIZATIONS", "off"),
        ],
    )
    .await;
    // Without the organization scopes there is no choice: the member is connected at once.
    let account = stage.connect("ada").await;
    let post = stage.post(&account, json!({"text": "Old version"})).await;
    let delivery = stage.settled_within(&post, Duration::from_secs(120)).await;
    assert_ne!(delivery["status"], "published", "{delivery}");
    let message = delivery["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("POSTORA_LINKEDIN_VERSION") && message.contains("202301"),
        "{delivery}"
    );
    assert!(fake.posts("ada").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_is_told_before_the_grant_runs_out() {
    let fake = Arc::new(FakeLinkedIn::start().await);
    // A consent given almost a year ago: its refresh token has three days left.
    fake.set_refresh_lifetime(chrono::Duration::days(3));
    let stage = stage_with(&fake, &[]).await;
    let account = stage.connect("ada").await;
    let view = stage.account(&account).await;
    let ends: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(view["grant_expires_at"].clone()).expect("the grant's end is shown");
    let now = chrono::Utc::now();
    assert!(
        ends > now + chrono::Duration::days(2) && ends <= now + chrono::Duration::days(3),
        "{view}"
    );
    let token: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(view["token_expires_at"].clone()).unwrap();
    assert!(token <= ends, "no token outlives its grant: {view}");
    stage
        .postora
        .app
        .refresh_expiring(chrono::Duration::days(1))
        .await
        .unwrap();
    let events = stage.postora.local.bus.recent(100).await.unwrap();
    let warned: Vec<_> = events
        .iter()
        .filter(|e| e.kind.as_str() == "account.grant_expiring")
        .collect();
    assert_eq!(warned.len(), 1, "{events:?}");
    assert_eq!(warned[0].detail["account_id"], account.as_str());
    assert_eq!(warned[0].detail["platform"], "linkedin");
    assert_eq!(
        stage.account(&account).await["status"],
        "active",
        "a warning, not a reconnect yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_retry_of_a_lost_post_finds_it_instead_of_posting_twice() {
    let fake = Arc::new(FakeLinkedIn::start().await);
    let stage = stage_with(&fake, &[]).await;
    let account = stage.connect("ada").await;
    fake.lose_next_answer().await;
    let post = stage
        .post(&account, json!({"text": "Lost, then found"}))
        .await;
    let delivery = stage.settled(&post).await;
    assert_eq!(delivery["status"], "in_doubt", "{delivery}");
    let resp = stage
        .postora
        .post_json(
            &stage.key,
            &format!("/v1/posts/{post}/deliveries/{account}/retry"),
            &json!({"confirm": true}),
        )
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let delivery = stage.settled(&post).await;
    assert_eq!(delivery["status"], "published", "{delivery}");
    let posts = fake.posts("ada").await;
    assert_eq!(posts.len(), 1, "LinkedIn holds it once: {posts:?}");
    assert_eq!(delivery["platform_post_id"], posts[0].id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_may_post_to_connections_only() {
    let fake = Arc::new(FakeLinkedIn::start().await);
    let stage = stage_with(&fake, &[]).await;
    let account = stage.connect("ada").await;
    let wrong = stage
        .postora
        .post_json(
            &stage.key,
            "/v1/posts",
            &json!({"text": "Hi", "targets": [{"account_id": account, "options": {"visibility": "friends"}}]}),
        )
        .await;
    assert_eq!(wrong.status(), 422, "{}", wrong.text().await.unwrap());
    let created = stage
        .postora
        .create_post(
            &stage.key,
            &json!({"text": "Only for my connections", "targets": [{"account_id": account,
                "options": {"visibility": "connections", "disable_reshare": true}}]}),
        )
        .await;
    let delivery = stage.settled(created["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "published", "{delivery}");
    let posts = fake.all_posts();
    assert_eq!(posts[0].visibility, "CONNECTIONS");
    assert!(posts[0].reshare_disabled);
}

mod adapter {
    //! The adapter alone against the fake: a video's parts and processing across attempts.

    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::Utc;
    use futures_util::stream;
    use postora::config::Env;
    use postora::domain::{
        Account, AccountId, AccountStatus, MediaFormat, MediaId, PlatformKind, WorkspaceId,
    };
    use postora::platforms::http::{client, HttpTimeouts};
    use postora::platforms::linkedin::{LinkedInConfig, LinkedInPlatform};
    use postora::ports::{
        AuthorizeRequest, ByteStream, CodeExchange, MediaBytes, Platform, PlatformError, Progress,
        PublishJob, PublishMedia,
    };

    use super::*;

    struct Bytes(Vec<u8>);

    #[async_trait]
    impl MediaBytes for Bytes {
        async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
            let slice = self.0[range.start as usize..range.end as usize].to_vec();
            Ok(Box::pin(stream::iter(vec![Ok(bytes::Bytes::from(slice))])))
        }
    }

    #[derive(Default)]
    struct Recorder {
        saved: Mutex<Option<Value>>,
        time_left: Option<Duration>,
    }

    #[async_trait]
    impl Progress for Recorder {
        async fn checkpoint(&self, value: Value) -> Result<(), PlatformError> {
            *self.saved.lock().unwrap() = Some(value);
            Ok(())
        }
        fn time_left(&self) -> Option<Duration> {
            self.time_left
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_video_resumes_from_its_checkpoint_without_uploading_again() {
        let fake = FakeLinkedIn::start().await;
        fake.set_part_bytes(1000);
        fake.set_processing_polls(2);
        let pairs = fake.env_pairs();
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let config = LinkedInConfig::from_env(&env).unwrap().unwrap();
        let li = LinkedInPlatform::new(client(HttpTimeouts::default()), config);
        let redirect = "https://postora.example/oauth/linkedin/callback";
        let url = li
            .authorize_url(&AuthorizeRequest {
                state: "st",
                redirect_uri: redirect,
                pkce_verifier: None,
                server: None,
            })
            .unwrap();
        let back = url::Url::parse(&fake.approve(url.as_str(), "ada")).unwrap();
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let connections = li
            .exchange_code(&CodeExchange {
                code: &code,
                redirect_uri: redirect,
                pkce_verifier: None,
                context: None,
                issuer: None,
            })
            .await
            .unwrap();
        assert_eq!(connections.len(), 2, "the member and their Page");
        let c = &connections[0];
        let now = Utc::now();
        let account = Account {
            id: AccountId::generate(),
            workspace_id: WorkspaceId::generate(),
            platform: PlatformKind::Linkedin,
            profile: c.profile.clone(),
            status: AccountStatus::Active,
            settings: c.settings.clone(),
            token_expires_at: c.tokens.expires_at,
            created_at: now,
            updated_at: now,
            connected_at: Some(now),
            version: 1,
        };
        let bytes: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        let video = PublishMedia {
            id: MediaId::generate(),
            kind: MediaFormat::Mp4.kind(),
            format: MediaFormat::Mp4,
            alt: None,
            width: 1280,
            height: 720,
            duration_ms: Some(8000),
            bytes: bytes.len() as u64,
            sha256: "feed".into(),
            url: String::new(),
            content: Arc::new(Bytes(bytes)),
        };
        let media = [video];
        fn job<'a>(
            account: &'a Account,
            tokens: &'a postora::domain::TokenSet,
            media: &'a [PublishMedia],
            checkpoint: Option<&'a Value>,
        ) -> PublishJob<'a> {
            PublishJob {
                account,
                tokens,
                text: "A clip in three parts",
                media,
                thread: &[],
                options: None,
                due_at: Utc::now(),
                idempotency_key: "d-1",
                checkpoint,
            }
        }
        // An attempt with little time left stops while LinkedIn processes the video, everything checkpointed.
        let short = Recorder {
            time_left: Some(Duration::from_millis(500)),
            ..Recorder::default()
        };
        let e = li
            .publish(&job(&account, &c.tokens, &media, None), &short)
            .await
            .unwrap_err();
        assert!(matches!(e, PlatformError::Processing { .. }), "{e:?}");
        let saved = short.saved.lock().unwrap().clone().unwrap();
        let item = saved["linkedin"]["media"][0].clone();
        assert_eq!(item["etags"].as_array().unwrap().len(), 3, "{saved}");
        assert_eq!(item["complete"], true);
        assert_eq!(item["ready"], false);
        assert!(saved["linkedin"].get("post_sent_at").is_none());
        assert_eq!(fake.calls(Method::PUT, "/dms-uploads/video").len(), 3);
        assert_eq!(
            fake.calls(Method::POST, "/rest/videos").len(),
            2,
            "initialize and finalize"
        );
        assert!(fake.all_posts().is_empty());

        // The next attempt goes on from the checkpoint: no new upload, the same video in the post.
        let published = li
            .publish(
                &job(&account, &c.tokens, &media, Some(&saved)),
                &Recorder::default(),
            )
            .await
            .unwrap();
        assert_eq!(fake.calls(Method::PUT, "/dms-uploads/video").len(), 3);
        assert_eq!(fake.calls(Method::POST, "/rest/videos").len(), 2);
        let posts = fake.all_posts();
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].urn, published.platform_post_id);
        assert_eq!(posts[0].media[0].0, item["urn"].as_str().unwrap());
        assert_eq!(posts[0].text, "A clip in three parts");
    }
}
