//! The X adapter against the fake X in `postora_test_support::fakes::x`: connect with PKCE, rotating refresh tokens,
//! posts with images, a video and threads, every error class, rate limits, and recovery after a lost answer; and
//! one scenario end to end through Postora's API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::Method;
use futures_util::stream;
use postora::domain::options::{XOptions, XReplySettings};
use postora::domain::{MediaFormat, MediaId, PlatformKind, TargetOptions};
use postora::platforms::http::{client, HttpTimeouts};
use postora::platforms::x::XPlatform;
use postora::ports::{
    AuthorizeRequest, ByteStream, CodeExchange, MediaBytes, NoProgress, Platform, PlatformError,
    Progress, PublishJob, PublishMedia, Published, Recovery,
};
use postora_test_support::accounts::Connected;
use postora_test_support::fakes::x::*;
use postora_test_support::platform_suite::PlatformPeer;
use secrecy::ExposeSecret;
use serde_json::Value;

const REDIRECT: &str = "https://postora.example/oauth/callback/x";

fn adapter(fake: &FakeX) -> XPlatform {
    XPlatform::new(client(HttpTimeouts::default()), fake.config())
}

struct Bytes(Vec<u8>);

#[async_trait]
impl MediaBytes for Bytes {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
        let slice = self.0[range.start as usize..range.end as usize].to_vec();
        Ok(Box::pin(stream::iter(vec![Ok(bytes::Bytes::from(slice))])))
    }
}

fn media(format: MediaFormat, bytes: Vec<u8>, alt: Option<&str>) -> PublishMedia {
    use sha2::Digest;
    PublishMedia {
        id: MediaId::generate(),
        kind: format.kind(),
        format,
        alt: alt.map(str::to_owned),
        width: 10,
        height: 10,
        duration_ms: None,
        bytes: bytes.len() as u64,
        sha256: sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        url: String::new(),
        content: Arc::new(Bytes(bytes)),
    }
}

/// Records checkpoints as the publisher does, with an optional bound on the attempt's time.
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

async fn connect(x: &XPlatform, fake: &FakeX, user: &str) -> Connected {
    let verifier = postora::ports::new_pkce_verifier();
    let url = x
        .authorize_url(&AuthorizeRequest {
            state: "st-1",
            redirect_uri: REDIRECT,
            pkce_verifier: Some(&verifier),
            server: None,
        })
        .unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["scope"],
        "tweet.read tweet.write users.read offline.access media.write"
    );
    let back = url::Url::parse(&fake.approve(url.as_str(), user)).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert!(back.query_pairs().any(|(k, v)| k == "state" && v == "st-1"));
    let mut connections = x
        .exchange_code(&CodeExchange {
            code: &code,
            redirect_uri: REDIRECT,
            pkce_verifier: Some(&verifier),
            context: None,
            issuer: None,
        })
        .await
        .unwrap();
    Connected::new(PlatformKind::X, &connections.remove(0))
}

#[tokio::test]
async fn connects_with_pkce_and_reads_the_profile() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    assert_eq!(c.account.profile.username.as_deref(), Some("pat"));
    assert_eq!(
        c.account.profile.platform_user_id,
        fake.user_id("pat").await
    );
    assert!(
        c.tokens.refresh_token.is_some(),
        "offline.access gives a refresh token"
    );
    assert!(c.tokens.expires_at.is_some());

    // A code exchanged with the wrong verifier is refused.
    let url = x
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: Some(&"a".repeat(64)),
            server: None,
        })
        .unwrap();
    let back = url::Url::parse(&fake.approve(url.as_str(), "pat")).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let refused = x
        .exchange_code(&CodeExchange {
            code: &code,
            redirect_uri: REDIRECT,
            pkce_verifier: Some(&"b".repeat(64)),
            context: None,
            issuer: None,
        })
        .await;
    assert!(refused.is_err());
    // No verifier, no consent: X requires PKCE.
    assert!(x
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None
        })
        .is_err());
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_spent_one_is_refused_as_reauth() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    let fresh = x.refresh(&c.account, &c.tokens).await.unwrap();
    assert_ne!(
        fresh.refresh_token.as_ref().unwrap().expose_secret(),
        c.tokens.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert_ne!(
        fresh.access_token.expose_secret(),
        c.tokens.access_token.expose_secret()
    );
    // The old refresh token is spent: reusing it is refused, and X ends the whole grant.
    let reused = x.refresh(&c.account, &c.tokens).await.unwrap_err();
    assert!(matches!(reused, PlatformError::Reauth(_)), "{reused:?}");
    assert!(!fake.grant_alive("pat"));
    assert_eq!(
        x.refresh(&c.account, &fresh).await.unwrap_err().code(),
        "needs_reauth"
    );
    assert_eq!(fake.refreshes("pat").await.0, 1);
}

