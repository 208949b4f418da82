//! What the API shows of the domain. Views are built from domain values in one place each, and hold nothing secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::deletion::CallbackSource;
use crate::app::privacy::{ExportRecord, WorkspaceErased};
use crate::domain::media::MediaSource;
use crate::domain::media_rules::{assess, Assessment};
use crate::domain::{
    Account, AccountStatus, ApiKeyRecord, Approval, ApprovalState, AuditEntry, By, DeletionRequest,
    DeletionStatus, Delivery, DeliveryError, DeliveryStatus, Media, MediaFormat, MediaItem,
    MediaKind, PlatformKind,
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
    /// When the grant ends whatever Postora refreshes, where the platform sets such an end (LinkedIn): the account
    /// must be connected again before then. `account.grant_expiring` is emitted in the days before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<DateTime<Utc>>,
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
            grant_expires_at: a.grant_expires_at(),
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
    /// The options chosen for this account's platform, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
    pub scheduled_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// The post's id on the platform (a thread's first part's).
    pub platform_post_id: Option<String>,
    pub permalink: Option<String>,
    /// For a thread, each part published so far, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PublishedPartView>,
    /// Something to know about how the post landed, in words (for example, YouTube locked the video private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
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
            options: d.options.as_ref().and_then(|o| {
                let mut v = serde_json::to_value(o).ok()?;
                v.as_object_mut()?.remove("platform");
                Some(v)
            }),
            scheduled_at: d
                .wake_at
                .filter(|_| d.status == DeliveryStatus::Scheduled)
                .unwrap_or(d.scheduled_at),
            published_at: d.published_at,
            platform_post_id: d.platform_post_id.clone(),
            permalink: d.permalink.clone(),
            parts: d
                .parts
                .iter()
                .map(|p| PublishedPartView {
                    platform_post_id: p.platform_post_id.clone(),
                    permalink: p.permalink.clone(),
                })
                .collect(),
            notice: d.notice.clone(),
            error: d.error.clone(),
            attempts: d.attempts,
            updated_at: d.updated_at,
        }
    }
}

/// One part of a thread as it landed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedPartView {
    pub platform_post_id: String,
    pub permalink: Option<String>,
}

/// A thread's part as written.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostPartView {
    pub text: String,
    pub media: Vec<PostMediaView>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: String,
    /// The text of the post, or of a thread's first part.
    pub text: String,
    pub media: Vec<PostMediaView>,
    /// For a thread, every part in order (the first is `text` and `media` again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PostPartView>,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the post stands in approval; absent for a post that never needed it (see `POST /v1/posts/{id}/approve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalView>,
    pub deliveries: Vec<DeliveryView>,
}

/// Who did something to a post.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ByView {
    /// `person` or `api_key`.
    pub kind: String,
    /// The person's id, or the API key's public id.
    pub id: String,
}

impl From<&By> for ByView {
    fn from(b: &By) -> Self {
        match b {
            By::Person(id) => ByView {
                kind: "person".into(),
                id: id.to_string(),
            },
            By::ApiKey(id) => ByView {
                kind: "api_key".into(),
                id: id.clone(),
            },
        }
    }
}

/// A post's approval: requested by an editor, then approved or rejected by an owner, an admin or a client. While it
/// is `pending` or `rejected` the post's deliveries are `pending_approval` and nothing is published.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalView {
    pub state: ApprovalState,
    pub requested_by: ByView,
    pub requested_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<ByView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<ByView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl From<&Approval> for ApprovalView {
    fn from(a: &Approval) -> Self {
        ApprovalView {
            state: a.state,
            requested_by: ByView::from(&a.requested_by),
            requested_at: a.requested_at,
            approved_by: a.approved_by.as_ref().map(ByView::from),
            approved_at: a.approved_at,
            rejected_by: a.rejected_by.as_ref().map(ByView::from),
            rejected_at: a.rejected_at,
            comment: a.comment.clone(),
        }
    }
}

/// Why a post is rejected.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// 1 to 2000 characters, shown with the post.
    #[schema(min_length = 1, max_length = 2000)]
    pub comment: String,
}

/// A media item as a post uses it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostMediaView {
    /// The item of the media library (`GET /v1/media/{id}`).
    pub media_id: String,
    pub kind: MediaKind,
    /// The post's own alternative text for it, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

impl From<&Media> for PostMediaView {
    fn from(m: &Media) -> Self {
        PostMediaView {
            media_id: m.media_id.to_string(),
            kind: m.kind,
            alt: m.alt.clone(),
        }
    }
}

