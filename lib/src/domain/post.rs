//! A post: text and media written once, aimed at one or more accounts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{PostId, WorkspaceId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    /// Guesses the kind from the URL's file extension; anything not a known video extension is an image.
    pub fn infer(url: &str) -> MediaKind {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        if [".mp4", ".mov", ".m4v", ".webm"]
            .iter()
            .any(|e| path.ends_with(e))
        {
            MediaKind::Video
        } else {
            MediaKind::Image
        }
    }
}

/// One image or video, fetched by the platform from a public URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Media {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    pub kind: MediaKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub workspace_id: WorkspaceId,
    pub text: String,
    pub media: Vec<Media>,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// How far in the past a requested publishing time may be; older times are a mistake, not "now".
pub const MAX_PAST_SCHEDULE: chrono::Duration = chrono::Duration::minutes(5);
/// How far ahead a post may be scheduled.
pub const MAX_FUTURE_SCHEDULE: chrono::Duration = chrono::Duration::days(366 * 2);
/// Most media items a post may carry, whatever its targets.
pub const MAX_MEDIA_URL_LEN: usize = 2048;
/// Most targets one post may have.
pub const MAX_TARGETS: usize = 50;
/// Longest text accepted at all (the largest platform limit).
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
