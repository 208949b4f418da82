//! The TikTok adapter against the fake TikTok in `postora_test_support::fakes::tiktok`: connect and rotating refresh,
//! a video in several chunks with the creator's options, the person's choices checked against the creator's, an
//! unaudited app, processing longer than an attempt, a lost answer to the last chunk, a failed processing, the inbox;
//! and through Postora's API, the required privacy level and the account's options.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::Method;
use chrono::Utc;
use futures_util::stream;
use postora::domain::{
    Account, AccountId, AccountStatus, MediaFormat, MediaId, PlatformKind, TargetOptions, TokenSet,
    WorkspaceId,
};
use postora::platforms::http::{client, HttpTimeouts};
use postora::platforms::tiktok::TiktokPlatform;
use postora::ports::{
    AuthorizeRequest, ByteStream, CodeExchange, MediaBytes, NoProgress, Platform, PlatformError,
    Progress, PublishJob, PublishMedia, Recovery,
};
use postora_test_support::fakes::tiktok::*;
use postora_test_support::platform_suite::{Backend, PlatformPeer, Stage};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const REDIRECT: &str = "https://postora.example/oauth/tiktok/callback";

fn adapter(fake: &FakeTiktok) -> TiktokPlatform {
    TiktokPlatform::new(client(HttpTimeouts::default()), fake.config())
}

struct Bytes(Vec<u8>);

#[async_trait]
impl MediaBytes for Bytes {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
        let slice = self.0[range.start as usize..range.end as usize].to_vec();
        Ok(Box::pin(stream::iter(vec![Ok(bytes::Bytes::from(slice))])))
    }
}

fn video(size: usize) -> PublishMedia {
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    PublishMedia {
        id: MediaId::generate(),
        kind: MediaFormat::Mp4.kind(),
        format: MediaFormat::Mp4,
        alt: None,
        width: 1080,
        height: 1920,
        duration_ms: Some(8_000),
        bytes: bytes.len() as u64,
        sha256: "00".into(),
        url: String::new(),
        content: Arc::new(Bytes(bytes)),
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

impl Recorder {
    fn last(&self) -> Option<Value> {
        self.saved.lock().unwrap().clone()
    }
}

struct Connected {
    account: Account,
    tokens: TokenSet,
}

fn options(raw: Value) -> TargetOptions {
    TargetOptions::parse(PlatformKind::Tiktok, &raw).unwrap()
}

impl Connected {
    fn job<'a>(
        &'a self,
        text: &'a str,
        media: &'a [PublishMedia],
        options: &'a TargetOptions,
        checkpoint: Option<&'a Value>,
    ) -> PublishJob<'a> {
        PublishJob {
            account: &self.account,
            tokens: &self.tokens,
            text,
            media,
            thread: &[],
            options: Some(options),
            due_at: Utc::now(),
            idempotency_key: "delivery-1",
            checkpoint,
        }
    }
}