impl From<&PostRecord> for PostView {
    fn from(r: &PostRecord) -> Self {
        PostView {
            id: r.post.id.to_string(),
            text: r.post.text.clone(),
            media: r.post.media.iter().map(PostMediaView::from).collect(),
            parts: if r.post.thread.is_empty() {
                Vec::new()
            } else {
                (0..r.post.part_count())
                    .filter_map(|k| r.post.part(k, None))
                    .map(|(text, media)| PostPartView {
                        text: text.to_owned(),
                        media: media.iter().map(PostMediaView::from).collect(),
                    })
                    .collect()
            },
            scheduled_at: r.post.scheduled_at,
            created_at: r.post.created_at,
            updated_at: r.post.updated_at,
            approval: r.post.approval.as_ref().map(ApprovalView::from),
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
    /// The role the key acts in (a key made before keys had roles is an owner's).
    pub role: crate::domain::Role,
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
            role: k.role,
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
    /// The role the key acts in; `editor` when absent. No higher than the caller's own role (owner > admin > editor >
    /// viewer; `client` keys only from owners and admins): 403 `role_not_grantable` otherwise.
    #[serde(default)]
    pub role: Option<crate::domain::Role>,
}

/// What connecting an account of a platform of many servers needs to know.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    /// The Mastodon instance, as a host name such as `mastodon.social` or an https URL.
    #[schema(max_length = 253)]
    pub instance: Option<String>,
    /// The Bluesky handle (such as `alice.bsky.social`) or DID whose server to ask.
    #[schema(max_length = 253)]
    pub handle: Option<String>,
}

/// A Bluesky handle and an app password (made in Bluesky's Settings, App passwords).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPasswordInput {
    /// The handle (such as `alice.bsky.social`) or DID.
    #[schema(min_length = 1, max_length = 253)]
    pub handle: String,
    /// The app password. Used once to sign in, never stored: Postora keeps the session it gives.
    #[schema(value_type = String, min_length = 1, max_length = 256, format = Password)]
    pub app_password: secrecy::SecretString,
}

impl std::fmt::Debug for AppPasswordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPasswordInput")
            .field("handle", &self.handle)
            .field("app_password", &"[redacted]")
            .finish()
    }
}

/// The accounts a connection stored.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connected {
    pub accounts: Vec<AccountView>,
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
/// workspace first, then its accounts, its posts with their deliveries (newest scheduled first), its media (newest
/// first), and its audit log (newest first); never a token, a ciphertext or a key.
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
    /// An item of the media library, and where to fetch its file.
    Media(ExportedMedia),
    /// An entry of the audit log.
    Audit(AuditEntry),
}

/// A media item in an export: what it is, and the API path that redirects to its file (with the workspace's key).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportedMedia {
    #[serde(flatten)]
    pub media: MediaView,
    /// `GET` it with the workspace's API key: it answers a redirect to a link to the original, valid for two hours.
    pub content_path: String,
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
            ExportRecord::Media(m) => ExportLine::Media(ExportedMedia {
                media: MediaView::new(m, &[]),
                content_path: format!("/v1/media/{}/content", m.id),
            }),
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

/// An image or video of the workspace's media library: what its bytes are, and what each platform would make of it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaView {
    pub id: String,
    pub kind: MediaKind,
    /// Read from the file's bytes, never from its name or declared type.
    pub format: MediaFormat,
    pub content_type: String,
    /// Size of the original.
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// SHA-256 of the original, hex.
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    /// `upload`, or the URL it was imported from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
    /// What Postora does with location and camera metadata.
    pub metadata: MetadataView,
    /// Versions made to fit platforms whose limits are below the original.
    pub renditions: Vec<RenditionView>,
    /// What each platform switched on would make of this item on its own (a post's own rules, such as how many
    /// items it may carry, are checked when the post is written).
    pub platforms: std::collections::BTreeMap<String, PlatformFit>,
    /// When a post first used it; an item no post uses is removed a day after it was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Location and camera metadata: found in the original or not, and never published.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataView {
    /// Whether the original carries location or camera metadata (EXIF GPS, camera make and serial, and the like).
    pub found_in_original: bool,
    /// Always true for images: every image a platform gets from Postora has that metadata removed. The original is
    /// kept as it was uploaded.
    pub removed_when_published: bool,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RenditionView {
    pub name: String,
    pub format: MediaFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub sha256: String,
}

