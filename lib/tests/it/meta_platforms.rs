//! The Meta adapters (Threads, Instagram, Facebook Pages) against the fake Meta in `postora_test_support::fakes::meta`: consent and
//! token exchanges, refresh, publishing every kind of post, every error class, and recovery after a lost answer.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use postora::domain::{AccountId, MediaKind, PlatformKind, WorkspaceId};
use postora::platforms::http::{client, HttpTimeouts};
use postora::platforms::meta::{
    FacebookPlatform, InstagramLogin, InstagramPlatform, ThreadsConfig, ThreadsPlatform,
};
use postora::ports::{
    AuthorizeRequest, CodeExchange, Connection, NoProgress, Platform, PlatformError, Progress,
    PublishMedia, Published, Recovery,
};
use postora_test_support::accounts::Connected;
use postora_test_support::fakes::meta::*;
use secrecy::ExposeSecret;
use serde_json::Value;

const REDIRECT: &str = "https://postora.example/oauth/meta/callback";

/// A client whose request timeout is short enough for the slow-answer tests.
fn http() -> reqwest::Client {
    client(HttpTimeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_millis(800),
    })
}

/// Records checkpoints as the publisher's progress does.
#[derive(Default)]
struct Recorder(Mutex<Vec<Value>>);

#[async_trait]
impl Progress for Recorder {
    async fn checkpoint(&self, value: Value) -> Result<(), PlatformError> {
        self.0.lock().unwrap().push(value);
        Ok(())
    }
}

impl Recorder {
    fn last(&self) -> Option<Value> {
        self.0.lock().unwrap().last().cloned()
    }
}

/// Records the checkpoint, then reports the claim lost: the process "crashes" between container and publish.
struct CrashAfterCheckpoint(Recorder);

#[async_trait]
impl Progress for CrashAfterCheckpoint {
    async fn checkpoint(&self, value: Value) -> Result<(), PlatformError> {
        self.0.checkpoint(value).await?;
        Err(PlatformError::Interrupted)
    }
}

fn image(url: &str) -> PublishMedia {
    PublishMedia::from_link(url, MediaKind::Image)
}

fn video(url: &str) -> PublishMedia {
    PublishMedia::from_link(url, MediaKind::Video)
}

async fn connect(platform: &dyn Platform, fake: &FakeMeta) -> Vec<Connection> {
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "st4te",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    let code = fake.code_for(&url).await;
    platform
        .exchange_code(&CodeExchange {
            code: &code,
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            context: None,
            issuer: None,
        })
        .await
        .unwrap()
}

async fn threads(fake: &FakeMeta) -> (ThreadsPlatform, Connected) {
    let platform = ThreadsPlatform::new(http(), fake.threads_config());
    let connections = connect(&platform, fake).await;
    let connected = Connected::new(PlatformKind::Threads, &connections[0]);
    (platform, connected)
}

async fn instagram(fake: &FakeMeta, login: InstagramLogin) -> (InstagramPlatform, Connected) {
    let platform = InstagramPlatform::new(http(), fake.instagram_config(login));
    let connections = connect(&platform, fake).await;
    let connected = Connected::new(PlatformKind::Instagram, &connections[0]);
    (platform, connected)
}

async fn facebook(fake: &FakeMeta) -> (FacebookPlatform, Vec<Connected>) {
    let platform = FacebookPlatform::new(http(), fake.facebook_config());
    let connections = connect(&platform, fake).await;
    let connected = connections
        .iter()
        .map(|c| Connected::new(PlatformKind::Facebook, c))
        .collect();
    (platform, connected)
}

// ---- consent, tokens, profile

#[tokio::test]
async fn threads_connects_with_a_long_lived_token_and_the_profile() {
    let fake = FakeMeta::start().await;
    let platform = ThreadsPlatform::new(http(), fake.threads_config());
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "st4te",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    assert_eq!(url.path(), "/oauth/authorize");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        q["scope"],
        "threads_basic,threads_content_publish,threads_manage_replies"
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], THREADS_APP.0);
    let back = fake.consent(&url).await;
    assert!(back.as_str().starts_with(REDIRECT));
    assert!(back
        .query_pairs()
        .any(|(k, v)| k == "state" && v == "st4te"));

    let connections = connect(&platform, &fake).await;
    assert_eq!(connections.len(), 1);
    let c = &connections[0];
    assert_eq!(c.profile.platform_user_id, THREADS_USER);
    assert_eq!(c.profile.grantor_id(), THREADS_USER);
    assert_eq!(c.profile.username.as_deref(), Some(THREADS_USERNAME));
    assert_eq!(c.profile.display_name.as_deref(), Some("Pat Example"));
    assert_eq!(
        c.profile.picture_url.as_deref(),
        Some("https://cdn.example/threads/pat.jpg")
    );
    assert_eq!(c.profile.biography.as_deref(), Some("Writes about bread."));
    assert_eq!(c.settings["threads_user_id"], THREADS_USER);
    // The long-lived token (60 days), not the one-hour one.
    let lifetime = c.tokens.expires_at.unwrap() - c.tokens.issued_at;
    assert!(lifetime > chrono::Duration::days(59), "{lifetime}");
    assert!(c.tokens.access_token.expose_secret().starts_with("THAA"));
    assert_eq!(fake.calls(Op::LongLivedExchange), 1);
}

#[tokio::test]
async fn a_code_is_good_once() {
    let fake = FakeMeta::start().await;
    let platform = ThreadsPlatform::new(http(), fake.threads_config());
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    let code = fake.code_for(&url).await;
    let exchange = CodeExchange {
        code: &code,
        redirect_uri: REDIRECT,
        pkce_verifier: None,
        context: None,
        issuer: None,
    };
    platform.exchange_code(&exchange).await.unwrap();
    let again = platform.exchange_code(&exchange).await.unwrap_err();
    assert_eq!(again.code(), "rejected", "{again}");
    assert!(!again.to_string().contains(&code));
}