async fn connect(t: &TiktokPlatform, fake: &FakeTiktok, user: &str) -> Connected {
    let url = t
        .authorize_url(&AuthorizeRequest {
            state: "st-1",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_key"], TIKTOK_APP.0);
    assert_eq!(q["scope"], "user.info.basic,video.publish,video.upload");
    assert!(
        !q.contains_key("code_challenge"),
        "the web flow takes no PKCE"
    );
    let back = url::Url::parse(&fake.approve(url.as_str(), user)).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut connections = t
        .exchange_code(&CodeExchange {
            code: &code,
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            context: None,
            issuer: None,
        })
        .await
        .unwrap();
    let c = connections.remove(0);
    let now = Utc::now();
    Connected {
        account: Account {
            id: AccountId::generate(),
            workspace_id: WorkspaceId::generate(),
            platform: PlatformKind::Tiktok,
            profile: c.profile.clone(),
            status: AccountStatus::Active,
            settings: c.settings.clone(),
            token_expires_at: c.tokens.expires_at,
            created_at: now,
            updated_at: now,
            connected_at: Some(now),
            version: 1,
        },
        tokens: c.tokens,
    }
}

#[tokio::test]
async fn connects_and_refreshes_with_rotating_tokens_and_lifetimes_from_the_answer() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    assert_eq!(
        c.account.profile.platform_user_id,
        fake.user_id("ada").await
    );
    assert_eq!(
        c.account.profile.display_name.as_deref(),
        Some("ada (fake)")
    );
    let issued = c.tokens.issued_at;
    let expires = c.tokens.expires_at.unwrap();
    assert_eq!((expires - issued).num_seconds(), ACCESS_LIFETIME_SECS);
    let refresh_expires = c.tokens.refresh_expires_at.unwrap();
    assert_eq!(
        (refresh_expires - issued).num_seconds(),
        REFRESH_LIFETIME_SECS
    );
    let renewed = t.refresh(&c.account, &c.tokens).await.unwrap();
    assert_ne!(
        renewed.refresh_token.as_ref().unwrap().expose_secret(),
        c.tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "the newest refresh token is kept"
    );
    assert!(renewed.refresh_expires_at.is_some());
    // The old refresh token is spent.
    let e = t.refresh(&c.account, &c.tokens).await.unwrap_err();
    assert_eq!(e.code(), "needs_reauth", "{e}");
    // The account's options, as a posting screen shows them.
    let shown = t
        .creator_options(&c.account, &renewed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown["creator_nickname"], "ada (fake)");
    assert!(shown["privacy_level_options"]
        .as_array()
        .is_some_and(|o| o.len() == 4));
}

#[tokio::test]
async fn a_video_goes_in_chunks_with_the_creators_options() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    // 11 MiB in 5 MiB chunks: two chunks, the last taking the trailing bytes.
    let media = [video(11 << 20)];
    let o = options(json!({"privacy_level": "FOLLOWER_OF_CREATOR", "disable_comment": false}));
    let progress = Recorder::default();
    let published = t
        .publish(&c.job("Big clip", &media, &o, None), &progress)
        .await
        .unwrap();
    let publishes = fake.publishes();
    assert_eq!(publishes.len(), 1);
    let (publish_id, p) = &publishes[0];
    assert_eq!(p.total_chunk_count, 2);
    assert_eq!(p.chunks, 2);
    assert_eq!(p.received, 11 << 20);
    assert_eq!(p.post_info["privacy_level"], "FOLLOWER_OF_CREATOR");
    assert_eq!(p.post_info["disable_comment"], false);
    assert_eq!(p.post_info["disable_duet"], true, "off unless turned on");
    assert_eq!(
        p.post_info["disable_stitch"], true,
        "the creator turned stitches off"
    );
    assert_eq!(published.platform_post_id, p.post_id.unwrap().to_string());
    assert_eq!(
        published.permalink.as_deref(),
        Some(
            format!(
                "https://www.tiktok.com/@ada/video/{}",
                published.platform_post_id
            )
            .as_str()
        )
    );
    assert_eq!(
        progress.last().unwrap()["tiktok"]["publish_id"],
        publish_id.as_str()
    );
}

#[tokio::test]
async fn a_privacy_level_the_creator_does_not_offer_fails_clearly_before_any_init() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    fake.set_privacy_options("ada", &["SELF_ONLY"]);
    let media = [video(1000)];
    let o = options(json!({"privacy_level": "PUBLIC_TO_EVERYONE"}));
    let e = t
        .publish(&c.job("x", &media, &o, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rejected");
    assert!(e.to_string().contains("offers SELF_ONLY"), "{e}");
    assert_eq!(fake.calls(Method::POST, "/v2/post/publish/video/init/"), 0);
}

#[tokio::test]
async fn an_unaudited_app_is_explained_in_words() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    fake.set_unaudited(true);
    let media = [video(1000)];
    let o = options(json!({"privacy_level": "SELF_ONLY"}));
    let e = t
        .publish(&c.job("x", &media, &o, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rejected");
    assert!(
        e.to_string().contains("has not passed TikTok's audit"),
        "{e}"
    );
}

#[tokio::test]
async fn processing_longer_than_the_attempt_is_followed_by_its_publish_id_never_a_second_init() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    fake.set_processing_polls(5);
    let media = [video(1000)];
    let o = options(json!({"privacy_level": "SELF_ONLY"}));
    let short = Recorder {
        time_left: Some(Duration::from_millis(1)),
        ..Recorder::default()
    };
    let e = t
        .publish(&c.job("slow", &media, &o, None), &short)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "processing", "{e}");
    let checkpoint = short.last().unwrap();
    // Recovery after a crash here: not published yet, and publishing again follows the same publish id.
    assert_eq!(
        t.recover(&c.job("slow", &media, &o, Some(&checkpoint)))
            .await
            .unwrap(),
        Recovery::NotPublished
    );
    fake.answer_slowly(Duration::from_millis(20));
    let published = t
        .publish(
            &c.job("slow", &media, &o, Some(&checkpoint)),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert_eq!(fake.calls(Method::POST, "/v2/post/publish/video/init/"), 1);
    // A private post has no public id: the publish id is the record.
    assert_eq!(
        published.platform_post_id,
        checkpoint["tiktok"]["publish_id"].as_str().unwrap()
    );
    assert_eq!(published.permalink, None);
    assert!(matches!(
        t.recover(&c.job("slow", &media, &o, Some(&checkpoint)))
            .await
            .unwrap(),
        Recovery::Published(p) if p == published
    ));
}

#[tokio::test]
async fn a_lost_answer_to_the_last_chunk_is_recovered_by_polling() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    fake.lose_next_answer().await;
    let media = [video(1000)];
    let o = options(json!({"privacy_level": "PUBLIC_TO_EVERYONE"}));
    let published = t
        .publish(&c.job("lost", &media, &o, None), &Recorder::default())
        .await
        .unwrap();
    let posts = fake.posts("ada").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].id, published.platform_post_id);
    assert_eq!(fake.calls(Method::POST, "/v2/post/publish/video/init/"), 1);
}