/// What one platform would make of an item: taken as it is, fitted (Postora makes a smaller version), or refused.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlatformFit {
    /// `accepted`, `fitted` or `refused`.
    pub verdict: String,
    /// For `fitted`: the rendition the platform gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendition: Option<String>,
    /// For `refused`: the rule broken, as a stable code (`format`, `bytes`, `duration`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For `refused`: why, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl MediaView {
    pub fn new(item: &MediaItem, platforms: &[PlatformKind]) -> Self {
        let fits = platforms
            .iter()
            .map(|p| {
                let fit = match assess(*p, &item.info, item.bytes) {
                    Assessment::Accepted => PlatformFit {
                        verdict: "accepted".into(),
                        rendition: None,
                        rule: None,
                        message: None,
                    },
                    Assessment::Fitted { rendition } => PlatformFit {
                        verdict: "fitted".into(),
                        rendition: Some(rendition.name()),
                        rule: None,
                        message: None,
                    },
                    Assessment::Refused { rule, message } => PlatformFit {
                        verdict: "refused".into(),
                        rendition: None,
                        rule: Some(rule.to_string()),
                        message: Some(message),
                    },
                };
                (p.as_str().to_owned(), fit)
            })
            .collect();
        MediaView {
            id: item.id.to_string(),
            kind: item.kind(),
            format: item.info.format,
            content_type: item.info.format.mime().to_owned(),
            bytes: item.bytes,
            width: item.info.width,
            height: item.info.height,
            duration_ms: item.info.duration_ms,
            frame_rate: item.info.frame_rate,
            video_codec: item.info.video_codec.clone(),
            audio_codec: item.info.audio_codec.clone(),
            sha256: item.sha256.clone(),
            alt: item.alt.clone(),
            imported_from: match &item.source {
                MediaSource::Upload => None,
                MediaSource::Import { url } => Some(url.clone()),
            },
            metadata: MetadataView {
                found_in_original: item.info.private_metadata,
                removed_when_published: item.kind() == MediaKind::Image,
            },
            renditions: item
                .renditions
                .iter()
                .map(|r| RenditionView {
                    name: r.name.clone(),
                    format: r.format,
                    width: r.width,
                    height: r.height,
                    bytes: r.bytes,
                    sha256: r.sha256.clone(),
                })
                .collect(),
            platforms: fits,
            attached_at: item.attached_at,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaPage {
    pub media: Vec<MediaView>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Alternative text to set (a string) or clear (null).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaPatch {
    /// At most 1500 characters; null or empty clears it.
    #[schema(max_length = 1500)]
    pub alt: Option<String>,
}

/// A file for Postora to fetch into the library.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaImport {
    /// An http or https URL on the public internet (private, loopback and cloud metadata addresses are refused),
    /// at most 2048 characters.
    #[schema(max_length = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$")]
    pub url: String,
    #[serde(default)]
    #[schema(max_length = 1500)]
    pub alt: Option<String>,
}

/// A whole number as JSON may write it: `12` or `12.0` (JSON Schema counts both as integers).
fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("`{n}` is not a whole number in range")))
}

/// An upload in parts, to start.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// The file's exact size in bytes.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "whole_number")]
    pub bytes: u64,
    #[serde(default)]
    #[schema(max_length = 1500)]
    pub alt: Option<String>,
}

/// An upload in parts: PUT each part's bytes (the byte range given) to its URL, keep the `ETag` each PUT answers,
/// then complete it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadView {
    pub upload_id: String,
    /// The id the item will have once the upload is complete.
    pub media_id: String,
    pub bytes: u64,
    pub part_bytes: u64,
    pub part_count: u32,
    /// The parts still to send, each with a URL valid for a day.
    pub parts: Vec<PartView>,
    /// The parts received so far.
    pub received: Vec<ReceivedPartView>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartView {
    pub number: u32,
    pub first_byte: u64,
    pub last_byte: u64,
    /// Where to PUT the part's bytes. A credential while it lasts: do not share it.
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceivedPartView {
    pub number: u32,
    pub bytes: u64,
    pub etag: String,
}

impl From<&crate::app::media::UploadPlan> for UploadView {
    fn from(p: &crate::app::media::UploadPlan) -> Self {
        UploadView {
            upload_id: p.session.id.to_string(),
            media_id: p.session.media_id.to_string(),
            bytes: p.session.declared_bytes,
            part_bytes: p.session.part_bytes,
            part_count: p.session.part_count,
            parts: p
                .parts
                .iter()
                .map(|x| PartView {
                    number: x.number,
                    first_byte: x.first_byte,
                    last_byte: x.last_byte,
                    url: x.url.to_string(),
                })
                .collect(),
            received: p
                .received
                .iter()
                .map(|x| ReceivedPartView {
                    number: x.number,
                    bytes: x.bytes,
                    etag: x.etag.clone(),
                })
                .collect(),
            expires_at: p.session.expires_at,
        }
    }
}

/// The parts to join, as their PUTs answered; absent: the parts the store holds.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUpload {
    #[serde(default)]
    pub parts: Option<Vec<CompletedPartInput>>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedPartInput {
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "whole_number")]
    pub number: u32,
    #[schema(max_length = 200)]
    pub etag: String,
}
