//! The public API under `/v1`: accounts, posts, and the workspace's own data (export, erase, audit
//! log).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{page_limit, query, Json};
use super::views::{
    AccountList, AccountView, ApiKeyCreated, ApiKeyList, ApiKeyView, AuditPage, ExportLine,
    NewApiKey, PostPage, PostView, RejectRequest, RetryRequest, WorkspaceErasedView,
};
use crate::app::approval::Author;
use crate::app::posts::{NewPost, PostPatch};
use crate::app::App;
use crate::domain::{AccountId, Actor, By, DeliveryStatus, PostId, Role};
use crate::error::Error;
use crate::ports::PostFilter;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/accounts", get(list_accounts))
        .route("/v1/accounts/{id}", get(get_account).delete(disconnect))
        .route("/v1/accounts/{id}/options", get(account_options))
        .route("/v1/posts", post(create_post).get(list_posts))
        .route(
            "/v1/posts/{id}",
            get(get_post).patch(update_post).delete(cancel_post),
        )
        .route(
            "/v1/posts/{id}/deliveries/{account_id}/retry",
            post(retry_delivery),
        )
        .route("/v1/posts/{id}/approve", post(approve_post))
        .route("/v1/posts/{id}/reject", post(reject_post))
        .route("/v1/export", get(export_workspace))
        .route(
            "/v1/workspace",
            get(super::members::get_workspace)
                .patch(super::members::update_workspace)
                .delete(erase_workspace),
        )
        .route("/v1/audit", get(list_audit))
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}", delete(revoke_api_key))
        .merge(super::media::router())
        .merge(super::people::router())
        .merge(super::link_pages::router())
        .merge(super::members::router())
}

/// Who writes or decides on a post: the caller, in their role.
fn author(caller: &Caller) -> Author {
    let by = match &caller.actor {
        Actor::Key { id } => By::ApiKey(id.clone()),
        Actor::Person { id, .. } => By::Person(id.clone()),
    };
    Author::new(by, caller.role)
}

fn post_id(raw: &str) -> Result<PostId, ApiError> {
    PostId::parse(raw).ok_or_else(|| Error::NotFound("post").into())
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).ok_or_else(|| Error::NotFound("account").into())
}

/// The workspace's connected accounts.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", responses((status = 200, body = AccountList)), security(("api_key" = [])))]
async fn list_accounts(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
) -> Result<Json<AccountList>, ApiError> {
    let accounts = app.list_accounts(&ws).await?;
    Ok(Json(AccountList {
        accounts: accounts.iter().map(AccountView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_account(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = app.get_account(&ws, &account_id(&id)?).await?;
    Ok(Json(AccountView::from(&account)))
}

/// What the account may choose when posting, as its platform says now: for TikTok, the creator info (nickname,
/// `privacy_level_options`, `max_video_post_duration_sec`, and whether comments, duets and stitches are off), which a
/// posting screen must show before the person picks a privacy level. `options` is null for platforms without any.
#[utoipa::path(get, path = "/v1/accounts/{id}/options", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountOptionsView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody)), security(("api_key" = [])))]
async fn account_options(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountOptionsView>, ApiError> {
    let id = account_id(&id)?;
    let options = app.account_options(&ws, &id).await?;
    Ok(Json(AccountOptionsView {
        account_id: id.to_string(),
        options,
    }))
}

/// What an account may choose when posting.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AccountOptionsView {
    pub account_id: String,
    /// The platform's own words (TikTok: `creator_nickname`, `creator_username`, `creator_avatar_url`,
    /// `privacy_level_options`, `max_video_post_duration_sec`, `comment_disabled`, `duet_disabled`,
    /// `stitch_disabled`); null when the platform has none.
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
}

/// Disconnects an account: revokes at the platform where possible, deletes its tokens, cancels pending deliveries.
#[utoipa::path(delete, path = "/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn disconnect(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = app
        .disconnect_account(
            &caller.workspace,
            &account_id(&id)?,
            Some(caller.actor.acted_by()),
        )
        .await?;
    Ok(Json(AccountView::from(&account)))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(s.to_owned()))
}

/// Creates a post and one delivery per target. Due now (or absent `scheduled_at`): published at once.
#[utoipa::path(post, path = "/v1/posts", tag = "posts", request_body = NewPost,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters. Same key and body: the same post again; same key, other body: 409")),
    responses((status = 201, body = PostView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody, description = "a rule is broken; `field` names it")),
    security(("api_key" = [])))]
async fn create_post(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Json(input): Json<NewPost>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (record, created) = app
        .create_post(&caller.workspace, &input, key.as_deref(), &author(&caller))
        .await?;
    let mut resp = (StatusCode::CREATED, axum::Json(PostView::from(&record))).into_response();
    if !created {
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only posts with a delivery in this status.
    #[param(value_type = Option<DeliveryStatus>, nullable = false)]
    status: Option<String>,
    /// Scheduled at or after (RFC 3339, with an offset).
    #[param(value_type = Option<String>, format = DateTime, nullable = false)]
    from: Option<String>,
    /// Scheduled at or before (RFC 3339, with an offset).
    #[param(value_type = Option<String>, format = DateTime, nullable = false)]
    to: Option<String>,
    /// 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, nullable = false)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page (absent or empty: the first page); any other value is refused with a
    /// 422.
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]*$", max_length = 1024, nullable = false)]
    cursor: Option<String>,
}

fn time_param(
    name: &str,
    raw: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    raw.map(|r| {
        chrono::DateTime::parse_from_rfc3339(r)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| ApiError::invalid(name, "must be an RFC 3339 time with an offset"))
    })
    .transpose()
}

