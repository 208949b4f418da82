//! The media library: files uploaded in one request or in parts straight to object storage, or imported from a URL;
//! each probed from its bytes, registered against the workspace's quota, fitted to the platforms a post goes to,
//! and removed when nobody uses it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::App;
use crate::domain::media::{MediaSource, UNATTACHED_TTL};
use crate::domain::post::MAX_ALT_CHARS;
use crate::domain::{
    AuditEntry, MediaId, MediaInfo, MediaItem, UploadId, UploadSession, WorkspaceId,
};
use crate::error::{Error, Result};
use crate::ports::{
    Admission, BlobError, ByteStream, CompletedPart, FetchError, ObjectKey, Page, StoredPart,
    MAX_PARTS, MIN_PART_BYTES,
};

mod reader;
mod renditions;

pub use reader::BlobReader;
pub use renditions::BlobBytes;

/// How long the links to send an upload's parts to stay valid.
pub const PART_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a link to an item's bytes stays valid, for a person or a platform that fetches.
pub const FETCH_LINK_TTL: Duration = Duration::from_secs(2 * 3600);
/// The part size Postora asks for unless a file needs bigger parts to stay within [`MAX_PARTS`].
pub const PART_BYTES: u64 = 8 * 1024 * 1024;
/// Most objects the media sweep removes per run.
const SWEEP_BATCH: usize = 200;

/// A multipart upload as a client sees it: where each part goes.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    pub session: UploadSession,
    /// Parts still to send, each with its byte range and link.
    pub parts: Vec<PartPlan>,
    /// Parts already received.
    pub received: Vec<StoredPart>,
}

/// Where one part of an upload goes.
#[derive(Clone)]
pub struct PartPlan {
    pub number: u32,
    pub first_byte: u64,
    pub last_byte: u64,
    pub url: url::Url,
}

impl std::fmt::Debug for PartPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartPlan")
            .field("number", &self.number)
            .field("first_byte", &self.first_byte)
            .field("last_byte", &self.last_byte)
            .finish_non_exhaustive()
    }
}

/// What a run of [`App::sweep_media`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaSweep {
    pub unattached_removed: usize,
    pub uploads_aborted: usize,
    pub expired_removed: usize,
}

/// Checks an alternative text: trimmed, at most [`MAX_ALT_CHARS`] characters, none a control character but line
/// breaks. Empty means none.
pub fn check_alt(field: &str, alt: Option<&str>) -> Result<Option<String>> {
    let Some(alt) = alt.map(str::trim) else {
        return Ok(None);
    };
    if alt.is_empty() {
        return Ok(None);
    }
    if alt.chars().count() > MAX_ALT_CHARS {
        return Err(Error::invalid(
            field,
            format!("has more than {MAX_ALT_CHARS} characters"),
        ));
    }
    if alt.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(field, "contains a control character"));
    }
    Ok(Some(alt.to_owned()))
}

/// A SHA-256 and a byte count taken from a stream as it passes, so nothing is read twice. The hashing runs on a
/// thread of its own, fed the chunks as they arrive, so it overlaps with receiving and writing them instead of
/// adding to their time.
struct Tally {
    hasher: tokio::task::JoinHandle<(String, u64)>,
}

impl Tally {
    /// Wraps `body` so every chunk it yields is also hashed.
    fn start(body: ByteStream) -> (Tally, ByteStream) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hash = Sha256::new();
            let mut bytes = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                hash.update(&chunk);
                bytes += chunk.len() as u64;
            }
            (hex::encode(hash.finalize()), bytes)
        });
        let body: ByteStream = Box::pin(body.then(move |chunk| {
            let tx = tx.clone();
            async move {
                if let Ok(bytes) = &chunk {
                    // The receiver goes only when the hasher stopped, and then no digest is used.
                    let _ = tx.send(bytes.clone()).await;
                }
                chunk
            }
        }));
        (Tally { hasher }, body)
    }

    /// The digest and count of everything the stream yielded; call once the stream is done and dropped.
    async fn finish(self) -> Result<(String, u64)> {
        self.hasher
            .await
            .map_err(|_| Error::Unavailable("hashing the file stopped unexpectedly".into()))
    }
}

