//! The media library under `/v1/media`: upload a file in the request body (streamed), import one from a URL, upload
//! a large one in parts straight to object storage, list, read, set alt text, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{page_limit, query, Json};
use super::views::{
    CompleteUpload, MediaImport, MediaPage, MediaPatch, MediaView, NewUpload, UploadView,
};
use crate::app::App;
use crate::domain::{MediaId, UploadId};
use crate::error::Error;
use crate::ports::{ByteStream, CompletedPart};

/// The routes that take small JSON bodies, under the API's usual body limit.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/media", get(list_media))
        .route("/v1/media/import", post(import_media))
        .route("/v1/media/uploads", post(start_upload))
        .route(
            "/v1/media/uploads/{id}",
            get(upload_status).delete(abort_upload),
        )
        .route("/v1/media/uploads/{id}/complete", post(complete_upload))
        .route(
            "/v1/media/{id}",
            get(get_media).patch(update_media).delete(delete_media),
        )
        .route("/v1/media/{id}/content", get(media_content))
}

/// The route that takes a whole file as its body: streamed to storage, never held in memory, limited by the
/// media settings instead of the API's body limit.
pub fn upload_router() -> Router<Arc<App>> {
    Router::new().route("/v1/media", post(upload_media))
}

fn media_id(raw: &str) -> Result<MediaId, ApiError> {
    MediaId::parse(raw).ok_or_else(|| Error::NotFound("media item").into())
}

fn upload_id(raw: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(raw).ok_or_else(|| Error::NotFound("upload").into())
}

fn view(app: &App, item: &crate::domain::MediaItem) -> MediaView {
    MediaView::new(item, &app.platforms.enabled())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// Alternative text, at most 1500 characters.
    #[param(max_length = 1500, nullable = false)]
    alt: Option<String>,
}

/// Adds a file to the library: the request body is the file itself (any `Content-Type`; the format is read from
/// the bytes). JPEG, PNG, GIF, WebP, HEIC, MP4 and MOV are recognised. Bodies larger than a few megabytes are better
/// sent in parts (`POST /v1/media/uploads`): on AWS this route takes at most about 6 MB.
#[utoipa::path(post, path = "/v1/media", tag = "media", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes"),
    responses((status = 201, body = MediaView),
        (status = 413, body = ErrorBody, description = "larger than a file may be, or than the workspace's quota leaves"),
        (status = 422, body = ErrorBody, description = "not an image or video Postora recognises, truncated, or too many pixels")),
    security(("api_key" = [])))]
async fn upload_media(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let q: UploadQuery = query(raw.as_deref())?;
    let stream: ByteStream = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let item = app.upload_media(&ws, stream, q.alt.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(view(&app, &item))).into_response())
}

/// Fetches a file from a URL into the library. Only http and https; private, loopback, link-local and cloud
/// metadata addresses are refused, and so is every redirect to one; at most 3 redirects.
#[utoipa::path(post, path = "/v1/media/import", tag = "media", request_body = MediaImport,
    responses((status = 201, body = MediaView), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "the URL is refused, could not be fetched, or is not an image or video Postora recognises")),
    security(("api_key" = [])))]
async fn import_media(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Json(input): Json<MediaImport>,
) -> Result<Response, ApiError> {
    let item = app
        .import_media(&ws, &input.url, input.alt.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(view(&app, &item))).into_response())
}

/// Starts an upload in parts: PUT each part's bytes to its URL (straight to object storage), keep the `ETag` each
/// answers, then `POST /v1/media/uploads/{id}/complete`. Parts are at least 5 MiB but for the last. An upload not
/// completed within a day is discarded.
#[utoipa::path(post, path = "/v1/media/uploads", tag = "media", request_body = NewUpload,
    responses((status = 201, body = UploadView), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn start_upload(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Json(input): Json<NewUpload>,
) -> Result<Response, ApiError> {
    let plan = app
        .start_upload(&ws, input.bytes, input.alt.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(UploadView::from(&plan))).into_response())
}

/// An upload's state: the parts received, and fresh URLs for those still to send (to resume after a break).
#[utoipa::path(get, path = "/v1/media/uploads/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 200, body = UploadView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn upload_status(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    let plan = app.upload_status(&ws, &upload_id(&id)?).await?;
    Ok(Json(UploadView::from(&plan)))
}

/// Discards an upload and the parts sent so far.
#[utoipa::path(delete, path = "/v1/media/uploads/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn abort_upload(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.abort_upload(&ws, &upload_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Joins the parts into the file, checks it, and adds it to the library. Missing parts are named and the upload
/// stays open; parts that add up to more than announced discard the upload.
#[utoipa::path(post, path = "/v1/media/uploads/{id}/complete", tag = "media", params(("id" = String, Path)),
    request_body(content = CompleteUpload, description = "optional"),
    responses((status = 201, body = MediaView), (status = 404, body = ErrorBody, description = "no such upload"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn complete_upload(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        CompleteUpload::default()
    } else {
        super::extract::parse_json::<CompleteUpload>(&body)?
    };
    let parts = input.parts.map(|parts| {
        parts
            .into_iter()
            .map(|p| CompletedPart {
                number: p.number,
                etag: p.etag,
            })
            .collect()
    });
    let item = app.complete_upload(&ws, &upload_id(&id)?, parts).await?;
    Ok((StatusCode::CREATED, Json(view(&app, &item))).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MediaListQuery {
    /// 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, nullable = false)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]*$", max_length = 1024, nullable = false)]
    cursor: Option<String>,
}

/// The library, newest first.
#[utoipa::path(get, path = "/v1/media", tag = "media", params(MediaListQuery),
    responses((status = 200, body = MediaPage), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
async fn list_media(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<MediaPage>, ApiError> {
    let q: MediaListQuery = query(raw.as_deref())?;
    let limit = page_limit(q.limit.as_deref(), 50)?;
    let page = app
        .list_media(&ws, limit, q.cursor.as_deref().filter(|c| !c.is_empty()))
        .await?;
    let platforms = app.platforms.enabled();
    Ok(Json(MediaPage {
        media: page
            .items
            .iter()
            .map(|m| MediaView::new(m, &platforms))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/media/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 200, body = MediaView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
async fn get_media(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Json<MediaView>, ApiError> {
    let item = app.get_media(&ws, &media_id(&id)?).await?;
    Ok(Json(view(&app, &item)))
}

/// Sets or clears the alternative text.
#[utoipa::path(patch, path = "/v1/media/{id}", tag = "media", params(("id" = String, Path)), request_body = MediaPatch,
    responses((status = 200, body = MediaView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
async fn update_media(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
    Json(patch): Json<MediaPatch>,
) -> Result<Json<MediaView>, ApiError> {
    let item = app
        .set_media_alt(&ws, &media_id(&id)?, patch.alt.as_deref())
        .await?;
    Ok(Json(view(&app, &item)))
}

/// Deletes an item and its files. Refused with 409 `media_in_use` while a post that uses it may still publish.
#[utoipa::path(delete, path = "/v1/media/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn delete_media(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_media(
        &caller.workspace,
        &media_id(&id)?,
        Some(caller.actor.acted_by()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The original file: a redirect to a link valid for two hours.
#[utoipa::path(get, path = "/v1/media/{id}/content", tag = "media", params(("id" = String, Path)),
    responses((status = 302, description = "`Location` is a short-lived link to the bytes"), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn media_content(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let link = app.media_link(&ws, &media_id(&id)?).await?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, link.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response())
}