#[tokio::test]
async fn publishes_text_with_reply_settings_and_a_permalink() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    let options = TargetOptions::X(XOptions {
        reply_settings: Some(XReplySettings::MentionedUsers),
    });
    let mut job = c.job("Hello from Postora & friends", &[], None);
    job.options = Some(&options);
    let p = x.publish(&job, &NoProgress).await.unwrap();
    let posts = fake.all_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].text, "Hello from Postora & friends");
    assert_eq!(posts[0].reply_settings.as_deref(), Some("mentionedUsers"));
    assert_eq!(p.platform_post_id, posts[0].id);
    assert_eq!(
        p.permalink.unwrap(),
        format!("https://x.com/pat/status/{}", posts[0].id)
    );
}

#[tokio::test]
async fn images_are_uploaded_in_one_shot_with_their_alt_text() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    let items = vec![
        media(
            MediaFormat::Jpeg,
            postora_test_support::media::jpeg(40, 30),
            Some("A loaf on a board"),
        ),
        media(MediaFormat::Png, vec![7u8; 300], None),
    ];
    let progress = Recorder::default();
    x.publish(&c.job("Two pictures", &items, None), &progress)
        .await
        .unwrap();
    let post = fake.all_posts().remove(0);
    assert_eq!(post.media.len(), 2);
    assert_eq!(
        fake.alt_of(&post.media[0]).as_deref(),
        Some("A loaf on a board")
    );
    assert_eq!(fake.alt_of(&post.media[1]), None);
    assert_eq!(
        fake.category_of(&post.media[0]).as_deref(),
        Some("tweet_image")
    );
    assert_eq!(
        fake.calls(Method::POST, "/2/media/upload/initialize"),
        0,
        "images go in one shot"
    );
    assert_eq!(fake.calls(Method::POST, "/2/media/metadata"), 1);
    let peer = fake.posts("pat").await;
    assert_eq!(peer[0].media[0].alt.as_deref(), Some("A loaf on a board"));
}

#[tokio::test]
async fn a_video_goes_in_chunks_and_waits_for_processing() {
    let fake = FakeX::start().await;
    fake.set_processing_polls(3);
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    // Over one segment, so it takes two appends.
    let video = media(
        MediaFormat::Mp4,
        vec![1u8; (postora::platforms::x::media::CHUNK_BYTES + 1000) as usize],
        Some("A film"),
    );
    let items = vec![video];
    x.publish(&c.job("Watch this", &items, None), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.calls(Method::POST, "/2/media/upload/initialize"), 1);
    assert_eq!(
        fake.calls(Method::GET, "/2/media/upload"),
        4,
        "three reads still processing, then succeeded"
    );
    let post = fake.all_posts().remove(0);
    assert_eq!(
        fake.category_of(&post.media[0]).as_deref(),
        Some("tweet_video")
    );
    assert_eq!(fake.alt_of(&post.media[0]).as_deref(), Some("A film"));
    let appends = fake.calls(Method::POST, "/2/media/upload/") - 2; // initialize and finalize
    assert_eq!(appends, 2);
}

#[tokio::test]
async fn a_video_still_processing_when_time_runs_out_is_resumed_without_uploading_again() {
    let fake = FakeX::start().await;
    fake.set_processing_polls(2);
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    let items = vec![media(MediaFormat::Mp4, vec![2u8; 5000], None)];
    let out_of_time = Recorder {
        time_left: Some(Duration::ZERO),
        ..Recorder::default()
    };
    let e = x
        .publish(&c.job("Later", &items, None), &out_of_time)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "processing", "{e:?}");
    let checkpoint = out_of_time.last().expect("the media id is checkpointed");
    assert!(fake.all_posts().is_empty());
    // The resumed attempt asks recovery first: nothing was sent, so publishing goes on.
    assert_eq!(
        x.recover(&c.job("Later", &items, Some(&checkpoint)))
            .await
            .unwrap(),
        Recovery::NotPublished
    );
    x.publish(
        &c.job("Later", &items, Some(&checkpoint)),
        &Recorder::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.calls(Method::POST, "/2/media/upload/initialize"),
        1,
        "uploaded once"
    );
    assert_eq!(fake.all_posts().len(), 1);
}