/// Lists posts, newest scheduled first. Each request reads a bounded number of posts, so with a filter a page may
/// hold fewer than `limit` posts, or none, while `next_cursor` is set: follow `next_cursor` until it is absent.
#[utoipa::path(get, path = "/v1/posts", tag = "posts", params(ListQuery),
    responses((status = 200, body = PostPage), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
async fn list_posts(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<PostPage>, ApiError> {
    let q: ListQuery = query(raw.as_deref())?;
    let status = q
        .status
        .as_deref()
        .map(|s| DeliveryStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "must be one of pending_approval, scheduled, queued, publishing, published, failed, in_doubt, canceled")))
        .transpose()?;
    let limit = page_limit(q.limit.as_deref(), 50)?;
    let filter = PostFilter {
        status,
        from: time_param("from", q.from.as_deref())?,
        to: time_param("to", q.to.as_deref())?,
    };
    let page = app
        .list_posts(
            &ws,
            &filter,
            limit,
            q.cursor.as_deref().filter(|c| !c.is_empty()),
        )
        .await?;
    Ok(Json(PostPage {
        posts: page.items.iter().map(PostView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/posts/{id}", tag = "posts", params(("id" = String, Path)),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_post(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Json<PostView>, ApiError> {
    Ok(Json(PostView::from(
        &app.get_post(&ws, &post_id(&id)?).await?,
    )))
}

/// Changes text, media, targets or time while no delivery has been queued.
#[utoipa::path(patch, path = "/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), request_body = PostPatch,
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_post(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<PostPatch>,
) -> Result<Json<PostView>, ApiError> {
    let id = post_id(&id)?;
    Ok(Json(PostView::from(
        &app.update_post(&caller.workspace, &id, &patch, &author(&caller))
            .await?,
    )))
}

/// Approves a post that waits for approval (owners, admins and clients): its deliveries are scheduled for their time,
/// and published at once if that has passed.
#[utoipa::path(post, path = "/v1/posts/{id}/approve", tag = "posts", params(("id" = String, Path)),
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody, description = "the caller's role may not approve"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`not_pending_approval`: the post is not waiting for approval")),
    security(("api_key" = [])))]
async fn approve_post(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PostView>, ApiError> {
    let id = post_id(&id)?;
    Ok(Json(PostView::from(
        &app.approve_post(&caller.workspace, &id, &author(&caller))
            .await?,
    )))
}

/// Rejects a post that waits for approval, with a comment (owners, admins and clients): its deliveries stay held, and
/// an editor's change to the post asks for approval again.
#[utoipa::path(post, path = "/v1/posts/{id}/reject", tag = "posts", params(("id" = String, Path)), request_body = RejectRequest,
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody, description = "the caller's role may not reject"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`not_pending_approval`: the post is not waiting for approval"),
        (status = 422, body = ErrorBody, description = "`comment` is empty or longer than 2000 characters")),
    security(("api_key" = [])))]
