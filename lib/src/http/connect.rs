//! Connecting accounts under `/v1/accounts/connect`: starting an OAuth consent (with the server the person names,
//! for platforms of many servers) and connecting with an app password. On AWS these are served by the OAuth
//! function, with the callback: connecting seals tokens and app registrations, which needs the key service the
//! public API function has no access to.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::auth::{Actor, Caller};
use super::error::{ApiError, ErrorBody};
use super::extract::{parse_json, Json};
use super::session::session_token;
use super::views::{AccountView, AppPasswordInput, ConnectInput, ConnectStarted, Connected};
use crate::app::App;
use crate::domain::{ConnectStarter, PlatformKind};
use crate::error::Error;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/accounts/connect/{platform}", post(connect))
        .route(
            "/v1/accounts/connect/bluesky/app-password",
            post(connect_bluesky_app_password),
        )
}

/// Starts connecting an account: returns the URL to send the person to. A Mastodon account needs the body's
/// `instance`; a Bluesky account may name its `handle`, so that its own server is asked. Other platforms take no
/// body.
#[utoipa::path(post, path = "/v1/accounts/connect/{platform}", tag = "accounts",
    params(("platform" = PlatformKind, Path, description = "sandbox, threads, instagram, facebook, ...")),
    request_body(content = Option<ConnectInput>, content_type = "application/json"),
    responses((status = 200, body = ConnectStarted), (status = 404, body = ErrorBody, description = "unknown or disabled platform"),
        (status = 422, body = ErrorBody, description = "the instance or handle is private, unreachable or not a server of the platform")),
    security(("api_key" = [])))]
pub(super) async fn connect(
    State(app): State<Arc<App>>,
    Caller {
        workspace: ws,
        actor,
        ..
    }: Caller,
    headers: HeaderMap,
    Path(platform): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ConnectStarted>, ApiError> {
    let platform: PlatformKind = platform.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "platform_not_enabled",
            format!(
                "there is no platform `{}`",
                platform.chars().take(40).collect::<String>()
            ),
        )
    })?;
    // No body, and a JSON `null`, are no input.
    let input: ConnectInput = if body.iter().all(u8::is_ascii_whitespace) {
        ConnectInput::default()
    } else {
        match parse_json::<serde_json::Value>(&body)? {
            serde_json::Value::Null => ConnectInput::default(),
            object @ serde_json::Value::Object(_) => serde_json::from_value(object)
                .map_err(|e| ApiError::invalid("body", e.to_string()))?,
            _ => return Err(ApiError::invalid("body", "must be a JSON object")),
        }
    };
    let server = match (&input.instance, &input.handle) {
        (Some(i), None) => Some(("instance", i.as_str())),
        (None, Some(h)) => Some(("handle", h.as_str())),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "instance",
                "name either an `instance` or a `handle`, not both",
            ))
        }
    };
    // A person's connection completes only in the session that started it (the one this request came with).
    let started_by = match (actor, session_token(&headers)) {
        (Actor::Person { id, .. }, Some(token)) => ConnectStarter::Person {
            person_id: id,
            session_hash: token.hash(),
        },
        (Actor::Person { .. }, None) => return Err(Error::Unauthorized.into()),
        (Actor::Key { id }, _) => ConnectStarter::ApiKey { key_id: id },
    };
    let start = app.start_connect(&ws, platform, server, started_by).await?;
    Ok(Json(ConnectStarted {
        authorize_url: start.authorize_url,
        state: start.state,
        expires_at: start.expires_at,
    }))
}

/// Connects a Bluesky account with its handle and an app password: Postora signs in once at the account's own
/// server (found from the handle's DID document) and keeps the session it gives, sealed; the password is not kept.
#[utoipa::path(post, path = "/v1/accounts/connect/bluesky/app-password", tag = "accounts",
    request_body = AppPasswordInput,
    responses((status = 201, body = Connected), (status = 404, body = ErrorBody, description = "Bluesky is not enabled"),
        (status = 422, body = ErrorBody, description = "the handle does not resolve (`handle`) or the app password is refused (`app_password`)")),
    security(("api_key" = [])))]
pub(super) async fn connect_bluesky_app_password(
    State(app): State<Arc<App>>,
    Caller { workspace: ws, .. }: Caller,
    Json(input): Json<AppPasswordInput>,
) -> Result<Response, ApiError> {
    use secrecy::ExposeSecret;
    if input.handle.trim().is_empty() || input.handle.len() > 253 {
        return Err(ApiError::invalid(
            "handle",
            "give the Bluesky handle, such as alice.bsky.social",
        ));
    }
    let password = input.app_password.expose_secret();
    if password.is_empty() || password.len() > 256 {
        return Err(ApiError::invalid(
            "app_password",
            "give an app password of 1 to 256 characters",
        ));
    }
    let accounts = app
        .connect_with_password(
            &ws,
            PlatformKind::Bluesky,
            ("handle", &input.handle),
            ("app_password", &input.app_password),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Connected {
            accounts: accounts.iter().map(AccountView::from).collect(),
        }),
    )
        .into_response())
}