#[tokio::test]
async fn a_person_who_says_no_is_sent_back_with_an_error() {
    let fake = FakeMeta::start().await;
    fake.deny_consent();
    let platform = ThreadsPlatform::new(http(), fake.threads_config());
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    let back = fake.consent(&url).await;
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn threads_refreshes_a_day_old_token_and_keeps_a_younger_one() {
    let fake = FakeMeta::start().await;
    let (platform, mut c) = threads(&fake).await;

    // Younger than a day: Threads would refuse, so the token is kept and nothing is called.
    let same = platform.refresh(&c.account, &c.tokens).await.unwrap();
    assert_eq!(
        same.access_token.expose_secret(),
        c.tokens.access_token.expose_secret()
    );
    assert_eq!(fake.calls(Op::Refresh), 0);

    // Two days later it is refreshed for another 60 days.
    fake.advance(chrono::Duration::days(2));
    c.tokens.issued_at -= chrono::Duration::days(2);
    let fresh = platform.refresh(&c.account, &c.tokens).await.unwrap();
    assert_ne!(
        fresh.access_token.expose_secret(),
        c.tokens.access_token.expose_secret()
    );
    assert!(fresh.expires_at.unwrap() - Utc::now() > chrono::Duration::days(59));
    assert_eq!(fake.calls(Op::Refresh), 1);

    // The new token publishes.
    c.tokens = fresh;
    platform
        .publish(&c.job("after refresh", &[], None), &NoProgress)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refresh_meta_refuses_asks_for_reconnection() {
    let fake = FakeMeta::start().await;
    let (platform, mut c) = threads(&fake).await;
    c.tokens.issued_at -= chrono::Duration::days(2);
    fake.advance(chrono::Duration::days(2));
    fake.revoke(c.tokens.access_token.expose_secret());
    let err = platform.refresh(&c.account, &c.tokens).await.unwrap_err();
    assert_eq!(err.code(), "needs_reauth", "{err}");

    // A token past its expiry cannot be refreshed either.
    c.tokens.expires_at = Some(Utc::now() - chrono::Duration::minutes(1));
    let err = platform.refresh(&c.account, &c.tokens).await.unwrap_err();
    assert_eq!(err.code(), "needs_reauth");
}

#[tokio::test]
async fn instagram_login_connects_the_professional_account_and_refreshes() {
    let fake = FakeMeta::start().await;
    let platform = InstagramPlatform::new(http(), fake.instagram_config(InstagramLogin::Instagram));
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    assert_eq!(url.path(), "/oauth/authorize");
    assert!(url
        .query_pairs()
        .any(|(k, v)| k == "scope"
            && v == "instagram_business_basic,instagram_business_content_publish"));

    let connections = connect(&platform, &fake).await;
    assert_eq!(connections.len(), 1);
    let c = &connections[0];
    assert_eq!(c.profile.platform_user_id, IG_USER);
    assert_eq!(c.profile.username.as_deref(), Some(IG_USERNAME));
    assert_eq!(c.settings["login"], "instagram");
    assert_eq!(c.settings["app_scoped_id"], IG_APP_SCOPED);
    assert_eq!(
        c.profile.grantor_id(),
        IG_APP_SCOPED,
        "Instagram's deletion callbacks name the app-scoped id"
    );
    assert!(c.tokens.expires_at.unwrap() - c.tokens.issued_at > chrono::Duration::days(59));
    assert!(c
        .tokens
        .scope
        .as_deref()
        .unwrap()
        .contains("instagram_business_content_publish"));

    let mut connected = Connected::new(PlatformKind::Instagram, c);
    assert!(platform.refresh_due(&connected.tokens).is_some());
    connected.tokens.issued_at -= chrono::Duration::days(3);
    fake.advance(chrono::Duration::days(3));
    let fresh = platform
        .refresh(&connected.account, &connected.tokens)
        .await
        .unwrap();
    assert_ne!(
        fresh.access_token.expose_secret(),
        connected.tokens.access_token.expose_secret()
    );
    assert_eq!(fake.calls(Op::Refresh), 1);
}

#[tokio::test]
async fn instagram_with_facebook_login_connects_each_linked_account() {
    let fake = FakeMeta::start().await;
    let platform = InstagramPlatform::new(http(), fake.instagram_config(InstagramLogin::Facebook));
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    assert_eq!(url.path(), "/v20.0/dialog/oauth");

    let connections = connect(&platform, &fake).await;
    // Only the Bakery Page has an Instagram account linked.
    assert_eq!(connections.len(), 1);
    let c = &connections[0];
    assert_eq!(c.profile.platform_user_id, IG_BAKERY);
    assert_eq!(c.profile.username.as_deref(), Some("bakery.ig"));
    assert_eq!(c.profile.biography.as_deref(), Some("Fresh every morning."));
    assert_eq!(c.settings["login"], "facebook");
    assert_eq!(c.settings["page_id"], PAGE_BAKERY);
    assert_eq!(c.settings["facebook_user_id"], FB_USER);
    assert_eq!(c.profile.grantor_id(), FB_USER);
    // Facebook login tokens are long-lived and cannot be refreshed: nothing is scheduled, and a refresh asks for
    // reconnection.
    assert!(c.tokens.expires_at.unwrap() - c.tokens.issued_at > chrono::Duration::days(59));
    assert!(platform.refresh_due(&c.tokens).is_none());
    let connected = Connected::new(PlatformKind::Instagram, c);
    let err = platform
        .refresh(&connected.account, &connected.tokens)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "needs_reauth");
}

#[tokio::test]
async fn facebook_gives_one_connection_per_page_with_its_own_token() {
    let fake = FakeMeta::start().await;
    // One Page per answer, so the cursors are followed.
    fake.set_page_size(1);
    let platform = FacebookPlatform::new(http(), fake.facebook_config());
    let url = platform
        .authorize_url(&AuthorizeRequest {
            state: "s",
            redirect_uri: REDIRECT,
            pkce_verifier: None,
            server: None,
        })
        .unwrap();
    assert_eq!(url.path(), "/v20.0/dialog/oauth");
    let connections = connect(&platform, &fake).await;
    assert_eq!(fake.calls(Op::Accounts), 3);

    // The read-only Page is left out: the person may not post there.
    let ids: Vec<_> = connections
        .iter()
        .map(|c| c.profile.platform_user_id.as_str())
        .collect();
    assert_eq!(ids, vec![PAGE_BAKERY, PAGE_BOOKS]);
    let bakery = &connections[0];
    assert_eq!(
        bakery.profile.display_name.as_deref(),
        Some("Postora Bakery")
    );
    assert_eq!(bakery.profile.username.as_deref(), Some("postorabakery"));
    assert_eq!(
        bakery.profile.picture_url.as_deref(),
        Some("https://cdn.example/fb/page-2001.jpg")
    );
    assert_eq!(bakery.settings["facebook_user_id"], FB_USER);
    assert_eq!(
        bakery.profile.grantor_id(),
        FB_USER,
        "Meta's deletion callbacks name the person who manages the Page"
    );
    // Each Page has its own token, and Page tokens do not expire.
    assert_ne!(
        connections[0].tokens.access_token.expose_secret(),
        connections[1].tokens.access_token.expose_secret()
    );
    assert!(connections.iter().all(|c| c.tokens.expires_at.is_none()));
    assert!(platform.refresh_due(&bakery.tokens).is_none());
}

// ---- publishing

#[tokio::test]
async fn threads_publishes_text_image_and_carousel_posts() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;

    let text = platform
        .publish(&c.job("Fresh loaves at 7.", &[], None), &NoProgress)
        .await
        .unwrap();
    let img = [PublishMedia {
        alt: Some("a loaf".into()),
        ..image("https://cdn.example/loaf.jpg")
    }];
    let one = platform
        .publish(&c.job("A loaf.", &img, None), &NoProgress)
        .await
        .unwrap();
    let several = [
        image("https://cdn.example/a.jpg"),
        video("https://cdn.example/b.mp4"),
        image("https://cdn.example/c.jpg"),
    ];
    let carousel = platform
        .publish(&c.job("Three.", &several, None), &NoProgress)
        .await
        .unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(
        (posts[0].kind.as_str(), posts[0].text.as_str()),
        ("TEXT", "Fresh loaves at 7.")
    );
    assert_eq!(posts[1].kind, "IMAGE");
    assert_eq!(posts[1].media, vec!["https://cdn.example/loaf.jpg"]);
    assert_eq!(posts[2].kind, "CAROUSEL");
    assert_eq!(posts[2].media.len(), 3);
    assert!(posts.iter().all(|p| p.owner == THREADS_USER));
    for (published, post) in [text, one, carousel].iter().zip(&posts) {
        assert_eq!(published.platform_post_id, post.id);
        assert_eq!(
            published.permalink.as_deref(),
            Some(post.permalink.as_str())
        );
    }
}

