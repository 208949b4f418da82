//! Media storage beyond the conformance suite: the local link routes' refusals and limits, and `postora serve`
//! answering them past the API's body limit; on the emulator, the S3 objects' tags, the media bucket bootstrap makes,
//! and the DynamoDB items behind the media records.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DurationRound, Utc};
use postora::adapters::aws::s3::{
    ABORT_UPLOADS_RULE, ATTACHED, ATTACHED_TAG, EXPIRE_UNATTACHED_RULE, LIFECYCLE_DAYS, UNATTACHED,
};
use postora::domain::media::ORIGINAL;
use postora::domain::{MediaId, PostId, UploadId, UploadSession, WorkspaceId};
use postora::ports::{BlobError, BlobStore, Clock, CompletedPart, ManualClock, ObjectKey};
use postora_test_support::app::{served_blobs_with, spawn_app};
use postora_test_support::aws::Emulator;
use postora_test_support::conformance::media::{body, collect, media_item, pattern, put_part};
use serde_json::Value;

fn key(ws: &WorkspaceId) -> ObjectKey {
    ObjectKey::new(ws, &MediaId::generate(), ORIGINAL)
}

/// The names of the files in a directory.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// PUTs `chunks` chunks of `size` bytes with no Content-Length (chunked transfer encoding), and returns the answer's
/// status line.
async fn put_chunked(url: &url::Url, chunks: usize, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut request = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        url.path(),
        url.query().unwrap_or_default()
    )
    .into_bytes();
    for _ in 0..chunks {
        request.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        request.extend(std::iter::repeat_n(b'b', size));
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading it all.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn refusal(answer: reqwest::Response) -> (u16, String) {
    let status = answer.status().as_u16();
    let why: Value = answer.json().await.unwrap();
    (status, why["error"]["code"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn local_part_links_are_refused_with_a_reason_and_parts_keep_to_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let shared = clock.clone() as Arc<dyn Clock>;
    let blobs = served_blobs_with(dir.path(), |b| {
        b.with_clock(shared).with_max_part_bytes(1_000)
    })
    .await;
    let http = reqwest::Client::new();
    let ws = WorkspaceId::generate();
    let k = key(&ws);
    let upload = blobs.start_upload(&k, "video/mp4").await.unwrap();
    let link = blobs
        .part_link(&k, &upload, 1, Duration::from_secs(60))
        .await
        .unwrap();

    let mut bare = link.clone();
    bare.set_query(None);
    assert_eq!(
        refusal(http.put(bare).body("x").send().await.unwrap()).await,
        (403, "link_incomplete".into())
    );
    let mut tampered = link.clone();
    let pairs: Vec<(String, String)> = link
        .query_pairs()
        .map(|(k, v)| match k.as_ref() {
            "expires" => (
                k.into_owned(),
                (v.parse::<i64>().unwrap() + 600).to_string(),
            ),
            _ => (k.into_owned(), v.into_owned()),
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(
        refusal(http.put(tampered).body("x").send().await.unwrap()).await,
        (403, "bad_signature".into()),
        "a later expiry is not what was signed"
    );
    let other_part = url::Url::parse(&link.as_str().replace("/1?", "/2?")).unwrap();
    assert_eq!(
        refusal(http.put(other_part).body("x").send().await.unwrap()).await,
        (403, "bad_signature".into()),
        "a link is for one part"
    );
    let for_another_key = blobs
        .part_link(&key(&ws), &upload, 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        refusal(http.put(for_another_key).body("x").send().await.unwrap()).await,
        (403, "bad_signature".into()),
        "a link is for the upload's own key"
    );

    // A part over the size allowed, declared or not, is refused and leaves nothing.
    let (status, code) = refusal(
        http.put(link.clone())
            .body(vec![1u8; 2_000])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (413, "part_too_large"));
    assert!(
        put_chunked(&link, 4, 600).await.starts_with("HTTP/1.1 413"),
        "a body of unknown length is cut off at the limit"
    );
    let upload_dir = dir.path().join("media/uploads").join(&upload);
    assert_eq!(files_in(&upload_dir), vec!["upload.json".to_owned()]);

    // A part sent again replaces the first.
    let first = put_part(&http, &blobs, &k, &upload, 1, &pattern(500, 1)).await;
    let second = put_part(&http, &blobs, &k, &upload, 1, &pattern(600, 2)).await;
    assert_ne!(first, second);
    let parts = blobs.list_parts(&k, &upload).await.unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!((parts[0].bytes, &parts[0].etag), (600, &second));
    assert!(matches!(
        blobs
            .complete_upload(
                &k,
                &upload,
                &[CompletedPart {
                    number: 1,
                    etag: first
                }]
            )
            .await,
        Err(BlobError::InvalidParts(_))
    ));

    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        refusal(http.put(link).body("x").send().await.unwrap()).await,
        (403, "link_expired".into())
    );

    blobs.abort_upload(&k, &upload).await.unwrap();
    let gone = blobs
        .part_link(&k, &upload, 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        refusal(http.put(gone).body("x").send().await.unwrap()).await,
        (404, "no_such_upload".into())
    );

    // Object links: a path that tries to leave the directory, or a link without its signature, is refused, never
    // answered with a file or a 500.
    let base = blobs
        .fetch_link(&k, "image/png", Duration::from_secs(60))
        .await
        .unwrap();
    let origin = base.origin().ascii_serialization();
    for path in [
        "/media/objects/..%2F..%2Fmedia.key?type=image/png&expires=99999999999&signature=00",
        "/media/objects/ws_1/med_1/original",
    ] {
        let answer = http.get(format!("{origin}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 403, "{path}");
    }

    // A put that fails leaves no file behind, not even its temporary one.
    let failed = key(&ws);
    assert!(blobs
        .put(&failed, "image/png", body(&pattern(5_000, 3), 1_000), 2_000)
        .await
        .is_err());
    let media_dir = dir.path().join("media/objects").join(ws.as_str());
    for sub in files_in(&media_dir) {
        assert!(
            files_in(&media_dir.join(&sub)).is_empty(),
            "{sub} holds {:?}",
            files_in(&media_dir.join(&sub))
        );
    }
}

/// `postora serve` answers the local objects' links, with bodies far past the API's own limit.
#[tokio::test]
async fn postora_serve_answers_the_links_of_local_objects_past_the_api_body_limit() {
    let app = spawn_app().await;
    let blobs = app.app.blobs.clone();
    let ws = WorkspaceId::generate();
    let k = key(&ws);
    let bytes = pattern(600_000, 4);
    blobs
        .put(&k, "image/jpeg", body(&bytes, 64 * 1024), 1_000_000)
        .await
        .unwrap();
    let link = blobs
        .fetch_link(&k, "image/jpeg", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        link.as_str().starts_with(&app.base_url),
        "the link is under the public URL"
    );
    let answer = app.http.get(link).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "private");
    assert_eq!(answer.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let target = key(&ws);
    let upload = blobs.start_upload(&target, "video/mp4").await.unwrap();
    let part = pattern(2 * postora::http::MAX_BODY + 17, 5);
    let etag = put_part(&app.http, blobs.as_ref(), &target, &upload, 1, &part).await;
    let size = blobs
        .complete_upload(&target, &upload, &[CompletedPart { number: 1, etag }])
        .await
        .unwrap();
    assert_eq!(size, part.len() as u64);
    assert_eq!(
        collect(blobs.read(&target, 0..size).await.unwrap()).await,
        part
    );
    app.stop().await;
}

async fn tags(env: &Emulator, key: &ObjectKey) -> Vec<(String, String)> {
    env.clients
        .s3
        .get_object_tagging()
        .bucket(&env.config.media_bucket)
        .key(key.as_str())
        .send()
        .await
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

#[tokio::test]
async fn s3_objects_are_written_unattached_and_marked_once_used() {
    let env = Emulator::fresh().await;
    let blobs = env.adapters.blobs.as_ref();
    let http = reqwest::Client::new();
    let ws = WorkspaceId::generate();
    let unattached = vec![(ATTACHED_TAG.to_owned(), UNATTACHED.to_owned())];

    let small = key(&ws);
    blobs
        .put(&small, "image/png", body(&pattern(1_000, 1), 100), 10_000)
        .await
        .unwrap();
    let large = key(&ws);
    blobs
        .put(
            &large,
            "video/mp4",
            body(&pattern(9 * 1024 * 1024, 2), 1024 * 1024),
            20 * 1024 * 1024,
        )
        .await
        .unwrap();
    let uploaded = key(&ws);
    let upload = blobs.start_upload(&uploaded, "video/mp4").await.unwrap();
    let etag = put_part(&http, blobs, &uploaded, &upload, 1, &pattern(2_000, 3)).await;
    blobs
        .complete_upload(&uploaded, &upload, &[CompletedPart { number: 1, etag }])
        .await
        .unwrap();
    for (k, content_type) in [
        (&small, "image/png"),
        (&large, "video/mp4"),
        (&uploaded, "video/mp4"),
    ] {
        assert_eq!(tags(&env, k).await, unattached, "{k}");
        let head = env
            .clients
            .s3
            .head_object()
            .bucket(&env.config.media_bucket)
            .key(k.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some(content_type));
    }
    blobs.mark_attached(&small).await.unwrap();
    assert_eq!(
        tags(&env, &small).await,
        vec![(ATTACHED_TAG.to_owned(), ATTACHED.to_owned())]
    );

    // A large body that fails half way leaves no object and no unfinished upload.
    let failing = key(&ws);
    assert!(blobs
        .put(
            &failing,
            "video/mp4",
            body(&pattern(12 * 1024 * 1024, 4), 1024 * 1024),
            10 * 1024 * 1024,
        )
        .await
        .is_err());
    let pending = env
        .clients
        .s3
        .list_multipart_uploads()
        .bucket(&env.config.media_bucket)
        .send()
        .await
        .unwrap();
    assert!(
        pending.uploads().is_empty(),
        "{:?}",
        pending.uploads().len()
    );
}

#[tokio::test]
async fn bootstrap_makes_the_media_bucket_private_with_its_lifecycle_rules() {
    let env = Emulator::fresh().await;
    let s3 = &env.clients.s3;
    let bucket = &env.config.media_bucket;
    let block = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let c = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let rules = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let abort = rules
        .rules()
        .iter()
        .find(|r| r.id() == Some(ABORT_UPLOADS_RULE))
        .unwrap();
    assert_eq!(
        abort
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(LIFECYCLE_DAYS)
    );
    let expire = rules
        .rules()
        .iter()
        .find(|r| r.id() == Some(EXPIRE_UNATTACHED_RULE))
        .unwrap();
    assert_eq!(
        expire.expiration().and_then(|e| e.days()),
        Some(LIFECYCLE_DAYS)
    );
    let tag = expire.filter().and_then(|f| f.tag()).unwrap();
    assert_eq!((tag.key(), tag.value()), (ATTACHED_TAG, UNATTACHED));
    let encryption = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(algorithm.as_deref(), Some("AES256"));
    assert!(env
        .bootstrap
        .steps
        .iter()
        .any(|s| s.resource == format!("bucket {bucket}")));
}

async fn raw_item(
    env: &Emulator,
    pk: &str,
    sk: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    env.clients
        .dynamodb
        .get_item()
        .table_name(&env.config.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test]
async fn dynamodb_media_items_leave_the_unattached_index_when_first_used_and_uploads_outlive_their_expiry_a_day(
) {
    use postora::ports::MediaStore;
    let env = Emulator::fresh().await;
    let store = env.adapters.store.as_ref();
    let ws = WorkspaceId::generate();
    let now = Utc::now()
        .duration_trunc(chrono::Duration::milliseconds(1))
        .unwrap();
    let item = media_item(&ws, 1_234, now);
    store.insert_media(&item, 10_000).await.unwrap();
    let pk = format!("WS#{ws}");
    let raw = raw_item(&env, &pk, &format!("MEDIA#{}", item.id)).await;
    assert_eq!(raw["gsi1pk"].as_s().unwrap(), "UNATTACHED");
    assert!(raw["gsi1sk"]
        .as_s()
        .unwrap()
        .starts_with(&format!("{:015}#", now.timestamp_millis())));
    assert_eq!(raw["stored_bytes"].as_n().unwrap(), "1234");
    assert!(!raw.contains_key("attached_at"));
    let usage = raw_item(&env, &pk, "USAGE#MEDIA").await;
    assert_eq!(usage["bytes"].as_n().unwrap(), "1234");

    let post = PostId::generate();
    store
        .attach_media(&ws, std::slice::from_ref(&item.id), &post, now)
        .await
        .unwrap();
    let raw = raw_item(&env, &pk, &format!("MEDIA#{}", item.id)).await;
    assert!(!raw.contains_key("gsi1pk") && !raw.contains_key("gsi1sk"));
    assert_eq!(raw["posts"].as_ss().unwrap(), &vec![post.to_string()]);
    assert_eq!(
        raw["attached_at"].as_n().unwrap(),
        &now.timestamp_millis().to_string()
    );

    let upload = UploadSession {
        id: UploadId::generate(),
        workspace_id: ws.clone(),
        media_id: MediaId::generate(),
        store_upload_id: "u".into(),
        declared_bytes: 1,
        part_bytes: 1,
        part_count: 1,
        alt: None,
        created_at: now,
        expires_at: now + chrono::Duration::hours(1),
    };
    store.put_upload(&upload).await.unwrap();
    let raw = raw_item(&env, &pk, &format!("UPLOAD#{}", upload.id)).await;
    let ttl: i64 = raw["expires_at"].as_n().unwrap().parse().unwrap();
    let removed = upload.expires_at + chrono::Duration::days(1);
    assert!(ttl >= removed.timestamp() && ttl <= removed.timestamp() + 1);
    assert_eq!(raw["gsi1pk"].as_s().unwrap(), "UPLOADEXP");
    assert!(!raw["data"].as_s().unwrap().contains("expires_ns"));
}
