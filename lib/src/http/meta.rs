//! Meta's data-deletion and deauthorize callbacks (`/meta/*` for Facebook and Instagram, `/threads/*` for Threads)
//! and the pages a person reads about their data (`/deletion/{code}`, `/privacy`, `/data-deletion`, in
//! [`super::pages`]). On AWS the data-deletion function serves this router alone ([`super::deletion_router`]);
//! `postora serve` merges it with the rest.
//!
//! A callback is trusted only once its `signed_request` verifies against the app secret, which is taken from the
//! settings when the router is built. Anything wrong with the request is a 400 that names the problem and changes
//! nothing; a callback whose secret is not configured is a 503 that names the variable to set.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Router};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use super::pages;
use super::views::{DeauthorizeDone, DeletionAccepted};
use crate::app::deletion::CallbackSource;
use crate::app::App;
use crate::config::CallbackSecrets;
use crate::crypto::signed_request::{self, SignedRequest};

/// The largest callback body accepted. Meta's are a few hundred bytes.
pub const MAX_CALLBACK_BODY: usize = 8 * 1024;

/// The form Meta posts to every callback.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignedRequestForm {
    /// `<signature>.<payload>`, both base64url without padding, signed with the app secret. The form is at most
    /// 8 KiB. One whose signature does not verify with the app secret, or whose payload is stale, is refused with a
    /// 400 naming the problem.
    #[schema(
        min_length = 3,
        max_length = 8000,
        pattern = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"
    )]
    pub signed_request: String,
}

/// The secrets one callback source is verified with.
#[derive(Clone)]
struct Verifier {
    source: CallbackSource,
    secrets: Arc<[SecretString]>,
    /// The variables that hold them, for the error when none is set.
    variables: &'static str,
}

/// Both sources' verifiers, shared by the routes.
#[derive(Clone)]
struct Verifiers {
    meta: Verifier,
    threads: Verifier,
}

impl Verifiers {
    fn from_settings(secrets: &CallbackSecrets) -> Self {
        let meta: Vec<SecretString> = [&secrets.facebook, &secrets.instagram]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let threads: Vec<SecretString> = secrets.threads.iter().cloned().collect();
        Verifiers {
            meta: Verifier {
                source: CallbackSource::Meta,
                secrets: meta.into(),
                variables: "POSTORA_FACEBOOK_CLIENT_SECRET (or POSTORA_INSTAGRAM_CLIENT_SECRET)",
            },
            threads: Verifier {
                source: CallbackSource::Threads,
                secrets: threads.into(),
                variables: "POSTORA_THREADS_CLIENT_SECRET",
            },
        }
    }
}

impl Verifier {
    /// Reads the form and verifies its `signed_request`; returns what it says.
    async fn verified(&self, app: &App, body: Body) -> Result<SignedRequest, ApiError> {
        if self.secrets.is_empty() {
            tracing::warn!(
                source = self.source.label(),
                "a callback arrived but its app secret is not configured"
            );
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "callback_not_configured",
                format!(
                    "this Postora cannot verify {} callbacks: set {}",
                    self.source.label(),
                    self.variables
                ),
            ));
        }
        let raw = signed_request_field(body).await?;
        let secrets: Vec<&[u8]> = self
            .secrets
            .iter()
            .map(|s| s.expose_secret().as_bytes())
            .collect();
        signed_request::verify(&raw, &secrets, app.now()).map_err(|e| {
            tracing::info!(
                source = self.source.label(),
                reason = e.code(),
                "a callback was refused"
            );
            ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()).field("signed_request")
        })
    }
}

