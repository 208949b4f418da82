//! The YouTube adapter against the fake YouTube in `postora_test_support::fakes::youtube`: Google's consent with
//! offline access and PKCE, refreshes that keep the stored refresh token, the resumable upload in 256 KiB chunks,
//! an upload cut off by the attempt's deadline and resumed from its session, a lost answer on the last chunk, a
//! server error mid-upload, recovery by probing the session, quota and upload limits, and the 422 of a post
//! without YouTube's required options.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::Method;
use chrono::Utc;
use futures_util::stream;
use postora::domain::options::YoutubeOptions;
use postora::domain::{
    Account, AccountId, AccountStatus, MediaFormat, MediaId, PlatformKind, TargetOptions, TokenSet,
    WorkspaceId,
};
use postora::platforms::http::{client, HttpTimeouts};
use postora::platforms::youtube::{YoutubeConfig, YoutubePlatform};
use postora::ports::{
    AuthorizeRequest, ByteStream, CodeExchange, Connection, MediaBytes, Platform, PlatformError,
    Progress, PublishJob, PublishMedia, Recovery,
};
use postora_test_support::fakes::youtube::*;
use postora_test_support::media::{mp4, Movie};
use postora_test_support::platform_suite::{Backend, Stage};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const REDIRECT: &str = "https://postora.example/oauth/youtube/callback";

fn adapter(fake: &FakeYoutube) -> YoutubePlatform {
    adapter_with(fake.config())
}

fn adapter_with(config: YoutubeConfig) -> YoutubePlatform {
    YoutubePlatform::new(client(HttpTimeouts::default()), config)
}

struct Bytes(Vec<u8>);

#[async_trait]
impl MediaBytes for Bytes {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
        let slice = self.0[range.start as usize..range.end as usize].to_vec();
        // In two pieces, as a store streams a range.
        let (a, b) = slice.split_at(slice.len() / 2);
        Ok(Box::pin(stream::iter(vec![
            Ok(bytes::Bytes::copy_from_slice(a)),
            Ok(bytes::Bytes::copy_from_slice(b)),
        ])))
    }
}

/// A landscape MP4 of about `size` bytes.
fn video(size: usize) -> PublishMedia {
    use sha2::Digest;
    let bytes = mp4(&Movie::default(), size);
    PublishMedia {
        id: MediaId::generate(),
        kind: MediaFormat::Mp4.kind(),
        format: MediaFormat::Mp4,
        alt: None,
        width: 1280,
        height: 720,
        duration_ms: Some(8000),
        bytes: bytes.len() as u64,
        sha256: sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        url: String::new(),
        content: Arc::new(Bytes(bytes)),
    }
}

/// Records checkpoints as the publisher does; the attempt's time runs out after `chunks_allowed` chunk checks.
#[derive(Default)]
struct Recorder {
    saved: Mutex<Option<Value>>,
    checks: Mutex<u32>,
    chunks_allowed: Option<u32>,
}

#[async_trait]
impl Progress for Recorder {
    async fn checkpoint(&self, value: Value) -> Result<(), PlatformError> {
        *self.saved.lock().unwrap() = Some(value);
        Ok(())
    }
    fn time_left(&self) -> Option<Duration> {
        let allowed = self.chunks_allowed?;
        let mut checks = self.checks.lock().unwrap();
        *checks += 1;
        Some(if *checks > allowed {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(600)
        })
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
    options: TargetOptions,
}

impl Connected {
    fn new(c: &Connection) -> Self {
        let now = Utc::now();
        Connected {
            account: Account {
                id: AccountId::generate(),
                workspace_id: WorkspaceId::generate(),
                platform: PlatformKind::Youtube,
                profile: c.profile.clone(),
                status: AccountStatus::Active,
                settings: c.settings.clone(),
                token_expires_at: c.tokens.expires_at,
                created_at: now,
                updated_at: now,
                connected_at: Some(now),
                version: 1,
            },
            tokens: c.tokens.clone(),
            options: TargetOptions::Youtube(YoutubeOptions {
                title: Some("Kites".into()),
                self_declared_made_for_kids: Some(false),
                ..YoutubeOptions::default()
            }),
        }
    }

    fn job<'a>(
        &'a self,
        media: &'a [PublishMedia],
        checkpoint: Option<&'a Value>,
    ) -> PublishJob<'a> {
        PublishJob {
            account: &self.account,
            tokens: &self.tokens,
            text: "Kites over the hill",
            media,
            thread: &[],
            options: Some(&self.options),
            due_at: Utc::now(),
            idempotency_key: "delivery-1",
            checkpoint,
        }
    }
}