#[tokio::test]
async fn a_failed_processing_says_why() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    fake.fail_next_processing("duration_check_failed");
    let media = [video(1000)];
    let o = options(json!({"privacy_level": "SELF_ONLY"}));
    let e = t
        .publish(&c.job("x", &media, &o, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rejected");
    assert!(e.to_string().contains("too long or too short"), "{e}");
}

#[tokio::test]
async fn the_inbox_mode_uploads_for_the_person_to_finish_in_the_app() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    let media = [video(1000)];
    let o = options(json!({"mode": "inbox"}));
    let published = t
        .publish(&c.job("draft", &media, &o, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        fake.calls(Method::POST, "/v2/post/publish/inbox/video/init/"),
        1
    );
    assert!(published.platform_post_id.starts_with("v_inbox_file"));
    assert_eq!(published.permalink, None);
}

#[tokio::test]
async fn a_rate_limit_waits_a_minute_when_tiktok_does_not_say() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    fake.rate_limit_next(Duration::from_secs(1)).await;
    let media = [video(1000)];
    let o = options(json!({"privacy_level": "SELF_ONLY"}));
    match t
        .publish(&c.job("x", &media, &o, None), &NoProgress)
        .await
        .unwrap_err()
    {
        PlatformError::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(60)))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_api_requires_a_privacy_level_and_shows_the_accounts_options() {
    let peer: Arc<dyn PlatformPeer> = FakeTiktok::peer().await;
    let stage = Stage::start(peer, Backend::Local).await;
    let account = stage.connect("ada").await;
    let video = stage.upload_video().await;
    let body = json!({
        "text": "No privacy chosen",
        "media": [{ "media_id": video }],
        "targets": [{ "account_id": account }],
    });
    let resp = stage
        .postora
        .post_json(&stage.key, "/v1/posts", &body)
        .await;
    assert_eq!(resp.status(), 422);
    let error: Value = resp.json().await.unwrap();
    assert_eq!(
        error["error"]["details"][0]["field"], "targets[0].options.privacy_level",
        "{error}"
    );
    let resp = stage
        .postora
        .get(&stage.key, &format!("/v1/accounts/{account}/options"))
        .await;
    assert_eq!(resp.status(), 200);
    let shown: Value = resp.json().await.unwrap();
    assert_eq!(
        shown["options"]["creator_nickname"], "ada (fake)",
        "{shown}"
    );
    assert_eq!(shown["options"]["max_video_post_duration_sec"], 600);
}

fn photo(url: &str) -> PublishMedia {
    let mut m = PublishMedia::from_link(url, postora::domain::MediaKind::Image);
    m.format = MediaFormat::Jpeg;
    m
}

