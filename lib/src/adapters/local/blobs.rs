//! [`LocalBlobs`]: the object port on one machine, as files under the data directory, and the routes `postora serve`
//! answers for its links.
//!
//! - An object is the file `<data>/media/objects/<key>`. [`put`](BlobStore::put) streams the body into a temporary
//!   file in the same directory and renames it into place only once it is whole, so an object appears whole or not
//!   at all; a body that is too long or fails is removed with its temporary file.
//! - A multipart upload is the directory `<data>/media/uploads/<upload id>/`: `upload.json` names its key and type,
//!   and each part received is the file `<n>.<SHA-256 of the part, hex>` (its ETag is that digest, quoted). Completing
//!   checks the named parts as S3 does (ascending numbers, the ETags of parts that are there, every part but the last
//!   at least [`MIN_PART_BYTES`]) and joins them by a streaming copy; a refusal leaves the parts, so the client can
//!   complete again with the right list.
//! - Links are URLs under the public URL, signed with HMAC-SHA256 under a key kept in `<data>/media.key` (created on
//!   first use, mode 0600): `GET /media/objects/<key>?type=&expires=&signature=` over the method, the key, the
//!   content type and the expiry, and `PUT /media/uploads/<upload id>/<n>?expires=&signature=` over the method, the
//!   key, the upload id, the part number and the expiry. [`LocalBlobs::router`] answers them. A link is a credential:
//!   it never goes into a log line or a `Debug` print.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use zeroize::Zeroizing;

use super::keys::load_or_create_key_file;
use crate::domain::WorkspaceId;
use crate::ports::{
    BlobError, BlobStore, ByteStream, Clock, CompletedPart, ObjectKey, StoredPart, SystemClock,
    MAX_LINK_TTL, MAX_PARTS, MAX_PART_BYTES, MIN_PART_BYTES,
};

type HmacSha256 = Hmac<Sha256>;

/// How much of a file one chunk of a read carries.
const READ_CHUNK: usize = 64 * 1024;
/// How much of a body is gathered before it is written to the file.
const WRITE_BUFFER: usize = 256 * 1024;
/// The file in an upload's directory that names its key and content type.
const UPLOAD_META: &str = "upload.json";
/// The longest a path segment of an object key may be.
const MAX_SEGMENT: usize = 128;
/// The most segments an object key may have.
const MAX_SEGMENTS: usize = 8;

/// Objects as files under the data directory. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct LocalBlobs {
    inner: Arc<Inner>,
}

struct Inner {
    objects: PathBuf,
    uploads: PathBuf,
    base: url::Url,
    signing_key: Zeroizing<[u8; 32]>,
    clock: Arc<dyn Clock>,
    max_part_bytes: u64,
}

impl std::fmt::Debug for LocalBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the signing key.
        f.debug_struct("LocalBlobs")
            .field("objects", &self.inner.objects)
            .field("uploads", &self.inner.uploads)
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What an upload's directory records about it.
#[derive(Serialize, Deserialize)]
struct UploadMeta {
    key: String,
    content_type: String,
}

fn io_error(what: &str, e: &std::io::Error) -> BlobError {
    BlobError::Unavailable(format!("{what}: {e}"))
}

/// Whether `s` may be one segment of a key or an id: letters, digits, `-`, `_` and `.`, not starting with a dot (so
/// never `.` or `..`, and never one of the hidden temporary files).
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SEGMENT
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `key` is an object key this store accepts: a few safe segments separated by `/`.
fn safe_key(key: &str) -> bool {
    let segments: Vec<&str> = key.split('/').collect();
    segments.len() <= MAX_SEGMENTS && segments.iter().all(|s| safe_segment(s))
}

