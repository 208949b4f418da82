//! Media rules: which images and videos each platform takes, and what Postora makes of an item for it. The rules
//! themselves are listed per platform in [`PlatformKind::media_rules`]; this module applies them.
//!
//! An image that breaks a size rule (bytes, pixels, longest side) or comes in a format the platform does not take is
//! *fitted* when Postora can decode and encode it again (JPEG, PNG, WebP): a JPEG rendition is made within the
//! limits. An image that carries location or camera metadata is fitted with the `clean` recipe, so that no
//! published image carries it. GIFs (they may be animated) and HEIC images (Postora cannot decode them) are refused
//! when they break a rule, with what to do about it. Videos are never transcoded: a video that breaks a rule is
//! refused.

use std::fmt;

use serde::Serialize;

use super::ids::MediaId;
use super::media::{MediaFormat, MediaInfo, MediaKind, RenditionSpec};
use super::platform::PlatformKind;

/// What a platform takes as media.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRules {
    /// Most items in one post.
    pub max_items: usize,
    /// Whether a post must carry media (no text-only posts).
    pub requires_media: bool,
    /// Images, or `None` where the platform takes only video.
    pub images: Option<ImageRules>,
    /// Video, or `None` where the platform takes only images.
    pub video: Option<VideoRules>,
    /// Most videos in one post.
    pub max_videos: usize,
    /// Whether images and video may be in the same post.
    pub mixing: bool,
    /// Whether a GIF must be alone in its post (a platform that counts a GIF as a kind of its own).
    pub gif_alone: bool,
}

impl MediaRules {
    /// Whether the platform takes only video.
    pub fn video_only(&self) -> bool {
        self.images.is_none()
    }
}

/// What a platform takes as an image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRules {
    pub formats: &'static [MediaFormat],
    /// Size of a still image's file.
    pub max_bytes: Option<u64>,
    /// Size of a GIF's file, where it differs from `max_bytes`.
    pub max_gif_bytes: Option<u64>,
    /// Longest side in pixels.
    pub max_side: Option<u32>,
    /// Width times height.
    pub max_pixels: Option<u64>,
    pub aspect: Option<AspectRange>,
}

/// What a platform takes as a video.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoRules {
    pub formats: &'static [MediaFormat],
    pub max_bytes: Option<u64>,
    pub min_duration_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
    pub max_frame_rate: Option<f64>,
    /// Longest side in pixels.
    pub max_side: Option<u32>,
    /// Width times height.
    pub max_pixels: Option<u64>,
    pub aspect: Option<AspectRange>,
}

/// Width-to-height ratios, both ends included: 4:5 to 1.91:1 is `AspectRange { min: (4, 5), max: (191, 100) }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AspectRange {
    pub min: (u32, u32),
    pub max: (u32, u32),
}

impl AspectRange {
    pub fn contains(&self, width: u32, height: u32) -> bool {
        let (w, h) = (u64::from(width), u64::from(height));
        let (min_w, min_h) = (u64::from(self.min.0), u64::from(self.min.1));
        let (max_w, max_h) = (u64::from(self.max.0), u64::from(self.max.1));
        w * min_h >= h * min_w && w * max_h <= h * max_w
    }
}

impl fmt::Display for AspectRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {}",
            ratio(self.min.0, self.min.1),
            ratio(self.max.0, self.max.1)
        )
    }
}

/// `191:100` as `1.91:1`, `4:5` as it is.
fn ratio(w: u32, h: u32) -> String {
    if h == 100 || h == 10 {
        format!("{}:1", f64::from(w) / f64::from(h))
    } else {
        format!("{w}:{h}")
    }
}

/// What a platform would make of one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Assessment {
    /// Published as it is.
    Accepted,
    /// Published as a rendition Postora makes to this recipe.
    Fitted { rendition: RenditionSpec },
    /// Not publishable there. `rule` is a stable code (`kind`, `format`, `bytes`, `pixels`, `aspect_ratio`,
    /// `duration`, `frame_rate`, `metadata`); `message` says why and what to do, for a person.
    Refused { rule: &'static str, message: String },
}

impl Assessment {
    fn refused(rule: &'static str, message: String) -> Self {
        Assessment::Refused { rule, message }
    }
}

