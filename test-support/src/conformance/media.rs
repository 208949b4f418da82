//! The media ports' conformance: what every object store ([`BlobStore`]: files under the data directory, S3) and
//! every media record store ([`MediaStore`]: SQLite, DynamoDB) must do. Links are followed over real HTTP, as a
//! browser or a platform would.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use postora::domain::media::{MediaSource, ORIGINAL};
use postora::domain::{
    ApiKeyRecord, MediaFormat, MediaId, MediaInfo, MediaItem, PostId, Rendition, UploadId,
    UploadSession, Workspace, WorkspaceId,
};
use postora::ports::{
    Admission, BlobError, BlobStore, ByteStream, CompletedPart, ManualClock, ObjectKey, StoreError,
    Stores, MIN_PART_BYTES,
};

use super::now;

/// `n` bytes that differ from those of another `seed`.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i.wrapping_mul(31) + usize::from(seed)) % 251) as u8)
        .collect()
}

/// `bytes` as a body arriving `chunk` bytes at a time.
pub fn body(bytes: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}

/// A body that sends `before` bytes and then fails, as a client that goes away.
fn failing_body(before: usize) -> ByteStream {
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = pattern(before, 9)
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    chunks.push(Err(std::io::Error::other("the client went away")));
    Box::pin(futures_util::stream::iter(chunks))
}

/// Everything a stream holds.
pub async fn collect(mut s: ByteStream) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(chunk) = s.next().await {
        all.extend_from_slice(&chunk.expect("the stream reads to its end"));
    }
    all
}

async fn read(b: &dyn BlobStore, key: &ObjectKey, range: std::ops::Range<u64>) -> Vec<u8> {
    collect(b.read(key, range).await.expect("read")).await
}

fn object(ws: &WorkspaceId) -> ObjectKey {
    ObjectKey::new(ws, &MediaId::generate(), ORIGINAL)
}

