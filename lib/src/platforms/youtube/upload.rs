//! YouTube's resumable upload protocol: `POST /upload/youtube/v3/videos?uploadType=resumable` with the video's
//! metadata opens a session (its URI in `Location`); the bytes go in `PUT`s to the session URI with
//! `Content-Range`, in multiples of 256 KiB; `308 Resume Incomplete` with `Range: bytes=0-N` says how much the
//! session holds; the last chunk answers `200`/`201` with the video resource. An empty `PUT` with
//! `Content-Range: bytes */TOTAL` asks the session where it stands, which is how an interrupted upload resumes and how
//! a lost answer is recovered: the video exists only once the session holds every byte.

use futures_util::TryStreamExt;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::error_of;
use crate::platforms::http::{read_body, read_transport_error, transport_error};
use crate::ports::{PlatformError, Progress, PublishMedia};

/// The unit YouTube's chunks come in: every chunk but the last is a multiple of 256 KiB.
pub const CHUNK_UNIT: u64 = 256 << 10;

/// A video resource as `videos.insert` answers it (the parts Postora reads).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Video {
    pub id: String,
    #[serde(default)]
    pub status: Option<VideoStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VideoStatus {
    #[serde(default)]
    pub privacy_status: Option<String>,
    #[serde(default)]
    pub upload_status: Option<String>,
    #[serde(default)]
    pub rejection_reason: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// What an upload recorded: the session (recorded before its first byte), and the video once it exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YoutubeCheckpoint {
    /// The session URI. It lets anyone holding it add bytes to this upload for about a week: kept in the delivery's
    /// checkpoint, never logged or shown.
    pub session_uri: String,
    /// The size and SHA-256 of what the session uploads.
    pub bytes: u64,
    pub sha256: String,
    /// How many bytes the session held when last asked.
    #[serde(default)]
    pub offset: u64,
    /// Set once the session answered with the video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// Whether the custom thumbnail was tried (once: a failure leaves YouTube's own).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumbnail_tried: bool,
    /// The privacy the video came back with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
}

impl YoutubeCheckpoint {
    pub fn read(value: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(value?.get("youtube")?.clone()).ok()
    }

    pub async fn save(&self, progress: &dyn Progress) -> Result<(), PlatformError> {
        let value = serde_json::to_value(self)
            .map_err(|_| PlatformError::Transient("could not record the YouTube upload".into()))?;
        progress.checkpoint(json!({ "youtube": value })).await
    }
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It holds this many bytes (from the start).
    Holds(u64),
    /// It has every byte: the video.
    Done(Video),
    /// It is gone (expired, or never known): 404 or 410.
    Gone,
}

/// The bytes a `Range: bytes=0-N` header says the session holds (N + 1); none when absent.
pub fn held(headers: &HeaderMap) -> Result<u64, PlatformError> {
    let Some(raw) = headers.get(RANGE) else {
        return Ok(0);
    };
    let last = raw
        .to_str()
        .ok()
        .and_then(|r| r.trim().strip_prefix("bytes=0-"))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            PlatformError::Transient("YouTube answered an unreadable Range header".into())
        })?;
    last.checked_add(1)
        .ok_or_else(|| PlatformError::Transient("YouTube answered an absurd Range".into()))
}

/// The chunk to send from `offset`: a multiple of `chunk` (itself a multiple of 256 KiB), or the rest.
pub fn next_chunk(offset: u64, total: u64, chunk: u64) -> std::ops::Range<u64> {
    offset..offset.saturating_add(chunk).min(total)
}

/// One session's calls.
pub struct Session<'a> {
    pub http: &'a reqwest::Client,
    pub token: &'a SecretString,
}

