//! Media through LinkedIn's Images and Videos APIs.
//!
//! An image: `POST /rest/images?action=initializeUpload` gives an upload URL and the image URN; the bytes go to the
//! URL in one `PUT`. A video: `POST /rest/videos?action=initializeUpload` gives the video URN and upload
//! instructions (byte ranges and their URLs); each part goes in a `PUT` whose `ETag` is kept, then
//! `POST /rest/videos?action=finalizeUpload` names the ETags in order, and `GET /rest/videos/{urn}` is read until
//! the video is `AVAILABLE`.
//!
//! Every step is checkpointed (each part's ETag as it comes), so an attempt that crashed or ran out of time goes on
//! where it stopped. Waiting for LinkedIn to process a video never holds an attempt past its deadline: when the next
//! status read would not fit in [`Progress::time_left`], the attempt ends with [`PlatformError::Processing`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::{send, urn_segment, versioned, CallKind, Limits};
use crate::domain::MediaKind;
use crate::platforms::http::endpoint;
use crate::platforms::polling::{HintedPolling, Poll};
use crate::ports::{PlatformError, Progress, PublishMedia};

/// The documented paths, on the API origin.
pub mod paths {
    pub const IMAGES: &str = "/rest/images";
    pub const VIDEOS: &str = "/rest/videos";
}

/// One upload instruction: a byte range (inclusive) and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instruction {
    pub upload_url: String,
    pub first_byte: u64,
    pub last_byte: u64,
}

/// One item as checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    pub index: usize,
    pub sha256: String,
    /// `urn:li:image:…` or `urn:li:video:…`.
    pub urn: String,
    /// Whether the bytes are all there (an image's `PUT`, a video's finalize).
    pub complete: bool,
    /// Whether LinkedIn has it ready for a post.
    pub ready: bool,
    /// A video's upload: its instructions, token, and the ETags of the parts sent so far, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instructions: Vec<Instruction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_token: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub etags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls_expire_at: Option<DateTime<Utc>>,
    /// When the upload was complete (the start of the wait for processing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// What a LinkedIn publish recorded so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedInCheckpoint {
    #[serde(default)]
    pub media: Vec<Uploaded>,
    /// When `POST /rest/posts` was about to be sent. Absent: it never was, for this part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_sent_at: Option<DateTime<Utc>>,
}

impl LinkedInCheckpoint {
    pub fn read(value: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(value?.get("linkedin")?.clone()).ok()
    }

    pub async fn save(&self, progress: &dyn Progress) -> Result<(), PlatformError> {
        let value = serde_json::to_value(self)
            .map_err(|_| PlatformError::Transient("could not record the LinkedIn upload".into()))?;
        progress.checkpoint(json!({ "linkedin": value })).await
    }

    fn find(&self, index: usize, item: &PublishMedia, now: DateTime<Utc>) -> Option<Uploaded> {
        self.media
            .iter()
            .find(|u| {
                u.index == index
                    && u.sha256 == item.sha256
                    // Parts not all sent yet can be sent only while their URLs last.
                    && (u.complete
                        || u.urls_expire_at
                            .is_none_or(|e| e > now + chrono::Duration::minutes(5)))
            })
            .cloned()
    }

    fn put(&mut self, uploaded: Uploaded) {
        self.media.retain(|u| u.index != uploaded.index);
        self.media.push(uploaded);
        self.media.sort_by_key(|u| u.index);
    }
}

#[derive(Deserialize)]
struct Wrapped<T> {
    value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageInit {
    upload_url: String,
    image: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VideoInit {
    video: String,
    #[serde(default)]
    upload_instructions: Vec<Instruction>,
    #[serde(default)]
    upload_token: Option<String>,
    #[serde(default)]
    upload_urls_expire_at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VideoStatus {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    processing_failure_reason: Option<String>,
}

/// Uploads a part's media, owned by `owner` (the post's author).
pub struct Uploader<'a> {
    pub http: &'a reqwest::Client,
    pub origin: &'a url::Url,
    pub token: &'a SecretString,
    pub version: &'a str,
    pub limits: Limits,
    pub polling: HintedPolling,
    pub owner: &'a str,
}

impl Uploader<'_> {
    fn call(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        versioned(request, self.token, self.version)
    }

    /// Every item's URN, in order, each uploaded (or resumed from the checkpoint) and ready.
    pub async fn upload_all(
        &self,
        items: &[PublishMedia],
        checkpoint: &mut LinkedInCheckpoint,
        progress: &dyn Progress,
    ) -> Result<Vec<String>, PlatformError> {
        let mut urns = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let mut uploaded = match checkpoint.find(index, item, Utc::now()) {
                Some(u) => u,
                None => {
                    let u = match item.kind {
                        MediaKind::Image => self.init_image(index, item).await?,
                        MediaKind::Video => self.init_video(index, item).await?,
                    };
                    checkpoint.put(u.clone());
                    checkpoint.save(progress).await?;
                    u
                }
            };
            if !uploaded.complete {
                match item.kind {
                    MediaKind::Image => {
                        let url = uploaded
                            .instructions
                            .first()
                            .map(|i| i.upload_url.clone())
                            .unwrap_or_default();
                        self.put_image(&url, item).await?;
                        uploaded.ready = true;
                    }
                    MediaKind::Video => {
                        self.send_parts(&mut uploaded, item, checkpoint, progress)
                            .await?;
                        self.finalize(&uploaded).await?;
                    }
                }
                uploaded.complete = true;
                uploaded.completed_at = Some(Utc::now());
                checkpoint.put(uploaded.clone());
                checkpoint.save(progress).await?;
            }
            if !uploaded.ready {
                self.wait_until_available(&uploaded, progress).await?;
                uploaded.ready = true;
                checkpoint.put(uploaded.clone());
                checkpoint.save(progress).await?;
            }
            urns.push(uploaded.urn);
        }
        Ok(urns)
    }