/// Objects: put, size, ranges, limits, failing bodies, delete, a workspace's sweep, marking as attached.
pub async fn objects(b: &dyn BlobStore) {
    let ws = WorkspaceId::generate();
    let key = object(&ws);
    let bytes = pattern(100_000, 1);
    assert_eq!(
        b.put(&key, "image/png", body(&bytes, 7_000), 1_000_000)
            .await
            .unwrap(),
        100_000
    );
    assert_eq!(b.size(&key).await.unwrap(), Some(100_000));
    assert_eq!(b.size(&object(&ws)).await.unwrap(), None);
    assert_eq!(read(b, &key, 0..100_000).await, bytes);
    assert_eq!(read(b, &key, 10..20).await, bytes[10..20]);
    assert_eq!(
        read(b, &key, 99_990..200_000).await,
        bytes[99_990..],
        "a range past the end is cut at the end"
    );
    assert!(read(b, &key, 200_000..300_000).await.is_empty());
    assert!(read(b, &key, 5..5).await.is_empty());
    assert!(matches!(
        b.read(&object(&ws), 0..10).await,
        Err(BlobError::NotFound)
    ));

    // A body over the limit leaves nothing, and leaves an object already there as it was.
    let other = object(&ws);
    assert!(matches!(
        b.put(
            &other,
            "image/png",
            body(&pattern(50_000, 2), 4_000),
            10_000
        )
        .await,
        Err(BlobError::TooLarge { limit: 10_000 })
    ));
    assert_eq!(b.size(&other).await.unwrap(), None, "nothing is kept");
    assert!(matches!(
        b.put(&key, "image/png", body(&pattern(50_000, 2), 4_000), 10_000)
            .await,
        Err(BlobError::TooLarge { .. })
    ));
    assert_eq!(
        read(b, &key, 0..100_000).await,
        bytes,
        "the object is whole"
    );

    // A body that fails half way leaves nothing.
    let broken = object(&ws);
    assert!(matches!(
        b.put(&broken, "image/png", failing_body(30_000), 1_000_000)
            .await,
        Err(BlobError::Body(_))
    ));
    assert_eq!(b.size(&broken).await.unwrap(), None);

    // A large body (sent in parts where the store does that) arrives whole, or not at all when it is too long.
    let large = object(&ws);
    let big = pattern(9 * 1024 * 1024 + 12_345, 3);
    assert_eq!(
        b.put(
            &large,
            "video/mp4",
            body(&big, 256 * 1024),
            20 * 1024 * 1024
        )
        .await
        .unwrap(),
        big.len() as u64
    );
    assert_eq!(b.size(&large).await.unwrap(), Some(big.len() as u64));
    let edge = 8 * 1024 * 1024 - 10;
    assert_eq!(
        read(b, &large, edge..edge + 20).await,
        big[edge as usize..edge as usize + 20]
    );
    assert!(read(b, &large, 0..big.len() as u64).await == big);
    let too_big = object(&ws);
    assert!(matches!(
        b.put(
            &too_big,
            "video/mp4",
            body(&big, 256 * 1024),
            9 * 1024 * 1024
        )
        .await,
        Err(BlobError::TooLarge { .. })
    ));
    assert_eq!(b.size(&too_big).await.unwrap(), None);
    let broken_large = object(&ws);
    assert!(matches!(
        b.put(
            &broken_large,
            "video/mp4",
            failing_body(9 * 1024 * 1024),
            20 * 1024 * 1024
        )
        .await,
        Err(BlobError::Body(_))
    ));
    assert_eq!(b.size(&broken_large).await.unwrap(), None);

    // Marking as attached needs the object.
    b.mark_attached(&key).await.unwrap();
    b.mark_attached(&key).await.unwrap();
    assert!(matches!(
        b.mark_attached(&object(&ws)).await,
        Err(BlobError::NotFound)
    ));

    // Delete, twice.
    b.delete(&key).await.unwrap();
    assert_eq!(b.size(&key).await.unwrap(), None);
    b.delete(&key).await.unwrap();

    // A workspace's sweep removes its objects and unfinished uploads, and nothing of another workspace.
    let mine = [
        object(&ws),
        ObjectKey::new(&ws, &MediaId::generate(), "clean"),
    ];
    for k in &mine {
        b.put(k, "image/png", body(&pattern(1_000, 4), 100), 10_000)
            .await
            .unwrap();
    }
    let elsewhere = object(&WorkspaceId::generate());
    b.put(
        &elsewhere,
        "image/png",
        body(&pattern(1_000, 5), 100),
        10_000,
    )
    .await
    .unwrap();
    let pending = object(&ws);
    let upload = b.start_upload(&pending, "video/mp4").await.unwrap();
    b.delete_workspace(&ws).await.unwrap();
    for k in mine.iter().chain([&large]) {
        assert_eq!(b.size(k).await.unwrap(), None, "{k} is swept");
    }
    assert!(
        b.list_parts(&pending, &upload).await.is_err(),
        "the workspace's unfinished upload is aborted"
    );
    assert_eq!(b.size(&elsewhere).await.unwrap(), Some(1_000));
    b.delete_workspace(&ws).await.unwrap();
}

/// How a test makes the store refuse a link it signed.
pub enum LinkChecks<'a> {
    /// The store signs and checks its links by this clock (the local objects): a test moves it past a link's expiry,
    /// and tampers with a signature.
    Clock(&'a ManualClock),
    /// The store's links are presigned S3 URLs: the emulator does not check their signature or expiry, so only what
    /// the URL says is checked.
    Presigned,
}