#[tokio::test]
async fn thread_parts_each_reply_to_the_part_before() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    let mut thread: Vec<Published> = vec![];
    for text in ["1/3 a thread", "2/3 goes on", "3/3 ends"] {
        let p = x
            .publish(
                &PublishJob {
                    thread: &thread,
                    ..c.job(text, &[], None)
                },
                &NoProgress,
            )
            .await
            .unwrap();
        thread.push(p);
    }
    let posts = fake.posts("pat").await;
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].reply_to, None);
    assert_eq!(posts[1].reply_to.as_deref(), Some(posts[0].id.as_str()));
    assert_eq!(posts[2].reply_to.as_deref(), Some(posts[1].id.as_str()));
}

#[tokio::test]
async fn a_lost_answer_is_found_among_recent_posts_and_published_once() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    let first = x
        .publish(
            &c.job("Root & more at https://example.com/a?b=1", &[], None),
            &NoProgress,
        )
        .await
        .unwrap();
    let thread = vec![first];
    fake.lose_next_answer().await;
    let progress = Recorder::default();
    let e = x
        .publish(
            &PublishJob {
                thread: &thread,
                ..c.job("Second part", &[], None)
            },
            &progress,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_outcome", "{e:?}");
    let checkpoint = progress.last().unwrap();
    // Publishing again from that checkpoint refuses: the post may be up.
    assert_eq!(
        x.publish(
            &PublishJob {
                thread: &thread,
                ..c.job("Second part", &[], Some(&checkpoint))
            },
            &NoProgress
        )
        .await
        .unwrap_err()
        .code(),
        "unknown_outcome"
    );
    match x
        .recover(&PublishJob {
            thread: &thread,
            ..c.job("Second part", &[], Some(&checkpoint))
        })
        .await
        .unwrap()
    {
        Recovery::Published(p) => {
            let posts = fake.all_posts();
            assert_eq!(posts.len(), 2, "published once");
            assert_eq!(p.platform_post_id, posts[1].id);
            assert_eq!(
                p.permalink.unwrap(),
                format!("https://x.com/pat/status/{}", posts[1].id)
            );
        }
        other => panic!("{other:?}"),
    }
    // The root, shown by X with a t.co link and &amp;, is found too.
    fake.lose_next_answer().await;
    let progress = Recorder::default();
    let text = "Another & one https://example.com/x";
    x.publish(&c.job(text, &[], None), &progress)
        .await
        .unwrap_err();
    assert!(matches!(
        x.recover(&c.job(text, &[], progress.last().as_ref()))
            .await
            .unwrap(),
        Recovery::Published(_)
    ));
}

