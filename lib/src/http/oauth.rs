//! The OAuth callback: `GET /oauth/{platform}/callback`, and `POST /oauth/{platform}/choose` where the person picks
//! which of several identities to connect (their Facebook Pages). These answer a person's browser, so they speak
//! HTML: a short page on success (or a redirect to `POSTORA_RETURN_URL`), and a 4xx page that says what to do on any
//! failure.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::html::{html_escape, html_page};
use super::session::session_token;
use crate::app::connect::{Callback, CallbackError, CallbackParams, Choice, ConnectOutcome};
use crate::app::App;
use crate::domain::PlatformKind;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/oauth/{platform}/callback", get(callback))
        .route("/oauth/{platform}/choose", post(choose))
        .route(
            "/oauth/bluesky/client-metadata.json",
            get(|app: State<Arc<App>>| document(app, "client-metadata.json")),
        )
        .route(
            "/oauth/bluesky/jwks.json",
            get(|app: State<Arc<App>>| document(app, "jwks.json")),
        )
}

/// A document Bluesky's OAuth asks Postora to serve publicly (its client metadata, its public keys); a 404 where
/// Bluesky OAuth is off.
async fn document(State(app): State<Arc<App>>, name: &'static str) -> Response {
    match app
        .platforms
        .get(PlatformKind::Bluesky)
        .and_then(|p| p.public_document(name))
    {
        Some(doc) => axum::Json(doc).into_response(),
        None => super::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Bluesky OAuth is not set up on this Postora",
        )
        .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct Query {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

fn unknown_platform() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        "Unknown platform",
        "<p>There is no such platform on this Postora.</p>",
    )
}

async fn callback(
    State(app): State<Arc<App>>,
    Path(platform): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(platform) = platform.parse::<PlatformKind>() else {
        return unknown_platform();
    };
    let q: Query = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let params = CallbackParams {
        code: q.code,
        state: q.state,
        error: q.error,
        error_description: q.error_description,
        iss: q.iss,
    };
    match app
        .complete_connect(platform, &params, session_token(&headers).as_ref())
        .await
    {
        Ok(Callback::Connected(outcome)) => connected(platform, outcome),
        Ok(Callback::Choose(choice)) => choice_page(&choice),
        Err(e) => failed(platform, e),
    }
}

/// The form posted by the choice page: the choice token and one `account` field per chosen identity.
async fn choose(
    State(app): State<Arc<App>>,
    Path(platform): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(platform) = platform.parse::<PlatformKind>() else {
        return unknown_platform();
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let token = fields
        .iter()
        .find(|(k, _)| k == "choice")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let chosen: Vec<usize> = fields
        .iter()
        .filter(|(k, _)| k == "account")
        .filter_map(|(_, v)| v.parse().ok())
        .take(1000)
        .collect();
    match app
        .finish_choice(platform, token, &chosen, session_token(&headers).as_ref())
        .await
    {
        Ok(outcome) => connected(platform, outcome),
        Err(e) => failed(platform, e),
    }
}

fn choice_page(choice: &Choice) -> Response {
    let options: String = choice
        .options
        .iter()
        .map(|o| {
            format!(
                "<p><label><input type=\"checkbox\" name=\"account\" value=\"{}\" checked> <strong>{}</strong>{}</label></p>",
                o.index,
                html_escape(&o.name),
                o.username.as_deref().map(|u| format!(" ({})", html_escape(u))).unwrap_or_default()
            )
        })
        .collect();
    html_page(
        StatusCode::OK,
        "Choose what Postora may publish to",
        &format!(
            "<p>You gave Postora access to these {platform} accounts. Choose the ones it should publish to; \
             the others are not stored.</p>\
             <form method=\"post\" action=\"/oauth/{platform}/choose\">\
             <input type=\"hidden\" name=\"choice\" value=\"{token}\">{options}\
             <p><button type=\"submit\">Connect the chosen accounts</button></p></form>\
             <p>This choice is open until {expires} (UTC).</p>",
            platform = html_escape(choice.platform.as_str()),
            token = html_escape(choice.token.expose_secret()),
            expires = choice.expires_at.format("%H:%M"),
        ),
    )
}

fn connected(platform: PlatformKind, outcome: ConnectOutcome) -> Response {
    if let Some(mut target) = outcome
        .return_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
    {
        target
            .query_pairs_mut()
            .append_pair("connected", platform.as_str())
            .append_pair(
                "accounts",
                &outcome
                    .accounts
                    .iter()
                    .map(|a| a.id.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        return Redirect::to(target.as_str()).into_response();
    }
    let items: String = outcome
        .accounts
        .iter()
        .map(|a| {
            format!(
                "<li><strong>{}</strong> on {} — account id <code>{}</code></li>",
                html_escape(
                    a.profile
                        .username
                        .as_deref()
                        .or(a.profile.display_name.as_deref())
                        .unwrap_or(&a.profile.platform_user_id)
                ),
                html_escape(platform.as_str()),
                html_escape(a.id.as_str())
            )
        })
        .collect();
    html_page(
        StatusCode::OK,
        "Account connected",
        &format!(
            "<p>Postora can now publish to:</p><ul>{items}</ul><p>You can close this page.</p>"
        ),
    )
}

fn failed(platform: PlatformKind, e: CallbackError) -> Response {
    let status = match e {
        CallbackError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        CallbackError::Disabled(_) => StatusCode::NOT_FOUND,
        CallbackError::Denied(_) | CallbackError::NotStarter => StatusCode::FORBIDDEN,
        CallbackError::Exchange(_)
        | CallbackError::BadState
        | CallbackError::Malformed(_)
        | CallbackError::NothingChosen => StatusCode::BAD_REQUEST,
    };
    tracing::info!(%platform, reason = %e, "an OAuth callback did not connect an account");
    html_page(
        status,
        "The account was not connected",
        &format!(
            "<p>{}</p><p>Nothing was stored. Start again from Postora to try once more.</p>",
            html_escape(&e.to_string())
        ),
    )
}