/// Links: a fetch link answers the object's bytes (and ranges) over HTTP until it expires.
pub async fn fetch_links(b: &dyn BlobStore, checks: LinkChecks<'_>) {
    let http = reqwest::Client::new();
    let ws = WorkspaceId::generate();
    let key = object(&ws);
    let bytes = pattern(70_000, 6);
    b.put(&key, "image/webp", body(&bytes, 10_000), 1_000_000)
        .await
        .unwrap();
    let link = b
        .fetch_link(&key, "image/webp", Duration::from_secs(60))
        .await
        .unwrap();
    let answer = http.get(link.clone()).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "image/webp");
    assert_eq!(answer.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let ranged = http
        .get(link.clone())
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 100-199/70000");
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &bytes[100..200]);

    match checks {
        LinkChecks::Clock(clock) => {
            let mut tampered = link.clone();
            let pairs: Vec<(String, String)> = link
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "signature" {
                        let mut s = v.into_owned();
                        let last = if s.ends_with('0') { "1" } else { "0" };
                        s.pop();
                        s + last
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            tampered.query_pairs_mut().clear().extend_pairs(pairs);
            let refused = http.get(tampered).send().await.unwrap();
            assert_eq!(refused.status(), 403);
            let why: serde_json::Value = refused.json().await.unwrap();
            assert_eq!(why["error"]["code"], "bad_signature");

            let other_type = b
                .fetch_link(&key, "application/octet-stream", Duration::from_secs(60))
                .await
                .unwrap();
            let answer = http.get(other_type).send().await.unwrap();
            assert_eq!(
                answer.headers()["content-type"],
                "application/octet-stream",
                "the type is the one signed"
            );
            assert_eq!(answer.headers()["cache-control"], "private");

            clock.advance(chrono::Duration::seconds(61));
            let expired = http.get(link).send().await.unwrap();
            assert_eq!(expired.status(), 403);
            let why: serde_json::Value = expired.json().await.unwrap();
            assert_eq!(why["error"]["code"], "link_expired");
        }
        LinkChecks::Presigned => {
            let q: std::collections::HashMap<String, String> =
                link.query_pairs().into_owned().collect();
            assert_eq!(q.get("X-Amz-Expires").map(String::as_str), Some("60"));
            assert!(q.contains_key("X-Amz-Signature"));
            assert_eq!(
                q.get("response-content-type").map(String::as_str),
                Some("image/webp")
            );
            assert_eq!(
                q.get("response-cache-control").map(String::as_str),
                Some("private")
            );
        }
    }
}

/// PUTs one part to its link over HTTP, as a browser does, and returns the `ETag` the store answered.
pub async fn put_part(
    http: &reqwest::Client,
    b: &dyn BlobStore,
    key: &ObjectKey,
    upload: &str,
    number: u32,
    bytes: &[u8],
) -> String {
    let link = b
        .part_link(key, upload, number, Duration::from_secs(300))
        .await
        .unwrap();
    let answer = http.put(link).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(answer.status(), 200, "part {number}");
    answer.headers()["etag"].to_str().unwrap().to_owned()
}

