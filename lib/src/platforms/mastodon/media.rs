//! Media: `POST /api/v2/media` (multipart `file` and `description`, the alt text), streamed from the rendition's
//! bytes rather than read whole; `200` when the attachment is ready, `202` (its `url` null) while the instance
//! processes it, then `GET /api/v1/media/{id}` answers `206` while processing and `200` once ready.
//!
//! Each uploaded attachment is checkpointed at once, so a later attempt (after a crash, or after running out of
//! time while the instance processed a video) reuses it rather than uploading it again. Waiting never holds an
//! attempt past its deadline: when the next read would not fit in [`Progress::time_left`], the publish ends with
//! [`PlatformError::Processing`] and the next attempt resumes from the checkpoint. The whole wait is bounded by
//! [`MediaPolling::give_up_after`], counted from the upload.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::api::{self, Call};
use super::instance::Instance;
use crate::platforms::polling::{self as waiting, Poll};
use crate::ports::{PlatformError, Progress, PublishMedia};

/// How patiently to wait for an instance to process media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPolling {
    /// The first pause after a `202` or `206`; each further pause doubles.
    pub first_delay: Duration,
    /// The longest pause between two reads.
    pub max_delay: Duration,
    /// Once an attachment has been processing this long, the attempt fails as transient and the next one uploads
    /// it again.
    pub give_up_after: Duration,
    /// The longest an upload may take to send (a large video on a slow link).
    pub upload_timeout: Duration,
}

impl Default for MediaPolling {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            give_up_after: Duration::from_secs(600),
            upload_timeout: Duration::from_secs(600),
        }
    }
}

/// One attachment an attempt uploaded, as checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Postora's media id and the checksum of what was sent: the attachment is reused only for the same bytes.
    pub media: String,
    pub sha256: String,
    /// The instance's attachment id.
    pub id: String,
    pub uploaded_at: DateTime<Utc>,
    pub ready: bool,
}

#[derive(Deserialize)]
struct Attachment {
    id: serde_json::Value,
    url: Option<String>,
}

fn id_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Uploads one item; answers its attachment, ready or not.
pub async fn upload(
    http: &reqwest::Client,
    instance: &Instance,
    token: &SecretString,
    media: &PublishMedia,
    polling: &MediaPolling,
    time_left: Option<Duration>,
) -> Result<Uploaded, PlatformError> {
    let stream = media.content.read(0..media.bytes).await?;
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(stream), media.bytes)
        .file_name(format!("{}.{}", media.id, media.format.as_str()))
        .mime_str(media.format.mime())
        .map_err(|_| PlatformError::Rejected("the media type cannot be sent".into()))?;
    let mut form = Form::new().part("file", part);
    if let Some(alt) = media.alt.as_ref().filter(|a| !a.trim().is_empty()) {
        form = form.text("description", alt.clone());
    }
    let timeout = time_left.map_or(polling.upload_timeout, |left| {
        left.min(polling.upload_timeout)
    });
    let request = http
        .post(instance.endpoint("/api/v2/media"))
        .bearer_auth(token.expose_secret())
        .timeout(timeout)
        .multipart(form);
    let what = "uploading media";
    let answer = api::send(request, instance, what, Call::Safe).await?;
    let ready = match answer.status {
        StatusCode::OK => true,
        StatusCode::ACCEPTED => false,
        _ => return Err(api::failure(&answer, what, Call::Safe)),
    };
    let attachment: Attachment = answer.json(what, Call::Safe)?;
    let id = id_of(&attachment.id).ok_or_else(|| {
        PlatformError::Transient(format!("{what}: the instance named no attachment"))
    })?;
    Ok(Uploaded {
        media: media.id.to_string(),
        sha256: media.sha256.clone(),
        id,
        uploaded_at: Utc::now(),
        ready: ready && attachment.url.is_some(),
    })
}

/// What a status read of an attachment found.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    Ready,
    Processing,
    /// The instance no longer has it (removed as unattached, or never finished): upload again.
    Gone,
}

/// Reads an attachment's state.
pub async fn state(
    http: &reqwest::Client,
    instance: &Instance,
    token: &SecretString,
    id: &str,
) -> Result<State, PlatformError> {
    let mut url = instance.endpoint("/api/v1/media/");
    url.path_segments_mut()
        .map_err(|_| PlatformError::Transient("bad instance address".into()))?
        .pop_if_empty()
        .push(id);
    let what = "reading an attachment";
    let request = http.get(url).bearer_auth(token.expose_secret());
    let answer = api::send(request, instance, what, Call::Safe).await?;
    match answer.status.as_u16() {
        200 => {
            let a: Attachment = answer.json(what, Call::Safe)?;
            Ok(if a.url.is_some() {
                State::Ready
            } else {
                State::Processing
            })
        }
        206 => Ok(State::Processing),
        404 | 410 => Ok(State::Gone),
        422 => Err(PlatformError::Rejected(
            api::error_text(&answer.body)
                .unwrap_or_else(|| "the instance could not process the media".into()),
        )),
        _ => Err(api::failure(&answer, what, Call::Safe)),
    }
}

/// Waits until `item` is ready, reading its state with growing pauses.
pub async fn wait_ready(
    http: &reqwest::Client,
    instance: &Instance,
    token: &SecretString,
    item: &Uploaded,
    polling: &MediaPolling,
    progress: &dyn Progress,
) -> Result<State, PlatformError> {
    let mut delay = polling.first_delay;
    loop {
        let waited = (Utc::now() - item.uploaded_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        match waiting::next(waited, delay, polling.give_up_after, progress.time_left()) {
            Poll::GiveUp => {
                return Err(PlatformError::Transient(format!(
                    "the instance did not finish processing the media within {} seconds",
                    polling.give_up_after.as_secs()
                )))
            }
            Poll::Later(retry_after) => {
                return Err(PlatformError::Processing {
                    retry_after,
                    message: "the instance is still processing the media".into(),
                })
            }
            Poll::Wait(d) => tokio::time::sleep(d).await,
        }
        match state(http, instance, token, &item.id).await? {
            State::Processing => delay = delay.saturating_mul(2).min(polling.max_delay),
            other => return Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_ids_are_strings_or_numbers() {
        assert_eq!(id_of(&serde_json::json!("109")), Some("109".into()));
        assert_eq!(id_of(&serde_json::json!(109)), Some("109".into()));
        assert_eq!(id_of(&serde_json::json!("")), None);
        assert_eq!(id_of(&serde_json::json!(null)), None);
    }
}
