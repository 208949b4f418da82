//! Sending a video to TikTok by FILE_UPLOAD, and following the post by its publish id.
//!
//! Chunks follow TikTok's media transfer guide: each at least 5 MB and at most 64 MB, the last one taking the
//! trailing bytes (up to 128 MB); a video under the chunk size goes whole as one chunk; `total_chunk_count` is
//! `floor(video_size / chunk_size)`; at most 1000 chunks; sent in order, each a `PUT` with `Content-Range`. Each
//! chunk is read from the media's bytes as its range, never the whole video at once.
//!
//! Then `POST /v2/post/publish/status/fetch/` is polled until `PUBLISH_COMPLETE` (or `SEND_TO_USER_INBOX`) or
//! `FAILED`, within the attempt's time ([`PlatformError::Processing`] when the next read would not fit) and within
//! [`Polling::give_up_after`] of the init in all.

use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::api::{call, CallKind};
use super::TiktokCheckpoint;
use crate::platforms::http::{read_body, transport_error};
use crate::platforms::polling::{self, Poll};
use crate::ports::{PlatformError, Progress, PublishMedia};

/// TikTok's chunk bounds. "MB" is read in the stricter sense on each side: at least 5 MiB, at most 64 million bytes.
pub const MIN_CHUNK_BYTES: u64 = 5 << 20;
pub const MAX_CHUNK_BYTES: u64 = 64_000_000;
/// The last chunk may hold up to 128 MB.
pub const MAX_LAST_CHUNK_BYTES: u64 = 128_000_000;
pub const MAX_CHUNKS: u64 = 1000;
/// The chunk size Postora uses: 16 MiB.
pub const DEFAULT_CHUNK_BYTES: u64 = 16 << 20;

/// Marks the error of an upload that never completed (TikTok has fewer bytes than the video): nothing can publish,
/// and the next attempt starts again.
pub const BROKEN_UPLOAD: &str = "the TikTok upload never completed";

/// How a video is cut into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
}

impl ChunkPlan {
    /// The plan for `video_size` bytes with chunks of about `preferred` bytes (bounded to TikTok's rules).
    pub fn new(video_size: u64, preferred: u64) -> Result<Self, PlatformError> {
        if video_size == 0 {
            return Err(PlatformError::Rejected("the video is empty".into()));
        }
        let mut chunk = preferred.clamp(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES);
        // Large files take larger chunks rather than more than 1000 of them.
        if video_size / chunk > MAX_CHUNKS {
            chunk = video_size.div_ceil(MAX_CHUNKS).min(MAX_CHUNK_BYTES);
        }
        if video_size <= chunk {
            // Under the chunk size (and so under 64 MB): one chunk, the whole file.
            return Ok(Self {
                video_size,
                chunk_size: video_size,
                total_chunk_count: 1,
            });
        }
        let plan = Self {
            video_size,
            chunk_size: chunk,
            total_chunk_count: video_size / chunk,
        };
        if plan.total_chunk_count > MAX_CHUNKS
            || plan.range(plan.total_chunk_count - 1).1 - plan.range(plan.total_chunk_count - 1).0
                > MAX_LAST_CHUNK_BYTES
        {
            return Err(PlatformError::Rejected(format!(
                "the video ({video_size} bytes) is larger than TikTok takes in {MAX_CHUNKS} chunks"
            )));
        }
        Ok(plan)
    }

    /// Chunk `index`'s bytes, `[start, end)`: the last one takes the trailing bytes.
    pub fn range(&self, index: u64) -> (u64, u64) {
        let start = index * self.chunk_size;
        let end = if index + 1 >= self.total_chunk_count {
            self.video_size
        } else {
            start + self.chunk_size
        };
        (start, end)
    }
}

/// How patiently to follow a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// Between two status reads (TikTok allows 30 a minute per token).
    pub default_wait: Duration,
    /// How long after the init Postora stops following a post that is still processing (in doubt then).
    pub give_up_after: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Self {
            default_wait: Duration::from_secs(5),
            give_up_after: Duration::from_secs(3 * 3600),
        }
    }
}

/// What `status/fetch` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub fail_reason: Option<String>,
    /// TikTok's spelling.
    #[serde(default)]
    pub publicaly_available_post_id: Vec<serde_json::Value>,
    #[serde(default)]
    pub uploaded_bytes: Option<u64>,
}

/// Where a post stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Published, or delivered to the creator's inbox.
    Done,
    Failed(String),
    /// TikTok is still receiving the upload.
    Uploading,
    /// Processing, moderation, or a state TikTok adds later.
    Processing,
}