#[tokio::test]
async fn a_post_not_found_after_a_lost_answer_is_in_doubt_never_not_published() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    // The call was sent (the checkpoint says so) but X holds nothing with that text.
    let progress = Recorder::default();
    fake.fail_next_posts(1);
    let e = x
        .publish(&c.job("Never landed?", &[], None), &progress)
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "unknown_outcome",
        "a 5xx on POST /2/tweets may have published"
    );
    match x
        .recover(&c.job("Never landed?", &[], progress.last().as_ref()))
        .await
        .unwrap()
    {
        Recovery::Unknowable(why) => assert!(why.contains("X may have published it"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Without the adapter's record of the call, nothing was sent.
    assert_eq!(
        x.recover(&c.job("Never landed?", &[], None)).await.unwrap(),
        Recovery::NotPublished
    );
    assert!(!x.can_recover());
}

#[tokio::test]
async fn a_429_waits_until_the_reset() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    fake.rate_limit_next(Duration::from_secs(90)).await;
    match x
        .publish(&c.job("Busy", &[], None), &Recorder::default())
        .await
        .unwrap_err()
    {
        PlatformError::RateLimited {
            retry_after: Some(w),
            ..
        } => {
            assert!(
                w > Duration::from_secs(80) && w <= Duration::from_secs(92),
                "{w:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.all_posts().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_token_expired_and_a_revoked_grant_needs_reauth() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    fake.expire_access("pat").await;
    let progress = Recorder::default();
    assert_eq!(
        x.publish(&c.job("Hi", &[], None), &progress)
            .await
            .unwrap_err(),
        PlatformError::TokenExpired
    );
    // The refused call is not left marked as sent: the retry with a fresh token publishes.
    let fresh = x.refresh(&c.account, &c.tokens).await.unwrap();
    let c2 = Connected {
        account: c.account.clone(),
        tokens: fresh,
    };
    x.publish(&c2.job("Hi", &[], progress.last().as_ref()), &NoProgress)
        .await
        .unwrap();

    fake.revoke("pat").await;
    assert_eq!(
        x.publish(&c2.job("Again", &[], None), &NoProgress)
            .await
            .unwrap_err(),
        PlatformError::TokenExpired
    );
    assert_eq!(
        x.refresh(&c2.account, &c2.tokens).await.unwrap_err().code(),
        "needs_reauth"
    );
}

#[tokio::test]
async fn a_403_is_rejected_with_xs_words() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    fake.reject_next("You are not allowed to create a Tweet with duplicate content.")
        .await;
    match x
        .publish(&c.job("Dup", &[], None), &NoProgress)
        .await
        .unwrap_err()
    {
        PlatformError::Rejected(m) => assert!(m.contains("duplicate content"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn disconnecting_revokes_the_grant() {
    let fake = FakeX::start().await;
    let x = adapter(&fake);
    let c = connect(&x, &fake, "pat").await;
    x.revoke(&c.account, &c.tokens).await.unwrap();
    assert!(!fake.grant_alive("pat"));
}

// ---- end to end through Postora's API

async fn connect_via_api(
    t: &postora_test_support::app::TestApp,
    key: &str,
    fake: &FakeX,
    user: &str,
) -> String {
    let resp = t
        .post_json(key, "/v1/accounts/connect/x", &serde_json::json!({}))
        .await;
    assert_eq!(resp.status(), 200, "connect start");
    let start: Value = resp.json().await.unwrap();
    let callback = fake
        .consent(start["authorize_url"].as_str().unwrap(), user)
        .await;
    let page = t.http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let accounts: Value = t.get(key, "/v1/accounts").await.json().await.unwrap();
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == "x")
        .expect("the X account is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn end_to_end_a_thread_publishes_and_a_lost_answer_is_recovered_once_without_tokens_in_logs()
{
    let (logs, _capturing) = postora_test_support::logs::Capturing::start();
    let fake = FakeX::start().await;
    let env = fake.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let t = postora_test_support::app::spawn_app_with(&pairs).await;
    let (_ws, key) = t.workspace("bakery").await;
    let account = connect_via_api(&t, &key, &fake, "pat").await;

    let created = t
        .create_post(&key, &serde_json::json!({"text": "Fresh loaves at 7.", "targets": [{"account_id": account}]}))
        .await;
    let post = t
        .wait_settled(
            &key,
            created["id"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    let posts = fake.posts("pat").await;
    assert_eq!(d["platform_post_id"], posts[0].id.as_str());
    assert_eq!(
        d["permalink"],
        format!("https://x.com/pat/status/{}", posts[0].id).as_str()
    );

    fake.lose_next_answer().await;
    let created = t
        .create_post(
            &key,
            &serde_json::json!({"text": "Rye on Fridays.", "targets": [{"account_id": account}]}),
        )
        .await;
    let post = t
        .wait_settled(
            &key,
            created["id"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    let posts = fake.posts("pat").await;
    assert_eq!(
        posts.len(),
        2,
        "the lost answer was found, not published again"
    );
    assert_eq!(d["platform_post_id"], posts[1].id.as_str());

    let accounts = t.get(&key, "/v1/accounts").await.text().await.unwrap();
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!logged.is_empty(), "the logs were captured");
    for secret in fake.secrets() {
        assert!(
            !logged.contains(&secret),
            "a token or secret is in the logs"
        );
        assert!(
            !accounts.contains(&secret),
            "a token or secret is in an answer"
        );
    }
}
