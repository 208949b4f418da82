//! Blobs: images uploaded with `com.atproto.repo.uploadBlob` (raw bytes and their Content-Type) and embedded as
//! `app.bsky.embed.images` with alt text and aspect ratio; video through the video service
//! (`app.bsky.video.uploadVideo` with a service-auth token from `com.atproto.server.getServiceAuth`, then
//! `app.bsky.video.getJobStatus` until the blob is ready, the job id checkpointed), or, where no video service is
//! configured, uploaded as a blob and embedded as `app.bsky.embed.video`; and link cards (`app.bsky.embed.external`)
//! read from the linked page through the SSRF guard.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::xrpc::{method_url, Auth, Body, Effect, Xrpc};
use crate::domain::MediaKind;
use crate::net::GuardedFetcher;
use crate::ports::{PlatformError, Progress, PublishMedia};

/// The most bytes an image blob may have.
pub const MAX_IMAGE_BYTES: u64 = 1_000_000;

/// Reads a rendition's bytes whole (images are at most a megabyte; videos at most what Bluesky takes).
pub async fn read_all(media: &PublishMedia) -> Result<bytes::Bytes, PlatformError> {
    let mut stream = media.content.read(0..media.bytes).await?;
    let mut buf = Vec::with_capacity(usize::try_from(media.bytes).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| PlatformError::Transient("the media could not be read".into()))?;
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

/// Uploads bytes as a blob; answers the blob reference to embed.
pub async fn upload_blob(
    xrpc: &Xrpc,
    pds: &url::Url,
    auth: Auth<'_>,
    bytes: bytes::Bytes,
    content_type: &str,
) -> Result<Value, PlatformError> {
    let reply = xrpc
        .send(
            reqwest::Method::POST,
            method_url(pds, "com.atproto.repo.uploadBlob", &[]),
            auth,
            Body::Bytes {
                bytes,
                content_type: content_type.to_owned(),
            },
            Effect::Read,
            "uploading a blob",
        )
        .await
        .map_err(|f| f.classify(Effect::Read))?;
    let answer: Value = reply.json("uploading a blob")?;
    answer
        .get("blob")
        .filter(|b| b.get("ref").is_some())
        .cloned()
        .ok_or_else(|| PlatformError::Transient("uploading a blob: no blob in the answer".into()))
}

fn aspect_ratio(m: &PublishMedia) -> Option<Value> {
    (m.width > 0 && m.height > 0).then(|| json!({"width": m.width, "height": m.height}))
}

/// The images embed: each image uploaded, with its alt text (empty when none) and aspect ratio.
pub async fn images(
    xrpc: &Xrpc,
    pds: &url::Url,
    auth: Auth<'_>,
    media: &[PublishMedia],
) -> Result<Value, PlatformError> {
    let mut images = Vec::new();
    for m in media {
        if m.bytes > MAX_IMAGE_BYTES {
            return Err(PlatformError::Rejected(format!(
                "an image of {} bytes is above Bluesky's {MAX_IMAGE_BYTES}",
                m.bytes
            )));
        }
        let blob = upload_blob(xrpc, pds, auth, read_all(m).await?, m.format.mime()).await?;
        let mut image = json!({"image": blob, "alt": m.alt.clone().unwrap_or_default()});
        if let Some(ar) = aspect_ratio(m) {
            image["aspectRatio"] = ar;
        }
        images.push(image);
    }
    Ok(json!({"$type": "app.bsky.embed.images", "images": images}))
}

/// The video service (`POSTORA_BLUESKY_VIDEO_URL`).
#[derive(Debug, Clone)]
pub struct VideoService {
    pub url: url::Url,
    /// How often the job's status is asked, and for how long in all.
    pub poll_every: Duration,
    pub max_wait: Duration,
}

/// What the embed of a video needs from the session.
pub struct VideoUpload<'a> {
    pub xrpc: &'a Xrpc,
    pub pds: &'a url::Url,
    pub did: &'a str,
    pub auth: Auth<'a>,
    pub service: Option<&'a VideoService>,
    pub checkpoint: Option<&'a Value>,
}