async fn connect(yt: &YoutubePlatform, fake: &FakeYoutube, user: &str) -> Connected {
    let verifier = postora::ports::new_pkce_verifier();
    let url = yt
        .authorize_url(&AuthorizeRequest {
            state: "st-1",
            redirect_uri: REDIRECT,
            pkce_verifier: Some(&verifier),
            server: None,
        })
        .unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(
        q["scope"],
        "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly"
    );
    let back = url::Url::parse(&fake.approve(url.as_str(), user)).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut connections = yt
        .exchange_code(&CodeExchange {
            code: &code,
            redirect_uri: REDIRECT,
            pkce_verifier: Some(&verifier),
            context: None,
            issuer: None,
        })
        .await
        .unwrap();
    Connected::new(&connections.remove(0))
}

#[tokio::test]
async fn connects_the_channel_and_refreshes_keep_the_refresh_token() {
    let fake = FakeYoutube::start().await;
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    assert!(c.account.profile.platform_user_id.starts_with("UC"));
    assert_eq!(c.account.profile.username.as_deref(), Some("@ada"));
    assert!(c.account.settings["granted_at"].is_string());
    let refresh = c
        .tokens
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let renewed = yt.refresh(&c.account, &c.tokens).await.unwrap();
    assert_ne!(
        renewed.access_token.expose_secret(),
        c.tokens.access_token.expose_secret()
    );
    assert_eq!(
        renewed.refresh_token.as_ref().unwrap().expose_secret(),
        refresh,
        "Google's refresh answer carries no refresh token: the stored one is kept"
    );
    PlatformPeerExt::revoke_all(&fake, "ada").await;
    let e = yt.refresh(&c.account, &renewed).await.unwrap_err();
    assert_eq!(e.code(), "needs_reauth", "{e}");
    assert!(!e.to_string().contains("Testing"), "{e}");
    // About seven days after the grant, the message names the Testing status.
    let mut week_old = c.account.clone();
    week_old.settings["granted_at"] = json!(Utc::now() - chrono::Duration::days(7));
    let e = yt.refresh(&week_old, &renewed).await.unwrap_err();
    assert!(e.to_string().contains("Testing status"), "{e}");
}

/// The suite's peer trait, for its `revoke`.
struct PlatformPeerExt;

impl PlatformPeerExt {
    async fn revoke_all(fake: &FakeYoutube, user: &str) {
        postora_test_support::platform_suite::PlatformPeer::revoke(fake, user).await;
    }
}

#[tokio::test]
async fn a_video_goes_up_in_256_kib_chunks_and_lands_once() {
    let fake = FakeYoutube::start().await;
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(700_000)];
    let progress = Recorder::default();
    let published = yt.publish(&c.job(&media, None), &progress).await.unwrap();
    let videos = fake.videos();
    assert_eq!(videos.len(), 1);
    assert_eq!(videos[0].id, published.platform_post_id);
    assert_eq!(videos[0].title, "Kites");
    assert_eq!(videos[0].description, "Kites over the hill");
    assert_eq!(videos[0].bytes, media[0].bytes);
    assert_eq!(
        published.permalink.as_deref(),
        Some(format!("https://www.youtube.com/watch?v={}", videos[0].id).as_str())
    );
    assert_eq!(fake.calls(Method::POST, "/upload/youtube/v3/videos"), 1);
    assert_eq!(fake.calls(Method::PUT, "/upload/youtube/v3/videos"), 3);
    let cp = progress.last().unwrap();
    assert_eq!(
        cp["youtube"]["video_id"],
        published.platform_post_id.as_str()
    );
}

#[tokio::test]
async fn a_video_locked_private_by_an_unaudited_project_lands_with_a_notice() {
    let fake = FakeYoutube::start().await;
    fake.world().lock_private = true;
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(300_000)];
    let published = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    let notice = published.notice.expect("the person is told");
    assert!(
        notice.contains("private") && notice.contains("audit"),
        "{notice}"
    );
    // Where nothing was locked, there is nothing to tell.
    fake.world().lock_private = false;
    let again = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(again.notice, None);
}