/// Every object an item has: its original and each rendition.
fn object_keys(item: &MediaItem) -> impl Iterator<Item = ObjectKey> + '_ {
    std::iter::once(ObjectKey::original(&item.workspace_id, &item.id)).chain(
        item.renditions
            .iter()
            .map(|r| ObjectKey::new(&item.workspace_id, &item.id, &r.name)),
    )
}

fn blob_error(e: BlobError, what: &str) -> Error {
    match e {
        BlobError::TooLarge { limit } => Error::too_large(
            "file_too_large",
            format!("the file is larger than {limit} bytes, the most this workspace may add now"),
        ),
        BlobError::Body(m) => Error::invalid("file", format!("could not be read to its end: {m}")),
        BlobError::InvalidParts(m) => Error::invalid("parts", m),
        BlobError::NotFound => Error::NotFound("upload"),
        BlobError::Unavailable(m) => {
            Error::Unavailable(format!("{what}: object storage is unavailable: {m}"))
        }
    }
}

fn fetch_error(e: FetchError) -> Error {
    match e {
        FetchError::Refused(m) => Error::invalid("url", m),
        FetchError::Unreachable(m) => Error::invalid("url", format!("could not be fetched: {m}")),
    }
}

impl App {
    /// How many more bytes the workspace may store, and the most one file may be.
    async fn room_for_file(&self, ws: &WorkspaceId) -> Result<u64> {
        let used = self.stores.media.media_usage(ws).await?;
        let room = self.settings.media.quota_bytes.saturating_sub(used);
        if room == 0 {
            return Err(self.quota_error(used));
        }
        Ok(room.min(self.settings.media.max_file_bytes))
    }

    fn quota_error(&self, used: u64) -> Error {
        Error::too_large(
            "media_quota_exceeded",
            format!(
                "this workspace stores {used} bytes of media and may store {}: delete media it no longer needs",
                self.settings.media.quota_bytes
            ),
        )
    }

    /// Stores a file sent in the request body, probes it and adds it to the library.
    pub async fn upload_media(
        &self,
        ws: &WorkspaceId,
        body: ByteStream,
        alt: Option<&str>,
    ) -> Result<MediaItem> {
        let alt = check_alt("alt", alt)?;
        let room = self.room_for_file(ws).await?;
        self.store_and_register(ws, body, alt, MediaSource::Upload, room)
            .await
    }

    /// Fetches a file from a URL a person gave, through the guard against server-side request forgery, and adds it
    /// to the library.
    pub async fn import_media(
        &self,
        ws: &WorkspaceId,
        raw_url: &str,
        alt: Option<&str>,
    ) -> Result<MediaItem> {
        let alt = check_alt("alt", alt)?;
        let url = crate::domain::post::parse_media_url(raw_url).ok_or_else(|| {
            Error::invalid(
                "url",
                "must be an http(s) URL of at most 2048 characters, without spaces",
            )
        })?;
        let room = self.room_for_file(ws).await?;
        let body = self.remote.fetch(&url, room).await.map_err(fetch_error)?;
        self.store_and_register(
            ws,
            body,
            alt,
            MediaSource::Import {
                url: url.to_string(),
            },
            room,
        )
        .await
    }

    /// Streams `body` into a new item's original, at most `room` bytes, then probes and registers it.
    async fn store_and_register(
        &self,
        ws: &WorkspaceId,
        body: ByteStream,
        alt: Option<String>,
        source: MediaSource,
        room: u64,
    ) -> Result<MediaItem> {
        let id = MediaId::generate();
        let key = ObjectKey::original(ws, &id);
        let (tally, body) = Tally::start(body);
        let written = self
            .blobs
            .put(&key, "application/octet-stream", body, room)
            .await
            .map_err(|e| blob_error(e, "storing the file"))?;
        let (sha256, counted) = tally.finish().await?;
        if written != counted {
            let _ = self.blobs.delete(&key).await;
            return Err(Error::Unavailable(format!(
                "the store kept {written} bytes of the {counted} it was given"
            )));
        }
        self.register(ws, id, key, written, Some(sha256), alt, source)
            .await
    }

