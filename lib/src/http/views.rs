//! What the API shows of the domain. Views are built from domain values in one place each, and hold nothing secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::deletion::CallbackSource;
use crate::app::privacy::{ExportRecord, WorkspaceErased};
use crate::domain::{
    Account, AccountStatus, ApiKeyRecord, AuditEntry, DeletionRequest, DeletionStatus, Delivery,
    DeliveryError, DeliveryStatus, Media, PlatformKind,
};
use crate::ports::PostRecord;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub platform: PlatformKind,
    pub platform_user_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub picture_url: Option<String>,
    pub biography: Option<String>,
    pub status: AccountStatus,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.to_string(),
            platform: a.platform,
            platform_user_id: a.profile.platform_user_id.clone(),
            username: a.profile.username.clone(),
            display_name: a.profile.display_name.clone(),
            picture_url: a.profile.picture_url.clone(),
            biography: a.profile.biography.clone(),
            status: a.status,
            token_expires_at: a.token_expires_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub account_id: String,
    pub platform: PlatformKind,
    pub status: DeliveryStatus,
    /// The text this account gets, when it differs from the post's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub scheduled_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub platform_post_id: Option<String>,
    pub permalink: Option<String>,
    /// Why it failed, is in doubt, was canceled, or is waiting for a retry.
    pub error: Option<DeliveryError>,
    pub attempts: u32,
    pub updated_at: DateTime<Utc>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            account_id: d.account_id.to_string(),
            platform: d.platform,
            status: d.status,
            text: d.text.clone(),
            scheduled_at: d
                .wake_at
                .filter(|_| d.status == DeliveryStatus::Scheduled)
                .unwrap_or(d.scheduled_at),
            published_at: d.published_at,
            platform_post_id: d.platform_post_id.clone(),
            permalink: d.permalink.clone(),
            error: d.error.clone(),
            attempts: d.attempts,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: String,
    pub text: String,
    pub media: Vec<Media>,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deliveries: Vec<DeliveryView>,
}

impl From<&PostRecord> for PostView {
    fn from(r: &PostRecord) -> Self {
        PostView {
            id: r.post.id.to_string(),
            text: r.post.text.clone(),
            media: r.post.media.clone(),
            scheduled_at: r.post.scheduled_at,
            created_at: r.post.created_at,
            updated_at: r.post.updated_at,
            deliveries: r.deliveries.iter().map(DeliveryView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostPage {
    pub posts: Vec<PostView>,
    /// Pass as `cursor` to read the next page; absent on the last page. A page may be short (even empty) and still
    /// have one: a request reads a bounded number of posts.
    pub next_cursor: Option<String>,
}

/// An API key as listed: never the key, only what names it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// The key's public id, the 12 characters after `pk_`: what `DELETE /v1/api-keys/{id}` takes. For a key made
    /// before keys had ids, the start of its SHA-256.
    pub id: String,
    /// How the key starts (`pk_` and the id), to recognise it; absent for a key made before keys had ids.
    pub prefix: Option<String>,
    pub label: Option<String>,
    /// Absent for a key made before this was recorded.
    pub created_at: Option<DateTime<Utc>>,
    /// When a request last used the key, to within 15 minutes; absent if it has not been used since.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            prefix: k.prefix(),
            label: k.label.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// A new key: the only answer that ever holds a key. Keep it; it cannot be shown again.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKeyView,
    pub api_key: String,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("key", &self.key)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for: 1 to 100 characters, not all spaces, no control characters; optional.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectStarted {
    /// Send the person here to give consent.
    pub authorize_url: String,
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Required for an in-doubt delivery: it may already be on the platform.
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub platforms: Vec<PlatformKind>,
}

/// An account as exported: what the API shows, and the non-secret platform facts kept with it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportedAccount {
    #[serde(flatten)]
    pub account: AccountView,
    /// Platform facts the adapter keeps (a Page id, a login variant); never a token. Null when there are none.
    #[schema(value_type = Option<Object>)]
    pub settings: serde_json::Value,
}

/// One line of an export page (`application/x-ndjson`): its `type` says which record it is. An export gives the
/// workspace first, then its accounts, its posts with their deliveries (newest scheduled first), and its audit log
/// (newest first); never a token, a ciphertext or a key.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    /// The workspace itself; the first line of the first page.
    Workspace {
        workspace_id: String,
        name: String,
        created_at: DateTime<Utc>,
        exported_at: DateTime<Utc>,
    },
    /// An account, deleted ones included as their scrubbed rows.
    Account(ExportedAccount),
    /// A post with its deliveries.
    Post(PostView),
    /// An entry of the audit log.
    Audit(AuditEntry),
}

impl From<&ExportRecord> for ExportLine {
    fn from(r: &ExportRecord) -> Self {
        match r {
            ExportRecord::Workspace {
                workspace_id,
                name,
                created_at,
                exported_at,
            } => ExportLine::Workspace {
                workspace_id: workspace_id.to_string(),
                name: name.clone(),
                created_at: *created_at,
                exported_at: *exported_at,
            },
            ExportRecord::Account(a) => ExportLine::Account(ExportedAccount {
                account: AccountView::from(a),
                settings: a.settings.clone(),
            }),
            ExportRecord::Post(p) => ExportLine::Post(PostView::from(p)),
            ExportRecord::Audit(e) => ExportLine::Audit(e.clone()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceErasedView {
    pub workspace_id: String,
    pub erased_at: DateTime<Utc>,
    /// Accounts that were still connected and were disconnected first.
    pub accounts_disconnected: usize,
}

impl From<&WorkspaceErased> for WorkspaceErasedView {
    fn from(e: &WorkspaceErased) -> Self {
        WorkspaceErasedView {
            workspace_id: e.workspace_id.to_string(),
            erased_at: e.erased_at,
            accounts_disconnected: e.accounts_disconnected,
        }
    }
}

/// The answer Meta expects from a data-deletion callback.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletionAccepted {
    /// The status page of this request, for the person.
    pub url: String,
    /// Random and alphanumeric; the same request gets the same code.
    pub confirmation_code: String,
}

/// What a deauthorize callback did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeauthorizeDone {
    pub accounts_revoked: usize,
    pub deliveries_canceled: usize,
}

/// A deletion request's state, as its status page shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletionStatusView {
    pub confirmation_code: String,
    /// `received` until the deletion is complete, then `completed`.
    pub status: String,
    /// Who sent the request: `Facebook or Instagram`, or `Threads`.
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub accounts_deleted: u32,
    pub deliveries_canceled: u32,
}

impl From<&DeletionRequest> for DeletionStatusView {
    fn from(r: &DeletionRequest) -> Self {
        DeletionStatusView {
            confirmation_code: r.confirmation_code.clone(),
            status: match r.status {
                DeletionStatus::Received => "received".into(),
                DeletionStatus::Completed => "completed".into(),
            },
            source: CallbackSource::of_recorded(r.platform).label().into(),
            received_at: r.received_at,
            completed_at: r.completed_at,
            accounts_deleted: r.accounts_deleted,
            deliveries_canceled: r.deliveries_canceled,
        }
    }
}