#[tokio::test]
async fn an_upload_out_of_time_is_checkpointed_and_resumed_from_its_session() {
    let fake = FakeYoutube::start().await;
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(700_000)];
    let first = Recorder {
        chunks_allowed: Some(1),
        ..Recorder::default()
    };
    let e = yt.publish(&c.job(&media, None), &first).await.unwrap_err();
    assert_eq!(e.code(), "processing", "{e}");
    let cp = first.last().unwrap();
    assert_eq!(cp["youtube"]["offset"], 262_144);
    assert!(fake.videos().is_empty());
    // Recovery asks the session: it lacks bytes, so nothing is published and the publish goes on.
    assert_eq!(
        yt.recover(&c.job(&media, Some(&cp))).await.unwrap(),
        Recovery::NotPublished
    );
    let second = Recorder::default();
    let published = yt
        .publish(&c.job(&media, Some(&cp)), &second)
        .await
        .unwrap();
    assert_eq!(fake.videos().len(), 1);
    assert_eq!(fake.videos()[0].id, published.platform_post_id);
    assert_eq!(
        fake.calls(Method::POST, "/upload/youtube/v3/videos"),
        1,
        "the upload is never started twice for one delivery"
    );
    // One chunk, then a probe, then the two chunks left.
    assert_eq!(fake.calls(Method::PUT, "/upload/youtube/v3/videos"), 5);
    // Once done, recovery finds the video in the session.
    let done = second.last().unwrap();
    assert!(matches!(
        yt.recover(&c.job(&media, Some(&cp))).await.unwrap(),
        Recovery::Published(p) if p.platform_post_id == published.platform_post_id
    ));
    assert!(matches!(
        yt.recover(&c.job(&media, Some(&done))).await.unwrap(),
        Recovery::Published(_)
    ));
    assert_eq!(
        yt.recover(&c.job(&media, None)).await.unwrap(),
        Recovery::NotPublished
    );
}

#[tokio::test]
async fn a_lost_answer_on_the_last_chunk_is_found_by_probing_the_session() {
    let fake = FakeYoutube::start().await;
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(300_000)];
    postora_test_support::platform_suite::PlatformPeer::lose_next_answer(&fake).await;
    let published = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.videos().len(), 1);
    assert_eq!(fake.videos()[0].id, published.platform_post_id);
}

#[tokio::test]
async fn a_server_error_mid_upload_goes_on_from_what_the_session_holds() {
    let fake = FakeYoutube::start().await;
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(700_000)];
    fake.fail_next_chunks(1);
    yt.publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.videos().len(), 1);
    assert_eq!(fake.calls(Method::POST, "/upload/youtube/v3/videos"), 1);
}

#[tokio::test]
async fn a_chunk_answered_too_late_is_asked_about_and_not_sent_again() {
    let fake = FakeYoutube::start().await;
    let yt = YoutubePlatform::new(
        client(HttpTimeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_millis(400),
        }),
        fake.config(),
    );
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(700_000)];
    // The first chunk is taken but its answer comes after the client gave up.
    fake.answer_slowly(1, Duration::from_millis(1500));
    yt.publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.videos().len(), 1);
    assert_eq!(fake.videos()[0].bytes, media[0].bytes);
    // Three chunks and one probe: the chunk the session held was not sent again.
    assert_eq!(fake.calls(Method::PUT, "/upload/youtube/v3/videos"), 4);
}

#[tokio::test]
async fn the_daily_upload_quota_holds_every_delivery_until_midnight_pacific() {
    let fake = FakeYoutube::start().await;
    let yt = adapter_with(YoutubeConfig {
        daily_uploads: 1,
        ..fake.config()
    });
    let c = connect(&yt, &fake, "ada").await;
    let media = [video(1000)];
    yt.publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    let e = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap_err();
    let PlatformError::AppRateLimited { retry_after, .. } = &e else {
        panic!("{e:?}");
    };
    assert!(retry_after.is_some_and(|d| d <= Duration::from_secs(24 * 3600)));
    assert_eq!(
        fake.calls(Method::POST, "/upload/youtube/v3/videos"),
        1,
        "no call is spent on a certain refusal"
    );
    // Google's own quotaExceeded holds every delivery too.
    let yt = adapter(&fake);
    fake.world().quota_left = 0;
    let e = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_rate_limited", "{e}");
    assert!(e.to_string().contains("quota"), "{e}");
    let e = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_rate_limited", "{e}");
    // The channel's upload limit holds that channel only.
    let yt = adapter(&fake);
    fake.world().quota_left = 10;
    fake.upload_limit_next();
    let e = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rate_limited", "{e}");
}

#[tokio::test]
async fn shorts_must_be_vertical_and_short() {
    let fake = FakeYoutube::start().await;
    let yt = adapter(&fake);
    let mut c = connect(&yt, &fake, "ada").await;
    c.options = TargetOptions::Youtube(YoutubeOptions {
        title: Some("Short".into()),
        self_declared_made_for_kids: Some(false),
        short: true,
        ..YoutubeOptions::default()
    });
    let media = [video(1000)];
    let e = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rejected");
    assert!(e.to_string().contains("vertical"), "{e}");
    let mut upright = video(1000);
    upright.width = 1080;
    upright.height = 1920;
    let media = [upright];
    let p = yt
        .publish(&c.job(&media, None), &Recorder::default())
        .await
        .unwrap();
    assert!(p.permalink.unwrap().contains("/shorts/"));
}