async fn reject_post(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<RejectRequest>,
) -> Result<Json<PostView>, ApiError> {
    let id = post_id(&id)?;
    Ok(Json(PostView::from(
        &app.reject_post(&caller.workspace, &id, &author(&caller), &input.comment)
            .await?,
    )))
}

/// Cancels the deliveries that have not started publishing.
#[utoipa::path(delete, path = "/v1/posts/{id}", tag = "posts", params(("id" = String, Path)),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`cancel_conflict`: the deliveries kept changing while they were being canceled; cancel again")),
    security(("api_key" = [])))]
async fn cancel_post(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Json<PostView>, ApiError> {
    Ok(Json(PostView::from(
        &app.cancel_post(&ws, &post_id(&id)?).await?,
    )))
}

/// Retries a failed delivery, or an in-doubt one with `{"confirm": true}`.
#[utoipa::path(post, path = "/v1/posts/{id}/deliveries/{account_id}/retry", tag = "posts",
    params(("id" = String, Path), ("account_id" = String, Path)), request_body(content = RetryRequest, description = "optional"),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("api_key" = [])))]
async fn retry_delivery(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path((id, account)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<PostView>, ApiError> {
    // The body is optional: an empty one means `{"confirm": false}`.
    let confirm = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        super::extract::parse_json::<RetryRequest>(&body)?.confirm
    };
    let record = app
        .retry_delivery(&ws, &post_id(&id)?, &account_id(&account)?, confirm)
        .await?;
    Ok(Json(PostView::from(&record)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// Records in this page: 1 to 200, default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, nullable = false)]
    limit: Option<String>,
    /// Where to go on: the `Postora-Next-Cursor` of the previous page. Absent for the first page; any other value
    /// is refused with a 422.
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]*$", max_length = 1024, nullable = false)]
    cursor: Option<String>,
}

/// Everything the workspace holds, a page at a time, as NDJSON: one typed record per line (the workspace, then its
/// accounts, its posts with their deliveries, its audit log). While there is more, the answer carries
/// `Postora-Next-Cursor` (and a `Link` with `rel="next"`); ask again with `cursor` until it is absent. Never a
/// token, a ciphertext or a key.
#[utoipa::path(get, path = "/v1/export", tag = "workspace", params(ExportQuery),
    responses(
        (status = 200, description = "One page of the export: one JSON record per line, each with a `type`",
            content_type = "application/x-ndjson", body = ExportLine,
            headers(
                ("Postora-Next-Cursor" = String, description = "Pass as `cursor` for the next page; absent on the last page"),
                ("Link" = String, description = "`</v1/export?cursor=...&limit=...>; rel=\"next\"` while there is a next page"),
            )),
        (status = 422, body = ErrorBody, description = "`limit` out of range, or `cursor` not one this API returned")),
    security(("api_key" = [])))]
async fn export_workspace(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    use crate::app::privacy::{EXPORT_PAGE_DEFAULT, EXPORT_PAGE_MAX};
    use axum::http::{header, HeaderValue};

    let q: ExportQuery = query(raw.as_deref())?;
    let limit =
        super::extract::limit_within(q.limit.as_deref(), EXPORT_PAGE_DEFAULT, EXPORT_PAGE_MAX)?;
    let page = app.export_page(&ws, limit, q.cursor.as_deref()).await?;
    let mut body = Vec::new();
    for record in &page.records {
        serde_json::to_writer(&mut body, &ExportLine::from(record))
            .map_err(|_| Error::Unavailable("an export record could not be encoded".into()))?;
        body.push(b'\n');
    }
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"postora-export-{ws}.ndjson\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(next) = &page.next_cursor {
        // The cursor is base64url, so it goes into a header and a query string as it is.
        if let Ok(v) = HeaderValue::from_str(next) {
            headers.insert("postora-next-cursor", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "</v1/export?cursor={next}&limit={limit}>; rel=\"next\""
        )) {
            headers.insert(header::LINK, v);
        }
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EraseQuery {
    /// The workspace's id, repeated, so that an erase is never an accident; any other value is refused with a 422.
    #[param(value_type = String, required = true, pattern = "^ws_[0-9A-Za-z-]{1,64}$")]
    confirm: Option<String>,
}

/// Erases the workspace: every account is disconnected, then everything goes (keys, accounts, tokens, posts,
/// deliveries, audit log). Only a minimal tombstone stays in the audit log. The API key stops working.
#[utoipa::path(delete, path = "/v1/workspace", tag = "workspace", params(EraseQuery),
    responses((status = 200, body = WorkspaceErasedView), (status = 422, body = ErrorBody, description = "`confirm` is not this workspace's id")),
    security(("api_key" = [])))]
