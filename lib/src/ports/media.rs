//! The media ports: where an item's bytes live ([`BlobStore`]: S3 on AWS, files under the data directory locally)
//! and where its record lives ([`MediaStore`]). Both have one conformance suite that every adapter passes.

use std::ops::Range;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_core::Stream;

use super::{Page, StoreResult};
use crate::domain::{MediaId, MediaItem, PostId, UploadId, UploadSession, WorkspaceId};

/// Bytes arriving a chunk at a time: an upload's body, an object read back, a file fetched from a URL.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Where one object lives: `<workspace>/<media id>/<name>`, `name` being [`ORIGINAL`](crate::domain::media::ORIGINAL)
/// or a rendition's name. Everything of a workspace shares its prefix, so erasing a workspace is one sweep.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(ws: &WorkspaceId, media: &MediaId, name: &str) -> Self {
        Self(format!("{ws}/{media}/{name}"))
    }

    /// Wraps a key that is already known to be one (read back from the store, or from a link it signed).
    pub fn from_trusted(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// Where an item's original is kept.
    pub fn original(ws: &WorkspaceId, media: &MediaId) -> Self {
        Self::new(ws, media, crate::domain::media::ORIGINAL)
    }

    /// The prefix every object of the workspace starts with.
    pub fn workspace_prefix(ws: &WorkspaceId) -> String {
        format!("{ws}/")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an object operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No such object or upload.
    #[error("no such object or upload")]
    NotFound,
    /// The body went over the size it was allowed; nothing was kept.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// A multipart completion named parts that were not uploaded, or out of order, or too small; nothing was kept
    /// and the upload may be completed again with the right list.
    #[error("the parts do not make an upload: {0}")]
    InvalidParts(String),
    /// Reading the body failed (the client went away); nothing was kept.
    #[error("the body could not be read: {0}")]
    Body(String),
    /// The store could not be reached or answered strangely.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

/// A part of a multipart upload as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    /// 1-based.
    pub number: u32,
    pub bytes: u64,
    /// What the store answered the part's PUT with (its `ETag` header), quotes included.
    pub etag: String,
}

/// A part named in a completion call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
}

/// The smallest part a multipart upload may have, but for its last (S3's rule, kept by every adapter).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// The most parts one multipart upload may have (S3's rule).
pub const MAX_PARTS: u32 = 10_000;
/// The largest part a multipart upload may have (S3's rule, kept by every adapter).
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The longest a link from [`BlobStore::fetch_link`] or [`BlobStore::part_link`] may stay valid (S3's rule for
/// presigned URLs); a longer `ttl` is cut to it. On AWS a presigned URL also stops working when the credentials that
/// signed it expire (a Lambda function's role session lasts hours, not days).
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Objects: the bytes of media items and their renditions.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Streams `body` into the object at `key`, reading at most `max_bytes` (more is [`BlobError::TooLarge`]).
    /// The object appears whole or not at all: on any error nothing is left behind. Returns the bytes written.
    async fn put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError>;
    /// The object's size, or `None` if there is none.
    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, BlobError>;
    /// The bytes in `range` (end exclusive; a range past the end is cut at the end) as a stream.
    async fn read(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, BlobError>;
    /// Removes the object; one that is not there is fine.
    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError>;
    /// Removes every object and unfinished upload of the workspace.
    async fn delete_workspace(&self, ws: &WorkspaceId) -> Result<(), BlobError>;
    /// A URL anyone may GET until `ttl` has passed, answering the object's bytes with `content_type` (a presigned
    /// S3 GET; locally a URL `postora serve` answers, signed with an HMAC over the key and the expiry).
    async fn fetch_link(
        &self,
        key: &ObjectKey,
        content_type: &str,
        ttl: Duration,
    ) -> Result<url::Url, BlobError>;
    /// Starts a multipart upload into `key`; returns the store's id for it.
    async fn start_upload(&self, key: &ObjectKey, content_type: &str) -> Result<String, BlobError>;
    /// Where a client PUTs part `number` (1-based) of the upload, valid for `ttl`. The answer to that PUT carries
    /// the part's `ETag` header, which the client sends back in the completion call.
    async fn part_link(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u32,
        ttl: Duration,
    ) -> Result<url::Url, BlobError>;
    /// The parts received so far, by number (a client resuming an upload asks which are there).
    async fn list_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError>;
    /// Joins the named parts, in order, into the object, and returns its size.
    async fn complete_upload(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<u64, BlobError>;
    /// Drops the upload and its parts; one already gone is fine.
    async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) -> Result<(), BlobError>;
    /// Records on the object that a post uses it, so that the store's own clean-up keeps it. Every object is written
    /// as unattached (by [`put`](Self::put) and by a completed upload); on S3 the bucket's lifecycle rule removes an
    /// object still marked so a day after it was written, as a safety net under the sweep of unattached items
    /// ([`MediaStore::unattached_media`]). Whether an item is attached is recorded on its record
    /// ([`MediaStore::attach_media`]); call this for each of the item's objects when it is first attached, and for
    /// a rendition written after that. Marking twice is harmless; [`BlobError::NotFound`] if there is no object.
    async fn mark_attached(&self, key: &ObjectKey) -> Result<(), BlobError>;
}

/// Whether [`MediaStore::insert_media`] stored the item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Stored,
    /// It would take the workspace past its quota; nothing was written.
    OverQuota {
        used: u64,
    },
}

