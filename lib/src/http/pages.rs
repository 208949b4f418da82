//! Pages a person reads about their data: the status of a deletion request (HTML, or JSON when asked), the privacy
//! policy, and how to have data deleted. They describe what this software stores, with the operator's name and
//! contact from the configuration.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::error::{ApiError, ErrorBody};
use super::html::{html_escape, html_page};
use super::views::DeletionStatusView;
use crate::app::deletion::CallbackSource;
use crate::app::App;
use crate::config::Operator;
use crate::domain::{DeletionRequest, DeletionStatus};

/// Whether the client asked for JSON: the first of `text/html` and a JSON type in its `Accept` header wins, so a
/// browser gets the page and `Accept: application/json` gets the data.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for media in accept.split(',') {
        let essence = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "text/html" {
            return false;
        }
        if essence == "application/json" || essence.ends_with("+json") {
            return true;
        }
    }
    false
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn contact(operator: &Operator) -> String {
    format!(
        "{} ({})",
        html_escape(&operator.name),
        html_escape(&operator.contact)
    )
}

/// The status of one deletion request, for the person who asked.
///
/// A page for a person (`text/html`) unless the `Accept` header asks for JSON before HTML (`application/json`, or any
/// `+json` type): then the same facts as JSON, and errors in the usual error shape.
#[utoipa::path(get, path = "/deletion/{code}", tag = "privacy",
    params(("code" = String, Path, description = "the confirmation code")),
    responses(
        (status = 200, description = "the request's status: a page, or JSON when asked for",
            content((DeletionStatusView = "application/json"), (String = "text/html"))),
        (status = 404, description = "no request has this code",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 503, description = "the status cannot be read right now; nothing changed",
            content((ErrorBody = "application/json"), (String = "text/html")))))]
pub async fn deletion_status(
    State(app): State<Arc<App>>,
    code: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    let code = code.map(|Path(c)| c).unwrap_or_default();
    match app.deletion_request(&code).await {
        Ok(Some(request)) if json => {
            let mut resp = axum::Json(DeletionStatusView::from(&request)).into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            resp
        }
        Ok(Some(request)) => status_page(&request, &app.settings.operator),
        Ok(None) if json => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no deletion request has this confirmation code",
        )
        .into_response(),
        Ok(None) => html_page(
            StatusCode::NOT_FOUND,
            "No such deletion request",
            &format!(
                "<p>No data-deletion request has this confirmation code. Check the link you were given, or ask \
                 {}.</p>",
                contact(&app.settings.operator)
            ),
        ),
        Err(e) if json => ApiError::from(e).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "a deletion status page could not be read");
            html_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>The status of this request cannot be read right now. Nothing was changed; please reload this \
                 page in a minute.</p>",
            )
        }
    }
}

fn status_page(request: &DeletionRequest, operator: &Operator) -> Response {
    let source = CallbackSource::of_recorded(request.platform).label();
    let state = match (request.status, request.completed_at) {
        (DeletionStatus::Completed, Some(done)) => format!(
            "<p><strong>Status: complete</strong> since {}. Postora deleted the access tokens of {} connected \
             account(s), removed their profile data (name, picture, biography), and canceled {} scheduled post(s) \
             that had not been published yet.</p>",
            when(done),
            request.accounts_deleted,
            request.deliveries_canceled
        ),
        _ => "<p><strong>Status: received, in progress.</strong> The deletion has not finished yet; this page \
              shows when it has.</p>"
            .to_owned(),
    };
    html_page(
        StatusCode::OK,
        "Data deletion request",
        &format!(
            "<p>Confirmation code: <code>{code}</code></p>\
             <p>Postora received a request from {source} on {received} to delete the data it holds about you.</p>\
             {state}\
             <p>What remains: a record of this request (this code, the platform, the id {source} gave you for this \
             app, and the times above), so that the same request gets the same answer; and entries in the activity \
             log of the workspaces that had connected your account, saying what happened and when, without your \
             profile data or the platform's ids of your posts. Posts that were already published stay on the \
             platform: delete them there.</p>\
             <p>Questions: {contact}.</p>",
            code = html_escape(&request.confirmation_code),
            source = html_escape(source),
            received = when(request.received_at),
            contact = contact(operator),
        ),
    )
}

