//! The platforms Postora publishes to, and what each one accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

    /// What a post to this platform may contain, as the platform documents it.
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
            PlatformKind::Mastodon => (500, Chars),
        };
        let (max_media, requires_media, video_only) = match self {
            PlatformKind::Sandbox => (4, false, false),
            PlatformKind::Threads => (20, false, false),
            PlatformKind::Instagram => (10, true, false),
            PlatformKind::Facebook => (10, false, false),
            PlatformKind::Tiktok => (1, true, true),
            PlatformKind::X => (4, false, false),
            PlatformKind::Linkedin => (9, false, false),
            PlatformKind::Bluesky => (4, false, false),
            PlatformKind::Youtube => (1, true, true),
            PlatformKind::Mastodon => (4, false, false),
        };
        ContentLimits {
            max_text,
            measure,
            max_bytes: (self == PlatformKind::Bluesky).then_some(3000),
            max_media,
            requires_media,
            video_only,
            forbidden_chars: if self == PlatformKind::Youtube {
                &['<', '>']
            } else {
                &[]
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
}

/// What a post to a platform may contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentLimits {
    pub max_text: usize,
    pub measure: TextMeasure,
    pub max_bytes: Option<usize>,
    pub max_media: usize,
    pub requires_media: bool,
    pub video_only: bool,
    pub forbidden_chars: &'static [char],
}