#[tokio::test]
async fn photos_are_fetched_from_verified_links_and_a_lost_answer_is_in_doubt() {
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    let media = [
        photo("https://media.postora.example/m/1.jpg?sig=abc"),
        photo("https://media.postora.example/m/2.jpg?sig=def"),
    ];
    let o = options(json!({"privacy_level": "MUTUAL_FOLLOW_FRIENDS"}));
    let text = "Two photos\nand a longer description";
    // Unverified: refused in words that name the fix.
    let e = t
        .publish(&c.job(text, &media, &o, None), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rejected");
    assert!(e.to_string().contains("verified"), "{e}");
    fake.verify_prefix("https://media.postora.example/");
    let progress = Recorder::default();
    let published = t
        .publish(&c.job(text, &media, &o, None), &progress)
        .await
        .unwrap();
    let (_, p) = fake
        .publishes()
        .into_iter()
        .find(|(_, p)| !p.photos.is_empty())
        .unwrap();
    assert_eq!(p.photos.len(), 2);
    assert_eq!(p.post_info["title"], "Two photos");
    assert_eq!(p.post_info["description"], text);
    assert_eq!(published.platform_post_id, p.post_id.unwrap().to_string());
    // A lost answer to the call that publishes: no publish id, nothing to ask; never sent twice.
    fake.lose_next_answer().await;
    let progress = Recorder::default();
    let e = t
        .publish(&c.job(text, &media, &o, None), &progress)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_outcome", "{e}");
    let checkpoint = progress.last().unwrap();
    assert!(matches!(
        t.recover(&c.job(text, &media, &o, Some(&checkpoint)))
            .await
            .unwrap(),
        Recovery::Unknowable(_)
    ));
    assert_eq!(
        t.publish(
            &c.job(text, &media, &o, Some(&checkpoint)),
            &Recorder::default()
        )
        .await
        .unwrap_err()
        .code(),
        "unknown_outcome"
    );
    assert_eq!(
        fake.calls(Method::POST, "/v2/post/publish/content/init/"),
        3
    );
}

#[tokio::test]
async fn the_fake_refuses_chunks_as_tiktok_does() {
    // The media transfer guide's rules, as the fake checks an init.
    assert!(check_chunks(1000, 1000, 1).is_ok());
    assert!(check_chunks(1000, 500, 2).is_err(), "under 5 MB goes whole");
    assert!(check_chunks(11 << 20, 5 << 20, 2).is_ok());
    assert!(
        check_chunks(11 << 20, 5 << 20, 3).is_err(),
        "floor(size / chunk)"
    );
    assert!(
        check_chunks(100 << 20, 4 << 20, 25).is_err(),
        "at least 5 MB"
    );
    assert!(
        check_chunks(200 << 20, 100 << 20, 2).is_err(),
        "at most 64 MB"
    );
    // A chunk with the wrong Content-Range is refused at the upload URL.
    let fake = FakeTiktok::start().await;
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    let http = client(HttpTimeouts::default());
    let init: Value = http
        .post(format!("{}v2/post/publish/video/init/", fake.origin()))
        .bearer_auth(c.tokens.access_token.expose_secret())
        .json(&json!({"post_info": {"title": "t", "privacy_level": "SELF_ONLY"},
            "source_info": {"source": "FILE_UPLOAD", "video_size": 10, "chunk_size": 10, "total_chunk_count": 1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_url = init["data"]["upload_url"].as_str().unwrap();
    let wrong = http
        .put(upload_url)
        .header("Content-Type", "video/mp4")
        .header("Content-Range", "bytes 0-8/10")
        .body(vec![0u8; 9])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 416);
    let right = http
        .put(upload_url)
        .header("Content-Type", "video/mp4")
        .header("Content-Range", "bytes 0-9/10")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 201);
}

#[tokio::test]
async fn in_digest_mode_the_fake_keeps_the_count_and_sha256_not_the_bytes() {
    let fake = FakeTiktok::start().await;
    fake.keep_digests_only();
    let t = adapter(&fake);
    let c = connect(&t, &fake, "ada").await;
    let media = [video(11 << 20)];
    let o = options(json!({"privacy_level": "SELF_ONLY"}));
    t.publish(&c.job("Big clip", &media, &o, None), &Recorder::default())
        .await
        .unwrap();
    let digests = fake.digests();
    assert_eq!(digests.len(), 1);
    let (publish_id, r) = &digests[0];
    assert_eq!(publish_id, &fake.publishes()[0].0);
    assert_eq!((r.held, r.total), (media[0].bytes, media[0].bytes));
    let sha: String = {
        use sha2::Digest;
        let bytes: Vec<u8> = (0..11usize << 20).map(|i| (i % 251) as u8).collect();
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(r.sha256, Some(sha));
    assert_eq!((r.twice_bytes(), r.not_kept), (0, 0));
    assert!(r.first_byte.is_some() && r.last_byte >= r.first_byte);
    // The checks stay: a chunk out of order is refused, and counted as not kept.
    let http = client(HttpTimeouts::default());
    let init: Value = http
        .post(format!("{}v2/post/publish/video/init/", fake.origin()))
        .bearer_auth(fake.issue_token("ada"))
        .json(&json!({"post_info": {"title": "t", "privacy_level": "SELF_ONLY"},
            "source_info": {"source": "FILE_UPLOAD", "video_size": 10, "chunk_size": 10, "total_chunk_count": 1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_url = init["data"]["upload_url"].as_str().unwrap();
    let wrong = http
        .put(upload_url)
        .header("Content-Type", "video/mp4")
        .header("Content-Range", "bytes 0-8/10")
        .body(vec![0u8; 9])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 416);
    let id = init["data"]["publish_id"].as_str().unwrap();
    let r = fake.digests().into_iter().find(|(p, _)| p == id).unwrap().1;
    assert_eq!((r.held, r.not_kept), (0, 9));
}
