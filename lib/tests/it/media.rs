//! The media library end to end on the local backend: files read from their bytes, refused with nothing left
//! behind, uploaded in parts and resumed, imported through the guard, fitted and cleaned for the platforms, and handed
//! to them as bytes and as links whose content the platform's side checks.

use std::time::Duration;

use postora_test_support::app::{files_under, spawn_app, spawn_app_with, TestApp};
use postora_test_support::fakes::meta::FakeMeta;
use postora_test_support::media::{
    has_exif, jpeg, jpeg_with_location, mp4, png_header, FileHost, Movie,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn upload(t: &TestApp, key: &str, bytes: Vec<u8>, declared: &str) -> reqwest::Response {
    t.http
        .post(t.url("/v1/media"))
        .bearer_auth(key)
        .header("content-type", declared)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn uploaded(t: &TestApp, key: &str, bytes: Vec<u8>) -> Value {
    let resp = upload(t, key, bytes, "application/octet-stream").await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

fn stored_object(t: &TestApp, ws: &str, media: &str, name: &str) -> Vec<u8> {
    let path = t
        .data_dir
        .path()
        .join("media/objects")
        .join(ws)
        .join(media)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn a_file_is_known_by_its_bytes_not_by_what_it_is_called() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    let bytes = jpeg(800, 600);
    let resp = upload(&t, &key, bytes.clone(), "text/plain").await;
    assert_eq!(resp.status(), 201);
    let item: Value = resp.json().await.unwrap();
    assert_eq!(item["kind"], "image");
    assert_eq!(item["format"], "jpeg");
    assert_eq!(item["content_type"], "image/jpeg");
    assert_eq!(
        (item["width"].as_u64(), item["height"].as_u64()),
        (Some(800), Some(600))
    );
    assert_eq!(item["bytes"], bytes.len());
    assert_eq!(item["sha256"], sha256(&bytes));
    assert_eq!(item["metadata"]["found_in_original"], false);
    assert_eq!(item["platforms"]["sandbox"]["verdict"], "accepted");

    let id = item["id"].as_str().unwrap();
    let listed: Value = t.get(&key, "/v1/media").await.json().await.unwrap();
    assert_eq!(listed["media"][0]["id"], id);
    let content = t.get(&key, &format!("/v1/media/{id}/content")).await;
    assert_eq!(content.status(), 302);
    let link = content.headers()["location"].to_str().unwrap().to_owned();
    let fetched = t.http.get(&link).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/jpeg");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let patched: Value = t
        .http
        .patch(t.url(&format!("/v1/media/{id}")))
        .bearer_auth(&key)
        .json(&json!({"alt": "  A loaf on a board  "}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["alt"], "A loaf on a board");
}

#[tokio::test]
async fn files_that_are_not_usable_media_are_refused_and_leave_nothing() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    let photo = jpeg(640, 480);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GIF8 not really a picture at all".to_vec(), "recognise"),
        (png_header(100_000, 100_000), "100000"),
        (photo[..photo.len() / 2].to_vec(), "ends"),
        (
            mp4(
                &Movie {
                    video: false,
                    ..Movie::default()
                },
                1024,
            ),
            "no video track",
        ),
        (Vec::new(), "empty"),
    ];
    for (bytes, says) in cases {
        let resp = upload(&t, &key, bytes, "image/jpeg").await;
        assert_eq!(resp.status(), 422);
        let body: Value = resp.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
        assert_eq!(body["error"]["field"], "file");
    }
    let listed: Value = t.get(&key, "/v1/media").await.json().await.unwrap();
    assert_eq!(listed["media"], json!([]));
    let left = files_under(&t.data_dir.path().join("media/objects"));
    assert!(left.is_empty(), "nothing is kept: {left:?}");
}

#[tokio::test]
async fn a_photo_is_published_without_its_location_and_a_video_arrives_whole() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("media").await;
    let account = t.connect_sandbox(&key, "alice").await;
    let original = jpeg_with_location(1200, 900);
    assert!(has_exif(&original));
    let photo = uploaded(&t, &key, original.clone()).await;
    assert_eq!(photo["metadata"]["found_in_original"], true);
    assert_eq!(photo["metadata"]["removed_when_published"], true);
    let clip_bytes = mp4(&Movie::default(), 200_000);
    let clip = uploaded(&t, &key, clip_bytes.clone()).await;
    assert_eq!(clip["kind"], "video");
    assert_eq!(clip["duration_ms"], 60_000);
    assert_eq!(clip["video_codec"], "avc1");

    let post = t
        .create_post(
            &key,
            &json!({"text": "bread and a film", "targets": [{"account_id": account}],
                    "media": [{"media_id": photo["id"], "alt": "a loaf"}, {"media_id": clip["id"]}]}),
        )
        .await;
    assert_eq!(post["media"][0]["kind"], "image");
    let settled = t
        .wait_settled(&key, post["id"].as_str().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "published", "{settled}");

    let photo_id = photo["id"].as_str().unwrap();
    let item: Value = t
        .get(&key, &format!("/v1/media/{photo_id}"))
        .await
        .json()
        .await
        .unwrap();
    let clean = item["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "clean")
        .expect("a clean rendition was made")
        .clone();
    assert!(item["attached_at"].is_string());
    let sent = stored_object(&t, &ws, photo_id, "clean");
    assert_eq!(sha256(&sent), clean["sha256"]);
    assert!(!has_exif(&sent), "the published photo has no EXIF");
    assert_eq!(
        stored_object(&t, &ws, photo_id, "original"),
        original,
        "the original is kept as it was sent"
    );

    let got = t.sandbox_posts().await;
    let media = got[0]["media"].as_array().unwrap();
    assert_eq!(media.len(), 2);
    assert_eq!(media[0]["via"], "upload");
    assert_eq!(
        media[0]["sha256"], clean["sha256"],
        "the sandbox got the clean photo"
    );
    assert_eq!(media[0]["alt"], "a loaf");
    assert_eq!(media[1]["via"], "url");
    assert_eq!(
        media[1]["sha256"],
        sha256(&clip_bytes),
        "and the video, by its link, whole"
    );

    // Published: the items may go now.
    let gone = t.delete(&key, &format!("/v1/media/{photo_id}")).await;
    assert_eq!(gone.status(), 204);
    assert!(files_under(
        &t.data_dir
            .path()
            .join("media/objects")
            .join(&ws)
            .join(photo_id)
    )
    .is_empty());
}

#[tokio::test]
async fn media_a_scheduled_post_uses_cannot_be_deleted() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    let account = t.connect_sandbox(&key, "alice").await;
    let photo = uploaded(&t, &key, jpeg(300, 300)).await;
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let post = t
        .create_post(
            &key,
            &json!({"text": "tomorrow", "targets": [{"account_id": account}], "scheduled_at": at,
                    "media": [{"media_id": photo["id"]}]}),
        )
        .await;
    let path = format!("/v1/media/{}", photo["id"].as_str().unwrap());
    let refused = t.delete(&key, &path).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "media_in_use");
    let canceled = t
        .delete(&key, &format!("/v1/posts/{}", post["id"].as_str().unwrap()))
        .await;
    assert_eq!(canceled.status(), 200);
    assert_eq!(t.delete(&key, &path).await.status(), 204);
    assert_eq!(t.get(&key, &path).await.status(), 404);
}

