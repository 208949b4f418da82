//! An account as Postora stores it after a connection, for tests that drive a platform adapter directly, and the
//! publish jobs such a test hands the adapter.

use chrono::Utc;
use postora::domain::{Account, AccountId, AccountStatus, PlatformKind, TokenSet, WorkspaceId};
use postora::ports::{Connection, PublishJob, PublishMedia};
use serde_json::Value;

/// An account as the app would store it after a connection, with its tokens.
pub struct Connected {
    pub account: Account,
    pub tokens: TokenSet,
}

impl Connected {
    pub fn new(platform: PlatformKind, c: &Connection) -> Self {
        let now = Utc::now();
        Connected {
            account: Account {
                id: AccountId::generate(),
                workspace_id: WorkspaceId::generate(),
                platform,
                profile: c.profile.clone(),
                status: AccountStatus::Active,
                settings: c.settings.clone(),
                token_expires_at: c.tokens.expires_at,
                created_at: now,
                updated_at: now,
                connected_at: Some(now),
                version: 1,
            },
            tokens: c.tokens.clone(),
        }
    }

    /// A job publishing `text` and `media` as a post of its own (a thread's part sets `thread` on it), due now,
    /// continuing from `checkpoint`.
    pub fn job<'a>(
        &'a self,
        text: &'a str,
        media: &'a [PublishMedia],
        checkpoint: Option<&'a Value>,
    ) -> PublishJob<'a> {
        PublishJob {
            account: &self.account,
            tokens: &self.tokens,
            text,
            media,
            thread: &[],
            options: None,
            due_at: Utc::now(),
            idempotency_key: "delivery-1",
            checkpoint,
        }
    }
}