    /// Probes a stored original and records the item; on any refusal the object is removed, so nothing is left.
    #[allow(clippy::too_many_arguments)]
    async fn register(
        &self,
        ws: &WorkspaceId,
        id: MediaId,
        key: ObjectKey,
        bytes: u64,
        sha256: Option<String>,
        alt: Option<String>,
        source: MediaSource,
    ) -> Result<MediaItem> {
        let outcome = self
            .register_inner(ws, &id, &key, bytes, sha256, alt, source)
            .await;
        if outcome.is_err() {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(media_id = %id, error = %e, "could not remove a refused file; the sweep will");
            }
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn register_inner(
        &self,
        ws: &WorkspaceId,
        id: &MediaId,
        key: &ObjectKey,
        bytes: u64,
        sha256: Option<String>,
        alt: Option<String>,
        source: MediaSource,
    ) -> Result<MediaItem> {
        if bytes == 0 {
            return Err(Error::invalid("file", "is empty"));
        }
        let info = self.probe(key, bytes).await?;
        let sha256 = match sha256 {
            Some(s) => s,
            None => self.checksum(key, bytes).await?,
        };
        let now = self.now();
        let item = MediaItem {
            id: id.clone(),
            workspace_id: ws.clone(),
            info,
            bytes,
            sha256,
            alt,
            source,
            renditions: Vec::new(),
            attached_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match self
            .stores
            .media
            .insert_media(&item, self.settings.media.quota_bytes)
            .await?
        {
            Admission::Stored => {}
            Admission::OverQuota { used } => return Err(self.quota_error(used)),
        }
        self.audit(AuditEntry::new(
            ws.clone(),
            now,
            "media.added",
            serde_json::json!({
                "media_id": item.id,
                "format": item.info.format,
                "bytes": item.bytes,
            }),
        ))
        .await;
        Ok(item)
    }

    /// Reads what a stored file is from its bytes, a range at a time.
    async fn probe(&self, key: &ObjectKey, bytes: u64) -> Result<MediaInfo> {
        let reader = BlobReader::new(self.blobs.clone(), key.clone(), bytes);
        let probed = tokio::task::spawn_blocking(move || {
            crate::media::probe::probe(reader, bytes).map_err(|e| e.to_string())
        })
        .await
        .map_err(|_| Error::Unavailable("probing the file stopped unexpectedly".into()))?;
        probed.map_err(|m| Error::invalid("file", m))
    }

    /// SHA-256 of a stored object, read as a stream.
    async fn checksum(&self, key: &ObjectKey, bytes: u64) -> Result<String> {
        let mut body = self
            .blobs
            .read(key, 0..bytes)
            .await
            .map_err(|e| blob_error(e, "reading the file back"))?;
        let mut hash = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| Error::Unavailable(format!("reading the file back failed: {e}")))?;
            hash.update(&chunk);
        }
        Ok(hex::encode(hash.finalize()))
    }