    async fn init_image(
        &self,
        index: usize,
        item: &PublishMedia,
    ) -> Result<Uploaded, PlatformError> {
        let what = "starting an image upload to LinkedIn";
        let mut url = endpoint(self.origin, paths::IMAGES);
        url.set_query(Some("action=initializeUpload"));
        let init: Wrapped<ImageInit> = send(
            self.call(self.http.post(url)).json(&json!({
                "initializeUploadRequest": { "owner": self.owner }
            })),
            CallKind::Read,
            self.version,
            self.limits,
            what,
        )
        .await?
        .json(what)?;
        Ok(Uploaded {
            index,
            sha256: item.sha256.clone(),
            urn: init.value.image,
            complete: false,
            ready: false,
            instructions: vec![Instruction {
                upload_url: init.value.upload_url,
                first_byte: 0,
                last_byte: item.bytes.saturating_sub(1),
            }],
            upload_token: None,
            etags: vec![],
            urls_expire_at: None,
            completed_at: None,
        })
    }

    async fn read(
        &self,
        item: &PublishMedia,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, PlatformError> {
        let stream = item.content.read(range).await?;
        let chunks: Vec<bytes::Bytes> = stream
            .try_collect()
            .await
            .map_err(|e| PlatformError::Transient(format!("could not read the media: {e}")))?;
        Ok(chunks.concat())
    }

    async fn put_image(&self, url: &str, item: &PublishMedia) -> Result<(), PlatformError> {
        let url = url::Url::parse(url).map_err(|_| {
            PlatformError::Transient("LinkedIn gave an upload URL that is not a URL".into())
        })?;
        let bytes = self.read(item, 0..item.bytes).await?;
        send(
            self.http
                .put(url)
                .bearer_auth(secrecy::ExposeSecret::expose_secret(self.token))
                .header(reqwest::header::CONTENT_TYPE, item.format.mime())
                .body(bytes),
            CallKind::Read,
            self.version,
            self.limits,
            "uploading an image to LinkedIn",
        )
        .await?;
        Ok(())
    }

    async fn init_video(
        &self,
        index: usize,
        item: &PublishMedia,
    ) -> Result<Uploaded, PlatformError> {
        let what = "starting a video upload to LinkedIn";
        let mut url = endpoint(self.origin, paths::VIDEOS);
        url.set_query(Some("action=initializeUpload"));
        let init: Wrapped<VideoInit> = send(
            self.call(self.http.post(url)).json(&json!({
                "initializeUploadRequest": {
                    "owner": self.owner,
                    "fileSizeBytes": item.bytes,
                    "uploadCaptions": false,
                    "uploadThumbnail": false,
                }
            })),
            CallKind::Read,
            self.version,
            self.limits,
            what,
        )
        .await?
        .json(what)?;
        let init = init.value;
        if init.upload_instructions.is_empty()
            || init
                .upload_instructions
                .iter()
                .any(|i| i.first_byte > i.last_byte || i.last_byte >= item.bytes)
        {
            return Err(PlatformError::Transient(format!(
                "{what}: LinkedIn's upload instructions do not cover the file"
            )));
        }
        Ok(Uploaded {
            index,
            sha256: item.sha256.clone(),
            urn: init.video,
            complete: false,
            ready: false,
            instructions: init.upload_instructions,
            upload_token: init.upload_token,
            etags: vec![],
            urls_expire_at: init
                .upload_urls_expire_at
                .and_then(DateTime::<Utc>::from_timestamp_millis),
            completed_at: None,
        })
    }

    /// Sends the parts not sent yet, checkpointing each ETag.
    async fn send_parts(
        &self,
        uploaded: &mut Uploaded,
        item: &PublishMedia,
        checkpoint: &mut LinkedInCheckpoint,
        progress: &dyn Progress,
    ) -> Result<(), PlatformError> {
        let what = "uploading a video part to LinkedIn";
        while uploaded.etags.len() < uploaded.instructions.len() {
            let part = uploaded.instructions[uploaded.etags.len()].clone();
            let url = url::Url::parse(&part.upload_url).map_err(|_| {
                PlatformError::Transient(format!("{what}: the upload URL is not a URL"))
            })?;
            let bytes = self.read(item, part.first_byte..part.last_byte + 1).await?;
            let answer = send(
                self.http
                    .put(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes),
                CallKind::Read,
                self.version,
                self.limits,
                what,
            )
            .await?;
            let etag = answer.header("etag").ok_or_else(|| {
                PlatformError::Transient(format!("{what}: LinkedIn answered without an ETag"))
            })?;
            uploaded.etags.push(etag);
            checkpoint.put(uploaded.clone());
            checkpoint.save(progress).await?;
        }
        Ok(())
    }

    async fn finalize(&self, uploaded: &Uploaded) -> Result<(), PlatformError> {
        let mut url = endpoint(self.origin, paths::VIDEOS);
        url.set_query(Some("action=finalizeUpload"));
        send(
            self.call(self.http.post(url)).json(&json!({
                "finalizeUploadRequest": {
                    "video": uploaded.urn,
                    "uploadToken": uploaded.upload_token.clone().unwrap_or_default(),
                    "uploadedPartIds": uploaded.etags,
                }
            })),
            CallKind::Read,
            self.version,
            self.limits,
            "finishing a video upload to LinkedIn",
        )
        .await?;
        Ok(())
    }

    async fn status(&self, urn: &str) -> Result<VideoStatus, PlatformError> {
        let what = "reading a LinkedIn video's status";
        let url = endpoint(
            self.origin,
            &format!("{}/{}", paths::VIDEOS, urn_segment(urn)),
        );
        send(
            self.call(self.http.get(url)),
            CallKind::Read,
            self.version,
            self.limits,
            what,
        )
        .await?
        .json(what)
    }

    async fn wait_until_available(
        &self,
        uploaded: &Uploaded,
        progress: &dyn Progress,
    ) -> Result<(), PlatformError> {
        let since = uploaded.completed_at.unwrap_or_else(Utc::now);
        loop {
            let status = self.status(&uploaded.urn).await?;
            match status.status.as_deref() {
                Some("AVAILABLE") => return Ok(()),
                Some("PROCESSING_FAILED") => {
                    return Err(PlatformError::Rejected(format!(
                        "LinkedIn could not process the video: {}",
                        status
                            .processing_failure_reason
                            .as_deref()
                            .unwrap_or("no reason given")
                    )))
                }
                _ => {}
            }
            let waited = (Utc::now() - since).to_std().unwrap_or(Duration::ZERO);
            match self.polling.next(waited, None, progress.time_left()) {
                Poll::Wait(wait) => tokio::time::sleep(wait).await,
                Poll::Later(wait) => {
                    tracing::info!(platform = "linkedin", video = %uploaded.urn, "LinkedIn is still processing the video; the attempt ends here");
                    return Err(PlatformError::Processing {
                        retry_after: wait,
                        message: format!(
                            "LinkedIn is still processing the video after {} s; continuing with the same upload",
                            waited.as_secs()
                        ),
                    });
                }
                Poll::GiveUp => {
                    return Err(PlatformError::Transient(format!(
                        "LinkedIn was still processing the video after {} s",
                        waited.as_secs()
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip() {
        let c = LinkedInCheckpoint {
            media: vec![Uploaded {
                index: 0,
                sha256: "ab".into(),
                urn: "urn:li:video:1".into(),
                complete: false,
                ready: false,
                instructions: vec![Instruction {
                    upload_url: "https://example.com/u".into(),
                    first_byte: 0,
                    last_byte: 9,
                }],
                upload_token: Some("".into()),
                etags: vec!["\"e1\"".into()],
                urls_expire_at: None,
                completed_at: None,
            }],
            post_sent_at: None,
        };
        let v = json!({ "linkedin": serde_json::to_value(&c).unwrap() });
        assert_eq!(LinkedInCheckpoint::read(Some(&v)), Some(c));
        assert_eq!(LinkedInCheckpoint::read(Some(&json!({"x": {}}))), None);
    }
}
