//! The OAuth callback: `GET /oauth/{platform}/callback`. Answers a person's browser, so it speaks HTML: a short
//! page on success (or a redirect to `POSTORA_RETURN_URL`), and a 4xx page that says what to do on any failure.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::error::{html_escape, html_page};
use crate::app::connect::{CallbackError, CallbackParams};
use crate::app::App;
use crate::domain::PlatformKind;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/oauth/{platform}/callback", get(callback))
}

#[derive(Debug, Default, Deserialize)]
struct Query {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(app): State<Arc<App>>,
    Path(platform): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(platform) = platform.parse::<PlatformKind>() else {
        return html_page(
            StatusCode::NOT_FOUND,
            "Unknown platform",
            "<p>There is no such platform on this Postora.</p>",
        );
    };
    let q: Query = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let params = CallbackParams {
        code: q.code,
        state: q.state,
        error: q.error,
        error_description: q.error_description,
    };
    match app.complete_connect(platform, &params).await {
        Ok(outcome) => {
            if let Some(url) = outcome.return_url {
                let mut target = url::Url::parse(&url).ok();
                if let Some(t) = target.as_mut() {
                    t.query_pairs_mut()
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
                }
                if let Some(t) = target {
                    return Redirect::to(t.as_str()).into_response();
                }
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
                &format!("<p>Postora can now publish to:</p><ul>{items}</ul><p>You can close this page.</p>"),
            )
        }
        Err(e) => {
            let status = match e {
                CallbackError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                CallbackError::Disabled(_) => StatusCode::NOT_FOUND,
                CallbackError::Denied(_) => StatusCode::FORBIDDEN,
                CallbackError::Exchange(_) => StatusCode::BAD_REQUEST,
                CallbackError::BadState | CallbackError::Malformed(_) => StatusCode::BAD_REQUEST,
            };
            tracing::info!(%platform, reason = %e, "an OAuth callback did not connect an account");
            html_page(
                status,
                "The account was not connected",
                &format!("<p>{}</p><p>Nothing was stored. Start again from Postora to try once more.</p>", html_escape(&e.to_string())),
            )
        }
    }
}
