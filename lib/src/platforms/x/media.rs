//! Media through X's v2 upload (the v1.1 upload is retired): images in one `POST /2/media/upload`; GIFs and videos
//! in chunks (`initialize` → `append` × n → `finalize`), then `GET /2/media/upload?command=STATUS` while X processes
//! them; alternative text through `POST /2/media/metadata`.
//!
//! Each item is checkpointed once it is uploaded, so an attempt that ran out of time while X processed a video, or
//! crashed, goes on with the same media id instead of uploading again. Waiting on processing never holds an attempt
//! past its deadline: when the next status read would not fit in [`Progress::time_left`], the attempt ends with
//! [`PlatformError::Processing`], the media id already checkpointed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::{call, CallKind};
use crate::domain::{bounds, MediaFormat, MediaKind};
use crate::platforms::http::endpoint;
use crate::platforms::polling::{HintedPolling, Poll};
use crate::ports::{PlatformError, Progress, PublishMedia};

/// The documented paths, on the API origin.
pub mod paths {
    pub const UPLOAD: &str = "/2/media/upload";
    pub const INITIALIZE: &str = "/2/media/upload/initialize";
    pub const METADATA: &str = "/2/media/metadata";

    pub fn append(id: &str) -> String {
        format!("/2/media/upload/{id}/append")
    }

    pub fn finalize(id: &str) -> String {
        format!("/2/media/upload/{id}/finalize")
    }
}

/// The size of one appended segment: 4 MiB, or more for a file that would need over 999 segments (X numbers them
/// 0 to 999).
pub const CHUNK_BYTES: u64 = 4 << 20;
const MAX_SEGMENTS: u64 = 1000;

/// One uploaded item, as checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Its place among the part's media.
    pub index: usize,
    /// The SHA-256 of what was uploaded, so a changed rendition is uploaded again.
    pub sha256: String,
    pub media_id: String,
    pub uploaded_at: DateTime<Utc>,
    /// When X forgets the upload (`expires_after_secs`), if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether X finished processing it.
    pub ready: bool,
    /// Whether its alternative text is set (or it has none).
    pub described: bool,
}

/// What an X publish recorded so far: the uploaded media, and whether `POST /2/tweets` was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XCheckpoint {
    #[serde(default)]
    pub media: Vec<Uploaded>,
    /// When the post itself was about to be sent. Absent: `POST /2/tweets` was never called for this part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_sent_at: Option<DateTime<Utc>>,
}

impl XCheckpoint {
    /// The checkpoint an earlier attempt left, if it is one of X's.
    pub fn read(value: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(value?.get("x")?.clone()).ok()
    }

    pub async fn save(&self, progress: &dyn Progress) -> Result<(), PlatformError> {
        let value = serde_json::to_value(self)
            .map_err(|_| PlatformError::Transient("could not record the X upload".into()))?;
        progress.checkpoint(json!({ "x": value })).await
    }

    /// The usable upload of `item` at `index`, if an earlier attempt made one that X still holds.
    fn reusable(&self, index: usize, item: &PublishMedia, now: DateTime<Utc>) -> Option<Uploaded> {
        self.media
            .iter()
            .find(|u| {
                u.index == index
                    && u.sha256 == item.sha256
                    && u.expires_at
                        .is_none_or(|e| e > now + chrono::Duration::minutes(5))
            })
            .cloned()
    }

    fn put(&mut self, uploaded: Uploaded) {
        self.media.retain(|u| u.index != uploaded.index);
        self.media.push(uploaded);
        self.media.sort_by_key(|u| u.index);
    }
}

#[derive(Debug, Deserialize)]
struct ProcessingInfo {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    check_after_secs: Option<u64>,
    #[serde(default)]
    error: Option<ProcessingError>,
}

#[derive(Debug, Deserialize)]
struct ProcessingError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MediaData {
    id: String,
    #[serde(default)]
    expires_after_secs: Option<u64>,
    #[serde(default)]
    processing_info: Option<ProcessingInfo>,
}

#[derive(Debug, Deserialize)]
struct MediaAnswer {
    data: Option<MediaData>,
}

impl MediaAnswer {
    fn data(self, what: &str) -> Result<MediaData, PlatformError> {
        self.data.ok_or_else(|| {
            PlatformError::Transient(format!("{what}: X answered without the media"))
        })
    }
}

/// What X says of an upload's processing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Ready,
    Processing(Option<Duration>),
    Failed(String),
}

fn state_of(info: Option<&ProcessingInfo>) -> State {
    let Some(info) = info else {
        return State::Ready;
    };
    match info.state.as_deref() {
        Some("succeeded") | None => State::Ready,
        Some("failed") => State::Failed(
            info.error
                .as_ref()
                .and_then(|e| e.message.clone().or_else(|| e.name.clone()))
                .unwrap_or_else(|| "X could not process the media".into()),
        ),
        // pending, in_progress, and any state X adds later: wait.
        Some(_) => State::Processing(info.check_after_secs.map(bounds::wait_hint_secs)),
    }
}

