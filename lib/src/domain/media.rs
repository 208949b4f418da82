//! Media items: the images and videos of a workspace's library, what they are (read from their bytes, never from a
//! name or a declared type), and the renditions made of them for platforms whose limits are below the original.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{MediaId, UploadId, WorkspaceId};

/// Whether an item is a still image or a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

/// A file format Postora recognises from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Heic,
    Mp4,
    Mov,
}

impl MediaFormat {
    pub const ALL: [MediaFormat; 7] = [
        MediaFormat::Jpeg,
        MediaFormat::Png,
        MediaFormat::Gif,
        MediaFormat::Webp,
        MediaFormat::Heic,
        MediaFormat::Mp4,
        MediaFormat::Mov,
    ];

    pub fn kind(self) -> MediaKind {
        match self {
            MediaFormat::Mp4 | MediaFormat::Mov => MediaKind::Video,
            _ => MediaKind::Image,
        }
    }

    /// The media type a platform is told.
    pub fn mime(self) -> &'static str {
        match self {
            MediaFormat::Jpeg => "image/jpeg",
            MediaFormat::Png => "image/png",
            MediaFormat::Gif => "image/gif",
            MediaFormat::Webp => "image/webp",
            MediaFormat::Heic => "image/heic",
            MediaFormat::Mp4 => "video/mp4",
            MediaFormat::Mov => "video/quicktime",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaFormat::Jpeg => "jpeg",
            MediaFormat::Png => "png",
            MediaFormat::Gif => "gif",
            MediaFormat::Webp => "webp",
            MediaFormat::Heic => "heic",
            MediaFormat::Mp4 => "mp4",
            MediaFormat::Mov => "mov",
        }
    }
}

impl std::fmt::Display for MediaFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What probing a file's bytes found out. Images have no duration, frame rate or codecs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub format: MediaFormat,
    pub width: u32,
    pub height: u32,
    /// Whole milliseconds, for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Frames per second, for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    /// The video track's codec (`avc1`, `hvc1`, …), for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    /// The audio track's codec (`mp4a`, …), for video with sound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// Whether the original carries location or camera metadata (EXIF GPS, maker notes and the like). Published
    /// image renditions never do.
    #[serde(default)]
    pub private_metadata: bool,
}

impl MediaInfo {
    pub fn kind(&self) -> MediaKind {
        self.format.kind()
    }

    /// Width times height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The longer of width and height.
    pub fn longest_side(&self) -> u32 {
        self.width.max(self.height)
    }
}

/// How a rendition is made from its original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipe {
    /// The original's pixels and format, without its location and camera metadata.
    Clean,
    /// Decoded, turned upright, made smaller where a limit calls for it and encoded again, with no metadata at all.
    Fit,
}

/// The recipe of a rendition: what a platform needs made of an original. Two items that need the same recipe for
/// two platforms share one rendition, since its [`name`](RenditionSpec::name) depends on the recipe alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RenditionSpec {
    pub recipe: Recipe,
    /// The rendition's format (for [`Recipe::Clean`], the original's).
    pub format: MediaFormat,
    /// Longest side in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_side: Option<u32>,
    /// Width times height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Size of the encoded file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

impl RenditionSpec {
    /// The original without its metadata, in its own format.
    pub fn clean(format: MediaFormat) -> Self {
        Self {
            recipe: Recipe::Clean,
            format,
            max_side: None,
            max_pixels: None,
            max_bytes: None,
        }
    }

    /// The original decoded and encoded again as `format`, within the limits given.
    pub fn fit(
        format: MediaFormat,
        max_side: Option<u32>,
        max_pixels: Option<u64>,
        max_bytes: Option<u64>,
    ) -> Self {
        Self {
            recipe: Recipe::Fit,
            format,
            max_side,
            max_pixels,
            max_bytes,
        }
    }