#[tokio::test]
async fn a_post_that_breaks_a_platform_rule_names_the_target_the_item_and_the_rule() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    let account = t.connect_sandbox(&key, "alice").await;
    // The sandbox takes videos of up to an hour.
    let long = uploaded(
        &t,
        &key,
        mp4(
            &Movie {
                seconds: 2 * 3600,
                ..Movie::default()
            },
            1024,
        ),
    )
    .await;
    let resp = t
        .post_json(
            &key,
            "/v1/posts",
            &json!({"text": "a long one", "targets": [{"account_id": account}],
                    "media": [{"media_id": long["id"]}]}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let detail = &body["error"]["details"][0];
    assert_eq!(detail["field"], "media[0]");
    assert_eq!(detail["target"], account);
    assert_eq!(detail["media_id"], long["id"]);
    assert_eq!(detail["rule"], "duration");

    let photo = uploaded(&t, &key, jpeg(200, 200)).await;
    let five: Vec<Value> = (0..5).map(|_| json!({"media_id": photo["id"]})).collect();
    let resp = t
        .post_json(
            &key,
            "/v1/posts",
            &json!({"text": "five", "targets": [{"account_id": account}], "media": five}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let detail = &body["error"]["details"][0];
    assert_eq!(
        (detail["field"].as_str(), detail["rule"].as_str()),
        (Some("media"), Some("count"))
    );
    assert_eq!(detail["target"], account);
    let posts: Value = t.get(&key, "/v1/posts").await.json().await.unwrap();
    assert_eq!(posts["posts"], json!([]), "nothing was stored");
}

async fn put_part(t: &TestApp, url: &str, bytes: &[u8]) -> String {
    let resp = t.http.put(url).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_large_file_goes_up_in_parts_and_an_interrupted_upload_resumes() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    let file = mp4(&Movie::default(), 12 * 1024 * 1024);
    let started = t
        .post_json(
            &key,
            "/v1/media/uploads",
            &json!({"bytes": file.len(), "alt": "the oven"}),
        )
        .await;
    assert_eq!(started.status(), 201);
    let plan: Value = started.json().await.unwrap();
    assert_eq!(plan["part_count"], 2);
    let upload = plan["upload_id"].as_str().unwrap().to_owned();
    let part = |n: usize| {
        let p = &plan["parts"][n];
        let (first, last) = (
            p["first_byte"].as_u64().unwrap() as usize,
            p["last_byte"].as_u64().unwrap() as usize,
        );
        (
            p["url"].as_str().unwrap().to_owned(),
            file[first..=last].to_vec(),
        )
    };
    let (url1, bytes1) = part(0);
    put_part(&t, &url1, &bytes1).await;

    // The connection broke: ask what arrived, and complete too early.
    let status: Value = t
        .get(&key, &format!("/v1/media/uploads/{upload}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["received"][0]["number"], 1);
    assert_eq!(status["parts"].as_array().unwrap().len(), 1);
    assert_eq!(status["parts"][0]["number"], 2);
    let early = t
        .post_json(
            &key,
            &format!("/v1/media/uploads/{upload}/complete"),
            &json!({}),
        )
        .await;
    assert_eq!(early.status(), 422);
    let body: Value = early.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing 1 of its 2 parts (numbers 2)"),
        "{body}"
    );

    let url2 = status["parts"][0]["url"].as_str().unwrap();
    let (_, bytes2) = part(1);
    put_part(&t, url2, &bytes2).await;
    let done = t
        .post_json(
            &key,
            &format!("/v1/media/uploads/{upload}/complete"),
            &json!({}),
        )
        .await;
    assert_eq!(done.status(), 201);
    let item: Value = done.json().await.unwrap();
    assert_eq!(item["id"], plan["media_id"]);
    assert_eq!(item["sha256"], sha256(&file));
    assert_eq!(item["alt"], "the oven");
    assert_eq!(item["kind"], "video");
    assert_eq!(
        t.get(&key, &format!("/v1/media/uploads/{upload}"))
            .await
            .status(),
        404,
        "a completed upload is gone"
    );
}

#[tokio::test]
async fn uploads_that_do_not_add_up_or_never_started_are_refused() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    let never = t
        .post_json(
            &key,
            "/v1/media/uploads/upl_0000000000000000/complete",
            &json!({}),
        )
        .await;
    assert_eq!(never.status(), 404);
    let body: Value = never.json().await.unwrap();
    assert_eq!(body["error"]["message"], "upload not found");

    let plan: Value = t
        .post_json(
            &key,
            "/v1/media/uploads",
            &json!({"bytes": 6 * 1024 * 1024}),
        )
        .await
        .json()
        .await
        .unwrap();
    let upload = plan["upload_id"].as_str().unwrap();
    put_part(
        &t,
        plan["parts"][0]["url"].as_str().unwrap(),
        &vec![7u8; 5 * 1024 * 1024],
    )
    .await;
    let resp = t
        .post_json(
            &key,
            &format!("/v1/media/uploads/{upload}/complete"),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("add up to 5242880 bytes"),
        "{body}"
    );
    assert_eq!(
        t.get(&key, &format!("/v1/media/uploads/{upload}"))
            .await
            .status(),
        404
    );
    let left = files_under(&t.data_dir.path().join("media"));
    assert!(
        left.iter()
            .all(|p| !p.to_string_lossy().contains("/uploads/")
                && !p.to_string_lossy().contains("/objects/")),
        "no part or object is left: {left:?}"
    );
}

#[tokio::test]
async fn imports_from_the_local_network_are_refused_unless_a_test_allows_loopback() {
    let host = FileHost::start(jpeg(320, 240), "image/jpeg").await;
    let t = spawn_app().await;
    let (_, key) = t.workspace("media").await;
    for url in [
        host.url("/a.jpg"),
        host.url("/a.jpg").replace("127.0.0.1", "localhost"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:10.0.0.1]/a.jpg".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let resp = t
            .post_json(&key, "/v1/media/import", &json!({"url": url}))
            .await;
        assert_eq!(resp.status(), 422, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "url", "{url}: {body}");
    }
    assert_eq!(host.hits(), 0, "nothing reached the local server");

    let allowing = spawn_app_with(&[("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", "true")]).await;
    let (_, key) = allowing.workspace("media").await;
    let resp = allowing
        .post_json(
            &key,
            "/v1/media/import",
            &json!({"url": host.url("/a.jpg"), "alt": "imported"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let item: Value = resp.json().await.unwrap();
    assert_eq!(item["imported_from"], host.url("/a.jpg"));
    assert_eq!(
        (item["width"].as_u64(), item["alt"].as_str()),
        (Some(320), Some("imported"))
    );
    assert_eq!(host.hits(), 1);
}

#[tokio::test]
async fn a_workspace_past_its_quota_is_told_and_nothing_is_kept() {
    let t = spawn_app_with(&[("POSTORA_MEDIA_QUOTA_MB", "1")]).await;
    let (_, key) = t.workspace("media").await;
    let big = mp4(&Movie::default(), 1_100_000);
    let resp = upload(&t, &key, big, "video/mp4").await;
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "file_too_large");
    let small = uploaded(&t, &key, jpeg(64, 64)).await;
    assert_eq!(small["kind"], "image");
    let plan = t
        .post_json(
            &key,
            "/v1/media/uploads",
            &json!({"bytes": 2 * 1024 * 1024}),
        )
        .await;
    assert_eq!(plan.status(), 413);
    assert!(files_under(&t.data_dir.path().join("media/objects")).len() == 1);
}

#[tokio::test]
async fn a_threads_post_hands_meta_a_link_whose_bytes_are_the_fitted_photo() {
    let fake = FakeMeta::start().await;
    let env: Vec<(String, String)> = fake.threads_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let t = spawn_app_with(&pairs).await;
    let (ws, key) = t.workspace("media").await;
    let start: Value = t
        .post_json(&key, "/v1/accounts/connect/threads", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let authorize = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    let back = fake.consent(&authorize).await;
    assert_eq!(
        t.http.get(back.as_str()).send().await.unwrap().status(),
        200
    );
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    let account = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();

    let photo = uploaded(&t, &key, jpeg_with_location(1600, 1200)).await;
    assert_eq!(photo["platforms"]["threads"]["verdict"], "fitted");
    let post = t
        .create_post(
            &key,
            &json!({"text": "out of the oven", "targets": [{"account_id": account}],
                    "media": [{"media_id": photo["id"], "alt": "bread"}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, post["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "published", "{settled}");
    let published = fake.posts();
    assert_eq!(published.len(), 1);
    let link = &published[0].media[0];
    assert!(
        link.starts_with(&t.base_url),
        "a link Postora serves: {link}"
    );
    let got = fake.media_checksums(&published[0]);
    let clean = sha256(&stored_object(
        &t,
        &ws,
        photo["id"].as_str().unwrap(),
        "clean",
    ));
    assert_eq!(got, vec![Some(clean)], "Meta downloaded the clean photo");
    let after = t.http.get(link).send().await.unwrap();
    assert_eq!(after.status(), 200, "the link works for a while");
    let mut tampered = url::Url::parse(link).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "expires" {
                "9999999999".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(
        t.http.get(tampered.as_str()).send().await.unwrap().status(),
        403
    );
}

#[tokio::test]
async fn media_are_in_the_export_and_go_with_their_workspace() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("media").await;
    let photo = uploaded(&t, &key, jpeg(400, 300)).await;
    let export = postora_test_support::export::read_export(&t.http, &t.base_url, &key, None).await;
    let line = export
        .lines
        .iter()
        .find(|l| l["type"] == "media")
        .expect("the export lists the media item");
    assert_eq!(line["id"], photo["id"]);
    assert_eq!(line["sha256"], photo["sha256"]);
    assert_eq!(
        line["content_path"],
        format!("/v1/media/{}/content", photo["id"].as_str().unwrap())
    );
    assert!(!files_under(&t.data_dir.path().join("media/objects").join(&ws)).is_empty());
    let erased = t.delete(&key, &format!("/v1/workspace?confirm={ws}")).await;
    assert_eq!(erased.status(), 200);
    assert!(
        files_under(&t.data_dir.path().join("media/objects").join(&ws)).is_empty(),
        "the workspace's files are gone"
    );
}

/// Postora on the local backend with a clock the test moves, and `extra` settings.
fn app_at(
    dir: &tempfile::TempDir,
    clock: std::sync::Arc<postora::ports::ManualClock>,
    extra: &[(&str, &str)],
) -> std::sync::Arc<postora::app::App> {
    let env = postora_test_support::app::test_env("http://127.0.0.1:9", extra);
    let local = postora::runtime::local::LocalBackend::open(dir.path(), &env).unwrap();
    let settings = postora::config::Settings::from_env(&env, "http://127.0.0.1:9").unwrap();
    std::sync::Arc::new(postora::app::App::new(postora::app::Deps {
        stores: local.backend.stores.clone(),
        keys: local.backend.keys.clone(),
        queue: local.backend.queue.clone(),
        bus: local.backend.bus.clone(),
        blobs: local.backend.blobs.clone(),
        mailer: local.backend.mailer.clone(),
        clock,
        platforms: postora::ports::Platforms::new(),
        remote: postora::net::media_fetcher(&settings.media),
        settings,
    }))
}

fn body(bytes: Vec<u8>) -> postora::ports::ByteStream {
    Box::pin(futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))
    }))
}

#[tokio::test]
async fn the_sweep_removes_what_no_post_used_unfinished_uploads_and_media_kept_past_retention() {
    use postora::domain::PostId;
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(postora::ports::ManualClock::new(chrono::Utc::now()));
    let app = app_at(
        &dir,
        clock.clone(),
        &[("POSTORA_MEDIA_RETENTION_DAYS", "3")],
    );
    let (ws, _) = app.create_workspace("sweep").await.unwrap();
    let unused = app
        .upload_media(&ws.id, body(jpeg(100, 100)), None)
        .await
        .unwrap();
    let used = app
        .upload_media(&ws.id, body(jpeg(120, 100)), None)
        .await
        .unwrap();
    app.stores
        .media
        .attach_media(
            &ws.id,
            std::slice::from_ref(&used.id),
            &PostId::generate(),
            app.now(),
        )
        .await
        .unwrap();
    let upload = app.start_upload(&ws.id, 6 << 20, None).await.unwrap();

    clock.advance(chrono::Duration::hours(23));
    assert_eq!(
        app.sweep_media().await.unwrap(),
        Default::default(),
        "nothing is due within the day"
    );

    clock.advance(chrono::Duration::hours(2));
    let swept = app.sweep_media().await.unwrap();
    assert_eq!((swept.unattached_removed, swept.uploads_aborted), (1, 1));
    assert!(app.get_media(&ws.id, &unused.id).await.is_err());
    assert!(
        app.get_media(&ws.id, &used.id).await.is_ok(),
        "what a post uses stays"
    );
    assert!(app.upload_status(&ws.id, &upload.session.id).await.is_err());
    let objects = dir.path().join("media/objects").join(ws.id.as_str());
    assert!(files_under(&objects.join(unused.id.as_str())).is_empty());
    assert_eq!(files_under(&objects.join(used.id.as_str())).len(), 1);

    // Its post never existed or finished long ago: past the retention, its media go too.
    clock.advance(chrono::Duration::days(3));
    let swept = app.sweep_media().await.unwrap();
    assert_eq!(swept.expired_removed, 1);
    assert!(app.get_media(&ws.id, &used.id).await.is_err());
    assert!(files_under(&objects).is_empty());
}

async fn spawn_on_aws(extra: &[(&str, &str)]) -> TestApp {
    let aws = postora_test_support::aws::Emulator::fresh().await;
    let backend = postora::runtime::Backend {
        stores: aws.adapters.stores(),
        keys: aws.adapters.keys.clone(),
        queue: aws.adapters.queue.clone(),
        bus: aws.adapters.bus.clone(),
        blobs: aws.adapters.blobs.clone(),
        mailer: aws.adapters.backend().mailer,
    };
    postora_test_support::app::spawn_app_on(backend, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_fetches_outside_links_only_through_the_guard() {
    // On AWS a video's link is a presigned S3 URL, not one of Postora's own: the sandbox fetches it through the same
    // guard as media import, so the emulator on 127.0.0.1 is refused unless loopback is allowed (as the next test does).
    let t = spawn_on_aws(&[]).await;
    let (_, key) = t.workspace("media").await;
    let account = t.connect_sandbox(&key, "alice").await;
    let clip = uploaded(&t, &key, mp4(&Movie::default(), 4096)).await;
    let post = t
        .create_post(
            &key,
            &json!({"text": "on aws", "targets": [{"account_id": account}],
                    "media": [{"media_id": clip["id"]}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, post["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    let delivery = &settled["deliveries"][0];
    assert_eq!(delivery["status"], "failed", "{settled}");
    let message = delivery["error"]["message"].as_str().unwrap();
    assert!(message.contains("loopback"), "{message}");
    assert!(t.sandbox_posts().await.is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_files_go_to_s3_in_parts_and_reach_the_platform_whole() {
    let t = spawn_on_aws(&[("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", "true")]).await;
    let (_, key) = t.workspace("media").await;
    let account = t.connect_sandbox(&key, "alice").await;
    let photo = uploaded(&t, &key, jpeg_with_location(900, 600)).await;

    let file = mp4(&Movie::default(), 9 * 1024 * 1024);
    let plan: Value = t
        .post_json(&key, "/v1/media/uploads", &json!({"bytes": file.len()}))
        .await
        .json()
        .await
        .unwrap();
    let mut parts = Vec::new();
    for p in plan["parts"].as_array().unwrap() {
        let url = p["url"].as_str().unwrap();
        assert!(
            !url.starts_with(&t.base_url),
            "parts go straight to S3: {url}"
        );
        let (first, last) = (
            p["first_byte"].as_u64().unwrap() as usize,
            p["last_byte"].as_u64().unwrap() as usize,
        );
        let etag = put_part(&t, url, &file[first..=last]).await;
        parts.push(json!({"number": p["number"], "etag": etag}));
    }
    let done = t
        .post_json(
            &key,
            &format!(
                "/v1/media/uploads/{}/complete",
                plan["upload_id"].as_str().unwrap()
            ),
            &json!({"parts": parts}),
        )
        .await;
    assert_eq!(done.status(), 201);
    let clip: Value = done.json().await.unwrap();
    assert_eq!(clip["sha256"], sha256(&file));

    let post = t
        .create_post(
            &key,
            &json!({"text": "on aws", "targets": [{"account_id": account}],
                    "media": [{"media_id": photo["id"]}, {"media_id": clip["id"]}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, post["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "published", "{settled}");
    let item: Value = t
        .get(
            &key,
            &format!("/v1/media/{}", photo["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    let got = t.sandbox_posts().await;
    let media = got[0]["media"].as_array().unwrap();
    assert_eq!(media[0]["sha256"], item["renditions"][0]["sha256"]);
    assert_eq!(
        media[1]["sha256"],
        sha256(&file),
        "the video, by its presigned link, whole"
    );
    t.stop().await;
}