/// One rule a post's media breaks on a platform, for a person to read. `media_id` names the item when the rule is
/// about one item, and is absent when it is about the post (how many items, which kinds together).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaViolation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<MediaId>,
    pub rule: &'static str,
    pub message: String,
}

/// What `platform` would make of one item of `bytes` bytes that probing found to be `info`.
pub fn assess(platform: PlatformKind, info: &MediaInfo, bytes: u64) -> Assessment {
    let rules = platform.media_rules();
    match info.kind() {
        MediaKind::Image => assess_image(platform, &rules, info, bytes),
        MediaKind::Video => assess_video(platform, &rules, info, bytes),
    }
}

fn assess_image(
    platform: PlatformKind,
    rules: &MediaRules,
    info: &MediaInfo,
    bytes: u64,
) -> Assessment {
    let Some(images) = &rules.images else {
        return Assessment::refused("kind", format!("{platform} takes only video"));
    };
    let (w, h) = (info.width, info.height);
    if let Some(aspect) = images.aspect {
        if !aspect.contains(w, h) {
            return Assessment::refused(
                "aspect_ratio",
                format!(
                    "{platform} takes images from {aspect} (width to height) and this one is {w}×{h}; \
                     crop it to fit and upload it again"
                ),
            );
        }
    }
    let accepted = images.formats.contains(&info.format);
    let over_bytes = |limit: Option<u64>| limit.filter(|&max| bytes > max);
    let over_side = images.max_side.filter(|&max| info.longest_side() > max);
    let over_pixels = images.max_pixels.filter(|&max| info.pixels() > max);
    match info.format {
        MediaFormat::Heic => {
            if !accepted {
                return Assessment::refused(
                    "format",
                    format!(
                        "{platform} does not take HEIC images and Postora cannot convert them; export the photo as \
                         JPEG (on an iPhone, Settings › Camera › Formats › Most Compatible) and upload it again"
                    ),
                );
            }
            if info.private_metadata {
                return Assessment::refused(
                    "metadata",
                    "this HEIC photo carries location or camera data, which Postora removes from every image it \
                     publishes but cannot remove from HEIC; export the photo as JPEG and upload it again"
                        .to_owned(),
                );
            }
            if let Some(max) = over_bytes(images.max_bytes) {
                return too_many_bytes(platform, "HEIC image", bytes, max, "export it as JPEG");
            }
            if over_side.is_some() || over_pixels.is_some() {
                return too_many_pixels(platform, images, info, "export it as JPEG");
            }
            Assessment::Accepted
        }
        MediaFormat::Gif => {
            if !accepted {
                return Assessment::refused(
                    "format",
                    format!(
                        "{platform} does not take GIF images; convert it to a video (MP4) or, for a still \
                         picture, to JPEG or PNG, and upload it again"
                    ),
                );
            }
            if let Some(max) = over_bytes(images.max_gif_bytes.or(images.max_bytes)) {
                return too_many_bytes(
                    platform,
                    "GIF",
                    bytes,
                    max,
                    "make it shorter, smaller or with fewer colours",
                );
            }
            if over_side.is_some() || over_pixels.is_some() {
                return too_many_pixels(
                    platform,
                    images,
                    info,
                    "make it smaller (Postora does not resize GIFs)",
                );
            }
            Assessment::Accepted
        }
        MediaFormat::Jpeg | MediaFormat::Png | MediaFormat::Webp => {
            let fit = !accepted
                || over_bytes(images.max_bytes).is_some()
                || over_side.is_some()
                || over_pixels.is_some();
            if fit {
                if !images.formats.contains(&MediaFormat::Jpeg) {
                    return Assessment::refused(
                        "format",
                        format!(
                            "{platform} does not take {} images and Postora makes renditions as JPEG, which it \
                             does not take either",
                            info.format.as_str().to_ascii_uppercase()
                        ),
                    );
                }
                return Assessment::Fitted {
                    rendition: RenditionSpec::fit(
                        MediaFormat::Jpeg,
                        images.max_side,
                        images.max_pixels,
                        images.max_bytes,
                    ),
                };
            }
            if info.private_metadata {
                return Assessment::Fitted {
                    rendition: RenditionSpec::clean(info.format),
                };
            }
            Assessment::Accepted
        }
        MediaFormat::Mp4 | MediaFormat::Mov => {
            Assessment::refused("kind", "the item is a video, not an image".to_owned())
        }
    }
}

