//! Fitting media to platforms: the renditions a post's targets need are made when the post is written (once per
//! recipe, shared by every platform that needs the same one), and the publisher hands each platform the version that
//! fits it, as a short-lived link and as bytes to read.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{blob_error, App, FETCH_LINK_TTL};
use crate::domain::media::ORIGINAL;
use crate::domain::media_rules::{assess, Assessment};
use crate::domain::{Media, MediaItem, PlatformKind, Rendition, WorkspaceId};
use crate::error::{Error, Result};
use crate::ports::{
    Admission, BlobStore, ByteStream, MediaBytes, ObjectKey, PlatformError, PublishMedia,
    StoreError,
};

/// How many times making a rendition reads the item again after it changed underneath.
const RENDITION_ROUNDS: usize = 3;

/// Reads one object's bytes for a platform adapter.
pub struct BlobBytes {
    blobs: Arc<dyn BlobStore>,
    key: ObjectKey,
}

impl BlobBytes {
    pub fn new(blobs: Arc<dyn BlobStore>, key: ObjectKey) -> Self {
        Self { blobs, key }
    }
}

#[async_trait]
impl MediaBytes for BlobBytes {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<ByteStream, PlatformError> {
        self.blobs.read(&self.key, range).await.map_err(|e| {
            PlatformError::Transient(format!("reading the media from storage failed: {e}"))
        })
    }
}

impl App {
    /// Makes the renditions `platforms` need of `item` that it does not have yet, and returns the item as stored.
    pub(crate) async fn fit_media(
        &self,
        item: MediaItem,
        platforms: &[PlatformKind],
    ) -> Result<MediaItem> {
        let mut item = item;
        for platform in platforms {
            let Assessment::Fitted { rendition: spec } = assess(*platform, &item.info, item.bytes)
            else {
                continue;
            };
            let name = spec.name();
            if item.rendition(&name).is_some() {
                continue;
            }
            item = self.add_rendition(item, &spec).await?;
        }
        Ok(item)
    }

    async fn add_rendition(
        &self,
        item: MediaItem,
        spec: &crate::media::fit::RenditionSpec,
    ) -> Result<MediaItem> {
        let ws = item.workspace_id.clone();
        let name = spec.name();
        let original = self.read_whole(&ws, &item).await?;
        let info = item.info.clone();
        let recipe = *spec;
        let rendered = tokio::task::spawn_blocking(move || {
            crate::media::fit::render(&original, &info, &recipe).map_err(|e| e.to_string())
        })
        .await
        .map_err(|_| Error::Unavailable("making a rendition stopped unexpectedly".into()))?
        .map_err(|m| {
            Error::invalid(
                "media",
                format!("media item {} could not be fitted: {m}", item.id),
            )
        })?;
        let rendition = Rendition {
            name: name.clone(),
            format: rendered.format,
            width: rendered.width,
            height: rendered.height,
            bytes: rendered.bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&rendered.bytes)),
        };
        let key = ObjectKey::new(&ws, &item.id, &name);
        let len = rendered.bytes.len() as u64;
        let body: ByteStream = Box::pin(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(rendered.bytes))
        }));
        self.blobs
            .put(&key, rendition.format.mime(), body, len)
            .await
            .map_err(|e| blob_error(e, "storing a rendition"))?;
        let mut current = item;
        for _ in 0..RENDITION_ROUNDS {
            if current.rendition(&name).is_some() {
                return Ok(current);
            }
            let mut next = current.clone();
            next.renditions.push(rendition.clone());
            next.updated_at = self.now();
            next.version += 1;
            match self
                .stores
                .media
                .update_media(&next, current.version, self.settings.media.quota_bytes)
                .await
            {
                Ok(Admission::Stored) => {
                    if next.attached_at.is_some() {
                        if let Err(e) = self.blobs.mark_attached(&key).await {
                            tracing::warn!(media_id = %next.id, error = %e, "could not mark a rendition as used");
                        }
                    }
                    return Ok(next);
                }
                Ok(Admission::OverQuota { used }) => {
                    let _ = self.blobs.delete(&key).await;
                    return Err(self.quota_error(used));
                }
                Err(StoreError::Conflict) => {
                    current = self.get_media(&ws, &current.id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::conflict(
            "conflict",
            "the media item kept changing while a rendition was made; try again",
        ))
    }

    /// The whole original of an image, for decoding (images are bounded by the rules long before memory is).
    async fn read_whole(&self, ws: &WorkspaceId, item: &MediaItem) -> Result<Vec<u8>> {
        let key = ObjectKey::original(ws, &item.id);
        let mut body = self
            .blobs
            .read(&key, 0..item.bytes)
            .await
            .map_err(|e| blob_error(e, "reading the original"))?;
        let mut out = Vec::with_capacity(usize::try_from(item.bytes).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| Error::Unavailable(format!("reading the original failed: {e}")))?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The media of `post` as `platform` gets them: for each, the rendition that fits (made now if it is missing),
    /// a short-lived link and a reader of its bytes.
    pub(crate) async fn publish_media(
        &self,
        ws: &WorkspaceId,
        media: &[Media],
        platform: PlatformKind,
    ) -> Result<Vec<PublishMedia>, PlatformError> {
        let mut out = Vec::with_capacity(media.len());
        for m in media {
            let item = match self.stores.media.get_media(ws, &m.media_id).await {
                Ok(Some(item)) => item,
                Ok(None) => {
                    return Err(PlatformError::Rejected(format!(
                        "media item {} was deleted before the post was published",
                        m.media_id
                    )))
                }
                Err(e) => {
                    return Err(PlatformError::Transient(format!(
                        "reading media item {}: {e}",
                        m.media_id
                    )))
                }
            };
            let (name, format, width, height, bytes, sha256) =
                match assess(platform, &item.info, item.bytes) {
                    Assessment::Accepted => (
                        ORIGINAL.to_owned(),
                        item.info.format,
                        item.info.width,
                        item.info.height,
                        item.bytes,
                        item.sha256.clone(),
                    ),
                    Assessment::Fitted { rendition: spec } => {
                        let item = self.fit_media(item.clone(), &[platform]).await.map_err(
                            |e| match e {
                                Error::Validation(_) => PlatformError::Rejected(e.to_string()),
                                other => PlatformError::Transient(other.to_string()),
                            },
                        )?;
                        let r = item.rendition(&spec.name()).cloned().ok_or_else(|| {
                            PlatformError::Transient("the rendition is not stored yet".into())
                        })?;
                        (r.name, r.format, r.width, r.height, r.bytes, r.sha256)
                    }
                    Assessment::Refused { message, .. } => {
                        return Err(PlatformError::Rejected(format!(
                            "media item {}: {message}",
                            item.id
                        )))
                    }
                };
            let key = ObjectKey::new(ws, &item.id, &name);
            let url = self
                .blobs
                .fetch_link(&key, format.mime(), FETCH_LINK_TTL)
                .await
                .map_err(|e| PlatformError::Transient(format!("signing a media link: {e}")))?;
            out.push(PublishMedia {
                id: item.id.clone(),
                kind: format.kind(),
                format,
                alt: m.alt.clone().or_else(|| item.alt.clone()),
                width,
                height,
                duration_ms: item.info.duration_ms,
                bytes,
                sha256,
                url: url.to_string(),
                content: Arc::new(BlobBytes::new(self.blobs.clone(), key)),
            });
        }
        Ok(out)
    }
}