    /// Starts an upload in parts: where to send each part, straight to object storage.
    pub async fn start_upload(
        &self,
        ws: &WorkspaceId,
        declared_bytes: u64,
        alt: Option<&str>,
    ) -> Result<UploadPlan> {
        let alt = check_alt("alt", alt)?;
        if declared_bytes == 0 {
            return Err(Error::invalid("bytes", "must be more than 0"));
        }
        let room = self.room_for_file(ws).await?;
        if declared_bytes > room {
            return Err(Error::too_large(
                "file_too_large",
                format!(
                    "the file has {declared_bytes} bytes and this workspace may add at most {room} now"
                ),
            ));
        }
        let part_bytes = PART_BYTES
            .max(declared_bytes.div_ceil(u64::from(MAX_PARTS)))
            .max(MIN_PART_BYTES);
        let part_count = u32::try_from(declared_bytes.div_ceil(part_bytes))
            .map_err(|_| Error::invalid("bytes", "needs too many parts"))?;
        let media_id = MediaId::generate();
        let key = ObjectKey::original(ws, &media_id);
        let store_upload_id = self
            .blobs
            .start_upload(&key, "application/octet-stream")
            .await
            .map_err(|e| blob_error(e, "starting the upload"))?;
        let now = self.now();
        let session = UploadSession {
            id: UploadId::generate(),
            workspace_id: ws.clone(),
            media_id,
            store_upload_id,
            declared_bytes,
            part_bytes,
            part_count,
            alt,
            created_at: now,
            expires_at: now + UNATTACHED_TTL,
        };
        self.stores.media.put_upload(&session).await?;
        self.upload_plan(session, Vec::new()).await
    }

    async fn upload_plan(
        &self,
        session: UploadSession,
        received: Vec<StoredPart>,
    ) -> Result<UploadPlan> {
        let key = ObjectKey::original(&session.workspace_id, &session.media_id);
        let mut parts = Vec::new();
        for number in 1..=session.part_count {
            if received.iter().any(|p| p.number == number) {
                continue;
            }
            let first_byte = u64::from(number - 1) * session.part_bytes;
            let last_byte = (first_byte + session.part_bytes).min(session.declared_bytes) - 1;
            let url = self
                .blobs
                .part_link(&key, &session.store_upload_id, number, PART_LINK_TTL)
                .await
                .map_err(|e| blob_error(e, "signing a part link"))?;
            parts.push(PartPlan {
                number,
                first_byte,
                last_byte,
                url,
            });
        }
        Ok(UploadPlan {
            session,
            parts,
            received,
        })
    }

    async fn get_upload_session(&self, ws: &WorkspaceId, id: &UploadId) -> Result<UploadSession> {
        self.stores
            .media
            .get_upload(ws, id, self.now())
            .await?
            .ok_or(Error::NotFound("upload"))
    }

    /// An upload's state: the parts received, and fresh links for the parts still to send (to resume).
    pub async fn upload_status(&self, ws: &WorkspaceId, id: &UploadId) -> Result<UploadPlan> {
        let session = self.get_upload_session(ws, id).await?;
        let key = ObjectKey::original(ws, &session.media_id);
        let received = self
            .blobs
            .list_parts(&key, &session.store_upload_id)
            .await
            .map_err(|e| blob_error(e, "listing the parts"))?;
        self.upload_plan(session, received).await
    }

