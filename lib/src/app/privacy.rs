//! A workspace owner's own rights over its data: take all of it away (export), read what happened to it (the audit
//! log), and have all of it erased.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::App;
use crate::domain::{Account, AccountStatus, AuditEntry, MediaItem, WorkspaceId};
use crate::error::{Error, Result};
use crate::ports::{Page, PostFilter, PostRecord, StoreError};

/// Records in one export page unless the request asks for fewer.
pub const EXPORT_PAGE_DEFAULT: usize = 100;
/// The most records one export page holds: with a post's text and media capped by the platforms' limits and audit
/// details capped in size, a page stays far below Lambda's 6 MB response limit.
pub const EXPORT_PAGE_MAX: usize = 200;
/// Store calls one export page makes at most per part, so that a page that finds little still ends quickly.
const EXPORT_STORE_CALLS: usize = 4;

/// One record of an export: the workspace first, then its accounts, its posts with their deliveries, its media, and
/// its audit log. Nothing secret is read into it: no token, no ciphertext, no key.
#[derive(Clone, Debug)]
pub enum ExportRecord {
    Workspace {
        workspace_id: WorkspaceId,
        name: String,
        created_at: DateTime<Utc>,
        exported_at: DateTime<Utc>,
    },
    /// An account, deleted ones included (as their scrubbed rows).
    Account(Account),
    /// A post with its deliveries; newest scheduled first.
    Post(PostRecord),
    /// A media item (its description, not its bytes); newest first.
    Media(MediaItem),
    /// An audit entry; newest first.
    Audit(AuditEntry),
}

/// A bounded part of an export, and where the next part starts (`None` after the last record).
#[derive(Clone, Debug)]
pub struct ExportPage {
    pub records: Vec<ExportRecord>,
    pub next_cursor: Option<String>,
}

/// Which part of the workspace an export cursor is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum ExportPart {
    #[serde(rename = "accounts")]
    Accounts,
    #[serde(rename = "posts")]
    Posts,
    #[serde(rename = "media")]
    Media,
    #[serde(rename = "audit")]
    Audit,
}

/// Where an export goes on: the part, and in it the last account id given or the store's own cursor. Sent to the
/// client as base64url JSON; it holds ids and store cursors only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportCursor {
    #[serde(rename = "p")]
    part: ExportPart,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    store: Option<String>,
}

impl ExportCursor {
    fn start(part: ExportPart) -> Self {
        ExportCursor {
            part,
            after: None,
            store: None,
        }
    }

    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, json)
    }

    fn decode(raw: &str) -> Result<Self> {
        let bad = || Error::invalid("cursor", "is not a cursor this API returned");
        if raw.is_empty() || raw.len() > 4096 {
            return Err(bad());
        }
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
            .map_err(|_| bad())?;
        let cursor: ExportCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let valid = match cursor.part {
            ExportPart::Accounts => cursor.store.is_none(),
            ExportPart::Posts | ExportPart::Media | ExportPart::Audit => cursor.after.is_none(),
        };
        if valid {
            Ok(cursor)
        } else {
            Err(bad())
        }
    }
}

/// A store cursor the store did not recognise is the client's mistake.
fn store_cursor<T>(r: std::result::Result<T, StoreError>) -> Result<T> {
    match r {
        Err(StoreError::NotFound) => Err(Error::invalid(
            "cursor",
            "is not a cursor this API returned",
        )),
        other => Ok(other?),
    }
}