impl VideoUpload<'_> {
    /// The video embed. Through the video service when one is configured, the job id checkpointed so a later
    /// attempt polls the same job; as a plain blob otherwise.
    pub async fn embed(
        &self,
        m: &PublishMedia,
        progress: &dyn Progress,
    ) -> Result<Value, PlatformError> {
        let blob = match self.service {
            None => {
                upload_blob(
                    self.xrpc,
                    self.pds,
                    self.auth,
                    read_all(m).await?,
                    m.format.mime(),
                )
                .await?
            }
            Some(service) => {
                let job = match self
                    .checkpoint
                    .and_then(|c| c.get("video_job"))
                    .and_then(Value::as_str)
                {
                    Some(job) => job.to_owned(),
                    None => {
                        let job = self.upload_video(service, m).await?;
                        progress.checkpoint(json!({"video_job": job})).await?;
                        job
                    }
                };
                self.wait_for(service, &job, progress).await?
            }
        };
        let mut embed = json!({"$type": "app.bsky.embed.video", "video": blob});
        if let Some(alt) = m.alt.as_ref().filter(|a| !a.is_empty()) {
            embed["alt"] = json!(alt);
        }
        if let Some(ar) = aspect_ratio(m) {
            embed["aspectRatio"] = ar;
        }
        Ok(embed)
    }

    async fn upload_video(
        &self,
        service: &VideoService,
        m: &PublishMedia,
    ) -> Result<String, PlatformError> {
        // A token from the PDS for the video service to upload a blob into this PDS on the account's behalf.
        let aud = format!("did:web:{}", self.pds.host_str().unwrap_or_default());
        let exp = (chrono::Utc::now() + chrono::Duration::minutes(30))
            .timestamp()
            .to_string();
        let reply = self
            .xrpc
            .send(
                reqwest::Method::GET,
                method_url(
                    self.pds,
                    "com.atproto.server.getServiceAuth",
                    &[
                        ("aud", &aud),
                        ("lxm", "com.atproto.repo.uploadBlob"),
                        ("exp", &exp),
                    ],
                ),
                self.auth,
                Body::Empty,
                Effect::Read,
                "asking for a video upload token",
            )
            .await
            .map_err(|f| f.classify(Effect::Read))?;
        let token: Value = reply.json("asking for a video upload token")?;
        let token = secrecy::SecretString::from(
            token
                .get("token")
                .and_then(Value::as_str)
                .ok_or_else(|| PlatformError::Transient("no service token in the answer".into()))?
                .to_owned(),
        );
        let name = format!("{}.mp4", m.id);
        let reply = self
            .xrpc
            .send(
                reqwest::Method::POST,
                method_url(
                    &service.url,
                    "app.bsky.video.uploadVideo",
                    &[("did", self.did), ("name", &name)],
                ),
                Auth::Bearer(&token),
                Body::Bytes {
                    bytes: read_all(m).await?,
                    content_type: m.format.mime().to_owned(),
                },
                Effect::Read,
                "uploading the video",
            )
            .await;
        let status: Value = match reply {
            Ok(r) => r.json("uploading the video")?,
            // The service answers 409 with the job of a video it already has.
            Err(f) => match f.xrpc() {
                Some(e) if e.status == 409 => return Err(PlatformError::Transient(e.describe())),
                _ => return Err(f.classify(Effect::Read)),
            },
        };
        let job = status
            .get("jobId")
            .or_else(|| status.pointer("/jobStatus/jobId"))
            .and_then(Value::as_str)
            .ok_or_else(|| PlatformError::Transient("the video service gave no job id".into()))?;
        Ok(job.to_owned())
    }

    async fn wait_for(
        &self,
        service: &VideoService,
        job: &str,
        progress: &dyn Progress,
    ) -> Result<Value, PlatformError> {
        let started = tokio::time::Instant::now();
        loop {
            let reply = self
                .xrpc
                .send(
                    reqwest::Method::GET,
                    method_url(
                        &service.url,
                        "app.bsky.video.getJobStatus",
                        &[("jobId", job)],
                    ),
                    Auth::None,
                    Body::Empty,
                    Effect::Read,
                    "asking about the video",
                )
                .await
                .map_err(|f| f.classify(Effect::Read))?;
            let status: Value = reply.json("asking about the video")?;
            let s = status.get("jobStatus").unwrap_or(&status);
            match s.get("state").and_then(Value::as_str) {
                Some("JOB_STATE_COMPLETED") => {
                    return s.get("blob").cloned().ok_or_else(|| {
                        PlatformError::Transient("the finished video job has no blob".into())
                    })
                }
                Some("JOB_STATE_FAILED") => {
                    return Err(PlatformError::Rejected(format!(
                        "Bluesky could not process the video: {}",
                        s.get("error")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given")
                    )))
                }
                _ => {}
            }
            if started.elapsed() >= service.max_wait {
                return Err(PlatformError::Transient(
                    "the video is still processing after the longest wait".into(),
                ));
            }
            if progress
                .time_left()
                .is_some_and(|left| left <= service.poll_every)
            {
                return Err(PlatformError::Processing {
                    retry_after: service.poll_every,
                    message: "Bluesky is still processing the video".into(),
                });
            }
            tokio::time::sleep(service.poll_every).await;
        }
    }
}

