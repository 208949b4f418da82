//! A post: text and media written once, aimed at one or more accounts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::approval::Approval;
use super::ids::{MediaId, PostId, WorkspaceId};
pub use super::media::MediaKind;

/// One item of the workspace's media library, as a post uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub media_id: MediaId,
    pub kind: MediaKind,
    /// The post's own alternative text for it; the item's own is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// A part of a thread after the first: its own text and media, published as a reply to the part before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadPart {
    pub text: String,
    #[serde(default)]
    pub media: Vec<Media>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub workspace_id: WorkspaceId,
    /// The text of the post, or of a thread's first part.
    pub text: String,
    pub media: Vec<Media>,
    /// A thread's parts after the first, in order; empty for a single post.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thread: Vec<ThreadPart>,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    /// Where the post stands in approval, once it has needed approval (an editor's post in a workspace that requires
    /// it); absent for a post that never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl Post {
    /// How many parts the post publishes as: 1 for a single post.
    pub fn part_count(&self) -> usize {
        1 + self.thread.len()
    }

    /// The text and media of part `index` (0 is the post itself), with `first_text` replacing the first part's text
    /// (a target's own text).
    pub fn part<'a>(
        &'a self,
        index: usize,
        first_text: Option<&'a str>,
    ) -> Option<(&'a str, &'a [Media])> {
        match index {
            0 => Some((first_text.unwrap_or(&self.text), &self.media)),
            i => self
                .thread
                .get(i - 1)
                .map(|p| (p.text.as_str(), p.media.as_slice())),
        }
    }

    /// Every media item the post uses, in every part.
    pub fn all_media(&self) -> impl Iterator<Item = &Media> {
        self.media
            .iter()
            .chain(self.thread.iter().flat_map(|p| p.media.iter()))
    }
}

/// Most parts a thread may have.
pub const MAX_THREAD_PARTS: usize = 25;
/// How far in the past a requested publishing time may be; older times are a mistake, not "now".
pub const MAX_PAST_SCHEDULE: chrono::Duration = chrono::Duration::minutes(5);
/// How far ahead a post may be scheduled.
pub const MAX_FUTURE_SCHEDULE: chrono::Duration = chrono::Duration::days(366 * 2);
/// The longest media URL a post may give (it is imported into the library first).
pub const MAX_MEDIA_URL_LEN: usize = 2048;
/// The longest alternative text of a media item, in characters.
pub const MAX_ALT_CHARS: usize = 1500;
/// Most media items a post may carry, whatever its targets.
pub const MAX_POST_MEDIA: usize = 20;
/// Most targets one post may have.
pub const MAX_TARGETS: usize = 50;
/// Longest text accepted at all (the largest platform limit).
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// A public http(s) URL as the API document states it: `http://` or `https://` (in any case) written out, no space
/// or control character anywhere (the URL parser would quietly drop or trim some), a host, at most
/// [`MAX_MEDIA_URL_LEN`] characters.
pub fn parse_media_url(raw: &str) -> Option<url::Url> {
    let scheme_written = ["http://", "https://"].iter().any(|p| {
        raw.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    });
    if !scheme_written
        || raw.chars().count() > MAX_MEDIA_URL_LEN
        || raw.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}