/// Multipart uploads: parts PUT over HTTP to their links, listed, refused as S3 refuses them, joined, aborted.
pub async fn multipart(b: &dyn BlobStore) {
    let http = reqwest::Client::new();
    let ws = WorkspaceId::generate();
    let key = object(&ws);
    let upload = b.start_upload(&key, "video/mp4").await.unwrap();
    let min = MIN_PART_BYTES as usize;
    let parts = [pattern(min, 11), pattern(min + 3, 12), pattern(1_000, 13)];
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        etags.push(put_part(&http, b, &key, &upload, i as u32 + 1, p).await);
    }
    // A small part 5, to name it where a part must be large.
    let small = pattern(2_000, 14);
    let etag5 = put_part(&http, b, &key, &upload, 5, &small).await;
    for e in etags.iter().chain([&etag5]) {
        assert!(e.starts_with('"') && e.ends_with('"') && e.len() > 2, "{e}");
    }

    let listed = b.list_parts(&key, &upload).await.unwrap();
    let summary: Vec<(u32, u64, String)> = listed
        .iter()
        .map(|p| (p.number, p.bytes, p.etag.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, min as u64, etags[0].clone()),
            (2, min as u64 + 3, etags[1].clone()),
            (3, 1_000, etags[2].clone()),
            (5, 2_000, etag5.clone()),
        ]
    );

    let named = |list: &[(u32, &str)]| -> Vec<CompletedPart> {
        list.iter()
            .map(|(n, e)| CompletedPart {
                number: *n,
                etag: (*e).to_owned(),
            })
            .collect()
    };
    let wrong_etag = named(&[(1, &etags[0]), (2, &etags[0]), (3, &etags[2])]);
    let missing = named(&[(1, &etags[0]), (2, &etags[1]), (4, &etags[2])]);
    let out_of_order = named(&[(2, &etags[1]), (1, &etags[0]), (3, &etags[2])]);
    let too_small = named(&[(1, &etags[0]), (3, &etags[2]), (5, &etag5)]);
    for (why, list) in [
        ("a wrong ETag", wrong_etag),
        ("a part never sent", missing),
        ("parts out of order", out_of_order),
        ("a small part before the last", too_small),
    ] {
        let refused = b.complete_upload(&key, &upload, &list).await;
        assert!(
            matches!(refused, Err(BlobError::InvalidParts(_))),
            "{why}: {refused:?}"
        );
        assert_eq!(b.size(&key).await.unwrap(), None, "{why}: nothing is kept");
    }
    assert_eq!(
        b.list_parts(&key, &upload).await.unwrap().len(),
        4,
        "a refusal keeps the parts"
    );

    let whole = named(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]);
    let total = (2 * min + 3 + 1_000) as u64;
    assert_eq!(
        b.complete_upload(&key, &upload, &whole).await.unwrap(),
        total
    );
    assert_eq!(b.size(&key).await.unwrap(), Some(total));
    let expected: Vec<u8> = parts.concat();
    assert!(
        read(b, &key, 0..total).await == expected,
        "the parts in order"
    );
    assert!(
        b.list_parts(&key, &upload).await.is_err(),
        "a completed upload is gone"
    );

    // Abort drops the upload and its parts; aborting again is fine.
    let other = object(&ws);
    let upload = b.start_upload(&other, "video/mp4").await.unwrap();
    put_part(&http, b, &other, &upload, 1, &pattern(1_000, 15)).await;
    b.abort_upload(&other, &upload).await.unwrap();
    assert!(b.list_parts(&other, &upload).await.is_err());
    b.abort_upload(&other, &upload).await.unwrap();
    assert_eq!(b.size(&other).await.unwrap(), None);
    b.delete_workspace(&ws).await.unwrap();
}

fn info() -> MediaInfo {
    MediaInfo {
        format: MediaFormat::Png,
        width: 640,
        height: 480,
        duration_ms: None,
        frame_rate: None,
        video_codec: None,
        audio_codec: None,
        private_metadata: false,
    }
}