impl Session<'_> {
    /// Opens a session for `item` with `metadata`; its URI.
    pub async fn open(
        &self,
        url: url::Url,
        metadata: &serde_json::Value,
        item: &PublishMedia,
    ) -> Result<String, PlatformError> {
        let what = "starting the YouTube upload";
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .header("X-Upload-Content-Length", item.bytes.to_string())
            .header("X-Upload-Content-Type", item.format.mime())
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .json(metadata)
            .send()
            .await
            // A session without bytes publishes nothing: any failure here is safe to try again.
            .map_err(|e| read_transport_error(&e, what))?;
        if !resp.status().is_success() {
            return Err(error_of(resp, what, false).await);
        }
        resp.headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url::Url::parse(l).ok())
            .map(|u| u.to_string())
            .ok_or_else(|| {
                PlatformError::Transient(format!("{what}: YouTube answered without a session URI"))
            })
    }

    /// Asks the session how much it holds.
    pub async fn probe(&self, session_uri: &str, total: u64) -> Result<Standing, PlatformError> {
        let what = "asking YouTube how much of the upload it holds";
        let resp = self
            .http
            .put(session_uri)
            .bearer_auth(self.token.expose_secret())
            .header(CONTENT_LENGTH, "0")
            .header(CONTENT_RANGE, format!("bytes */{total}"))
            .send()
            .await
            .map_err(|e| read_transport_error(&e, what))?;
        self.standing(resp, what, false).await
    }

    /// Sends `range` of `item`'s bytes, streamed from the media store.
    pub async fn put(
        &self,
        session_uri: &str,
        item: &PublishMedia,
        range: std::ops::Range<u64>,
    ) -> Result<Standing, PlatformError> {
        let last = range.end >= item.bytes;
        let what = if last {
            "sending the last bytes of the video to YouTube"
        } else {
            "sending the video to YouTube"
        };
        let len = range.end - range.start;
        let content_range = format!("bytes {}-{}/{}", range.start, range.end - 1, item.bytes);
        let stream = item.content.read(range).await?;
        let body = reqwest::Body::wrap_stream(stream.map_err(std::io::Error::other));
        let resp = self
            .http
            .put(session_uri)
            .bearer_auth(self.token.expose_secret())
            .header(CONTENT_LENGTH, len.to_string())
            .header(CONTENT_RANGE, content_range)
            .header(CONTENT_TYPE, item.format.mime())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if last {
                    transport_error(&e, what)
                } else {
                    read_transport_error(&e, what)
                }
            })?;
        self.standing(resp, what, last).await
    }

    async fn standing(
        &self,
        resp: reqwest::Response,
        what: &str,
        last: bool,
    ) -> Result<Standing, PlatformError> {
        match resp.status().as_u16() {
            308 => Ok(Standing::Holds(held(resp.headers())?)),
            200 | 201 => {
                let body = read_body(resp)
                    .await
                    .map_err(|e| e.into_platform(what, true))?;
                let video: Video = serde_json::from_slice(&body).map_err(|_| {
                    PlatformError::Unknown(format!("{what}: YouTube answered without the video"))
                })?;
                if video.id.is_empty() {
                    return Err(PlatformError::Unknown(format!(
                        "{what}: YouTube answered without the video's id"
                    )));
                }
                Ok(Standing::Done(video))
            }
            404 | 410 => Ok(Standing::Gone),
            s if s == StatusCode::UNAUTHORIZED.as_u16() => Err(PlatformError::TokenExpired),
            _ => Err(error_of(resp, what, last).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn range_headers_say_how_much_is_held() {
        let mut h = HeaderMap::new();
        assert_eq!(held(&h), Ok(0));
        h.insert(RANGE, HeaderValue::from_static("bytes=0-262143"));
        assert_eq!(held(&h), Ok(262_144));
        h.insert(RANGE, HeaderValue::from_static("bytes=5-9"));
        assert!(held(&h).is_err());
        h.insert(
            RANGE,
            HeaderValue::from_static("bytes=0-18446744073709551615"),
        );
        assert!(held(&h).is_err());
    }

    #[test]
    fn chunks_are_whole_units_but_the_last() {
        assert_eq!(next_chunk(0, 600_000, CHUNK_UNIT), 0..262_144);
        assert_eq!(next_chunk(524_288, 600_000, CHUNK_UNIT), 524_288..600_000);
    }
}
