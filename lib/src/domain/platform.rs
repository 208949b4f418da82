//! The platforms Postora publishes to, and what each one accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::media::MediaFormat;

/// A social platform. `Sandbox` is Postora's own built-in fake network, for demos and tests.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformKind {
    Sandbox,
    Threads,
    Instagram,
    Facebook,
    Tiktok,
    X,
    Linkedin,
    Bluesky,
    Youtube,
    Mastodon,
}

impl PlatformKind {
    pub const ALL: [PlatformKind; 10] = [
        PlatformKind::Sandbox,
        PlatformKind::Threads,
        PlatformKind::Instagram,
        PlatformKind::Facebook,
        PlatformKind::Tiktok,
        PlatformKind::X,
        PlatformKind::Linkedin,
        PlatformKind::Bluesky,
        PlatformKind::Youtube,
        PlatformKind::Mastodon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Sandbox => "sandbox",
            PlatformKind::Threads => "threads",
            PlatformKind::Instagram => "instagram",
            PlatformKind::Facebook => "facebook",
            PlatformKind::Tiktok => "tiktok",
            PlatformKind::X => "x",
            PlatformKind::Linkedin => "linkedin",
            PlatformKind::Bluesky => "bluesky",
            PlatformKind::Youtube => "youtube",
            PlatformKind::Mastodon => "mastodon",
        }
    }

    /// The upper-case name used in environment variables (`POSTORA_<NAME>_CLIENT_ID`).
    pub fn env_name(self) -> String {
        self.as_str().to_ascii_uppercase()
    }

    /// Whether the platform publishes threads: parts in order, each a reply to the one before. A threaded post to
    /// any other platform is refused for that target.
    pub fn takes_threads(self) -> bool {
        matches!(
            self,
            PlatformKind::Sandbox
                | PlatformKind::Threads
                | PlatformKind::X
                | PlatformKind::Bluesky
                | PlatformKind::Mastodon
        )
    }

    /// What a post's text may contain, as the platform documents it. Its media are held to
    /// [`media_rules`](PlatformKind::media_rules).
    pub fn limits(self) -> ContentLimits {
        use TextMeasure::*;
        let (max_text, measure) = match self {
            PlatformKind::Sandbox => (500, Chars),
            PlatformKind::Threads => (500, Chars),
            PlatformKind::Instagram => (2200, Chars),
            PlatformKind::Facebook => (63_206, Chars),
            PlatformKind::Tiktok => (2200, Utf16Units),
            PlatformKind::X => (280, XWeighted),
            PlatformKind::Linkedin => (3000, Chars),
            PlatformKind::Bluesky => (300, Graphemes),
            PlatformKind::Youtube => (5000, Chars),
            PlatformKind::Mastodon => (
                500,
                Mastodon {
                    url_chars: MASTODON_URL_CHARS,
                },
            ),
        };
        ContentLimits {
            max_text,
            measure,
            max_bytes: (self == PlatformKind::Bluesky).then_some(3000),
            forbidden_chars: if self == PlatformKind::Youtube {
                &['<', '>']
            } else {
                &[]
            },
        }
    }
}

const MB: u64 = 1_000_000;
const MIB: u64 = 1 << 20;
const GB: u64 = 1_000_000_000;
const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;

const JPEG: MediaFormat = MediaFormat::Jpeg;
const PNG: MediaFormat = MediaFormat::Png;
const GIF: MediaFormat = MediaFormat::Gif;
const WEBP: MediaFormat = MediaFormat::Webp;
const HEIC: MediaFormat = MediaFormat::Heic;
const MP4: MediaFormat = MediaFormat::Mp4;
const MOV: MediaFormat = MediaFormat::Mov;