#[tokio::test]
async fn media_still_processing_is_waited_for() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.script_containers(ContainerScript {
        in_progress_polls: 3,
        outcome: Outcome::Finished,
    });
    let media = [video("https://cdn.example/clip.mp4")];
    platform
        .publish(&c.job("A clip.", &media, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(fake.post_count(), 1);
    assert!(fake.calls(Op::ContainerStatus) >= 4);
}

#[tokio::test]
async fn media_meta_cannot_process_is_rejected_without_a_post() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.script_containers(ContainerScript {
        in_progress_polls: 1,
        outcome: Outcome::Error("FAILED_DOWNLOADING_VIDEO".into()),
    });
    let media = [video("https://cdn.example/gone.mp4")];
    let err = platform
        .publish(&c.job("x", &media, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rejected");
    assert!(
        err.to_string().contains("FAILED_DOWNLOADING_VIDEO"),
        "{err}"
    );
    assert_eq!(fake.post_count(), 0);
}

#[tokio::test]
async fn media_that_never_finishes_is_transient_and_resumed_later() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.script_containers(ContainerScript {
        in_progress_polls: 1_000,
        outcome: Outcome::Finished,
    });
    let progress = Recorder::default();
    let media = [video("https://cdn.example/long.mp4")];
    let err = platform
        .publish(&c.job("long", &media, None), &progress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "transient", "{err}");
    assert_eq!(fake.post_count(), 0);
    assert_eq!(fake.container_count(), 1);
}

#[tokio::test]
async fn an_expired_container_is_replaced_and_posted_once() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.fail_next(Op::Publish, Fault::graph(-2).subcode(2_207_020));
    platform
        .publish(&c.job("expired once", &[], None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(fake.post_count(), 1);
    assert_eq!(fake.container_count(), 2);

    // A container reporting EXPIRED while waiting is replaced too.
    fake.script_containers(ContainerScript {
        in_progress_polls: 0,
        outcome: Outcome::Expired,
    });
    let err = platform
        .publish(&c.job("always expired", &[], None), &NoProgress)
        .await
        .unwrap_err();
    // Both containers expired: nothing was published, and the next attempt starts afresh.
    assert_eq!(err.code(), "transient", "{err}");
    assert_eq!(fake.post_count(), 1);
    assert_eq!(fake.container_count(), 4);
}

#[tokio::test]
async fn instagram_publishes_image_reel_and_carousel_posts() {
    for login in [InstagramLogin::Instagram, InstagramLogin::Facebook] {
        let fake = FakeMeta::start().await;
        let (platform, c) = instagram(&fake, login).await;
        let owner = c.account.profile.platform_user_id.clone();

        let one = [image("https://cdn.example/cake.jpg")];
        let reel = [video("https://cdn.example/cake.mp4")];
        let many = [
            image("https://cdn.example/1.jpg"),
            image("https://cdn.example/2.jpg"),
            video("https://cdn.example/3.mp4"),
        ];
        let mut published = vec![];
        for (text, media) in [
            ("Cake.", &one[..]),
            ("Cake, moving.", &reel[..]),
            ("Cakes.", &many[..]),
        ] {
            published.push(
                platform
                    .publish(&c.job(text, media, None), &NoProgress)
                    .await
                    .unwrap(),
            );
        }
        let posts = fake.posts();
        let kinds: Vec<_> = posts.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, vec!["IMAGE", "REELS", "CAROUSEL"], "{login:?}");
        assert_eq!(posts[2].media.len(), 3);
        assert_eq!(posts[0].text, "Cake.");
        assert!(posts.iter().all(|p| p.owner == owner));
        assert_eq!(published[0].platform_post_id, posts[0].id);
        assert!(published[0]
            .permalink
            .as_deref()
            .unwrap()
            .starts_with("https://www.instagram.com/p/"));
        // The quota was read before each publish.
        assert_eq!(fake.calls(Op::PublishingLimit), 3);

        let err = platform
            .publish(&c.job("text only", &[], None), &NoProgress)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "rejected");
    }
}