fn too_many_bytes(
    platform: PlatformKind,
    what: &str,
    bytes: u64,
    max: u64,
    fix: &str,
) -> Assessment {
    Assessment::refused(
        "bytes",
        format!(
            "{platform} takes a {what} of at most {} and this one is {}; {fix} and upload it again",
            size(max),
            size(bytes)
        ),
    )
}

fn too_many_pixels(
    platform: PlatformKind,
    images: &ImageRules,
    info: &MediaInfo,
    fix: &str,
) -> Assessment {
    Assessment::refused(
        "pixels",
        format!(
            "{platform} takes images of at most {} and this one is {}×{}; {fix} and upload it again",
            pixel_limits(images.max_side, images.max_pixels),
            info.width,
            info.height
        ),
    )
}

fn pixel_limits(side: Option<u32>, pixels: Option<u64>) -> String {
    match (side, pixels) {
        (Some(s), Some(p)) => format!("{s} pixels a side and {} megapixels", megapixels(p)),
        (Some(s), None) => format!("{s} pixels a side"),
        (None, Some(p)) => format!("{} megapixels", megapixels(p)),
        (None, None) => "any size".to_owned(),
    }
}

fn assess_video(
    platform: PlatformKind,
    rules: &MediaRules,
    info: &MediaInfo,
    bytes: u64,
) -> Assessment {
    let Some(video) = &rules.video else {
        return Assessment::refused("kind", format!("{platform} takes only images"));
    };
    if !video.formats.contains(&info.format) {
        let takes = video
            .formats
            .iter()
            .map(|f| f.as_str().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(" or ");
        return Assessment::refused(
            "format",
            format!(
                "{platform} takes {takes} video and this one is {}; export it as {takes} and upload it again",
                info.format.as_str().to_ascii_uppercase()
            ),
        );
    }
    if let Some(max) = video.max_bytes.filter(|&max| bytes > max) {
        return Assessment::refused(
            "bytes",
            format!(
                "{platform} takes videos of at most {} and this one is {}; Postora does not re-encode video, so \
                 export a smaller one and upload it again",
                size(max),
                size(bytes)
            ),
        );
    }
    if video.min_duration_ms.is_some() || video.max_duration_ms.is_some() {
        let Some(ms) = info.duration_ms else {
            return Assessment::refused(
                "duration",
                format!("{platform} limits how long a video may be and this one does not say how long it is"),
            );
        };
        if let Some(min) = video.min_duration_ms.filter(|&min| ms < min) {
            return Assessment::refused(
                "duration",
                format!(
                    "{platform} takes videos of at least {} and this one is {}",
                    duration(min),
                    duration(ms)
                ),
            );
        }
        if let Some(max) = video.max_duration_ms.filter(|&max| ms > max) {
            return Assessment::refused(
                "duration",
                format!(
                    "{platform} takes videos of at most {} and this one is {}; trim it and upload it again",
                    duration(max),
                    duration(ms)
                ),
            );
        }
    }
    if let (Some(max), Some(fps)) = (video.max_frame_rate, info.frame_rate) {
        if fps > max + 0.01 {
            return Assessment::refused(
                "frame_rate",
                format!("{platform} takes videos of at most {max} frames a second and this one has {fps:.2}"),
            );
        }
    }
    let over_side = video.max_side.filter(|&max| info.longest_side() > max);
    let over_pixels = video.max_pixels.filter(|&max| info.pixels() > max);
    if over_side.is_some() || over_pixels.is_some() {
        return Assessment::refused(
            "pixels",
            format!(
                "{platform} takes videos of at most {} and this one is {}×{}; export a smaller one and upload it \
                 again",
                pixel_limits(video.max_side, video.max_pixels),
                info.width,
                info.height
            ),
        );
    }
    if let Some(aspect) = video.aspect {
        if !aspect.contains(info.width, info.height) {
            return Assessment::refused(
                "aspect_ratio",
                format!(
                    "{platform} takes videos from {aspect} (width to height) and this one is {}×{}",
                    info.width, info.height
                ),
            );
        }
    }
    Assessment::Accepted
}

/// What the post-level rules need to know of one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemShape {
    pub kind: MediaKind,
    pub gif: bool,
}

