//! The Bluesky adapter against the reference PDS (`@atproto/dev-env`'s PLC directory and PDS, started by
//! `scripts/test` from `scripts/peers/bluesky-pds.mjs`, reached through `POSTORA_TEST_BLUESKY_PDS` and
//! `POSTORA_TEST_BLUESKY_PLC`): app-password connect, posts with facets, images and video as blobs, thread replies,
//! record keys that collide on a retried create, recovery with getRecord, session refresh and its rotation, and the
//! error classes the real server's answers map to. Without the variables (a plain `cargo test` on a laptop), each
//! test says so and passes; `scripts/test` (and so CI) always sets them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use postora::config::Env;
use postora::domain::options::BlueskyOptions;
use postora::domain::{
    Account, AccountId, AccountStatus, MediaFormat, MediaId, MediaKind, PlatformKind,
    TargetOptions, TokenSet, WorkspaceId,
};
use postora::platforms::bluesky::{record, BlueskyConfig, BlueskyPlatform};
use postora::ports::{
    ByteStream, Connection, MediaBytes, NoProgress, Platform, PlatformError, PublishJob,
    PublishMedia, Published, Recovery,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

/// The reference servers, when `scripts/test` started them.
struct Pds {
    url: String,
    plc: String,
}

fn pds() -> Option<Pds> {
    match (
        std::env::var("POSTORA_TEST_BLUESKY_PDS"),
        std::env::var("POSTORA_TEST_BLUESKY_PLC"),
    ) {
        (Ok(url), Ok(plc)) if !url.is_empty() => Some(Pds { url, plc }),
        _ => {
            eprintln!(
                "SKIPPED: POSTORA_TEST_BLUESKY_PDS is not set; scripts/test starts the reference PDS \
                 (node scripts/peers/bluesky-pds.mjs) and sets it"
            );
            None
        }
    }
}

impl Pds {
    fn env(&self) -> Env {
        Env::from_pairs([
            ("POSTORA_BLUESKY", "on"),
            ("POSTORA_BLUESKY_PLC_URL", self.plc.as_str()),
            ("POSTORA_BLUESKY_HANDLE_RESOLVER_URL", self.url.as_str()),
            ("POSTORA_BLUESKY_VIDEO_URL", "off"),
            ("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", "true"),
        ])
    }

    fn platform(&self) -> BlueskyPlatform {
        BlueskyPlatform::new(BlueskyConfig::from_env(&self.env()).unwrap().unwrap())
    }

    async fn xrpc(&self, method: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/xrpc/{method}", self.url))
            .json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A new account on the PDS and an app password for it: what a person makes before connecting.
    async fn person(&self, name: &str) -> (String, SecretString) {
        let handle = format!(
            "{name}{}.test",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (status, created) = self
            .xrpc(
                "com.atproto.server.createAccount",
                None,
                json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "main-password-1"}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let (status, app) = self
            .xrpc(
                "com.atproto.server.createAppPassword",
                created["accessJwt"].as_str(),
                json!({"name": "postora"}),
            )
            .await;
        assert_eq!(status, 200, "{app}");
        (
            handle,
            SecretString::from(app["password"].as_str().unwrap().to_owned()),
        )
    }

    async fn get(&self, method: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}/xrpc/{method}", self.url))
            .query(query)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn account(c: &Connection) -> Account {
    let now = Utc::now();
    Account {
        id: AccountId::generate(),
        workspace_id: WorkspaceId::generate(),
        platform: PlatformKind::Bluesky,
        profile: c.profile.clone(),
        status: AccountStatus::Active,
        settings: c.settings.clone(),
        token_expires_at: c.tokens.expires_at,
        created_at: now,
        updated_at: now,
        connected_at: Some(now),
        version: 1,
    }
}

fn job<'a>(
    account: &'a Account,
    tokens: &'a TokenSet,
    text: &'a str,
    media: &'a [PublishMedia],
    thread: &'a [Published],
    key: &'a str,
    options: Option<&'a TargetOptions>,
) -> PublishJob<'a> {
    PublishJob {
        account,
        tokens,
        text,
        media,
        thread,
        options,
        due_at: Utc::now(),
        idempotency_key: key,
        checkpoint: None,
    }
}

struct Bytes(Vec<u8>);

#[async_trait]
impl MediaBytes for Bytes {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
        let slice = self.0[range.start as usize..range.end as usize].to_vec();
        Ok(Box::pin(futures_util::stream::iter([Ok(
            bytes::Bytes::from(slice),
        )])))
    }
}

fn media(
    kind: MediaKind,
    format: MediaFormat,
    data: Vec<u8>,
    w: u32,
    h: u32,
    alt: &str,
) -> PublishMedia {
    PublishMedia {
        id: MediaId::generate(),
        kind,
        format,
        alt: Some(alt.into()),
        width: w,
        height: h,
        duration_ms: None,
        bytes: data.len() as u64,
        sha256: String::new(),
        url: String::new(),
        content: Arc::new(Bytes(data)),
    }
}

async fn record_of(pds: &Pds, uri: &str) -> Value {
    let parts: Vec<&str> = uri.trim_start_matches("at://").split('/').collect();
    let (status, v) = pds
        .get(
            "com.atproto.repo.getRecord",
            &[
                ("repo", parts[0]),
                ("collection", parts[1]),
                ("rkey", parts[2]),
            ],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["value"].clone()
}

#[tokio::test]
async fn an_app_password_connects_and_a_wrong_one_is_refused() {
    let Some(pds) = pds() else { return };
    let platform = pds.platform();
    let (handle, password) = pds.person("conn").await;
    let connections = platform
        .connect_with_password(&format!("@{}", handle.to_uppercase()), &password)
        .await
        .unwrap();
    let c = &connections[0];
    assert!(c.profile.platform_user_id.starts_with("did:plc:"));
    assert_eq!(c.profile.username.as_deref(), Some(handle.as_str()));
    assert_eq!(c.settings["did"], c.profile.platform_user_id.as_str());
    assert_eq!(
        c.settings["pds"].as_str().unwrap().trim_end_matches('/'),
        pds.url
    );
    assert_eq!(c.settings["auth"], "app_password");
    assert!(c.tokens.refresh_token.is_some());
    assert!(c.tokens.expires_at.is_some_and(|e| e > Utc::now()));
    let shown = format!("{:?}", c.tokens);
    assert!(
        !shown.contains(c.tokens.access_token.expose_secret()),
        "{shown}"
    );

    let wrong = platform
        .connect_with_password(
            &handle,
            &SecretString::from("aaaa-bbbb-cccc-dddd".to_owned()),
        )
        .await
        .unwrap_err();
    assert!(matches!(wrong, PlatformError::Reauth(_)), "{wrong:?}");
    let nobody = platform
        .connect_with_password("nobody-here.test", &password)
        .await
        .unwrap_err();
    assert!(matches!(nobody, PlatformError::Rejected(_)), "{nobody:?}");
}

#[tokio::test]
async fn posts_carry_facets_langs_and_collide_on_a_retried_key() {
    let Some(pds) = pds() else { return };
    let platform = pds.platform();
    let (friend, _) = pds.person("friend").await;
    let (handle, password) = pds.person("poster").await;
    let c = platform
        .connect_with_password(&handle, &password)
        .await
        .unwrap()
        .remove(0);
    let account = account(&c);
    let text =
        format!("Café ☕ with @{friend} and @nobody.invalid #postora https://example.invalid/x");
    let options = TargetOptions::Bluesky(BlueskyOptions {
        langs: vec!["fr".into(), "en".into()],
    });
    let key = format!("dlv_{}:0", uuid::Uuid::new_v4().simple());
    let published = platform
        .publish(
            &job(&account, &c.tokens, &text, &[], &[], &key, Some(&options)),
            &NoProgress,
        )
        .await
        .unwrap();
    let rkey = record::record_key(&key);
    assert_eq!(
        record::rkey_of(&published.platform_post_id),
        Some(rkey.as_str())
    );
    assert_eq!(
        published.permalink.as_deref(),
        Some(format!("https://bsky.app/profile/{handle}/post/{rkey}").as_str())
    );
    assert!(published.reply_ref.is_some());
    let r = record_of(&pds, &published.platform_post_id).await;
    assert_eq!(r["text"], text.as_str());
    assert_eq!(r["langs"], json!(["fr", "en"]));
    let facets = r["facets"].as_array().unwrap();
    // The mention that resolves, the tag and the link; the unresolvable mention stays text.
    assert_eq!(facets.len(), 3, "{facets:?}");
    let mention = facets
        .iter()
        .find(|f| f["features"][0]["$type"] == "app.bsky.richtext.facet#mention")
        .unwrap();
    let (s, e) = (
        mention["index"]["byteStart"].as_u64().unwrap() as usize,
        mention["index"]["byteEnd"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text.as_bytes()[s..e], format!("@{friend}").as_bytes());
    // The link's page cannot be read: no card, and the post went out all the same.
    assert!(r.get("embed").is_none());

    // A second create under the same key collides at the PDS; the adapter reads the record back: one post.
    let again = platform
        .publish(
            &job(&account, &c.tokens, &text, &[], &[], &key, Some(&options)),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(again.platform_post_id, published.platform_post_id);
    let (_, list) = pds
        .get(
            "com.atproto.repo.listRecords",
            &[
                ("repo", c.profile.platform_user_id.as_str()),
                ("collection", "app.bsky.feed.post"),
            ],
        )
        .await;
    assert_eq!(list["records"].as_array().unwrap().len(), 1);

    // Recovery: the landed part is found, a part never sent is not.
    let found = platform
        .recover(&job(&account, &c.tokens, &text, &[], &[], &key, None))
        .await
        .unwrap();
    assert_eq!(found, Recovery::Published(published));
    let missing = platform
        .recover(&job(
            &account,
            &c.tokens,
            &text,
            &[],
            &[],
            "dlv_never:0",
            None,
        ))
        .await
        .unwrap();
    assert_eq!(missing, Recovery::NotPublished);
}

#[tokio::test]
async fn images_with_alt_video_and_a_thread() {
    let Some(pds) = pds() else { return };
    let platform = pds.platform();
    let (handle, password) = pds.person("media").await;
    let c = platform
        .connect_with_password(&handle, &password)
        .await
        .unwrap()
        .remove(0);
    let account = account(&c);
    let jpeg =
        postora_test_support::media::jpeg_of(&postora_test_support::media::photo(64, 48, 1), 80);
    let images = vec![
        media(
            MediaKind::Image,
            MediaFormat::Jpeg,
            jpeg.clone(),
            64,
            48,
            "a loaf",
        ),
        media(
            MediaKind::Image,
            MediaFormat::Jpeg,
            jpeg,
            64,
            48,
            "another loaf",
        ),
    ];
    let root = platform
        .publish(
            &job(&account, &c.tokens, "bread", &images, &[], "t:0", None),
            &NoProgress,
        )
        .await
        .unwrap();
    let r = record_of(&pds, &root.platform_post_id).await;
    assert_eq!(r["embed"]["$type"], "app.bsky.embed.images");
    assert_eq!(r["embed"]["images"][1]["alt"], "another loaf");
    assert_eq!(
        r["embed"]["images"][0]["aspectRatio"],
        json!({"width": 64, "height": 48})
    );
    assert_eq!(r["embed"]["images"][0]["image"]["mimeType"], "image/jpeg");

    let mp4 =
        postora_test_support::media::mp4(&postora_test_support::media::Movie::default(), 2000);
    let video = vec![media(
        MediaKind::Video,
        MediaFormat::Mp4,
        mp4,
        320,
        240,
        "a clip",
    )];
    let thread = vec![root.clone()];
    let second = platform
        .publish(
            &job(
                &account,
                &c.tokens,
                "and a clip",
                &video,
                &thread,
                "t:1",
                None,
            ),
            &NoProgress,
        )
        .await
        .unwrap();
    let r = record_of(&pds, &second.platform_post_id).await;
    assert_eq!(r["embed"]["$type"], "app.bsky.embed.video");
    assert_eq!(r["embed"]["alt"], "a clip");
    assert_eq!(r["reply"]["root"]["uri"], root.platform_post_id.as_str());
    assert_eq!(
        r["reply"]["parent"]["cid"],
        root.reply_ref.as_deref().unwrap()
    );

    let thread = vec![root.clone(), second.clone()];
    let third = platform
        .publish(
            &job(&account, &c.tokens, "the end", &[], &thread, "t:2", None),
            &NoProgress,
        )
        .await
        .unwrap();
    let r = record_of(&pds, &third.platform_post_id).await;
    assert_eq!(r["reply"]["root"]["uri"], root.platform_post_id.as_str());
    assert_eq!(
        r["reply"]["parent"]["uri"],
        second.platform_post_id.as_str()
    );
}

#[tokio::test]
async fn sessions_refresh_with_rotation_and_errors_map_to_their_classes() {
    let Some(pds) = pds() else { return };
    let platform = pds.platform();
    let (handle, password) = pds.person("refresh").await;
    let c = platform
        .connect_with_password(&handle, &password)
        .await
        .unwrap()
        .remove(0);
    let account = account(&c);
    let fresh = platform.refresh(&account, &c.tokens).await.unwrap();
    assert_ne!(
        fresh.refresh_token.as_ref().unwrap().expose_secret(),
        c.tokens.refresh_token.as_ref().unwrap().expose_secret()
    );
    // The refresh JWT rotated. (The reference PDS still takes the previous one for a short grace period, so a
    // refresh whose answer was lost is not fatal; Postora stores and uses only the newest.)
    platform
        .publish(
            &job(&account, &fresh, "after a refresh", &[], &[], "r:0", None),
            &NoProgress,
        )
        .await
        .unwrap();

    // A token the PDS does not accept: the publisher is told to refresh.
    let mut bad = fresh.clone();
    bad.access_token = SecretString::from("not-a-jwt".to_owned());
    let e = platform
        .publish(
            &job(&account, &bad, "x", &[], &[], "r:1", None),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert_eq!(e, PlatformError::TokenExpired);

    // A record the lexicon refuses (a reply naming a cid that is not one) is refused for good, with the message.
    let broken = vec![Published {
        platform_post_id: "at://did:plc:nobody/app.bsky.feed.post/3jzfcijpj2z2a".into(),
        permalink: None,
        reply_ref: Some("not-a-cid".into()),
        notice: None,
    }];
    let e = platform
        .publish(
            &job(&account, &fresh, "reply", &[], &broken, "r:2", None),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, PlatformError::Rejected(ref m) if m.contains("InvalidRequest")),
        "{e:?}"
    );

    // Ending the session (disconnect) makes its refresh token useless.
    platform.revoke(&account, &fresh).await.unwrap();
    let e = platform.refresh(&account, &fresh).await.unwrap_err();
    assert!(matches!(e, PlatformError::Reauth(_)), "{e:?}");
}