#[tokio::test]
async fn instagram_waits_when_the_publishing_quota_is_used_up() {
    let fake = FakeMeta::start().await;
    let (platform, c) = instagram(&fake, InstagramLogin::Instagram).await;
    fake.set_quota(1);
    let media = [image("https://cdn.example/a.jpg")];
    platform
        .publish(&c.job("first", &media, None), &NoProgress)
        .await
        .unwrap();
    let err = platform
        .publish(&c.job("second", &media, None), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PlatformError::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    // Refused before publishing: Meta never saw a second publish.
    assert_eq!(fake.calls(Op::Publish), 1);
    assert_eq!(fake.post_count(), 1);

    // A day later the quota has room again.
    fake.advance(chrono::Duration::hours(25));
    platform
        .publish(&c.job("second", &media, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(fake.post_count(), 2);
}

#[tokio::test]
async fn an_account_connected_with_the_other_login_must_reconnect() {
    let fake = FakeMeta::start().await;
    let (_, c) = instagram(&fake, InstagramLogin::Facebook).await;
    let instagram_login =
        InstagramPlatform::new(http(), fake.instagram_config(InstagramLogin::Instagram));
    let media = [image("https://cdn.example/a.jpg")];
    let err = instagram_login
        .publish(&c.job("x", &media, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "needs_reauth");
}

#[tokio::test]
async fn facebook_pages_publish_text_link_photo_and_video_posts() {
    let fake = FakeMeta::start().await;
    let (platform, pages) = facebook(&fake).await;
    let bakery = &pages[0];

    let text = platform
        .publish(&bakery.job("Open on Sunday.", &[], None), &NoProgress)
        .await
        .unwrap();
    let link = platform
        .publish(
            &bakery.job("Our menu: https://bakery.example/menu.", &[], None),
            &NoProgress,
        )
        .await
        .unwrap();
    let photos = [
        image("https://cdn.example/p1.jpg"),
        image("https://cdn.example/p2.jpg"),
    ];
    let photo = platform
        .publish(&bakery.job("Today's bread.", &photos, None), &NoProgress)
        .await
        .unwrap();
    let clip = [video("https://cdn.example/oven.mp4")];
    let film = platform
        .publish(&bakery.job("The oven.", &clip, None), &NoProgress)
        .await
        .unwrap();

    let posts = fake.posts();
    assert_eq!(posts.len(), 4);
    assert!(posts.iter().all(|p| p.owner == PAGE_BAKERY));
    assert_eq!(
        (posts[0].kind.as_str(), posts[0].link.as_deref()),
        ("feed", None)
    );
    assert_eq!(
        posts[1].link.as_deref(),
        Some("https://bakery.example/menu")
    );
    assert_eq!(posts[2].kind, "photos");
    assert_eq!(
        posts[2].media,
        vec!["https://cdn.example/p1.jpg", "https://cdn.example/p2.jpg"]
    );
    assert_eq!(posts[3].kind, "video");
    assert_eq!(posts[3].text, "The oven.");
    assert_eq!(text.platform_post_id, posts[0].id);
    assert!(text
        .platform_post_id
        .starts_with(&format!("{PAGE_BAKERY}_")));
    assert_eq!(link.permalink.as_deref(), Some(posts[1].permalink.as_str()));
    assert_eq!(photo.platform_post_id, posts[2].id);
    // Video permalinks come back relative; the adapter makes them whole.
    assert_eq!(
        film.permalink.as_deref(),
        Some(format!("{}{PAGE_BAKERY}/videos/{}/", fake.origin(), posts[3].id).as_str())
    );

    // The Books Page posts with its own token; the Bakery's token cannot post there.
    let books = &pages[1];
    platform
        .publish(&books.job("Books.", &[], None), &NoProgress)
        .await
        .unwrap();
    let mut wrong = Connected {
        account: books.account.clone(),
        tokens: bakery.tokens.clone(),
    };
    wrong.account.id = AccountId::generate();
    let err = platform
        .publish(&wrong.job("Not mine.", &[], None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rejected");
    assert_eq!(fake.post_count(), 5);
}

// ---- errors

#[tokio::test]
async fn graph_errors_map_to_the_publishers_classes() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    let cases: Vec<(Op, Fault, &str)> = vec![
        (
            Op::CreateContainer,
            Fault::graph(190).subcode(463).into(),
            "token_expired",
        ),
        (
            Op::CreateContainer,
            Fault::graph(190).subcode(460).into(),
            "needs_reauth",
        ),
        (
            Op::CreateContainer,
            Fault::graph(190).subcode(467).into(),
            "needs_reauth",
        ),
        (
            Op::CreateContainer,
            Fault::graph(190).into(),
            "needs_reauth",
        ),
        (
            Op::CreateContainer,
            Fault::graph(102).into(),
            "needs_reauth",
        ),
        (Op::CreateContainer, Fault::graph(10).into(), "rejected"),
        (Op::CreateContainer, Fault::graph(200).into(), "rejected"),
        (Op::CreateContainer, Fault::graph(100).into(), "rejected"),
        (Op::Publish, Fault::graph(506).into(), "rejected"),
        (
            Op::Publish,
            Fault::graph(-1).subcode(2_207_050).into(),
            "rejected",
        ),
        (
            Op::Publish,
            Fault::graph(-1).subcode(2_207_051).into(),
            "rejected",
        ),
        (
            Op::CreateContainer,
            Fault::graph(4).into(),
            "app_rate_limited",
        ),
        (Op::CreateContainer, Fault::graph(17).into(), "rate_limited"),
        (Op::CreateContainer, Fault::graph(32).into(), "rate_limited"),
        (
            Op::CreateContainer,
            Fault::graph(613).into(),
            "rate_limited",
        ),
        (
            Op::CreateContainer,
            Fault::graph(80_001).into(),
            "rate_limited",
        ),
        (
            Op::CreateContainer,
            Fault::graph(80_014).into(),
            "rate_limited",
        ),
        (
            Op::ContainerStatus,
            Fault::graph(4).into(),
            "app_rate_limited",
        ),
        (
            Op::Publish,
            Fault::graph(9).subcode(2_207_042).into(),
            "rate_limited",
        ),
        (Op::CreateContainer, Fault::graph(1).into(), "transient"),
        (Op::CreateContainer, Fault::graph(2).into(), "transient"),
        (
            Op::CreateContainer,
            Fault::graph(9_999).transient().into(),
            "transient",
        ),
        (Op::CreateContainer, Fault::graph(368).into(), "transient"),
        (
            Op::CreateContainer,
            Fault::graph(-1).subcode(2_207_001).into(),
            "transient",
        ),
        (Op::CreateContainer, Fault::Bare(502), "transient"),
        (Op::ContainerStatus, Fault::Bare(503), "transient"),
        // On the publish call itself, an unclear failure may hide a post that landed.
        (Op::Publish, Fault::graph(1).into(), "unknown_outcome"),
        (Op::Publish, Fault::graph(2).into(), "unknown_outcome"),
        (
            Op::Publish,
            Fault::graph(9_999).transient().into(),
            "unknown_outcome",
        ),
        (
            Op::Publish,
            Fault::graph(-1).subcode(2_207_001).into(),
            "unknown_outcome",
        ),
        (Op::Publish, Fault::Bare(500), "unknown_outcome"),
        (Op::Publish, Fault::AcceptThenDrop, "unknown_outcome"),
    ];
    for (op, fault, expected) in cases {
        let before = fake.post_count();
        fake.fail_next(op, fault.clone());
        let err = platform
            .publish(&c.job("a post", &[], None), &NoProgress)
            .await
            .unwrap_err();
        assert_eq!(err.code(), expected, "{op:?} {fault:?}: {err}");
        // Only a dropped answer hides an accepted post.
        let accepted = matches!(fault, Fault::AcceptThenDrop) as usize;
        assert_eq!(fake.post_count(), before + accepted, "{op:?} {fault:?}");
    }
}

#[tokio::test]
async fn rate_limits_carry_metas_wait() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.fail_next(
        Op::CreateContainer,
        Fault::graph(80_001).header(
            "x-business-use-case-usage",
            r#"{"7001":[{"type":"threads","call_count":100,"total_cputime":10,"total_time":10,"estimated_time_to_regain_access":7}]}"#,
        ),
    );
    let err = platform
        .publish(&c.job("x", &[], None), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(420)),
        "{err:?}"
    );
    fake.fail_next(
        Op::CreateContainer,
        Fault::graph(4).status(429).header("retry-after", "12"),
    );
    let err = platform
        .publish(&c.job("x", &[], None), &NoProgress)
        .await
        .unwrap_err();
    // Code 4 is the app's own limit: every account on the platform waits, not only this one.
    assert!(
        matches!(err, PlatformError::AppRateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(12)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_reported_so_the_publisher_refreshes() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.advance(chrono::Duration::days(61));
    let err = platform
        .publish(&c.job("x", &[], None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err, PlatformError::TokenExpired);
}

#[tokio::test]
async fn an_unreachable_platform_is_transient() {
    let fake = FakeMeta::start().await;
    let (_, c) = threads(&fake).await;
    let closed = url::Url::parse("http://127.0.0.1:1").unwrap();
    let platform = ThreadsPlatform::new(
        http(),
        ThreadsConfig {
            api_origin: closed,
            ..fake.threads_config()
        },
    );
    let err = platform
        .publish(&c.job("x", &[], None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "transient", "{err}");
}

#[tokio::test]
async fn facebook_errors_on_the_feed_call_are_unknown_and_photo_errors_transient() {
    let fake = FakeMeta::start().await;
    let (platform, pages) = facebook(&fake).await;
    let page = &pages[0];
    let photos = [image("https://cdn.example/p.jpg")];
    fake.fail_next(Op::PagePhoto, Fault::Bare(502));
    let err = platform
        .publish(&page.job("x", &photos, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "transient");
    fake.fail_next(Op::PageFeed, Fault::Bare(502));
    let err = platform
        .publish(&page.job("x", &photos, None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_outcome");
    fake.fail_next(Op::PageFeed, Fault::graph(190).subcode(460));
    let err = platform
        .publish(&page.job("x", &[], None), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "needs_reauth");
    assert_eq!(fake.post_count(), 0);
}

// ---- recovery

/// Publish, lose the answer, recover: the post is found through the container, and never posted twice.
#[tokio::test]
async fn a_publish_whose_answer_was_lost_is_recovered_without_a_second_post() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    let progress = Recorder::default();
    fake.fail_next(Op::Publish, Fault::AcceptThenDrop);
    let err = platform
        .publish(&c.job("Only once.", &[], None), &progress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_outcome", "{err}");
    assert_eq!(fake.post_count(), 1);

    let checkpoint = progress.last().expect("the container was checkpointed");
    let recovered = platform
        .recover(&c.job("Only once.", &[], Some(&checkpoint)))
        .await
        .unwrap();
    let post = &fake.posts()[0];
    assert_eq!(
        recovered,
        Recovery::Published(Published::new(
            post.id.clone(),
            Some(post.permalink.clone())
        ))
    );

    // Even a publish retried with the checkpoint finds the post instead of making another.
    let again = platform
        .publish(&c.job("Only once.", &[], Some(&checkpoint)), &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.platform_post_id, post.id);
    assert_eq!(fake.post_count(), 1);
    assert_eq!(fake.calls(Op::Publish), 1);
}

#[tokio::test]
async fn a_slow_answer_is_unknown_then_recovered() {
    let fake = FakeMeta::start().await;
    let (platform, c) = instagram(&fake, InstagramLogin::Instagram).await;
    let progress = Recorder::default();
    let media = [image("https://cdn.example/slow.jpg")];
    fake.fail_next(Op::Publish, Fault::SlowAnswer(Duration::from_millis(1_500)));
    let err = platform
        .publish(&c.job("Slow.", &media, None), &progress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_outcome", "{err}");
    // The server finishes its work even though the client stopped waiting.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let checkpoint = progress.last().unwrap();
    let recovered = platform
        .recover(&c.job("Slow.", &media, Some(&checkpoint)))
        .await
        .unwrap();
    assert!(
        matches!(&recovered, Recovery::Published(p) if p.platform_post_id == fake.posts()[0].id),
        "{recovered:?}"
    );
    assert_eq!(fake.post_count(), 1);
}

#[tokio::test]
async fn a_crash_between_container_and_publish_resumes_the_same_container() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    let crash = CrashAfterCheckpoint(Recorder::default());
    let media = [
        image("https://cdn.example/a.jpg"),
        image("https://cdn.example/b.jpg"),
    ];
    let err = platform
        .publish(&c.job("Carousel.", &media, None), &crash)
        .await
        .unwrap_err();
    assert_eq!(err, PlatformError::Interrupted);
    assert_eq!(fake.post_count(), 0);
    let containers = fake.container_count();
    assert_eq!(containers, 3);

    let checkpoint = crash.0.last().unwrap();
    let recovered = platform
        .recover(&c.job("Carousel.", &media, Some(&checkpoint)))
        .await
        .unwrap();
    assert_eq!(recovered, Recovery::NotPublished);
    platform
        .publish(&c.job("Carousel.", &media, Some(&checkpoint)), &NoProgress)
        .await
        .unwrap();
    assert_eq!(fake.post_count(), 1);
    assert_eq!(
        fake.container_count(),
        containers,
        "no container was made again"
    );
}

/// An attempt whose lease ran out while it waited, and the attempt that took over, both reach the same container.
/// Here the late one is held up reading the quota while the other publishes: Meta refuses its publish, and it finds
/// the post the container became instead of failing the delivery.
#[tokio::test]
async fn two_attempts_on_one_container_make_one_post() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    let crash = CrashAfterCheckpoint(Recorder::default());
    platform
        .publish(&c.job("Raced.", &[], None), &crash)
        .await
        .unwrap_err();
    let checkpoint = crash.0.last().unwrap();
    let job = c.job("Raced.", &[], Some(&checkpoint));

    fake.fail_next(
        Op::PublishingLimit,
        Fault::SlowAnswer(Duration::from_millis(400)),
    );
    let late = platform.publish(&job, &NoProgress);
    let first = async {
        while fake.calls(Op::PublishingLimit) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        platform.publish(&job, &NoProgress).await
    };
    let (late, first) = tokio::join!(late, first);
    let (late, first) = (late.unwrap(), first.unwrap());
    assert_eq!(
        fake.calls(Op::Publish),
        2,
        "both attempts asked Meta to publish"
    );
    assert_eq!(fake.post_count(), 1);
    assert_eq!(first.platform_post_id, fake.posts()[0].id);
    assert_eq!(late.platform_post_id, first.platform_post_id);
}

/// An attempt with a little time left, recording checkpoints as the publisher does.
struct ShortOfTime(Recorder, Duration);

#[async_trait]
impl Progress for ShortOfTime {
    async fn checkpoint(&self, value: Value) -> Result<(), PlatformError> {
        self.0.checkpoint(value).await
    }

    fn time_left(&self) -> Option<Duration> {
        Some(self.1)
    }
}

#[tokio::test]
async fn media_still_processing_when_the_attempt_runs_out_of_time_is_resumed_not_recreated() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    fake.script_containers(ContainerScript {
        in_progress_polls: 1_000,
        outcome: Outcome::Finished,
    });
    let media = [video("https://cdn.example/long.mp4")];
    // The attempt has no time for a pause and another status read: it stops, the container checkpointed.
    let short = ShortOfTime(Recorder::default(), Duration::from_millis(500));
    let err = platform
        .publish(&c.job("Slow clip.", &media, None), &short)
        .await
        .unwrap_err();
    let PlatformError::Processing { retry_after, .. } = &err else {
        panic!("expected processing, got {err:?}");
    };
    assert!(*retry_after > Duration::ZERO);
    assert_eq!(err.code(), "processing");
    let checkpoint = short.0.last().expect("the container is checkpointed");
    assert_eq!((fake.container_count(), fake.post_count()), (1, 0));

    // Still processing on the next attempt: it stops again, with the same container.
    let again = ShortOfTime(Recorder::default(), Duration::from_millis(500));
    let err = platform
        .publish(&c.job("Slow clip.", &media, Some(&checkpoint)), &again)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "processing", "{err}");
    assert_eq!((fake.container_count(), fake.post_count()), (1, 0));

    // Once Meta is done, the attempt after publishes that same container, once.
    fake.finish_containers();
    assert_eq!(
        platform
            .recover(&c.job("Slow clip.", &media, Some(&checkpoint)))
            .await
            .unwrap(),
        Recovery::NotPublished
    );
    let published = platform
        .publish(&c.job("Slow clip.", &media, Some(&checkpoint)), &again)
        .await
        .unwrap();
    assert_eq!((fake.container_count(), fake.post_count()), (1, 1));
    assert_eq!(published.platform_post_id, fake.posts()[0].id);
}

#[tokio::test]
async fn an_expired_checkpointed_container_is_replaced() {
    let fake = FakeMeta::start().await;
    let (platform, c) = instagram(&fake, InstagramLogin::Instagram).await;
    let crash = CrashAfterCheckpoint(Recorder::default());
    let media = [image("https://cdn.example/a.jpg")];
    platform
        .publish(&c.job("Later.", &media, None), &crash)
        .await
        .unwrap_err();
    let checkpoint = crash.0.last().unwrap();
    let container = checkpoint["meta_container"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.expire_container(&container);

    let recovered = platform
        .recover(&c.job("Later.", &media, Some(&checkpoint)))
        .await
        .unwrap();
    assert_eq!(recovered, Recovery::NotPublished);
    let progress = Recorder::default();
    platform
        .publish(&c.job("Later.", &media, Some(&checkpoint)), &progress)
        .await
        .unwrap();
    assert_eq!(fake.post_count(), 1);
    assert_eq!(fake.container_count(), 2);
    // The fresh container is checkpointed in its turn.
    assert_ne!(
        progress.last().unwrap()["meta_container"]["id"].as_str(),
        Some(container.as_str())
    );
}

#[tokio::test]
async fn recovery_without_a_checkpoint_or_with_a_vanished_container_publishes_again() {
    let fake = FakeMeta::start().await;
    let (platform, c) = threads(&fake).await;
    assert_eq!(
        platform.recover(&c.job("x", &[], None)).await.unwrap(),
        Recovery::NotPublished
    );
    let ghost = serde_json::json!({"meta_container": {"id": "999", "created_at": Utc::now()}});
    assert_eq!(
        platform
            .recover(&c.job("x", &[], Some(&ghost)))
            .await
            .unwrap(),
        Recovery::NotPublished
    );
}

#[tokio::test]
async fn facebook_recovery_finds_a_post_that_landed_or_admits_it_cannot_tell() {
    let fake = FakeMeta::start().await;
    let (platform, pages) = facebook(&fake).await;
    let page = &pages[0];
    let progress = Recorder::default();
    fake.fail_next(Op::PageFeed, Fault::AcceptThenDrop);
    let err = platform
        .publish(&page.job("Landed?", &[], None), &progress)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_outcome");
    let checkpoint = progress.last().unwrap();
    let recovered = platform
        .recover(&page.job("Landed?", &[], Some(&checkpoint)))
        .await
        .unwrap();
    let post = &fake.posts()[0];
    assert!(
        matches!(&recovered, Recovery::Published(p) if p.platform_post_id == post.id),
        "{recovered:?}"
    );

    // Nothing was sent before the checkpoint.
    assert_eq!(
        platform
            .recover(&page.job("Never sent", &[], None))
            .await
            .unwrap(),
        Recovery::NotPublished
    );
    // A post that is not there cannot be told from one Facebook is slow to show: in doubt.
    let progress = Recorder::default();
    fake.fail_next(Op::PageFeed, Fault::Bare(504));
    platform
        .publish(&page.job("Lost.", &[], None), &progress)
        .await
        .unwrap_err();
    let checkpoint = progress.last().unwrap();
    assert!(matches!(
        platform
            .recover(&page.job("Lost.", &[], Some(&checkpoint)))
            .await
            .unwrap(),
        Recovery::Unknowable(_)
    ));
    assert_eq!(fake.post_count(), 1);
}

// ---- secrets

#[tokio::test]
async fn no_token_or_secret_appears_in_errors_or_debug_output() {
    let fake = FakeMeta::start().await;
    let (threads_platform, t) = threads(&fake).await;
    let (ig_platform, i) = instagram(&fake, InstagramLogin::Instagram).await;
    let (fb_platform, pages) = facebook(&fake).await;
    let mut secrets: Vec<String> = vec![
        THREADS_APP.1.into(),
        INSTAGRAM_APP.1.into(),
        FACEBOOK_APP.1.into(),
        t.tokens.access_token.expose_secret().to_owned(),
        i.tokens.access_token.expose_secret().to_owned(),
    ];
    secrets.extend(
        pages
            .iter()
            .map(|p| p.tokens.access_token.expose_secret().to_owned()),
    );

    let mut errors: Vec<PlatformError> = vec![];
    let media = [image("https://cdn.example/a.jpg")];
    for op in [Op::CreateContainer, Op::ContainerStatus, Op::Publish] {
        fake.fail_next(op, Fault::graph(100).echo_token());
        errors.push(
            threads_platform
                .publish(&t.job("x", &[], None), &NoProgress)
                .await
                .unwrap_err(),
        );
        fake.fail_next(op, Fault::graph(190).echo_token());
        errors.push(
            ig_platform
                .publish(&i.job("x", &media, None), &NoProgress)
                .await
                .unwrap_err(),
        );
    }
    fake.fail_next(Op::PageFeed, Fault::graph(1).echo_token());
    errors.push(
        fb_platform
            .publish(&pages[0].job("x", &[], None), &NoProgress)
            .await
            .unwrap_err(),
    );

    // Token endpoints carry the app secret, the code and the tokens in their requests.
    for op in [Op::CodeExchange, Op::LongLivedExchange, Op::Profile] {
        for platform in [
            &threads_platform as &dyn Platform,
            &ig_platform as &dyn Platform,
            &fb_platform as &dyn Platform,
        ] {
            let url = platform
                .authorize_url(&AuthorizeRequest {
                    state: "s",
                    redirect_uri: REDIRECT,
                    pkce_verifier: None,
                    server: None,
                })
                .unwrap();
            let code = fake.code_for(&url).await;
            secrets.push(code.clone());
            fake.fail_next(op, Fault::graph(100).echo_token());
            errors.push(
                platform
                    .exchange_code(&CodeExchange {
                        code: &code,
                        redirect_uri: REDIRECT,
                        pkce_verifier: None,
                        context: None,
                        issuer: None,
                    })
                    .await
                    .unwrap_err(),
            );
        }
    }
    let mut old = t.tokens.clone();
    old.issued_at -= chrono::Duration::days(2);
    fake.advance(chrono::Duration::days(2));
    fake.fail_next(Op::Refresh, Fault::graph(100).echo_token());
    errors.push(
        threads_platform
            .refresh(&t.account, &old)
            .await
            .unwrap_err(),
    );

    assert_eq!(errors.len(), 17);
    for e in &errors {
        let shown = format!("{e} {e:?}");
        for s in &secrets {
            assert!(!shown.contains(s.as_str()), "a secret leaked: {shown}");
        }
    }
    // The echoing fault really did put the secrets in Meta's message.
    assert!(errors.iter().any(|e| e.to_string().contains("[redacted]")));

    // Debug output of configurations, adapters and connections.
    let connections = connect(&fb_platform, &fake).await;
    let shown = format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        fake.threads_config(),
        threads_platform,
        ig_platform,
        fb_platform,
        connections,
        t.tokens
    );
    secrets.extend(
        connections
            .iter()
            .map(|c| c.tokens.access_token.expose_secret().to_owned()),
    );
    for s in &secrets {
        assert!(!shown.contains(s.as_str()), "a secret leaked: {shown}");
    }
}

// ---- end to end: Postora's own API, publisher and store against the fake Meta

const SETTLE: Duration = Duration::from_secs(20);

async fn spawn_with_threads(fake: &FakeMeta) -> postora_test_support::app::TestApp {
    let env = fake.threads_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    postora_test_support::app::spawn_app_with(&pairs).await
}

/// Connects the fake's Threads user through `POST /v1/accounts/connect/threads` and the OAuth callback.
async fn connect_threads_via_api(
    t: &postora_test_support::app::TestApp,
    key: &str,
    fake: &FakeMeta,
) -> String {
    let resp = t
        .post_json(key, "/v1/accounts/connect/threads", &serde_json::json!({}))
        .await;
    assert_eq!(resp.status(), 200, "connect start");
    let start: Value = resp.json().await.unwrap();
    let authorize = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    assert_eq!(authorize.origin(), fake.origin().origin());
    let back = fake.consent(&authorize).await;
    assert_eq!(
        back.path(),
        "/oauth/threads/callback",
        "the redirect URI follows POSTORA_PUBLIC_URL"
    );
    let page = t.http.get(back.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let accounts: Value = t.get(key, "/v1/accounts").await.json().await.unwrap();
    let account = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == "threads")
        .expect("the Threads account is listed")
        .clone();
    assert_eq!(account["platform_user_id"], THREADS_USER);
    assert_eq!(account["username"], THREADS_USERNAME);
    account["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_threads_account_connects_through_postoras_api_and_publishes() {
    let fake = FakeMeta::start().await;
    let t = spawn_with_threads(&fake).await;
    let (ws, key) = t.workspace("bakery").await;
    let account = connect_threads_via_api(&t, &key, &fake).await;

    let created = t
        .create_post(
            &key,
            &serde_json::json!({"text": "Fresh loaves at 7.", "targets": [{"account_id": account}]}),
        )
        .await;
    let post = t
        .wait_settled(&key, created["id"].as_str().unwrap(), SETTLE)
        .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].text, "Fresh loaves at 7.");
    assert_eq!(d["platform_post_id"], posts[0].id.as_str());
    assert_eq!(d["permalink"], posts[0].permalink.as_str());

    // The stored token is the long-lived one, sealed; the API never shows it.
    let ws = WorkspaceId::parse(&ws).unwrap();
    let acc = AccountId::parse(&account).unwrap();
    let sealed = t
        .app
        .stores
        .accounts
        .get_tokens(&ws, &acc)
        .await
        .unwrap()
        .unwrap();
    let tokens = t
        .app
        .vault
        .open(&ws, &acc, &sealed.ciphertext)
        .await
        .unwrap();
    assert!(tokens.expires_at.unwrap() - Utc::now() > chrono::Duration::days(59));
    let access = tokens.access_token.expose_secret().to_owned();
    for path in [
        "/v1/accounts",
        &format!("/v1/accounts/{account}"),
        "/v1/posts",
    ] {
        let body = t.get(&key, path).await.text().await.unwrap();
        assert!(!body.contains(&access), "{path} shows the token");
    }
}

#[tokio::test]
async fn postora_records_a_threads_post_whose_answer_was_lost_without_posting_twice() {
    let fake = FakeMeta::start().await;
    let t = spawn_with_threads(&fake).await;
    let (_, key) = t.workspace("bakery").await;
    let account = connect_threads_via_api(&t, &key, &fake).await;

    fake.fail_next(Op::Publish, Fault::AcceptThenDrop);
    let created = t
        .create_post(
            &key,
            &serde_json::json!({"text": "Only once.", "targets": [{"account_id": account}]}),
        )
        .await;
    let post = t
        .wait_settled(&key, created["id"].as_str().unwrap(), SETTLE)
        .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    assert_eq!(fake.post_count(), 1);
    assert_eq!(fake.calls(Op::Publish), 1);
    assert_eq!(d["platform_post_id"], fake.posts()[0].id.as_str());
}

#[tokio::test]
async fn no_token_or_secret_appears_in_a_log_line() {
    let (logs, _guard) = postora_test_support::logs::ThreadLogs::start();

    let fake = FakeMeta::start().await;
    let (platform, mut c) = threads(&fake).await;
    let (ig, i) = instagram(&fake, InstagramLogin::Facebook).await;
    let (fb, pages) = facebook(&fake).await;
    let media = [image("https://cdn.example/a.jpg")];
    platform
        .publish(&c.job("logged", &[], None), &NoProgress)
        .await
        .unwrap();
    ig.publish(&i.job("logged", &media, None), &NoProgress)
        .await
        .unwrap();
    fb.publish(&pages[0].job("logged", &media, None), &NoProgress)
        .await
        .unwrap();
    fake.fail_next(Op::Permalink, Fault::graph(1).echo_token());
    platform
        .publish(&c.job("no permalink", &[], None), &NoProgress)
        .await
        .unwrap();
    fake.fail_next(Op::Publish, Fault::AcceptThenDrop);
    let progress = Recorder::default();
    platform
        .publish(&c.job("dropped", &[], None), &progress)
        .await
        .unwrap_err();
    platform
        .recover(&c.job("dropped", &[], progress.last().as_ref()))
        .await
        .unwrap();
    c.tokens.issued_at -= chrono::Duration::days(2);
    fake.advance(chrono::Duration::days(2));
    platform.refresh(&c.account, &c.tokens).await.unwrap();

    let text = logs.text();
    assert!(
        text.contains("media container created"),
        "logging was captured"
    );
    let mut secrets = vec![
        THREADS_APP.1.to_owned(),
        FACEBOOK_APP.1.to_owned(),
        c.tokens.access_token.expose_secret().to_owned(),
        i.tokens.access_token.expose_secret().to_owned(),
    ];
    secrets.extend(
        pages
            .iter()
            .map(|p| p.tokens.access_token.expose_secret().to_owned()),
    );
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a secret was logged");
    }
    assert!(
        !text.contains("access_token="),
        "a URL with a token was logged"
    );
}
