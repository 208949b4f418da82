//! The HTTP side: axum routers for the public API, the OAuth callback, Meta's data-deletion callbacks and the pages
//! about people's data, and the service pages.
//! Lambda functions serve the same routers through lambda_http; `postora serve` merges them into one.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::App;

pub mod access;
pub mod api;
pub mod auth;
pub mod connect;
pub mod error;
pub mod extract;
pub mod html;
pub mod link_pages;
pub mod media;
pub mod members;
pub mod meta;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod people;
pub mod security;
pub mod session;
pub mod views;

/// The largest request body any route accepts.
pub const MAX_BODY: usize = 256 * 1024;

/// How long a whole file sent in one request may take to arrive.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(3600);

/// The public API (`/v1/*`) with the service routes (`/healthz`, `/openapi.json`).
pub fn api_router(app: Arc<App>) -> Router {
    let headers = security_headers(&app);
    let uploads = streaming(
        media::upload_router().with_state(app.clone()),
        &app,
        headers,
    );
    finish(api::router().merge(service_routes()), app).merge(uploads)
}

/// The OAuth callback (`/oauth/*`) and connecting accounts (`/v1/accounts/connect/*`), which start what the callback
/// finishes.
pub fn oauth_router(app: Arc<App>) -> Router {
    finish(oauth::router().merge(connect::router()), app)
}

/// Meta's data-deletion and deauthorize callbacks, the deletion status page and the privacy pages: what the
/// data-deletion function serves. The callbacks' app secrets are taken from the app's settings here.
pub fn deletion_router(app: Arc<App>) -> Router {
    finish(meta::router(&app), app)
}

/// Everything one process serves: API, OAuth callback, the deletion callbacks and pages, and `beside` (the sandbox
/// network's routes and the local object store's when `postora serve` runs them). `beside` takes files as bodies, so
/// it is guarded like the upload route; its own handlers limit what they read.
pub fn full_router(app: Arc<App>, beside: Router) -> Router {
    let headers = security_headers(&app);
    let uploads = streaming(
        media::upload_router().with_state(app.clone()).merge(beside),
        &app,
        headers.clone(),
    );
    let router = api::router()
        .merge(connect::router())
        .merge(oauth::router())
        .merge(meta::router(&app))
        .merge(service_routes())
        .with_state(app);
    harden(router, headers).merge(uploads)
}

/// Routes whose bodies are files, streamed to storage: limited to the largest file a workspace may send, with an
/// hour to arrive, and otherwise guarded like every other route. `router` must have no fallback of its own.
pub fn streaming(router: Router, app: &App, headers: security::SecurityHeaders) -> Router {
    let limit = usize::try_from(app.settings.media.max_file_bytes).unwrap_or(usize::MAX);
    guard(router, headers, limit, UPLOAD_TIMEOUT)
}

fn service_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi::serve))
}

fn finish(router: Router<Arc<App>>, app: Arc<App>) -> Router {
    let headers = security_headers(&app);
    harden(router.with_state(app), headers)
}

fn security_headers(app: &App) -> security::SecurityHeaders {
    security::SecurityHeaders::new(app.settings.return_url.as_ref())
}

/// Layers every router gets: a JSON 404 and 405, a body size limit, a timeout, a panic guard that answers with the
/// JSON error shape instead of dropping the connection, and the security headers ([`security`]) on every answer,
/// these included.
fn harden(router: Router, headers: security::SecurityHeaders) -> Router {
    let router = router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed);
    guard(router, headers, MAX_BODY, Duration::from_secs(60))
}

fn guard(
    router: Router,
    headers: security::SecurityHeaders,
    body_limit: usize,
    timeout: Duration,
) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(body_limit))
        // The limit layer refuses a body whose declared length is too large with a plain-text 413: answer in the one
        // error shape instead, as the API document says.
        .layer(axum::middleware::map_response(json_payload_too_large))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            error::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong; nothing secret was exposed",
            )
            .into_response()
        }))
        .layer(axum::middleware::map_response(move |response: Response| {
            let headers = headers.clone();
            async move { headers.apply(response) }
        }))
}

/// A 413 that is not already JSON (the body limit layer's) becomes the JSON error shape.
async fn json_payload_too_large(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return error::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body is larger than this endpoint accepts",
        )
        .into_response();
    }
    response
}

#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = views::Health)))]
async fn health(State(app): State<Arc<App>>) -> Response {
    extract::Json(views::Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        platforms: app.platforms.enabled(),
    })
    .into_response()
}