/// The media category X files an item under.
fn category(item: &PublishMedia) -> &'static str {
    match (item.kind, item.format) {
        (MediaKind::Video, _) => "tweet_video",
        (_, MediaFormat::Gif) => "tweet_gif",
        _ => "tweet_image",
    }
}

/// Uploads a part's media for the user of `token`.
pub struct Uploader<'a> {
    pub http: &'a reqwest::Client,
    pub origin: &'a url::Url,
    pub token: &'a SecretString,
    pub polling: HintedPolling,
}

impl Uploader<'_> {
    fn url(&self, path: &str) -> url::Url {
        endpoint(self.origin, path)
    }

    /// Every item's media id, in order: reusing what `checkpoint` holds, uploading the rest, waiting until X has
    /// processed each and setting its alternative text. The checkpoint is saved after each item.
    pub async fn upload_all(
        &self,
        items: &[PublishMedia],
        checkpoint: &mut XCheckpoint,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, PlatformError> {
        let mut ids = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let mut uploaded = match checkpoint.reusable(index, item, Utc::now()) {
                Some(u) => {
                    tracing::info!(platform = "x", media = %u.media_id, "resuming an uploaded media item");
                    u
                }
                None => {
                    let (media_id, expires_after, state) = self.upload(item).await?;
                    let now = Utc::now();
                    let uploaded = Uploaded {
                        index,
                        sha256: item.sha256.clone(),
                        media_id,
                        uploaded_at: now,
                        expires_at: expires_after.map(|s| {
                            bounds::after(now, Duration::from_secs(s.min(bounds::MAX_ENV_SECS)))
                        }),
                        ready: state == State::Ready,
                        described: false,
                    };
                    if let State::Failed(why) = state {
                        return Err(PlatformError::Rejected(format!(
                            "X could not process the media: {why}"
                        )));
                    }
                    checkpoint.put(uploaded.clone());
                    checkpoint.save(progress).await?;
                    uploaded
                }
            };
            if !uploaded.ready {
                self.wait_until_ready(&uploaded, progress).await?;
                uploaded.ready = true;
            }
            if !uploaded.described {
                if let Some(alt) = item.alt.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                    self.describe(&uploaded.media_id, alt).await?;
                }
                uploaded.described = true;
                checkpoint.put(uploaded.clone());
                checkpoint.save(progress).await?;
            }
            ids.push(uploaded.media_id);
        }
        Ok(ids)
    }

    /// Uploads one item: the media id, how long X keeps it, and its processing state.
    async fn upload(
        &self,
        item: &PublishMedia,
    ) -> Result<(String, Option<u64>, State), PlatformError> {
        let data = if category(item) == "tweet_image" {
            self.upload_one_shot(item).await?
        } else {
            self.upload_chunked(item).await?
        };
        let state = state_of(data.processing_info.as_ref());
        Ok((data.id, data.expires_after_secs, state))
    }

    async fn read_all(&self, item: &PublishMedia) -> Result<Vec<u8>, PlatformError> {
        let stream = item.content.read(0..item.bytes).await?;
        let chunks: Vec<bytes::Bytes> = stream
            .try_collect()
            .await
            .map_err(|e| PlatformError::Transient(format!("could not read the media: {e}")))?;
        Ok(chunks.concat())
    }

    async fn upload_one_shot(&self, item: &PublishMedia) -> Result<MediaData, PlatformError> {
        let bytes = self.read_all(item).await?;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("media")
            .mime_str(item.format.mime())
            .map_err(|_| PlatformError::Rejected("the media type is not one X takes".into()))?;
        let form = reqwest::multipart::Form::new()
            .text("media_category", category(item))
            .part("media", part);
        let what = "uploading an image to X";
        let answer = call::<MediaAnswer>(
            self.http.post(self.url(paths::UPLOAD)).multipart(form),
            self.token,
            CallKind::Media,
            what,
        )
        .await?;
        answer.value.data(what)
    }

    async fn upload_chunked(&self, item: &PublishMedia) -> Result<MediaData, PlatformError> {
        let what = "starting a chunked upload to X";
        let init = call::<MediaAnswer>(
            self.http.post(self.url(paths::INITIALIZE)).json(&json!({
                "media_type": item.format.mime(),
                "total_bytes": item.bytes,
                "media_category": category(item),
            })),
            self.token,
            CallKind::Media,
            what,
        )
        .await?
        .value
        .data(what)?;
        let id = init.id;
        let chunk = CHUNK_BYTES.max(item.bytes.div_ceil(MAX_SEGMENTS));
        let mut start = 0u64;
        let mut segment = 0u64;
        while start < item.bytes {
            let end = (start + chunk).min(item.bytes);
            let stream = item.content.read(start..end).await?;
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::wrap_stream(stream),
                end - start,
            )
            .file_name("media")
            .mime_str("application/octet-stream")
            .map_err(|_| PlatformError::Transient("could not prepare a segment".into()))?;
            let form = reqwest::multipart::Form::new()
                .text("segment_index", segment.to_string())
                .part("media", part);
            call::<serde_json::Value>(
                self.http
                    .post(self.url(&paths::append(&id)))
                    .multipart(form),
                self.token,
                CallKind::Media,
                "appending a segment to an X upload",
            )
            .await?;
            start = end;
            segment += 1;
        }
        let what = "finalizing an X upload";
        call::<MediaAnswer>(
            self.http.post(self.url(&paths::finalize(&id))),
            self.token,
            CallKind::Media,
            what,
        )
        .await?
        .value
        .data(what)
    }

    async fn status(&self, media_id: &str) -> Result<State, PlatformError> {
        let what = "reading an X upload's status";
        let mut url = self.url(paths::UPLOAD);
        url.query_pairs_mut()
            .append_pair("command", "STATUS")
            .append_pair("media_id", media_id);
        let data = call::<MediaAnswer>(self.http.get(url), self.token, CallKind::Read, what)
            .await?
            .value
            .data(what)?;
        Ok(state_of(data.processing_info.as_ref()))
    }

    /// Polls until X has processed the upload, within the attempt's time.
    async fn wait_until_ready(
        &self,
        uploaded: &Uploaded,
        progress: &dyn Progress,
    ) -> Result<(), PlatformError> {
        loop {
            let hint = match self.status(&uploaded.media_id).await? {
                State::Ready => return Ok(()),
                State::Failed(why) => {
                    return Err(PlatformError::Rejected(format!(
                        "X could not process the media: {why}"
                    )))
                }
                State::Processing(hint) => hint,
            };
            let waited = (Utc::now() - uploaded.uploaded_at)
                .to_std()
                .unwrap_or(Duration::ZERO);
            match self.polling.next(waited, hint, progress.time_left()) {
                Poll::Wait(wait) => tokio::time::sleep(wait).await,
                Poll::Later(wait) => {
                    tracing::info!(platform = "x", media = %uploaded.media_id, "X is still processing the media; the attempt ends here");
                    return Err(PlatformError::Processing {
                        retry_after: wait,
                        message: format!(
                            "X is still processing the media after {} s; continuing with the same upload",
                            waited.as_secs()
                        ),
                    });
                }
                Poll::GiveUp => {
                    return Err(PlatformError::Transient(format!(
                        "X was still processing the media after {} s",
                        waited.as_secs()
                    )))
                }
            }
        }
    }

    async fn describe(&self, media_id: &str, alt: &str) -> Result<(), PlatformError> {
        // X takes at most 1,000 characters of alternative text.
        let alt: String = alt.chars().take(1000).collect();
        call::<serde_json::Value>(
            self.http.post(self.url(paths::METADATA)).json(&json!({
                "id": media_id,
                "metadata": {"alt_text": {"text": alt}},
            })),
            self.token,
            CallKind::Media,
            "setting an X media item's alternative text",
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_states() {
        let info = |s: &str, after: Option<u64>| ProcessingInfo {
            state: Some(s.into()),
            check_after_secs: after,
            error: None,
        };
        assert_eq!(state_of(None), State::Ready);
        assert_eq!(state_of(Some(&info("succeeded", None))), State::Ready);
        assert_eq!(
            state_of(Some(&info("pending", Some(5)))),
            State::Processing(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            state_of(Some(&info("in_progress", Some(u64::MAX)))),
            State::Processing(Some(bounds::MAX_WAIT_HINT))
        );
        assert!(matches!(
            state_of(Some(&info("failed", None))),
            State::Failed(_)
        ));
    }

    #[test]
    fn checkpoints_round_trip_and_foreign_ones_are_ignored() {
        let mut c = XCheckpoint::default();
        c.put(Uploaded {
            index: 0,
            sha256: "aa".into(),
            media_id: "1".into(),
            uploaded_at: Utc::now(),
            expires_at: None,
            ready: true,
            described: false,
        });
        c.post_sent_at = Some(Utc::now());
        let v = json!({ "x": serde_json::to_value(&c).unwrap() });
        assert_eq!(XCheckpoint::read(Some(&v)), Some(c));
        assert_eq!(
            XCheckpoint::read(Some(&json!({"meta_container": {"id": "1"}}))),
            None
        );
    }
}
