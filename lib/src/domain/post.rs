//! A post: text and media written once, aimed at one or more accounts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{PostId, WorkspaceId};
pub use super::media::MediaKind;

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