/// The privacy policy: what this software stores, why, and for how long.
pub async fn privacy(State(app): State<Arc<App>>) -> Response {
    let operator = &app.settings.operator;
    html_page(
        StatusCode::OK,
        "Privacy policy",
        &format!(
            "<p>This Postora is run by {contact}. Postora publishes posts to social accounts that people connect to \
             it. It stores only what publishing needs:</p>\
             <ul>\
             <li><strong>Workspaces</strong>: a name, and a hash of each API key (never the key itself).</li>\
             <li><strong>Connected accounts</strong>: the platform, the ids the platform gives the account and the \
             person who connected it, and the profile the platform reports (username, name, picture address, \
             biography), with a few non-secret facts the platform needs (such as a Page id).</li>\
             <li><strong>Access tokens</strong>: encrypted with a key of the workspace's own (AES-256-GCM, the key \
             itself protected by a key service). They are used only to publish, to renew themselves, and to revoke \
             them when an account is disconnected; they never appear in any page, answer, log or event.</li>\
             <li><strong>Posts</strong>: the text, media addresses and time chosen by the workspace, and for each \
             account whether it was published, the platform's id and link of the post, and the platform's answer \
             when it failed.</li>\
             <li><strong>An activity log</strong> per workspace: connections, token renewals, publications, failures \
             and deletions, with times. Never a token.</li>\
             <li><strong>Data-deletion requests</strong>: the confirmation code, the platform, the id the platform \
             sent, and when the request was received and completed.</li>\
             </ul>\
             <p>Postora sends posts only to the platforms they are addressed to. It runs on its operator's \
             servers or cloud account, and may notify the operator's own systems when a post is published or data \
             is deleted (never with a token).</p>\
             <p>Data stays until it is deleted: a workspace can disconnect an account, export everything it holds, \
             or erase itself; a person can ask their platform to have Postora delete their data. See \
             <a href=\"/data-deletion\">how to have your data deleted</a>.</p>",
            contact = contact(operator),
        ),
    )
}

/// How a person has their data deleted.
pub async fn data_deletion(State(app): State<Arc<App>>) -> Response {
    let operator = &app.settings.operator;
    html_page(
        StatusCode::OK,
        "How to have your data deleted",
        &format!(
            "<p><strong>If you connected a Facebook Page, an Instagram account or a Threads account:</strong> remove \
             Postora from the apps and websites connected to your account in the platform's settings (on Facebook: \
             Settings &amp; privacy, Settings, Apps and websites) and ask for your data to be deleted. The platform tells Postora, which at once deletes your access tokens, \
             cancels posts scheduled for your accounts, and removes your profile data from every workspace that had \
             connected them. You get a confirmation code and a link to a page that shows the status of your \
             request.</p>\
             <p>Removing Postora without asking for deletion revokes its access: your accounts stop publishing and \
             their tokens are deleted.</p>\
             <p><strong>If you run a workspace:</strong> disconnect an account with \
             <code>DELETE /v1/accounts/{{id}}</code>, take a copy of everything with <code>GET /v1/export</code>, \
             and erase the workspace with <code>DELETE /v1/workspace?confirm={{workspace id}}</code>.</p>\
             <p><strong>Otherwise</strong>, or if something is unclear, write to {contact}.</p>\
             <p>What Postora stores is described in the <a href=\"/privacy\">privacy policy</a>.</p>",
            contact = contact(operator),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn browsers_get_html_and_clients_that_ask_get_json() {
        assert!(!wants_json(&HeaderMap::new()));
        assert!(!wants_json(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_json(&accept("application/json")));
        assert!(wants_json(&accept("application/problem+json, text/html")));
        assert!(!wants_json(&accept("*/*")));
    }
}