/// Adds records from a paged store listing to `records`, from the store's `cursor` on, until the page holds `limit`
/// records or [`EXPORT_STORE_CALLS`] calls were made. Answers the store's cursor to go on from, or `None` when the
/// listing is done.
async fn fill_from_store<T, F, Fut>(
    records: &mut Vec<ExportRecord>,
    limit: usize,
    mut cursor: Option<String>,
    record: fn(T) -> ExportRecord,
    mut fetch: F,
) -> Result<Option<String>>
where
    F: FnMut(usize, Option<String>) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Page<T>, StoreError>>,
{
    for _ in 0..EXPORT_STORE_CALLS {
        let room = limit.saturating_sub(records.len());
        if room == 0 {
            break;
        }
        let page = store_cursor(fetch(room, cursor.clone()).await)?;
        records.extend(page.items.into_iter().map(record));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(cursor)
}

/// A page that ends inside `part`, to go on from the store's `cursor`.
fn page_going_on(records: Vec<ExportRecord>, part: ExportPart, cursor: String) -> ExportPage {
    ExportPage {
        records,
        next_cursor: Some(
            ExportCursor {
                part,
                after: None,
                store: Some(cursor),
            }
            .encode(),
        ),
    }
}

/// What erasing a workspace did.
#[derive(Clone, Debug)]
pub struct WorkspaceErased {
    pub workspace_id: WorkspaceId,
    pub erased_at: DateTime<Utc>,
    pub accounts_disconnected: usize,
}

impl App {
    /// One page of the workspace's export: at most `limit` records (1 to [`EXPORT_PAGE_MAX`]) from where `cursor`
    /// left off, or from the workspace record when it is `None`. Each page reads only what it returns (accounts
    /// excepted: the workspace's accounts are read whole and sliced), so memory and answer size are bounded
    /// however much the workspace holds. A malformed cursor is a validation error on `cursor`.
    pub async fn export_page(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ExportPage> {
        let limit = limit.clamp(1, EXPORT_PAGE_MAX);
        let mut records = Vec::new();
        let mut at = match cursor {
            Some(raw) => ExportCursor::decode(raw)?,
            None => {
                let workspace = self
                    .stores
                    .workspaces
                    .get_workspace(ws)
                    .await?
                    .ok_or(Error::NotFound("workspace"))?;
                records.push(ExportRecord::Workspace {
                    workspace_id: workspace.id,
                    name: workspace.name,
                    created_at: workspace.created_at,
                    exported_at: self.now(),
                });
                ExportCursor::start(ExportPart::Accounts)
            }
        };
        loop {
            let room = limit.saturating_sub(records.len());
            if room == 0 {
                return Ok(ExportPage {
                    records,
                    next_cursor: Some(at.encode()),
                });
            }
            let next = match at.part {
                ExportPart::Accounts => {
                    let mut accounts = self.stores.accounts.list_accounts(ws).await?;
                    accounts.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
                    let after = at.after.as_deref().unwrap_or("");
                    let mut rest = accounts
                        .into_iter()
                        .filter(|a| a.id.as_str() > after)
                        .peekable();
                    let mut last = None;
                    for account in rest.by_ref().take(room) {
                        last = Some(account.id.as_str().to_owned());
                        records.push(ExportRecord::Account(account));
                    }
                    match (rest.peek(), last) {
                        (Some(_), Some(last)) => ExportCursor {
                            part: ExportPart::Accounts,
                            after: Some(last),
                            store: None,
                        },
                        _ => ExportCursor::start(ExportPart::Posts),
                    }
                }
                ExportPart::Posts => {
                    let stores = &self.stores;
                    let filter = PostFilter::default();
                    let filter = &filter;
                    let rest = fill_from_store(
                        &mut records,
                        limit,
                        at.store.clone(),
                        ExportRecord::Post,
                        |room, cursor| async move {
                            stores
                                .posts
                                .list_posts(ws, filter, room, cursor.as_deref())
                                .await
                        },
                    )
                    .await?;
                    match rest {
                        // Out of room or of store calls: the page ends here.
                        Some(c) => return Ok(page_going_on(records, ExportPart::Posts, c)),
                        None => ExportCursor::start(ExportPart::Media),
                    }
                }
                ExportPart::Media => {
                    let stores = &self.stores;
                    let rest = fill_from_store(
                        &mut records,
                        limit,
                        at.store.clone(),
                        ExportRecord::Media,
                        |room, cursor| async move {
                            stores.media.list_media(ws, room, cursor.as_deref()).await
                        },
                    )
                    .await?;
                    match rest {
                        Some(c) => return Ok(page_going_on(records, ExportPart::Media, c)),
                        None => ExportCursor::start(ExportPart::Audit),
                    }
                }
                ExportPart::Audit => {
                    let stores = &self.stores;
                    let rest = fill_from_store(
                        &mut records,
                        limit,
                        at.store.clone(),
                        ExportRecord::Audit,
                        |room, cursor| async move {
                            stores.records.list_audit(ws, room, cursor.as_deref()).await
                        },
                    )
                    .await?;
                    return Ok(match rest {
                        Some(c) => page_going_on(records, ExportPart::Audit, c),
                        None => ExportPage {
                            records,
                            next_cursor: None,
                        },
                    });
                }
            };
            at = next;
        }
    }

    /// One page of the workspace's audit log, newest first.
    pub async fn list_audit(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>> {
        match self.stores.records.list_audit(ws, limit, cursor).await {
            Err(StoreError::NotFound) => Err(Error::invalid(
                "cursor",
                "is not a cursor this API returned",
            )),
            other => Ok(other?),
        }
    }

    /// Erases a workspace: every account is disconnected first (revoked at its platform where it can be, tokens
    /// deleted, pending deliveries canceled), then everything of the workspace goes, its data key is forgotten, and
    /// the audit log keeps one minimal tombstone. Running it again after a failure finishes the work.
    pub async fn erase_workspace(&self, ws: &WorkspaceId) -> Result<WorkspaceErased> {
        if self.stores.workspaces.get_workspace(ws).await?.is_none() {
            return Err(Error::NotFound("workspace"));
        }
        let mut disconnected = 0;
        for account in self.stores.accounts.list_accounts(ws).await? {
            if account.status == AccountStatus::Deleted {
                self.stores.accounts.delete_tokens(ws, &account.id).await?;
                continue;
            }
            match self.disconnect_account(ws, &account.id, None).await {
                Ok(_) => disconnected += 1,
                // Deleted by someone else in the meantime: nothing left to disconnect.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // The files go first: a failure here leaves the records that say what is still to remove.
        self.blobs.delete_workspace(ws).await.map_err(|e| {
            Error::Unavailable(format!("the workspace's media could not be removed: {e}"))
        })?;
        self.stores.workspaces.erase_workspace(ws).await?;
        self.vault.forget(ws);
        let erased_at = self.now();
        self.audit(AuditEntry::new(
            ws.clone(),
            erased_at,
            "workspace.erased",
            serde_json::json!({}),
        ))
        .await;
        tracing::info!(workspace = %ws, accounts_disconnected = disconnected, "a workspace was erased");
        Ok(WorkspaceErased {
            workspace_id: ws.clone(),
            erased_at,
            accounts_disconnected: disconnected,
        })
    }
}