    /// Joins an upload's parts into the file, checks it and adds it to the library. `parts` are the numbers and
    /// ETags the client got back; without them the parts the store holds are used. Parts that do not add up to the
    /// announced size are refused, and the upload stays open to send what is missing.
    pub async fn complete_upload(
        &self,
        ws: &WorkspaceId,
        id: &UploadId,
        parts: Option<Vec<CompletedPart>>,
    ) -> Result<MediaItem> {
        let session = self.get_upload_session(ws, id).await?;
        let key = ObjectKey::original(ws, &session.media_id);
        let stored = self
            .blobs
            .list_parts(&key, &session.store_upload_id)
            .await
            .map_err(|e| blob_error(e, "listing the parts"))?;
        let total: u64 = stored.iter().map(|p| p.bytes).sum();
        let missing: Vec<u32> = (1..=session.part_count)
            .filter(|n| !stored.iter().any(|p| p.number == *n))
            .collect();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(10).map(u32::to_string).collect();
            return Err(Error::invalid(
                "parts",
                format!(
                    "the upload is missing {} of its {} parts (numbers {}{}); send them and complete again",
                    missing.len(),
                    session.part_count,
                    shown.join(", "),
                    if missing.len() > 10 { ", …" } else { "" }
                ),
            ));
        }
        if total != session.declared_bytes || stored.len() as u64 != u64::from(session.part_count) {
            // More than was announced arrived: this upload cannot become the file it said it was.
            self.drop_upload(&session).await;
            return Err(Error::invalid(
                "parts",
                format!(
                    "the parts add up to {total} bytes in {} parts, not the {} bytes in {} parts announced; \
                     the upload was discarded, start a new one",
                    stored.len(),
                    session.declared_bytes,
                    session.part_count
                ),
            ));
        }
        let parts = match parts {
            Some(p) => p,
            None => stored
                .iter()
                .map(|p| CompletedPart {
                    number: p.number,
                    etag: p.etag.clone(),
                })
                .collect(),
        };
        let bytes = self
            .blobs
            .complete_upload(&key, &session.store_upload_id, &parts)
            .await
            .map_err(|e| blob_error(e, "joining the parts"))?;
        self.stores.media.delete_upload(ws, id).await?;
        self.register(
            ws,
            session.media_id.clone(),
            key,
            bytes,
            None,
            session.alt.clone(),
            MediaSource::Upload,
        )
        .await
    }

    async fn drop_upload(&self, session: &UploadSession) {
        let key = ObjectKey::original(&session.workspace_id, &session.media_id);
        if let Err(e) = self
            .blobs
            .abort_upload(&key, &session.store_upload_id)
            .await
        {
            tracing::warn!(upload_id = %session.id, error = %e, "could not abort an upload; the sweep will");
        }
        if let Err(e) = self
            .stores
            .media
            .delete_upload(&session.workspace_id, &session.id)
            .await
        {
            tracing::warn!(upload_id = %session.id, error = %e, "could not delete an upload record");
        }
    }

    /// Discards an upload and the parts sent so far.
    pub async fn abort_upload(&self, ws: &WorkspaceId, id: &UploadId) -> Result<()> {
        let session = self.get_upload_session(ws, id).await?;
        self.drop_upload(&session).await;
        Ok(())
    }

    pub async fn get_media(&self, ws: &WorkspaceId, id: &MediaId) -> Result<MediaItem> {
        self.stores
            .media
            .get_media(ws, id)
            .await?
            .ok_or(Error::NotFound("media item"))
    }

    pub async fn list_media(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<MediaItem>> {
        match self.stores.media.list_media(ws, limit, cursor).await {
            Err(crate::ports::StoreError::NotFound) => Err(Error::invalid(
                "cursor",
                "is not a cursor this API returned",
            )),
            other => Ok(other?),
        }
    }

    /// Sets or clears an item's alternative text.
    pub async fn set_media_alt(
        &self,
        ws: &WorkspaceId,
        id: &MediaId,
        alt: Option<&str>,
    ) -> Result<MediaItem> {
        let alt = check_alt("alt", alt)?;
        let current = self.get_media(ws, id).await?;
        let mut next = current.clone();
        next.alt = alt;
        next.updated_at = self.now();
        next.version += 1;
        match self
            .stores
            .media
            .update_media(&next, current.version, u64::MAX)
            .await?
        {
            Admission::Stored => Ok(next),
            Admission::OverQuota { used } => Err(self.quota_error(used)),
        }
    }

    /// Deletes an item and its bytes, unless a delivery that has not finished uses it.
    pub async fn delete_media(
        &self,
        ws: &WorkspaceId,
        id: &MediaId,
        by: Option<crate::domain::ActedBy>,
    ) -> Result<()> {
        let item = self.get_media(ws, id).await?;
        for post_id in self.stores.media.posts_using(ws, id).await? {
            let Some(record) = self.stores.posts.get_post(ws, &post_id).await? else {
                continue;
            };
            if record.deliveries.iter().any(|d| !d.status.is_terminal()) {
                return Err(Error::conflict(
                    "media_in_use",
                    format!(
                        "post {post_id} will still publish this media item; cancel it or wait until it has published"
                    ),
                ));
            }
        }
        self.remove_item(&item).await?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "media.deleted",
                serde_json::json!({"media_id": id}),
            )
            .acted_by(by),
        )
        .await;
        Ok(())
    }

    /// Removes an item's objects, then its record.
    async fn remove_item(&self, item: &MediaItem) -> Result<()> {
        let ws = &item.workspace_id;
        for key in object_keys(item) {
            self.blobs
                .delete(&key)
                .await
                .map_err(|e| blob_error(e, "deleting the file"))?;
        }
        match self
            .stores
            .media
            .delete_media(ws, &item.id, item.version)
            .await
        {
            Ok(()) | Err(crate::ports::StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks every object of an item as used by a post, so the object store's clean-up of unattached uploads keeps
    /// them.
    pub(crate) async fn mark_objects_attached(&self, item: &MediaItem) -> Result<()> {
        for key in object_keys(item) {
            match self.blobs.mark_attached(&key).await {
                Ok(()) | Err(BlobError::NotFound) => {}
                Err(e) => return Err(blob_error(e, "marking the file as used")),
            }
        }
        Ok(())
    }

    /// A short-lived link to an item's original bytes.
    pub async fn media_link(&self, ws: &WorkspaceId, id: &MediaId) -> Result<url::Url> {
        let item = self.get_media(ws, id).await?;
        self.blobs
            .fetch_link(
                &ObjectKey::original(ws, id),
                item.info.format.mime(),
                FETCH_LINK_TTL,
            )
            .await
            .map_err(|e| blob_error(e, "signing a link"))
    }

    /// Removes what nobody uses: items no post used a day after they were made, uploads never completed, and, when
    /// the workspace keeps media for a limited time, the media of posts that finished longer ago than that.
    pub async fn sweep_media(&self) -> Result<MediaSweep> {
        let now = self.now();
        let mut report = MediaSweep::default();
        for item in self
            .stores
            .media
            .unattached_media(now - UNATTACHED_TTL, SWEEP_BATCH)
            .await?
        {
            self.remove_item(&item).await?;
            report.unattached_removed += 1;
        }
        for upload in self.stores.media.expired_uploads(now, SWEEP_BATCH).await? {
            self.drop_upload(&upload).await;
            report.uploads_aborted += 1;
        }
        if let Some(retention) = self.settings.media.retention {
            report.expired_removed = self.sweep_retained(now - retention).await?;
        }
        if report != MediaSweep::default() {
            tracing::info!(?report, "media swept");
        }
        Ok(report)
    }

    /// Removes the media whose every post finished before `before`.
    async fn sweep_retained(&self, before: DateTime<Utc>) -> Result<usize> {
        let mut removed = 0;
        for ws in self.stores.workspaces.list_workspaces().await? {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .stores
                    .media
                    .list_media(&ws.id, 100, cursor.as_deref())
                    .await?;
                for item in &page.items {
                    if item.attached_at.is_none_or(|t| t >= before) {
                        continue;
                    }
                    if self.finished_before(item, before).await? {
                        self.remove_item(item).await?;
                        removed += 1;
                    }
                }
                match page.next_cursor {
                    Some(c) if removed < SWEEP_BATCH => cursor = Some(c),
                    _ => break,
                }
            }
        }
        Ok(removed)
    }

    async fn finished_before(&self, item: &MediaItem, before: DateTime<Utc>) -> Result<bool> {
        for post_id in self
            .stores
            .media
            .posts_using(&item.workspace_id, &item.id)
            .await?
        {
            let Some(record) = self
                .stores
                .posts
                .get_post(&item.workspace_id, &post_id)
                .await?
            else {
                continue;
            };
            let done = record
                .deliveries
                .iter()
                .all(|d| d.status.is_terminal() && d.updated_at < before);
            if !done {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