impl Status {
    pub fn state(&self) -> State {
        match self.status.as_str() {
            "PUBLISH_COMPLETE" | "SEND_TO_USER_INBOX" => State::Done,
            "FAILED" => State::Failed(
                self.fail_reason
                    .clone()
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "no reason given".into()),
            ),
            "PROCESSING_UPLOAD" => State::Uploading,
            _ => State::Processing,
        }
    }

    /// The public id of the post, where TikTok gave one (not for private posts nor inbox uploads).
    pub fn post_id(&self) -> Option<String> {
        self.publicaly_available_post_id
            .iter()
            .find_map(|v| match v {
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
    }
}

/// Words for TikTok's documented failure reasons.
fn explain_failure(reason: &str) -> String {
    let words = match reason {
        "file_format_check_failed" => "TikTok does not take the video's format",
        "duration_check_failed" => "the video is too long or too short for this TikTok account",
        "frame_rate_check_failed" => "TikTok does not take the video's frame rate",
        "picture_size_check_failed" => "TikTok does not take the video's picture size",
        "internal" => "TikTok failed to process the video",
        "video_pull_failed" | "photo_pull_failed" => "TikTok could not fetch the media",
        "publish_cancelled" => "the post was cancelled on TikTok",
        "auth_removed" => {
            "the TikTok account removed Postora's access while the post was processing"
        }
        "spam_risk_too_many_posts" => "the account posted too many times today",
        "spam_risk_user_banned_from_posting" => "the account may not post at the moment",
        "spam_risk" | "spam_risk_text" => "TikTok refused the post as a spam risk",
        _ => "",
    };
    if words.is_empty() {
        format!("TikTok could not publish the post: {reason}")
    } else {
        format!("TikTok could not publish the post: {words} ({reason})")
    }
}

/// Sends chunks and follows posts for the user of `token`.
pub struct Uploader<'a> {
    pub http: &'a reqwest::Client,
    pub status_url: url::Url,
    pub token: &'a SecretString,
    pub polling: Polling,
}