    /// The rendition's name among the item's objects, from the recipe alone: `clean`, `fit-jpeg`,
    /// `fit-jpeg-2000px-1000000b`, `fit-jpeg-33177600pixels-16777216b`.
    pub fn name(&self) -> String {
        match self.recipe {
            Recipe::Clean => "clean".to_owned(),
            Recipe::Fit => {
                let mut name = format!("fit-{}", self.format);
                if let Some(side) = self.max_side {
                    name.push_str(&format!("-{side}px"));
                }
                if let Some(pixels) = self.max_pixels {
                    name.push_str(&format!("-{pixels}pixels"));
                }
                if let Some(bytes) = self.max_bytes {
                    name.push_str(&format!("-{bytes}b"));
                }
                name
            }
        }
    }

    /// The size a `width` × `height` picture is given under this recipe: the same shape, as large as the side and
    /// pixel limits allow, never larger than it was, at least one pixel each way.
    pub fn target_size(&self, width: u32, height: u32) -> (u32, u32) {
        if self.recipe == Recipe::Clean || width == 0 || height == 0 {
            return (width, height);
        }
        let mut scale = 1.0_f64;
        if let Some(side) = self.max_side {
            scale = scale.min(f64::from(side) / f64::from(width.max(height)));
        }
        if let Some(pixels) = self.max_pixels {
            let have = f64::from(width) * f64::from(height);
            scale = scale.min((pixels as f64 / have).sqrt());
        }
        if scale >= 1.0 {
            return (width, height);
        }
        let shrink = |n: u32| ((f64::from(n) * scale).floor() as u32).clamp(1, n);
        let (mut w, mut h) = (shrink(width), shrink(height));
        // Floating point may land one pixel over a pixel limit; take a row or column off the longer side.
        if let Some(pixels) = self.max_pixels {
            while u64::from(w) * u64::from(h) > pixels && (w > 1 || h > 1) {
                if w >= h {
                    w -= 1;
                } else {
                    h -= 1;
                }
            }
        }
        (w, h)
    }
}

/// A version of an item made to fit a platform (smaller, recompressed, metadata removed). The original is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// Names the recipe it was made by (`clean`, `fit-2000px-1000000b`, …): the same recipe gives the same name, so
    /// a rendition is made once and shared by every platform that needs it.
    pub name: String,
    pub format: MediaFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// SHA-256 of the rendition's bytes, hex.
    pub sha256: String,
}

/// The name of the stored original among an item's objects.
pub const ORIGINAL: &str = "original";

/// Where an item's bytes came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MediaSource {
    Upload,
    Import { url: String },
}

/// One image or video in a workspace's library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    pub id: MediaId,
    pub workspace_id: WorkspaceId,
    pub info: MediaInfo,
    /// Size of the original in bytes.
    pub bytes: u64,
    /// SHA-256 of the original's bytes, hex.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    pub source: MediaSource,
    #[serde(default)]
    pub renditions: Vec<Rendition>,
    /// When a post first used it. An item no post ever used is removed a day after it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl MediaItem {
    pub fn kind(&self) -> MediaKind {
        self.info.kind()
    }

    pub fn rendition(&self, name: &str) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.name == name)
    }

    /// All bytes the item holds in storage: the original and every rendition (what counts against the quota).
    pub fn stored_bytes(&self) -> u64 {
        self.bytes
            .saturating_add(self.renditions.iter().map(|r| r.bytes).sum::<u64>())
    }
}

/// How long an item no post uses, or an upload never completed, is kept.
pub const UNATTACHED_TTL: chrono::Duration = chrono::Duration::days(1);

/// A resumable upload in parts, from its start to its completion call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    pub id: UploadId,
    pub workspace_id: WorkspaceId,
    /// The id the item will have once the upload completes.
    pub media_id: MediaId,
    /// The object store's own id for the multipart upload.
    pub store_upload_id: String,
    /// The size the client announced; the parts must add up to it.
    pub declared_bytes: u64,
    pub part_bytes: u64,
    pub part_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