/// The one `signed_request` of a form body of at most [`MAX_CALLBACK_BODY`] bytes.
async fn signed_request_field(body: Body) -> Result<String, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_CALLBACK_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_too_large",
                format!("the body is larger than {MAX_CALLBACK_BODY} bytes, or could not be read"),
            )
        })?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            "the body is not a form (application/x-www-form-urlencoded)",
        )
    })?;
    let mut values = pairs
        .into_iter()
        .filter(|(name, _)| name == "signed_request")
        .map(|(_, value)| value);
    let first = values.next().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "signed_request_missing",
            "the form has no signed_request field",
        )
        .field("signed_request")
    })?;
    if values.next().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "signed_request_repeated",
            "the form has more than one signed_request field",
        )
        .field("signed_request"));
    }
    Ok(first)
}

/// The callbacks and the pages for people. The secrets are read from the app's settings here, once.
pub fn router(app: &App) -> Router<Arc<App>> {
    Router::new()
        .route("/meta/data-deletion", post(meta_data_deletion))
        .route("/meta/deauthorize", post(meta_deauthorize))
        .route("/threads/data-deletion", post(threads_data_deletion))
        .route("/threads/deauthorize", post(threads_deauthorize))
        .layer(Extension(Verifiers::from_settings(&app.settings.callbacks)))
        .route("/deletion/{code}", get(pages::deletion_status))
        .route("/privacy", get(pages::privacy))
        .route("/data-deletion", get(pages::data_deletion))
}

async fn data_deletion(
    app: &App,
    verifier: &Verifier,
    body: Body,
) -> Result<(HeaderMap, Json<DeletionAccepted>), ApiError> {
    let verified = verifier.verified(app, body).await?;
    let request = app
        .request_data_deletion(verifier.source, &verified.user_id, verified.issued_at)
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok((
        headers,
        Json(DeletionAccepted {
            url: app
                .settings
                .public_link(&format!("/deletion/{}", request.confirmation_code)),
            confirmation_code: request.confirmation_code,
        }),
    ))
}

async fn deauthorize(
    app: &App,
    verifier: &Verifier,
    body: Body,
) -> Result<Json<DeauthorizeDone>, ApiError> {
    let verified = verifier.verified(app, body).await?;
    let done = app
        .deauthorize_platform_user(verifier.source, &verified.user_id, verified.issued_at)
        .await?;
    Ok(Json(DeauthorizeDone {
        accounts_revoked: done.accounts_revoked,
        deliveries_canceled: done.deliveries_canceled,
    }))
}

/// Meta's data-deletion callback for Facebook and Instagram: deletes what Postora holds about the person.
#[utoipa::path(post, path = "/meta/data-deletion", tag = "privacy",
    request_body(content = SignedRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeletionAccepted), (status = 400, body = ErrorBody, description = "the signed_request is missing, malformed, wrongly signed or stale"),
        (status = 503, body = ErrorBody, description = "the Meta app secret is not configured")))]
async fn meta_data_deletion(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Verifiers>,
    body: Body,
) -> Result<(HeaderMap, Json<DeletionAccepted>), ApiError> {
    data_deletion(&app, &v.meta, body).await
}

/// Meta's deauthorize callback for Facebook and Instagram: the person's accounts are revoked and stop publishing.
#[utoipa::path(post, path = "/meta/deauthorize", tag = "privacy",
    request_body(content = SignedRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeauthorizeDone), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn meta_deauthorize(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Verifiers>,
    body: Body,
) -> Result<Json<DeauthorizeDone>, ApiError> {
    deauthorize(&app, &v.meta, body).await
}

/// Threads' data-deletion callback.
#[utoipa::path(post, path = "/threads/data-deletion", tag = "privacy",
    request_body(content = SignedRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeletionAccepted), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn threads_data_deletion(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Verifiers>,
    body: Body,
) -> Result<(HeaderMap, Json<DeletionAccepted>), ApiError> {
    data_deletion(&app, &v.threads, body).await
}

/// Threads' deauthorize (uninstall) callback.
#[utoipa::path(post, path = "/threads/deauthorize", tag = "privacy",
    request_body(content = SignedRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeauthorizeDone), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn threads_deauthorize(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Verifiers>,
    body: Body,
) -> Result<Json<DeauthorizeDone>, ApiError> {
    deauthorize(&app, &v.threads, body).await
}