#[tokio::test]
async fn a_post_without_title_or_made_for_kids_is_a_422_naming_them() {
    let peer = FakeYoutube::peer().await;
    let stage = Stage::start(peer, Backend::Local).await;
    let account = stage.connect("ada").await;
    let video = stage.upload_video().await;
    let resp = stage
        .postora
        .post_json(
            &stage.key,
            "/v1/posts",
            &json!({"text": "No title", "media": [{"media_id": video}], "targets": [{"account_id": account}]}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("title") && body.contains("self_declared_made_for_kids"),
        "{body}"
    );
    let resp = stage
        .postora
        .post_json(
            &stage.key,
            "/v1/posts",
            &json!({"text": "Bad", "media": [{"media_id": video}], "targets": [{"account_id": account,
                "options": {"title": "<b>", "self_declared_made_for_kids": true}}]}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("title may not contain"));
}

#[tokio::test]
async fn a_custom_thumbnail_from_the_media_library_is_set_after_the_upload() {
    let fake = Arc::new(FakeYoutube::start().await);
    let stage = Stage::start(fake.clone(), Backend::Local).await;
    let account = stage.connect("ada").await;
    let video = stage.upload_video().await;
    let photo = stage.upload_photo(4, "A thumbnail").await;
    let post = stage
        .postora
        .create_post(
            &stage.key,
            &json!({"text": "With a thumbnail", "media": [{"media_id": video}], "targets": [{"account_id": account,
                "options": {"title": "Thumbs", "self_declared_made_for_kids": false, "thumbnail": photo}}]}),
        )
        .await;
    let delivery = stage.settled(post["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "published", "{delivery}");
    let videos = fake.videos();
    assert_eq!(videos.len(), 1);
    let (kind, bytes) = videos[0].thumbnail.clone().expect("the thumbnail is set");
    assert_eq!(kind, "image/jpeg");
    assert!(bytes > 0);
}

#[tokio::test]
async fn in_digest_mode_the_fake_keeps_the_sha256_and_the_ranges_that_came_twice() {
    use sha2::Digest;
    let fake = FakeYoutube::start().await;
    fake.keep_digests_only();
    let yt = adapter(&fake);
    let c = connect(&yt, &fake, "ada").await;
    // Resumed from its session: nothing arrives twice.
    let media = [video(700_000)];
    let first = Recorder {
        chunks_allowed: Some(1),
        ..Recorder::default()
    };
    yt.publish(&c.job(&media, None), &first).await.unwrap_err();
    let cp = first.last().unwrap();
    yt.publish(&c.job(&media, Some(&cp)), &Recorder::default())
        .await
        .unwrap();
    let digests = fake.digests();
    assert_eq!(digests.len(), 1);
    let r = &digests[0].1;
    assert_eq!((r.held, r.total), (media[0].bytes, media[0].bytes));
    assert_eq!(r.sha256.as_deref(), Some(media[0].sha256.as_str()));
    assert!(r.twice.is_empty());
    // A client that sends a range again: the fake says which, and the hash is the file's still.
    let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let token = fake.issue_token("ada");
    let http = client(HttpTimeouts::default());
    let open = http
        .post(format!(
            "{}upload/youtube/v3/videos?uploadType=resumable&part=snippet",
            fake.origin()
        ))
        .bearer_auth(&token)
        .header("x-upload-content-length", bytes.len().to_string())
        .header("x-upload-content-type", "video/mp4")
        .json(&json!({"snippet": {"title": "Twice"}}))
        .send()
        .await
        .unwrap();
    let session = open.headers()["location"].to_str().unwrap().to_owned();
    let total = bytes.len();
    for (from, to) in [(0, 262_144), (0, 524_288), (524_288, total)] {
        let resp = http
            .put(&session)
            .bearer_auth(&token)
            .header("content-range", format!("bytes {from}-{}/{total}", to - 1))
            .body(bytes[from..to].to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            [308, 200, 201].contains(&resp.status().as_u16()),
            "{}",
            resp.status()
        );
    }
    let id = url::Url::parse(&session)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "upload_id")
        .unwrap()
        .1
        .into_owned();
    let r = fake
        .digests()
        .into_iter()
        .find(|(s, _)| *s == id)
        .unwrap()
        .1;
    assert_eq!(r.twice, vec![(0, 262_144)]);
    assert_eq!(r.twice_bytes(), 262_144);
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.sha256, Some(sha));
}