impl Uploader<'_> {
    /// Sends every chunk in order. A lost answer to the last chunk is [`PlatformError::Unknown`]: the upload may be
    /// complete, and only the status can tell.
    pub async fn send_chunks(
        &self,
        upload_url: &str,
        item: &PublishMedia,
        plan: &ChunkPlan,
    ) -> Result<(), PlatformError> {
        let url = url::Url::parse(upload_url).map_err(|_| {
            PlatformError::Transient("TikTok answered an upload URL that is not a URL".into())
        })?;
        for index in 0..plan.total_chunk_count {
            let last = index + 1 == plan.total_chunk_count;
            let (start, end) = plan.range(index);
            let what = format!(
                "sending chunk {} of {} to TikTok",
                index + 1,
                plan.total_chunk_count
            );
            let stream = item.content.read(start..end).await?;
            let resp = self
                .http
                .put(url.clone())
                .header(reqwest::header::CONTENT_TYPE, item.format.mime())
                .header(reqwest::header::CONTENT_LENGTH, end - start)
                .header(
                    reqwest::header::CONTENT_RANGE,
                    format!("bytes {start}-{}/{}", end - 1, plan.video_size),
                )
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    let e = transport_error(&e, &what);
                    return Err(match e {
                        PlatformError::Unknown(m) if !last => PlatformError::Transient(m),
                        other => other,
                    });
                }
            };
            let status = resp.status().as_u16();
            let body = read_body(resp)
                .await
                .map_err(|e| e.into_platform(&what, last))?;
            if (200..300).contains(&status) {
                continue;
            }
            let said: Option<String> = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v["error"]["message"]
                        .as_str()
                        .or_else(|| v["error"]["code"].as_str())
                        .map(|s| super::api::scrub(s, &[]))
                });
            let message = format!(
                "{what}: TikTok answered {status}{}",
                said.map(|s| format!(": {s}")).unwrap_or_default()
            );
            return Err(match status {
                429 => PlatformError::RateLimited {
                    retry_after: Some(super::api::DEFAULT_RATE_WAIT),
                    message,
                },
                400..=499 => PlatformError::Rejected(message),
                _ if last => PlatformError::Unknown(message),
                _ => PlatformError::Transient(message),
            });
        }
        Ok(())
    }

    pub async fn status(&self, publish_id: &str) -> Result<Status, PlatformError> {
        call(
            self.http
                .post(self.status_url.clone())
                .json(&json!({ "publish_id": publish_id })),
            self.token,
            CallKind::Read,
            "reading the TikTok post's status",
        )
        .await
    }

    /// Polls the post until it is done, within the attempt's time and the overall bound.
    pub async fn wait(
        &self,
        checkpoint: &TiktokCheckpoint,
        progress: &dyn Progress,
    ) -> Result<Status, PlatformError> {
        loop {
            let status = self.status(&checkpoint.publish_id).await?;
            match status.state() {
                State::Done => return Ok(status),
                State::Failed(reason) => {
                    return Err(PlatformError::Rejected(explain_failure(&reason)))
                }
                State::Uploading
                    if !checkpoint.uploaded
                        && status
                            .uploaded_bytes
                            .is_some_and(|b| b < checkpoint.video_size) =>
                {
                    return Err(PlatformError::Transient(format!(
                        "{BROKEN_UPLOAD} ({} of {} bytes arrived)",
                        status.uploaded_bytes.unwrap_or(0),
                        checkpoint.video_size
                    )));
                }
                State::Uploading | State::Processing => {}
            }
            let waited = (Utc::now() - checkpoint.initiated_at)
                .to_std()
                .unwrap_or(Duration::ZERO);
            let wait = self.polling.default_wait;
            match polling::next(waited, wait, self.polling.give_up_after, progress.time_left()) {
                Poll::Wait(wait) => tokio::time::sleep(wait).await,
                Poll::GiveUp => {
                    return Err(PlatformError::Unknown(format!(
                        "TikTok was still processing the post {} min after it started ({}): it may yet appear on the account",
                        waited.as_secs() / 60,
                        status.status
                    )))
                }
                Poll::Later(wait) => {
                    tracing::info!(platform = "tiktok", publish = %checkpoint.publish_id, "TikTok is still processing the post; the attempt ends here");
                    return Err(PlatformError::Processing {
                        retry_after: wait,
                        message: format!(
                            "TikTok is still processing the post ({}); following it by its publish id",
                            status.status
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn chunk_plans_follow_tiktoks_rules() {
        // Under 5 MB: whole.
        let p = ChunkPlan::new(3 * MB, DEFAULT_CHUNK_BYTES).unwrap();
        assert_eq!((p.chunk_size, p.total_chunk_count), (3 * MB, 1));
        assert_eq!(p.range(0), (0, 3 * MB));
        // Between the chunk size and twice it: one chunk size, one chunk holding everything.
        let p = ChunkPlan::new(20 * MB, DEFAULT_CHUNK_BYTES).unwrap();
        assert_eq!((p.chunk_size, p.total_chunk_count), (16 * MB, 1));
        assert_eq!(p.range(0), (0, 20 * MB));
        // floor(size / chunk), the last one taking the trailing bytes.
        let p = ChunkPlan::new(50 * MB + 7, DEFAULT_CHUNK_BYTES).unwrap();
        assert_eq!(p.total_chunk_count, 3);
        assert_eq!(p.range(1), (16 * MB, 32 * MB));
        assert_eq!(p.range(2), (32 * MB, 50 * MB + 7));
        // A preferred size out of bounds is brought within them.
        assert_eq!(
            ChunkPlan::new(100 * MB, 1).unwrap().chunk_size,
            MIN_CHUNK_BYTES
        );
        assert_eq!(
            ChunkPlan::new(1000 * MB, u64::MAX).unwrap().chunk_size,
            MAX_CHUNK_BYTES
        );
        // Huge files take larger chunks, never more than 1000.
        let p = ChunkPlan::new(10_000 * MB, MIN_CHUNK_BYTES).unwrap();
        assert!(p.total_chunk_count <= MAX_CHUNKS);
        let (s, e) = p.range(p.total_chunk_count - 1);
        assert!(e - s <= MAX_LAST_CHUNK_BYTES);
        assert!(ChunkPlan::new(0, DEFAULT_CHUNK_BYTES).is_err());
    }

    #[test]
    fn every_plan_covers_the_file_once_within_the_bounds() {
        for size in [
            1,
            MB,
            5 * MB,
            16 * MB,
            16 * MB + 1,
            33 * MB,
            64 * MB + 1,
            700 * MB,
        ] {
            for preferred in [MIN_CHUNK_BYTES, DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES] {
                let p = ChunkPlan::new(size, preferred).unwrap();
                let mut next = 0;
                for i in 0..p.total_chunk_count {
                    let (s, e) = p.range(i);
                    assert_eq!(s, next);
                    let last = i + 1 == p.total_chunk_count;
                    if p.total_chunk_count > 1 {
                        assert!(e - s >= MIN_CHUNK_BYTES);
                        assert!(if last {
                            e - s <= MAX_LAST_CHUNK_BYTES
                        } else {
                            e - s <= MAX_CHUNK_BYTES
                        });
                    }
                    next = e;
                }
                assert_eq!(next, size);
                assert_eq!(p.total_chunk_count, (size / p.chunk_size).max(1));
            }
        }
    }

    #[test]
    fn statuses() {
        let s: Status = serde_json::from_value(json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7_312_345_678_901_234_567u64]})).unwrap();
        assert_eq!(s.state(), State::Done);
        assert_eq!(s.post_id().as_deref(), Some("7312345678901234567"));
        let s: Status = serde_json::from_value(
            json!({"status": "FAILED", "fail_reason": "duration_check_failed"}),
        )
        .unwrap();
        assert!(matches!(s.state(), State::Failed(r) if r == "duration_check_failed"));
        assert!(explain_failure("duration_check_failed").contains("too long"));
        let s: Status = serde_json::from_value(json!({"status": "SOMETHING_NEW"})).unwrap();
        assert_eq!(s.state(), State::Processing);
    }
}