async fn erase_workspace(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<WorkspaceErasedView>, ApiError> {
    let q: EraseQuery = query(raw.as_deref())?;
    if q.confirm.as_deref() != Some(ws.as_str()) {
        return Err(ApiError::invalid(
            "confirm",
            "must be this workspace's id: erasing cannot be undone",
        ));
    }
    let erased = app.erase_workspace(&ws).await?;
    Ok(Json(WorkspaceErasedView::from(&erased)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, nullable = false)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page (absent or empty: the first page); any other value is refused with a
    /// 422.
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]*$", max_length = 1024, nullable = false)]
    cursor: Option<String>,
}

/// The workspace's audit log, newest first: connections, token refreshes, publications, failures with the
/// platform's answer, deletions. Never a token.
#[utoipa::path(get, path = "/v1/audit", tag = "workspace", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
async fn list_audit(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    let q: AuditQuery = query(raw.as_deref())?;
    let limit = page_limit(q.limit.as_deref(), 50)?;
    let page = app
        .list_audit(&ws, limit, q.cursor.as_deref().filter(|c| !c.is_empty()))
        .await?;
    Ok(Json(AuditPage {
        entries: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// The workspace's API keys: id, prefix, label, when each was created and last used. Never a key.
#[utoipa::path(get, path = "/v1/api-keys", tag = "workspace",
    responses((status = 200, body = ApiKeyList)), security(("api_key" = [])))]
async fn list_api_keys(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = app.list_api_keys(&ws).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(ApiKeyView::from).collect(),
    }))
}

/// Adds an API key to the workspace. The answer holds the key, once: only its SHA-256 is stored.
#[utoipa::path(post, path = "/v1/api-keys", tag = "workspace", request_body = NewApiKey,
    responses((status = 201, body = ApiKeyCreated), (status = 403, body = ErrorBody, description = "`role_not_grantable`: the role is above the caller's own"),
        (status = 422, body = ErrorBody, description = "`label` is empty, too long or holds control characters")),
    security(("api_key" = [])))]
async fn create_api_key(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(input): Json<NewApiKey>,
) -> Result<Response, ApiError> {
    let (record, key) = app
        .add_api_key_as(
            &caller.workspace,
            input.label.as_deref(),
            input.role.unwrap_or(Role::Editor),
            caller.as_member(),
        )
        .await?;
    let body = ApiKeyCreated {
        key: ApiKeyView::from(&record),
        api_key: key.reveal().to_owned(),
    };
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// Revokes an API key: from the next request on it gets a 401. A key cannot revoke itself (409
/// `revoking_own_key`), so the workspace always keeps the key that made the request; `postora workspace revoke-key`
/// may revoke any key.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "workspace",
    params(("id" = String, Path, description = "the key's id, as listed: the 12 characters after `pk_`")),
    responses((status = 200, body = ApiKeyView, description = "the revoked key"),
        (status = 404, body = ErrorBody, description = "no key of this workspace has this id (`field` is `id`)"),
        (status = 409, body = ErrorBody, description = "`revoking_own_key`: the request's own key")),
    security(("api_key" = [])))]
async fn revoke_api_key(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let revoked = app
        .revoke_api_key(&caller.workspace, &id, Some(caller.as_member()))
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => ApiError::from(Error::NotFound("api key")).field("id"),
            Error::Conflict { .. } => ApiError::from(e).field("id"),
            e => e.into(),
        })?;
    Ok(Json(ApiKeyView::from(&revoked)))
}