/// Whether `s` is an upload id this store makes: 32 lowercase hex digits.
fn safe_upload_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` may be sent as a `Content-Type`: a type and subtype of token characters, and parameters without
/// control characters.
fn safe_content_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or_default().trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    s.len() <= 200
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence
            .split_once('/')
            .is_some_and(|(t, sub)| token(t) && token(sub))
}

/// The bare hex digest of an ETag, quoted or not.
fn etag_digest(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A file that is removed when dropped, unless it was kept: a body cut off half way (an error, a client that went
/// away, a cancelled request) leaves nothing behind.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn new(dir: &Path, hint: &str) -> Self {
        Self {
            path: dir.join(format!(
                ".{hint}.{}.tmp",
                crate::domain::ids::random_token(8)
            )),
            keep: false,
        }
    }

    /// Moves the file to `to`, replacing what is there.
    async fn persist(mut self, to: &Path) -> Result<(), BlobError> {
        tokio::fs::rename(&self.path, to)
            .await
            .map_err(|e| io_error("an object could not be put in place", &e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Streams `body` into a new file at `temp`, reading at most `limit` bytes, feeding each chunk to `seen`. Returns
/// the bytes written; the file is synced to disk.
async fn write_body(
    temp: &TempFile,
    mut body: ByteStream,
    limit: u64,
    mut seen: impl FnMut(&Bytes),
) -> Result<u64, BlobError> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.path)
        .await
        .map_err(|e| io_error("a file could not be created", &e))?;
    // Bodies arrive in small chunks; writing them a few hundred kilobytes at a time saves trips to the disk.
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut written: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        written = written.saturating_add(chunk.len() as u64);
        if written > limit {
            return Err(BlobError::TooLarge { limit });
        }
        seen(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("a file could not be written", &e))?;
    }
    file.flush()
        .await
        .map_err(|e| io_error("a file could not be written", &e))?;
    file.get_ref()
        .sync_all()
        .await
        .map_err(|e| io_error("a file could not be written", &e))?;
    Ok(written)
}

/// The bytes of `file` from where it stands, `remaining` of them, a chunk at a time.
fn file_stream(file: tokio::fs::File, remaining: u64) -> ByteStream {
    Box::pin(futures_util::stream::unfold(
        (file, remaining),
        |(mut file, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            let want = usize::try_from(remaining.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file ended early",
                    )),
                    (file, 0),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (file, remaining - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        },
    ))
}

/// A part file's name: `<n>.<digest>`.
fn part_name(number: u32, digest: &str) -> String {
    format!("{number}.{digest}")
}

/// Reads a part file's name back.
fn parse_part_name(name: &str) -> Option<(u32, String)> {
    let (n, digest) = name.split_once('.')?;
    let n: u32 = n.parse().ok()?;
    ((1..=MAX_PARTS).contains(&n) && is_hex_digest(digest)).then(|| (n, digest.to_owned()))
}

/// Seconds since the epoch at which a link made now with `ttl` expires (rounded up, at most [`MAX_LINK_TTL`]).
fn expiry(now: chrono::DateTime<chrono::Utc>, ttl: Duration) -> i64 {
    let ttl = ttl.min(MAX_LINK_TTL);
    let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    now.timestamp()
        .saturating_add(secs)
        .saturating_add(i64::from(ttl.subsec_nanos() > 0))
}

impl LocalBlobs {
    /// The objects under `<data_dir>/media`, with links under `public_url` (the origin `postora serve` answers at).
    /// Creates the directories, and the signing key `<data_dir>/media.key` (mode 0600) if there is none.
    pub fn open(data_dir: &Path, public_url: &url::Url) -> std::io::Result<Self> {
        let media = data_dir.join("media");
        let objects = media.join("objects");
        let uploads = media.join("uploads");
        std::fs::create_dir_all(&objects)?;
        std::fs::create_dir_all(&uploads)?;
        let signing_key = load_or_create_key_file(&data_dir.join("media.key"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                objects,
                uploads,
                base: public_url.clone(),
                signing_key,
                clock: Arc::new(SystemClock),
                max_part_bytes: MAX_PART_BYTES,
            }),
        })
    }

    /// The same store with another clock, for signing links and checking their expiry (tests move it).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.rebuild(|i| i.clock = clock)
    }

    /// The same store accepting parts of at most `bytes` (at most [`MAX_PART_BYTES`], the default).
    pub fn with_max_part_bytes(self, bytes: u64) -> Self {
        self.rebuild(|i| i.max_part_bytes = bytes.min(MAX_PART_BYTES))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let i = &self.inner;
        let mut inner = Inner {
            objects: i.objects.clone(),
            uploads: i.uploads.clone(),
            base: i.base.clone(),
            signing_key: i.signing_key.clone(),
            clock: i.clock.clone(),
            max_part_bytes: i.max_part_bytes,
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The routes that answer this store's links: `GET /media/objects/{key}` and `PUT /media/uploads/{id}/{n}`.
    /// They take no body limit but their own (a part may be up to the part size allowed) and no timeout, so they
    /// are merged beside the API's router, not inside it.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/media/objects/{*key}", get(serve_object))
            .route("/media/uploads/{upload}/{part}", put(receive_part))
            .with_state(self.clone())
    }

    fn object_path(&self, key: &str) -> Result<PathBuf, BlobError> {
        if !safe_key(key) {
            return Err(BlobError::Unavailable(
                "the object key is not one this store accepts".into(),
            ));
        }
        Ok(self.inner.objects.join(key))
    }

    fn upload_dir(&self, upload_id: &str) -> Option<PathBuf> {
        safe_upload_id(upload_id).then(|| self.inner.uploads.join(upload_id))
    }

    fn sign(&self, message: &str) -> String {
        hex::encode(self.mac(message).finalize().into_bytes())
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        #[allow(clippy::expect_used)]
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.inner.signing_key.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(message.as_bytes());
        mac
    }

    /// Whether `signature` (hex) is this store's over `message`, compared in constant time.
    fn verify(&self, message: &str, signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|sig| self.mac(message).verify_slice(&sig).is_ok())
    }

    fn fetch_message(key: &str, content_type: &str, expires: i64) -> String {
        format!("GET\n{key}\n{content_type}\n{expires}")
    }

    fn part_message(key: &str, upload_id: &str, number: u32, expires: i64) -> String {
        format!("PUT\n{key}\n{upload_id}\n{number}\n{expires}")
    }

    /// A URL under the public URL with this path (below the public URL's own path, if it has one).
    fn link(&self, path: &str) -> url::Url {
        let mut url = self.inner.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    async fn read_meta(&self, upload_id: &str) -> Result<Option<UploadMeta>, BlobError> {
        let Some(dir) = self.upload_dir(upload_id) else {
            return Ok(None);
        };
        match tokio::fs::read(dir.join(UPLOAD_META)).await {
            Ok(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|_| BlobError::Unavailable("an upload's record could not be read".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("an upload could not be read", &e)),
        }
    }

    /// The upload's directory, if the upload exists and is for `key`.
    async fn upload_for(&self, key: &ObjectKey, upload_id: &str) -> Result<PathBuf, BlobError> {
        match (self.upload_dir(upload_id), self.read_meta(upload_id).await?) {
            (Some(dir), Some(meta)) if meta.key == key.as_str() => Ok(dir),
            _ => Err(BlobError::NotFound),
        }
    }

    /// Every part file in an upload's directory: number, digest, size and when it was written.
    async fn part_files(
        &self,
        dir: &Path,
    ) -> Result<Vec<(u32, String, u64, std::time::SystemTime)>, BlobError> {
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(io_error("an upload could not be listed", &e)),
        };
        let mut files = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_error("an upload could not be listed", &e))?
        {
            let name = entry.file_name();
            let Some((n, digest)) = name.to_str().and_then(parse_part_name) else {
                continue;
            };
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            files.push((n, digest, meta.len(), modified));
        }
        Ok(files)
    }

    /// The parts in an upload's directory by number, with their digest and size; of two files for one number (a
    /// part sent again while the first was being replaced) the newer.
    async fn parts_in(&self, dir: &Path) -> Result<Vec<(u32, String, u64)>, BlobError> {
        let mut found: std::collections::BTreeMap<u32, (String, u64, std::time::SystemTime)> =
            std::collections::BTreeMap::new();
        for (n, digest, len, modified) in self.part_files(dir).await? {
            if found.get(&n).is_none_or(|(_, _, m)| modified >= *m) {
                found.insert(n, (digest, len, modified));
            }
        }
        Ok(found
            .into_iter()
            .map(|(n, (digest, len, _))| (n, digest, len))
            .collect())
    }

    /// Receives one part of an upload (what the part link's PUT does): streams it into the upload's directory,
    /// hashing it, and returns its ETag.
    async fn store_part(
        &self,
        upload_id: &str,
        number: u32,
        body: ByteStream,
    ) -> Result<String, BlobError> {
        let dir = self.upload_dir(upload_id).ok_or(BlobError::NotFound)?;
        let temp = TempFile::new(&dir, &format!("part-{number}"));
        let mut hasher = Sha256::new();
        match write_body(&temp, body, self.inner.max_part_bytes, |c| hasher.update(c)).await {
            Ok(_) => {}
            // The directory is gone: the upload was completed or aborted meanwhile.
            Err(BlobError::Unavailable(_)) if !dir.exists() => return Err(BlobError::NotFound),
            Err(e) => return Err(e),
        }
        let digest = hex::encode(hasher.finalize());
        temp.persist(&dir.join(part_name(number, &digest))).await?;
        // A part sent again replaces the one before it, as on S3.
        for (n, old, _, _) in self.part_files(&dir).await.unwrap_or_default() {
            if n == number && old != digest {
                let _ = tokio::fs::remove_file(dir.join(part_name(n, &old))).await;
            }
        }
        Ok(format!("\"{digest}\""))
    }

    /// The key and content type of an upload, and whether a part link for it is genuine and unexpired.
    async fn check_part_link(
        &self,
        upload_id: &str,
        number: u32,
        expires: i64,
        signature: &str,
    ) -> Result<(), LinkRefusal> {
        let meta = self
            .read_meta(upload_id)
            .await
            .map_err(|_| LinkRefusal::Unavailable)?
            .ok_or(LinkRefusal::NoSuchUpload)?;
        if !self.verify(
            &Self::part_message(&meta.key, upload_id, number, expires),
            signature,
        ) {
            return Err(LinkRefusal::BadSignature);
        }
        if self.inner.clock.now().timestamp() >= expires {
            return Err(LinkRefusal::Expired);
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(
        &self,
        key: &ObjectKey,
        _content_type: &str,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let path = self.object_path(key.as_str())?;
        let dir = path
            .parent()
            .ok_or_else(|| BlobError::Unavailable("an object key has no directory".into()))?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error("an object's directory could not be made", &e))?;
        let temp = TempFile::new(dir, "object");
        let written = write_body(&temp, body, max_bytes, |_| {}).await?;
        temp.persist(&path).await?;
        Ok(written)
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, BlobError> {
        let path = self.object_path(key.as_str())?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("an object could not be read", &e)),
        }
    }

    async fn read(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, BlobError> {
        let path = self.object_path(key.as_str())?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(io_error("an object could not be read", &e)),
        };
        let len = file
            .metadata()
            .await
            .map_err(|e| io_error("an object could not be read", &e))?
            .len();
        let start = range.start.min(len);
        let end = range.end.min(len).max(start);
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_error("an object could not be read", &e))?;
        Ok(file_stream(file, end - start))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError> {
        let path = self.object_path(key.as_str())?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("an object could not be deleted", &e)),
        }
    }

    async fn delete_workspace(&self, ws: &WorkspaceId) -> Result<(), BlobError> {
        if !safe_segment(ws.as_str()) {
            return Err(BlobError::Unavailable(
                "the workspace id is not one this store accepts".into(),
            ));
        }
        match tokio::fs::remove_dir_all(self.inner.objects.join(ws.as_str())).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("a workspace's objects could not be deleted", &e)),
        }
        let prefix = ObjectKey::workspace_prefix(ws);
        let mut entries = tokio::fs::read_dir(&self.inner.uploads)
            .await
            .map_err(|e| io_error("the uploads could not be listed", &e))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_error("the uploads could not be listed", &e))?
        {
            let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let ours = self
                .read_meta(&id)
                .await?
                .is_some_and(|m| m.key.starts_with(&prefix));
            if ours {
                match tokio::fs::remove_dir_all(entry.path()).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error("an upload could not be deleted", &e)),
                }
            }
        }
        Ok(())
    }

    async fn fetch_link(
        &self,
        key: &ObjectKey,
        content_type: &str,
        ttl: Duration,
    ) -> Result<url::Url, BlobError> {
        self.object_path(key.as_str())?;
        if !safe_content_type(content_type) {
            return Err(BlobError::Unavailable(
                "the content type cannot be sent in a header".into(),
            ));
        }
        let expires = expiry(self.inner.clock.now(), ttl);
        let signature = self.sign(&Self::fetch_message(key.as_str(), content_type, expires));
        let mut url = self.link(&format!("/media/objects/{key}"));
        url.query_pairs_mut()
            .append_pair("type", content_type)
            .append_pair("expires", &expires.to_string())
            .append_pair("signature", &signature);
        Ok(url)
    }

    async fn start_upload(&self, key: &ObjectKey, content_type: &str) -> Result<String, BlobError> {
        self.object_path(key.as_str())?;
        let id = crate::domain::ids::random_token(16);
        let dir = self.inner.uploads.join(&id);
        tokio::fs::create_dir(&dir)
            .await
            .map_err(|e| io_error("an upload could not be started", &e))?;
        let meta = serde_json::to_vec(&UploadMeta {
            key: key.as_str().to_owned(),
            content_type: content_type.to_owned(),
        })
        .map_err(|_| BlobError::Unavailable("an upload's record could not be written".into()))?;
        let temp = TempFile::new(&dir, "upload");
        tokio::fs::write(&temp.path, meta)
            .await
            .map_err(|e| io_error("an upload could not be started", &e))?;
        temp.persist(&dir.join(UPLOAD_META)).await?;
        Ok(id)
    }

    async fn part_link(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u32,
        ttl: Duration,
    ) -> Result<url::Url, BlobError> {
        if !safe_upload_id(upload_id) {
            return Err(BlobError::NotFound);
        }
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(BlobError::InvalidParts(format!(
                "part numbers run from 1 to {MAX_PARTS}"
            )));
        }
        let expires = expiry(self.inner.clock.now(), ttl);
        let signature = self.sign(&Self::part_message(
            key.as_str(),
            upload_id,
            number,
            expires,
        ));
        let mut url = self.link(&format!("/media/uploads/{upload_id}/{number}"));
        url.query_pairs_mut()
            .append_pair("expires", &expires.to_string())
            .append_pair("signature", &signature);
        Ok(url)
    }

    async fn list_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError> {
        let dir = self.upload_for(key, upload_id).await?;
        Ok(self
            .parts_in(&dir)
            .await?
            .into_iter()
            .map(|(number, digest, bytes)| StoredPart {
                number,
                bytes,
                etag: format!("\"{digest}\""),
            })
            .collect())
    }

    async fn complete_upload(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<u64, BlobError> {
        let dir = self.upload_for(key, upload_id).await?;
        if parts.is_empty() {
            return Err(BlobError::InvalidParts("no part was named".into()));
        }
        if parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(BlobError::InvalidParts(
                "the parts must be named in ascending order, each once".into(),
            ));
        }
        let mut files = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let digest = etag_digest(&part.etag);
            let path = dir.join(part_name(part.number, &digest));
            let len = match is_hex_digest(&digest) {
                true => tokio::fs::metadata(&path).await.ok().map(|m| m.len()),
                false => None,
            };
            let Some(len) = len else {
                return Err(BlobError::InvalidParts(format!(
                    "part {} was not received with that ETag",
                    part.number
                )));
            };
            if i + 1 < parts.len() && len < MIN_PART_BYTES {
                return Err(BlobError::InvalidParts(format!(
                    "part {} has {len} bytes; every part but the last must have at least {MIN_PART_BYTES}",
                    part.number
                )));
            }
            files.push(path);
        }
        let path = self.object_path(key.as_str())?;
        let target_dir = path
            .parent()
            .ok_or_else(|| BlobError::Unavailable("an object key has no directory".into()))?;
        tokio::fs::create_dir_all(target_dir)
            .await
            .map_err(|e| io_error("an object's directory could not be made", &e))?;
        let temp = TempFile::new(target_dir, "object");
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp.path)
            .await
            .map_err(|e| io_error("an object could not be created", &e))?;
        let mut total: u64 = 0;
        for file in &files {
            let mut part = tokio::fs::File::open(file)
                .await
                .map_err(|e| io_error("a part could not be read", &e))?;
            total = total.saturating_add(
                tokio::io::copy(&mut part, &mut out)
                    .await
                    .map_err(|e| io_error("the parts could not be joined", &e))?,
            );
        }
        out.sync_all()
            .await
            .map_err(|e| io_error("the parts could not be joined", &e))?;
        drop(out);
        temp.persist(&path).await?;
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            tracing::warn!(error = %e, "a completed upload's parts could not be removed");
        }
        Ok(total)
    }

    async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) -> Result<(), BlobError> {
        let dir = match self.upload_for(key, upload_id).await {
            Ok(dir) => dir,
            Err(BlobError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("an upload could not be aborted", &e)),
        }
    }

    async fn mark_attached(&self, key: &ObjectKey) -> Result<(), BlobError> {
        // Nothing here removes objects on its own; the sweep of unattached items goes by their records.
        match self.size(key).await? {
            Some(_) => Ok(()),
            None => Err(BlobError::NotFound),
        }
    }
}

/// Why a link was not honoured.
#[derive(Debug, Clone, Copy)]
enum LinkRefusal {
    Incomplete,
    BadSignature,
    Expired,
    NoSuchUpload,
    Unavailable,
}

impl IntoResponse for LinkRefusal {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            LinkRefusal::Incomplete => (
                StatusCode::FORBIDDEN,
                "link_incomplete",
                "the link lacks its expiry or signature",
            ),
            LinkRefusal::BadSignature => (
                StatusCode::FORBIDDEN,
                "bad_signature",
                "the link's signature does not match it",
            ),
            LinkRefusal::Expired => (
                StatusCode::FORBIDDEN,
                "link_expired",
                "the link has expired",
            ),
            LinkRefusal::NoSuchUpload => (
                StatusCode::NOT_FOUND,
                "no_such_upload",
                "there is no such upload; it may have been completed or aborted",
            ),
            LinkRefusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the storage could not be read; try again",
            ),
        };
        error_response(status, code, message)
    }
}

/// An error answer in the shape the API uses: `{"error": {"code", "message"}}`.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response();
    guard_headers(response.headers_mut());
    response
}

/// Headers every answer of these routes carries: nothing is cached by shared caches, sniffed, or told the link in a
/// `Referer`.
fn guard_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[derive(Deserialize)]
struct FetchQuery {
    #[serde(rename = "type")]
    content_type: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

/// `GET /media/objects/{key}`: the object's bytes, or the range asked for, as the link was signed.
async fn serve_object(
    State(blobs): State<LocalBlobs>,
    UrlPath(key): UrlPath<String>,
    Query(q): Query<FetchQuery>,
    headers: HeaderMap,
) -> Response {
    let (Some(content_type), Some(expires), Some(signature)) =
        (q.content_type, q.expires, q.signature)
    else {
        return LinkRefusal::Incomplete.into_response();
    };
    if !blobs.verify(
        &LocalBlobs::fetch_message(&key, &content_type, expires),
        &signature,
    ) {
        return LinkRefusal::BadSignature.into_response();
    }
    if blobs.inner.clock.now().timestamp() >= expires {
        return LinkRefusal::Expired.into_response();
    }
    let Ok(type_header) = HeaderValue::from_str(&content_type) else {
        return LinkRefusal::BadSignature.into_response();
    };
    let key = ObjectKey::from_trusted(key);
    let size = match blobs.size(&key).await {
        Ok(Some(size)) => size,
        Ok(None) => return not_found(),
        Err(_) => return LinkRefusal::Unavailable.into_response(),
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let (status, range) = match range {
        None | Some(RangeAsked::Ignored) => (StatusCode::OK, 0..size),
        Some(RangeAsked::Satisfiable(r)) => (StatusCode::PARTIAL_CONTENT, r),
        Some(RangeAsked::Unsatisfiable) => {
            let mut response = error_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "the range asked for lies past the end of the file",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let stream = match blobs.read(&key, range.clone()).await {
        Ok(s) => s,
        Err(BlobError::NotFound) => return not_found(),
        Err(_) => return LinkRefusal::Unavailable.into_response(),
    };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, type_header);
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{size}",
            range.start,
            range.end.saturating_sub(1)
        )) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    guard_headers(h);
    response
}

fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "there is no such file")
}

/// What a `Range` header asks of a file of a given size.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsked {
    /// One range of bytes, end exclusive.
    Satisfiable(Range<u64>),
    /// Nothing of the file lies in it.
    Unsatisfiable,
    /// Not a single byte range this server answers (several ranges, another unit): the whole file is sent.
    Ignored,
}

/// Reads a `Range` header: `bytes=a-b`, `bytes=a-` or `bytes=-n`, one range only.
fn parse_range(value: &str, size: u64) -> RangeAsked {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsked::Ignored;
    };
    if spec.contains(',') {
        return RangeAsked::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Ignored;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // The last n bytes.
        (true, false) => match number(last) {
            Some(0) => RangeAsked::Unsatisfiable,
            Some(n) if size > 0 => RangeAsked::Satisfiable(size.saturating_sub(n)..size),
            Some(_) => RangeAsked::Unsatisfiable,
            None => RangeAsked::Ignored,
        },
        (false, true) => match number(first) {
            Some(a) if a < size => RangeAsked::Satisfiable(a..size),
            Some(_) => RangeAsked::Unsatisfiable,
            None => RangeAsked::Ignored,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => RangeAsked::Ignored,
            (Some(a), Some(_)) if a >= size => RangeAsked::Unsatisfiable,
            (Some(a), Some(b)) => RangeAsked::Satisfiable(a..b.saturating_add(1).min(size)),
            _ => RangeAsked::Ignored,
        },
        (true, true) => RangeAsked::Ignored,
    }
}

#[derive(Deserialize)]
struct PartQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

/// `PUT /media/uploads/{id}/{n}`: one part of a multipart upload, streamed to disk; answers its `ETag`.
async fn receive_part(
    State(blobs): State<LocalBlobs>,
    UrlPath((upload_id, number)): UrlPath<(String, String)>,
    Query(q): Query<PartQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (Some(expires), Some(signature)) = (q.expires, q.signature) else {
        return LinkRefusal::Incomplete.into_response();
    };
    let number = match number.parse::<u32>() {
        Ok(n) if (1..=MAX_PARTS).contains(&n) && safe_upload_id(&upload_id) => n,
        _ => return LinkRefusal::BadSignature.into_response(),
    };
    if let Err(refusal) = blobs
        .check_part_link(&upload_id, number, expires, &signature)
        .await
    {
        return refusal.into_response();
    }
    let limit = blobs.inner.max_part_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return part_too_large(limit);
    }
    let stream: ByteStream = Box::pin(
        body.into_data_stream()
            .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string()))),
    );
    match blobs.store_part(&upload_id, number, stream).await {
        Ok(etag) => {
            let mut response = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, v);
            }
            guard_headers(response.headers_mut());
            response
        }
        Err(BlobError::TooLarge { limit }) => part_too_large(limit),
        Err(BlobError::NotFound) => LinkRefusal::NoSuchUpload.into_response(),
        Err(BlobError::Body(_)) => error_response(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the part's body could not be read to its end",
        ),
        Err(e) => {
            tracing::warn!(error = %e, "a part could not be stored");
            LinkRefusal::Unavailable.into_response()
        }
    }
}

fn part_too_large(limit: u64) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "part_too_large",
        &format!("a part may have at most {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ids_that_could_leave_the_directory_are_refused() {
        assert!(safe_key("ws_1/med_2/original"));
        assert!(safe_key("ws_1/med_2/fit-2000px-1000000b"));
        for bad in [
            "",
            "../x",
            "ws/../x",
            "ws//x",
            "/abs",
            "ws/.hidden",
            "ws/a b",
            "ws/a\\b",
        ] {
            assert!(!safe_key(bad), "{bad:?}");
        }
        assert!(safe_upload_id(&"a1".repeat(16)));
        assert!(!safe_upload_id("../../etc/passwd"));
        assert!(!safe_upload_id(&"A1".repeat(16)));
    }

    #[test]
    fn content_types_that_could_break_a_header_are_refused() {
        assert!(safe_content_type("image/jpeg"));
        assert!(safe_content_type("video/mp4; codecs=\"avc1\""));
        assert!(!safe_content_type("image/jpeg\r\nSet-Cookie: a=b"));
        assert!(!safe_content_type("nonsense"));
        assert!(!safe_content_type("image/ jpeg"));
    }

    #[test]
    fn ranges_read_as_http_says() {
        use RangeAsked::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=-1000", 100), Satisfiable(0..100));
        assert_eq!(parse_range("bytes=95-1000", 100), Satisfiable(95..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 100), Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
    }

    #[test]
    fn part_names_round_trip_and_others_are_skipped() {
        let digest = "ab".repeat(32);
        assert_eq!(
            parse_part_name(&part_name(7, &digest)),
            Some((7, digest.clone()))
        );
        assert_eq!(parse_part_name(UPLOAD_META), None);
        assert_eq!(parse_part_name(".part-1.x.tmp"), None);
        assert_eq!(parse_part_name(&format!("0.{digest}")), None);
        assert_eq!(parse_part_name("3.xyz"), None);
    }

    #[tokio::test]
    async fn links_are_bound_to_what_they_were_signed_for() {
        let dir = tempfile::tempdir().unwrap();
        let blobs =
            LocalBlobs::open(dir.path(), &url::Url::parse("http://127.0.0.1:1").unwrap()).unwrap();
        let key = ObjectKey::from_trusted("ws_1/med_1/original");
        let url = blobs
            .fetch_link(&key, "image/png", Duration::from_secs(60))
            .await
            .unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        let expires: i64 = q["expires"].parse().unwrap();
        let message = LocalBlobs::fetch_message(key.as_str(), "image/png", expires);
        assert!(blobs.verify(&message, &q["signature"]));
        for other in [
            LocalBlobs::fetch_message("ws_1/med_2/original", "image/png", expires),
            LocalBlobs::fetch_message(key.as_str(), "text/html", expires),
            LocalBlobs::fetch_message(key.as_str(), "image/png", expires + 1),
        ] {
            assert!(!blobs.verify(&other, &q["signature"]));
        }
        assert!(!format!("{blobs:?}").contains(&q["signature"]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("media.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