/// A new item of `bytes` bytes made at `at`.
pub fn media_item(ws: &WorkspaceId, bytes: u64, at: DateTime<Utc>) -> MediaItem {
    MediaItem {
        id: MediaId::generate(),
        workspace_id: ws.clone(),
        info: info(),
        bytes,
        sha256: "ab".repeat(32),
        alt: None,
        source: MediaSource::Upload,
        renditions: Vec::new(),
        attached_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn rendition(name: &str, bytes: u64) -> Rendition {
    Rendition {
        name: name.to_owned(),
        format: MediaFormat::Jpeg,
        width: 320,
        height: 240,
        bytes,
        sha256: "cd".repeat(32),
    }
}

fn upload(ws: &WorkspaceId, expires_at: DateTime<Utc>) -> UploadSession {
    UploadSession {
        id: UploadId::generate(),
        workspace_id: ws.clone(),
        media_id: MediaId::generate(),
        store_upload_id: "store-upload-1".into(),
        declared_bytes: 12 * 1024 * 1024,
        part_bytes: 8 * 1024 * 1024,
        part_count: 2,
        alt: Some("a clip".into()),
        created_at: now(),
        expires_at,
    }
}

/// Media records: admission under the quota, listing, versions, attachment, deletion, the sweeps, uploads, erasing.
pub async fn records(s: &Stores) {
    let m = &s.media;
    let ws = WorkspaceId::generate();
    let quota = 10_000;

    // Admission: stored within the quota; over it, nothing is written and the usage stays.
    let a = media_item(&ws, 1_000, now());
    assert_eq!(m.insert_media(&a, quota).await.unwrap(), Admission::Stored);
    assert_eq!(m.media_usage(&ws).await.unwrap(), 1_000);
    assert_eq!(m.get_media(&ws, &a.id).await.unwrap(), Some(a.clone()));
    assert!(matches!(
        m.insert_media(&a, quota).await,
        Err(StoreError::Conflict)
    ));
    let too_big = media_item(&ws, 9_500, now());
    assert_eq!(
        m.insert_media(&too_big, quota).await.unwrap(),
        Admission::OverQuota { used: 1_000 }
    );
    let huge = media_item(&ws, 20_000, now());
    assert_eq!(
        m.insert_media(&huge, quota).await.unwrap(),
        Admission::OverQuota { used: 1_000 }
    );
    for refused in [&too_big, &huge] {
        assert_eq!(m.get_media(&ws, &refused.id).await.unwrap(), None);
    }
    assert_eq!(m.media_usage(&ws).await.unwrap(), 1_000);
    assert_eq!(
        m.media_usage(&WorkspaceId::generate()).await.unwrap(),
        0,
        "a workspace with nothing uses nothing"
    );
    let mut with_renditions = media_item(&ws, 2_000, now());
    with_renditions.renditions = vec![rendition("clean", 500), rendition("fit", 250)];
    assert_eq!(
        m.insert_media(&with_renditions, quota).await.unwrap(),
        Admission::Stored
    );
    assert_eq!(m.media_usage(&ws).await.unwrap(), 3_750);

    // Listing: newest first, a page at a time.
    let mut made = vec![a.clone(), with_renditions.clone()];
    for _ in 0..3 {
        let item = media_item(&ws, 10, now());
        m.insert_media(&item, quota).await.unwrap();
        made.push(item);
    }
    made.reverse();
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = m.list_media(&ws, 2, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 2);
        listed.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(listed, made, "newest first, every item once");
    assert!(m
        .list_media(&WorkspaceId::generate(), 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(
        matches!(
            m.list_media(&ws, 2, Some("not a cursor !")).await,
            Err(StoreError::NotFound)
        ),
        "a cursor the store never issued is the caller's mistake"
    );
    let usage = m.media_usage(&ws).await.unwrap();
    assert_eq!(usage, 3_780);

    // Updates: on the version, moving the usage, within the quota.
    let mut a2 = a.clone();
    a2.alt = Some("a cat".into());
    a2.renditions.push(rendition("fit-2000px", 400));
    a2.version = 2;
    assert_eq!(
        m.update_media(&a2, 1, quota).await.unwrap(),
        Admission::Stored
    );
    assert_eq!(m.get_media(&ws, &a.id).await.unwrap(), Some(a2.clone()));
    assert_eq!(m.media_usage(&ws).await.unwrap(), usage + 400);
    assert!(matches!(
        m.update_media(&a2, 1, quota).await,
        Err(StoreError::Conflict)
    ));
    let mut ghost = media_item(&ws, 10, now());
    ghost.version = 2;
    assert!(matches!(
        m.update_media(&ghost, 1, quota).await,
        Err(StoreError::NotFound)
    ));
    let mut a_big = a2.clone();
    a_big.renditions.push(rendition("huge", 7_000));
    a_big.version = 3;
    assert_eq!(
        m.update_media(&a_big, 2, quota).await.unwrap(),
        Admission::OverQuota { used: usage + 400 }
    );
    assert_eq!(
        m.get_media(&ws, &a.id).await.unwrap(),
        Some(a2.clone()),
        "nothing written"
    );
    let mut a3 = a2.clone();
    a3.renditions.clear();
    a3.version = 3;
    assert_eq!(
        m.update_media(&a3, 2, 0).await.unwrap(),
        Admission::Stored,
        "a change that frees bytes is stored whatever the quota"
    );
    assert_eq!(m.media_usage(&ws).await.unwrap(), usage);

    // Attaching: the first time is kept, every post is recorded, the version moves on; missing items are skipped.
    let post = PostId::generate();
    let first = now();
    m.attach_media(&ws, &[a.id.clone(), MediaId::generate()], &post, first)
        .await
        .unwrap();
    let attached = m.get_media(&ws, &a.id).await.unwrap().unwrap();
    assert_eq!(attached.attached_at, Some(first));
    assert_eq!(attached.version, 4);
    assert_eq!(m.posts_using(&ws, &a.id).await.unwrap(), vec![post.clone()]);
    let post2 = PostId::generate();
    m.attach_media(
        &ws,
        std::slice::from_ref(&a.id),
        &post2,
        first + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    let again = m.get_media(&ws, &a.id).await.unwrap().unwrap();
    assert_eq!(again.attached_at, Some(first), "the first use is kept");
    assert_eq!(again.version, 5);
    let mut both = vec![post.clone(), post2.clone()];
    both.sort();
    assert_eq!(m.posts_using(&ws, &a.id).await.unwrap(), both);
    assert!(m
        .posts_using(&ws, &MediaId::generate())
        .await
        .unwrap()
        .is_empty());
    // An update keeps what attaching recorded.
    let mut a6 = again.clone();
    a6.alt = Some("a dog".into());
    a6.attached_at = None;
    a6.version = 6;
    assert_eq!(
        m.update_media(&a6, 5, quota).await.unwrap(),
        Admission::Stored
    );
    let kept = m.get_media(&ws, &a.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.alt.as_deref(), kept.attached_at, kept.version),
        (Some("a dog"), Some(first), 6)
    );
    assert_eq!(m.posts_using(&ws, &a.id).await.unwrap(), both);

    // The sweep of unattached items: made before the time, never used, in every workspace.
    let later = media_item(&ws, 10, now() + chrono::Duration::hours(2));
    m.insert_media(&later, quota).await.unwrap();
    let before = now() + chrono::Duration::hours(1);
    let swept: Vec<MediaItem> = m
        .unattached_media(before, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.workspace_id == ws)
        .collect();
    let mut expected_ids: Vec<MediaId> = made
        .iter()
        .filter(|i| i.id != a.id)
        .map(|i| i.id.clone())
        .collect();
    expected_ids.sort();
    let mut swept_ids: Vec<MediaId> = swept.iter().map(|i| i.id.clone()).collect();
    swept_ids.sort();
    assert_eq!(swept_ids, expected_ids);
    assert!(swept.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    assert!(swept.iter().all(|i| i.attached_at.is_none()));
    assert_eq!(m.unattached_media(before, 2).await.unwrap().len(), 2);
    assert!(m.unattached_media(before, 0).await.unwrap().is_empty());

    // Deleting: on the version; the bytes go back.
    let usage = m.media_usage(&ws).await.unwrap();
    assert!(matches!(
        m.delete_media(&ws, &a.id, 5).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        m.delete_media(&ws, &MediaId::generate(), 1).await,
        Err(StoreError::NotFound)
    ));
    m.delete_media(&ws, &a.id, 6).await.unwrap();
    assert_eq!(m.get_media(&ws, &a.id).await.unwrap(), None);
    assert_eq!(m.media_usage(&ws).await.unwrap(), usage - 1_000);
    assert!(m.posts_using(&ws, &a.id).await.unwrap().is_empty());
    m.delete_media(&ws, &with_renditions.id, 1).await.unwrap();
    assert_eq!(m.media_usage(&ws).await.unwrap(), usage - 1_000 - 2_750);

    // Uploads: live until they expire, then listed for the sweep.
    let t = now();
    let u = upload(&ws, t + chrono::Duration::hours(1));
    m.put_upload(&u).await.unwrap();
    assert_eq!(m.get_upload(&ws, &u.id, t).await.unwrap(), Some(u.clone()));
    assert_eq!(
        m.get_upload(&ws, &u.id, t + chrono::Duration::hours(2))
            .await
            .unwrap(),
        None,
        "an expired upload is gone"
    );
    assert_eq!(
        m.get_upload(&WorkspaceId::generate(), &u.id, t)
            .await
            .unwrap(),
        None
    );
    let ours = |list: Vec<UploadSession>| -> Vec<UploadSession> {
        list.into_iter().filter(|x| x.workspace_id == ws).collect()
    };
    assert!(ours(m.expired_uploads(t, 100).await.unwrap()).is_empty());
    let u2 = upload(&ws, t + chrono::Duration::minutes(30));
    m.put_upload(&u2).await.unwrap();
    assert_eq!(
        ours(
            m.expired_uploads(t + chrono::Duration::hours(2), 100)
                .await
                .unwrap()
        ),
        vec![u2.clone(), u.clone()],
        "soonest expired first"
    );
    assert_eq!(
        ours(
            m.expired_uploads(t + chrono::Duration::minutes(45), 100)
                .await
                .unwrap()
        ),
        vec![u2.clone()]
    );
    m.delete_upload(&ws, &u2.id).await.unwrap();
    m.delete_upload(&ws, &u2.id).await.unwrap();
    assert_eq!(m.get_upload(&ws, &u2.id, t).await.unwrap(), None);
    assert_eq!(
        ours(
            m.expired_uploads(t + chrono::Duration::hours(2), 100)
                .await
                .unwrap()
        ),
        vec![u.clone()]
    );

    erasing(s).await;
}

/// Erasing a workspace removes its media records, uploads and usage, and nothing of another workspace.
async fn erasing(s: &Stores) {
    let m = &s.media;
    let w = Workspace {
        id: WorkspaceId::generate(),
        name: "media".into(),
        wrapped_key: vec![1, 2, 3],
        created_at: now(),
        settings: Default::default(),
    };
    let key: ApiKeyRecord = super::key_record(&w.id, &format!("hash-{}", w.id));
    s.workspaces.create_workspace(&w, &key).await.unwrap();
    let item = media_item(&w.id, 100, now());
    m.insert_media(&item, 1_000).await.unwrap();
    m.attach_media(
        &w.id,
        std::slice::from_ref(&item.id),
        &PostId::generate(),
        now(),
    )
    .await
    .unwrap();
    let u = upload(&w.id, now() + chrono::Duration::hours(1));
    m.put_upload(&u).await.unwrap();
    let other = WorkspaceId::generate();
    let kept = media_item(&other, 100, now());
    m.insert_media(&kept, 1_000).await.unwrap();

    s.workspaces.erase_workspace(&w.id).await.unwrap();
    assert_eq!(m.get_media(&w.id, &item.id).await.unwrap(), None);
    assert!(m
        .list_media(&w.id, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(m.posts_using(&w.id, &item.id).await.unwrap().is_empty());
    assert_eq!(m.media_usage(&w.id).await.unwrap(), 0);
    assert_eq!(m.get_upload(&w.id, &u.id, now()).await.unwrap(), None);
    assert!(m
        .expired_uploads(now() + chrono::Duration::days(1), 1_000)
        .await
        .unwrap()
        .iter()
        .all(|x| x.workspace_id != w.id));
    assert_eq!(
        m.get_media(&other, &kept.id).await.unwrap(),
        Some(kept),
        "another workspace's media stay"
    );
}