/// The rules about a post's media as a whole: how many items, how many videos, images and video together, a GIF
/// alone, media required. Each broken rule as `(rule, message)`.
pub fn check_shape(platform: PlatformKind, shapes: &[ItemShape]) -> Vec<(&'static str, String)> {
    let rules = platform.media_rules();
    let mut out = Vec::new();
    if shapes.is_empty() {
        if rules.requires_media {
            out.push((
                "requires_media",
                format!("{platform} does not accept posts without media"),
            ));
        }
        return out;
    }
    if shapes.len() > rules.max_items {
        out.push((
            "count",
            format!(
                "{platform} takes at most {} media items and this post has {}",
                rules.max_items,
                shapes.len()
            ),
        ));
    }
    let videos = shapes.iter().filter(|s| s.kind == MediaKind::Video).count();
    let images = shapes.len() - videos;
    if videos > rules.max_videos && rules.video.is_some() {
        out.push((
            "count",
            format!(
                "{platform} takes at most {} video{} in a post and this post has {videos}",
                rules.max_videos,
                if rules.max_videos == 1 { "" } else { "s" }
            ),
        ));
    }
    if !rules.mixing && videos > 0 && images > 0 && rules.video.is_some() && rules.images.is_some()
    {
        out.push((
            "mixing",
            format!("{platform} does not take images and video in the same post"),
        ));
    }
    if rules.gif_alone && shapes.len() > 1 && shapes.iter().any(|s| s.gif) {
        out.push((
            "gif_alone",
            format!("{platform} takes a GIF only on its own, not with other media"),
        ));
    }
    out
}

/// The rules about the kinds a platform takes at all (only video, only images), for a post whose media are known by
/// kind alone. Items known by their bytes get these from [`assess`], one per item.
pub fn check_kinds(platform: PlatformKind, kinds: &[MediaKind]) -> Vec<(&'static str, String)> {
    let rules = platform.media_rules();
    let mut out = Vec::new();
    if rules.images.is_none() && kinds.contains(&MediaKind::Image) {
        out.push(("kind", format!("{platform} accepts only video")));
    }
    if rules.video.is_none() && kinds.contains(&MediaKind::Video) {
        out.push(("kind", format!("{platform} accepts only images")));
    }
    out
}

/// Checks a post's media from the library against `platform`: each item (naming it), then the post as a whole.
/// Fitted items are fine: Postora makes their renditions before publishing.
pub fn check_post(
    platform: PlatformKind,
    items: &[(&MediaId, &MediaInfo, u64)],
) -> Vec<MediaViolation> {
    let mut out = Vec::new();
    for (id, info, bytes) in items {
        if let Assessment::Refused { rule, message } = assess(platform, info, *bytes) {
            out.push(MediaViolation {
                media_id: Some((*id).clone()),
                rule,
                message: format!("media {id}: {message}"),
            });
        }
    }
    let shapes: Vec<ItemShape> = items
        .iter()
        .map(|(_, info, _)| ItemShape {
            kind: info.kind(),
            gif: info.format == MediaFormat::Gif,
        })
        .collect();
    out.extend(
        check_shape(platform, &shapes)
            .into_iter()
            .map(|(rule, message)| MediaViolation {
                media_id: None,
                rule,
                message,
            }),
    );
    out
}

/// A size for a person: `1.2 MB`, `512 KB`, `8.0 GB` (decimal units, as the platforms state their limits).
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", b / 1e9)
    } else if bytes >= 1_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else if bytes >= 1_000 {
        format!("{:.0} KB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1}", pixels as f64 / 1e6)
}

/// A duration for a person: `0.5 s`, `45 s`, `3 min`, `2 min 20 s`, `12 h`.
fn duration(ms: u64) -> String {
    if ms < 60_000 {
        if ms % 1000 == 0 {
            format!("{} s", ms / 1000)
        } else {
            format!("{:.1} s", ms as f64 / 1000.0)
        }
    } else if ms < 3_600_000 {
        let (m, s) = (ms / 60_000, (ms % 60_000) / 1000);
        if s == 0 {
            format!("{m} min")
        } else {
            format!("{m} min {s} s")
        }
    } else {
        let (h, m) = (ms / 3_600_000, (ms % 3_600_000) / 60_000);
        if m == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        }
    }
}