impl PlatformKind {
    /// What a post to this platform may carry as media, as the platform documents it (checked by
    /// [`media_rules`](super::media_rules)). Where a platform states a size in MB without saying which, it is taken
    /// as the smaller, decimal one. Limits that depend on the person's account (a creator's longest video on TikTok,
    /// a subscriber's on X) are the ones every account has; the platform checks the rest when Postora publishes.
    pub fn media_rules(self) -> MediaRules {
        let video =
            |formats: &'static [MediaFormat], max_bytes: u64, max_duration_ms: u64| VideoRules {
                formats,
                max_bytes: Some(max_bytes),
                min_duration_ms: None,
                max_duration_ms: Some(max_duration_ms),
                max_frame_rate: None,
                max_side: None,
                max_pixels: None,
                aspect: None,
            };
        let images = |formats: &'static [MediaFormat], max_bytes: Option<u64>| ImageRules {
            formats,
            max_bytes,
            max_gif_bytes: None,
            max_side: None,
            max_pixels: None,
            aspect: None,
        };
        match self {
            // Postora's own network takes everything, generously, and images and video together.
            PlatformKind::Sandbox => MediaRules {
                max_items: 4,
                requires_media: false,
                images: Some(images(&[JPEG, PNG, GIF, WEBP, HEIC], Some(50 * MB))),
                video: Some(video(&[MP4, MOV], GB, 60 * MINUTE)),
                max_videos: 4,
                mixing: true,
                gif_alone: false,
            },
            // Images JPEG or PNG up to 8 MB, within 1:10 to 10:1; video up to 1 GB and 5 minutes; a carousel of
            // up to 20 items of either kind.
            PlatformKind::Threads => MediaRules {
                max_items: 20,
                requires_media: false,
                images: Some(ImageRules {
                    aspect: Some(AspectRange {
                        min: (1, 10),
                        max: (10, 1),
                    }),
                    ..images(&[JPEG, PNG], Some(8 * MB))
                }),
                video: Some(video(&[MP4, MOV], GB, 5 * MINUTE)),
                max_videos: 20,
                mixing: true,
                gif_alone: false,
            },
            // No text-only posts. Images JPEG only, up to 8 MB, from 4:5 to 1.91:1; a single video is published
            // as a reel (3 s to 15 min, up to 300 MB); a carousel of up to 10 items of either kind.
            PlatformKind::Instagram => MediaRules {
                max_items: 10,
                requires_media: true,
                images: Some(ImageRules {
                    aspect: Some(AspectRange {
                        min: (4, 5),
                        max: (191, 100),
                    }),
                    ..images(&[JPEG], Some(8 * MB))
                }),
                video: Some(VideoRules {
                    min_duration_ms: Some(3 * SECOND),
                    ..video(&[MP4, MOV], 300 * MB, 15 * MINUTE)
                }),
                max_videos: 10,
                mixing: true,
                gif_alone: false,
            },
            // Up to 10 photos (JPEG, PNG, GIF; not WebP) of up to 10 MB, or one video of up to 10 GB and 240
            // minutes; not both.
            PlatformKind::Facebook => MediaRules {
                max_items: 10,
                requires_media: false,
                images: Some(images(&[JPEG, PNG, GIF], Some(10 * MB))),
                video: Some(video(&[MP4, MOV], 10 * GB, 240 * MINUTE)),
                max_videos: 1,
                mixing: false,
                gif_alone: false,
            },
            // One video: up to 4 GB, 60 frames a second, 4096 pixels a side, and at most 10 minutes (the longest
            // the API takes; the creator's own maximum, often shorter, is checked when publishing). Or up to 35
            // photos (JPEG or WebP, 20 MB each, at most 1080p), which TikTok fetches from their links.
            PlatformKind::Tiktok => MediaRules {
                max_items: 35,
                requires_media: true,
                images: Some(ImageRules {
                    max_side: Some(1920),
                    max_pixels: Some(1080 * 1920),
                    ..images(&[JPEG, WEBP], Some(20 * MB))
                }),
                video: Some(VideoRules {
                    max_frame_rate: Some(60.0),
                    max_side: Some(4096),
                    ..video(&[MP4, MOV], 4 * GB, 10 * MINUTE)
                }),
                max_videos: 1,
                mixing: false,
                gif_alone: false,
            },
            // Up to 4 images (5 MB each; a GIF up to 15 MB and alone), or one video: 0.5 s to 20 min (the limit
            // of every account; subscribers may post longer), up to 8 GB, 60 frames a second, 1:3 to 3:1.
            PlatformKind::X => MediaRules {
                max_items: 4,
                requires_media: false,
                images: Some(ImageRules {
                    max_gif_bytes: Some(15 * MB),
                    ..images(&[JPEG, PNG, GIF, WEBP], Some(5 * MB))
                }),
                video: Some(VideoRules {
                    min_duration_ms: Some(SECOND / 2),
                    max_frame_rate: Some(60.0),
                    aspect: Some(AspectRange {
                        min: (1, 3),
                        max: (3, 1),
                    }),
                    ..video(&[MP4, MOV], 8 * GB, 20 * MINUTE)
                }),
                max_videos: 1,
                mixing: false,
                gif_alone: true,
            },
            // Up to 9 images (JPEG, PNG, GIF) of fewer than 36,152,320 pixels, or one MP4 video of 3 s to 30 min
            // and up to 500 MB (the Videos API's limit; LinkedIn's own composer takes larger files).
            PlatformKind::Linkedin => MediaRules {
                max_items: 9,
                requires_media: false,
                images: Some(ImageRules {
                    max_pixels: Some(36_152_319),
                    ..images(&[JPEG, PNG, GIF], None)
                }),
                video: Some(VideoRules {
                    min_duration_ms: Some(3 * SECOND),
                    ..video(&[MP4], 500 * MB, 30 * MINUTE)
                }),
                max_videos: 1,
                mixing: false,
                gif_alone: false,
            },
            // Up to 4 images of at most 1,000,000 bytes each (2000 pixels on the longest side is what Bluesky
            // shows, so renditions are made to that), or one MP4 video of up to 100 MB and 3 minutes.
            PlatformKind::Bluesky => MediaRules {
                max_items: 4,
                requires_media: false,
                images: Some(ImageRules {
                    max_side: Some(2000),
                    ..images(&[JPEG, PNG, GIF, WEBP], Some(1_000_000))
                }),
                video: Some(video(&[MP4], 100 * MB, 3 * MINUTE)),
                max_videos: 1,
                mixing: false,
                gif_alone: false,
            },
            // One video, up to 256 GB and 12 hours.
            PlatformKind::Youtube => MediaRules {
                max_items: 1,
                requires_media: true,
                images: None,
                video: Some(video(&[MP4, MOV], 256 * GB, 12 * 60 * MINUTE)),
                max_videos: 1,
                mixing: false,
                gif_alone: false,
            },
            // A server's own limits; these are Mastodon's defaults: 4 attachments, images up to 16 MiB and
            // 33,177,600 pixels (the server scales them down further itself), or one video up to 99 MiB, 3840×2160
            // pixels and 120 frames a second.
            PlatformKind::Mastodon => MediaRules {
                max_items: 4,
                requires_media: false,
                images: Some(ImageRules {
                    max_pixels: Some(33_177_600),
                    ..images(&[JPEG, PNG, GIF, WEBP, HEIC], Some(16 * MIB))
                }),
                video: Some(VideoRules {
                    max_frame_rate: Some(120.0),
                    max_pixels: Some(8_294_400),
                    max_duration_ms: None,
                    ..video(&[MP4, MOV], 99 * MIB, 0)
                }),
                max_videos: 1,
                mixing: false,
                gif_alone: false,
            },
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlatformKind {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlatformKind::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.chars().take(40).collect()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown platform `{0}`")]
pub struct UnknownPlatform(pub String);

/// How a platform counts the length of a text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TextMeasure {
    /// Unicode scalar values.
    Chars,
    /// Extended grapheme clusters (what a person sees as one character).
    Graphemes,
    /// UTF-16 code units.
    Utf16Units,
    /// X's weighted count: most scripts 1, CJK and emoji 2, any URL 23.
    XWeighted,
    /// Mastodon's count: grapheme clusters, every URL `url_chars` (the instance's `characters_reserved_per_url`),
    /// and a mention of a remote account (`@name@domain`) only its `@name`.
    Mastodon { url_chars: usize },
}

/// What a URL counts for on a Mastodon instance that does not say (`characters_reserved_per_url`).
pub const MASTODON_URL_CHARS: usize = 23;

/// What a post's text may contain on a platform (its media: [`MediaRules`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentLimits {
    pub max_text: usize,
    pub measure: TextMeasure,
    pub max_bytes: Option<usize>,
    pub forbidden_chars: &'static [char],
}

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