/// Whether the post's media are one video.
pub fn is_video(media: &[PublishMedia]) -> bool {
    media.iter().any(|m| m.kind == MediaKind::Video)
}

/// The most of a page read for its card.
const MAX_PAGE: u64 = 512 * 1024;

/// A link card for `link`: the page's title and description (Open Graph, or `<title>`), and its image uploaded as
/// the thumbnail when it fits. `None` when the page cannot be read; a card never fails the post.
pub async fn card(
    fetcher: &GuardedFetcher,
    xrpc: &Xrpc,
    pds: &url::Url,
    auth: Auth<'_>,
    link: &str,
) -> Option<Value> {
    let url = url::Url::parse(link).ok()?;
    let html = fetch(fetcher, &url, MAX_PAGE).await?;
    let html = String::from_utf8_lossy(&html);
    let title = meta(&html, "og:title")
        .or_else(|| title(&html))
        .unwrap_or_default();
    let description = meta(&html, "og:description")
        .or_else(|| meta(&html, "description"))
        .unwrap_or_default();
    let mut external = json!({"uri": link, "title": title, "description": description});
    if let Some(image) = meta(&html, "og:image").and_then(|i| url.join(&i).ok()) {
        if let Some(bytes) = fetch(fetcher, &image, MAX_IMAGE_BYTES).await {
            if let Some(kind) = image_type(&bytes) {
                if let Ok(blob) = upload_blob(xrpc, pds, auth, bytes, kind).await {
                    external["thumb"] = blob;
                }
            }
        }
    }
    Some(json!({"$type": "app.bsky.embed.external", "external": external}))
}

async fn fetch(fetcher: &GuardedFetcher, url: &url::Url, max: u64) -> Option<bytes::Bytes> {
    let mut fetched = fetcher.get_within(url, max).await.ok()?;
    let mut buf = Vec::new();
    while let Some(chunk) = fetched.body.next().await {
        buf.extend_from_slice(&chunk.ok()?);
    }
    Some(buf.into())
}

fn image_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// The `content` of `<meta property|name="name" content="...">`, unescaped and trimmed to 300 characters.
fn meta(html: &str, name: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("<meta") {
        let start = from + pos;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &html[start..end];
        let tag_lower = &lower[start..end];
        let names = [format!("property=\"{name}\""), format!("name=\"{name}\"")];
        if names.iter().any(|n| tag_lower.contains(n.as_str())) {
            let c = tag_lower.find("content=\"")? + 9;
            let len = tag[c..].find('"')?;
            return Some(unescape(&tag[c..c + len]));
        }
        from = end;
    }
    None
}

fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open = start + lower[start..].find('>')? + 1;
    let close = open + lower[open..].find("</title")?;
    Some(unescape(html[open..close].trim()))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_read_open_graph_or_the_title() {
        let html = r#"<html><head><title>Plain &amp; simple</title>
            <meta property="og:title" content="The &quot;OG&quot; title">
            <meta name="description" content="About it"></head></html>"#;
        assert_eq!(meta(html, "og:title").as_deref(), Some("The \"OG\" title"));
        assert_eq!(meta(html, "description").as_deref(), Some("About it"));
        assert_eq!(meta(html, "og:image"), None);
        assert_eq!(title(html).as_deref(), Some("Plain & simple"));
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0]), Some("image/jpeg"));
    }
}