/// Media items, their uploads, and the bytes each workspace stores.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Adds an item and counts its [`stored_bytes`](MediaItem::stored_bytes) against the workspace's usage, all
    /// at once, if the usage stays within `quota`. `Conflict` if the id is taken.
    async fn insert_media(&self, item: &MediaItem, quota: u64) -> StoreResult<Admission>;
    async fn get_media(&self, ws: &WorkspaceId, id: &MediaId) -> StoreResult<Option<MediaItem>>;
    /// Newest first.
    async fn list_media(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<MediaItem>>;
    /// Writes `item` if the stored one is at `expected_version`, and moves the workspace's usage by the change in
    /// stored bytes (a rendition added), if that stays within `quota` (a change that adds nothing is always
    /// stored). `NotFound` if there is no such item, `Conflict` if it moved on. Whether the item is attached, and
    /// the posts that use it, stay as stored: only [`attach_media`](Self::attach_media) changes them.
    async fn update_media(
        &self,
        item: &MediaItem,
        expected_version: u64,
        quota: u64,
    ) -> StoreResult<Admission>;
    /// Records that `post` uses each item: sets `attached_at` where it is unset (so the item is kept) and adds the
    /// post to the item's users. Items that do not exist are skipped. Each item moves to its next version, so a
    /// sweep that read it while it was unattached can no longer delete it.
    async fn attach_media(
        &self,
        ws: &WorkspaceId,
        ids: &[MediaId],
        post: &PostId,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The posts that ever used the item.
    async fn posts_using(&self, ws: &WorkspaceId, id: &MediaId) -> StoreResult<Vec<PostId>>;
    /// Removes the item if the stored one is at `expected_version`, and gives its bytes back to the usage.
    /// `NotFound` if there is no such item, `Conflict` if it moved on.
    async fn delete_media(
        &self,
        ws: &WorkspaceId,
        id: &MediaId,
        expected_version: u64,
    ) -> StoreResult<()>;
    /// Bytes the workspace stores.
    async fn media_usage(&self, ws: &WorkspaceId) -> StoreResult<u64>;
    /// Items no post ever used, made before `before`, at most `limit`, in every workspace (the sweep that removes
    /// them).
    async fn unattached_media(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<MediaItem>>;
    async fn put_upload(&self, upload: &UploadSession) -> StoreResult<()>;
    /// The upload, unless it has expired at `now`.
    async fn get_upload(
        &self,
        ws: &WorkspaceId,
        id: &UploadId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UploadSession>>;
    async fn delete_upload(&self, ws: &WorkspaceId, id: &UploadId) -> StoreResult<()>;
    /// Uploads that expired before `before`, at most `limit`, in every workspace (the sweep that aborts them).
    async fn expired_uploads(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<UploadSession>>;
}

/// Why a file could not be fetched from an address a person gave.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The address, or what it answered, is refused (not http or https, a private or loopback address, too many
    /// redirects, an error status, too large): the person's to fix. The message says which.
    #[error("{0}")]
    Refused(String),
    /// The server could not be reached, or did not answer in time.
    #[error("{0}")]
    Unreachable(String),
}

/// Files fetched from addresses people give (media import), every one through the same guard against server-side
/// request forgery.
#[async_trait]
pub trait RemoteFiles: Send + Sync {
    /// The body of the file at `url`, cut off with an error past `max_bytes`.
    async fn fetch(&self, url: &url::Url, max_bytes: u64) -> Result<ByteStream, FetchError>;
}
