//! The pages the links in Postora's mail open: confirming an address, choosing a new password, asking for a reset
//! link, and an invitation. Each is a small HTML page with a plain form (no script); opening a link changes nothing
//! (a mail scanner that follows it uses up no token), the form's POST does. The token rides in the form: it is the
//! proof, so these forms need no session and no CSRF token. They call the same use cases as the JSON routes.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::html::{html_escape, html_page};
use super::people::Client;
use crate::app::members::INVITATION_PATH;
use crate::app::people::{FORGOT_PATH, RESET_PATH, VERIFY_PATH};
use crate::app::App;
use crate::error::Error;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route(VERIFY_PATH, get(verify_page).post(verify))
        .route(RESET_PATH, get(reset_page).post(reset))
        .route(FORGOT_PATH, get(forgot_page).post(forgot))
        .route(INVITATION_PATH, get(invitation_page))
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// A token as it may appear in a link: refused early (and shown nowhere) if it could not be one.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn missing_link() -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        "This link is incomplete",
        "<p>The link has no token, or not one Postora makes. Open the link from the message again, whole.</p>",
    )
}

/// An error from the use case, as a page: its status and its message, never a raw error page.
fn error_page(title: &str, e: Error) -> Response {
    let e = ApiError::from(e);
    html_page(
        e.status(),
        title,
        &format!("<p>{}</p>", html_escape(e.message())),
    )
}

async fn verify_page(Query(q): Query<TokenQuery>) -> Response {
    if !plausible(&q.token) {
        return missing_link();
    }
    html_page(
        StatusCode::OK,
        "Confirm your email address",
        &format!(
            "<form method=\"post\" action=\"{VERIFY_PATH}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Confirm my address</button></form>",
            html_escape(&q.token)
        ),
    )
}

async fn verify(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Form(form): Form<TokenForm>,
) -> Response {
    if !plausible(&form.token) {
        return missing_link();
    }
    match app.verify_email(&form.token, &client).await {
        Ok(person) => html_page(
            StatusCode::OK,
            "Your address is confirmed",
            &format!(
                "<p>{} is confirmed. You can sign in to Postora now.</p>",
                html_escape(person.email.as_str())
            ),
        ),
        Err(e) => error_page("Your address could not be confirmed", e),
    }
}

async fn reset_page(Query(q): Query<TokenQuery>) -> Response {
    if !plausible(&q.token) {
        return missing_link();
    }
    html_page(
        StatusCode::OK,
        "Choose a new password",
        &format!(
            "<form method=\"post\" action=\"{RESET_PATH}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <p><label for=\"password\">New password (at least 12 characters)</label><br>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"12\" \
             maxlength=\"256\" required></p><button type=\"submit\">Set the new password</button></form>",
            html_escape(&q.token)
        ),
    )
}

async fn reset(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Form(form): Form<ResetForm>,
) -> Response {
    if !plausible(&form.token) {
        return missing_link();
    }
    match app
        .reset_password(&form.token, &form.password, &client)
        .await
    {
        Ok(()) => html_page(
            StatusCode::OK,
            "Your password is changed",
            "<p>Every session was signed out. Sign in with the new password.</p>",
        ),
        Err(e) => error_page("The password was not changed", e),
    }
}

async fn forgot_page() -> Response {
    html_page(
        StatusCode::OK,
        "Reset your password",
        &format!(
            "<form method=\"post\" action=\"{FORGOT_PATH}\"><p><label for=\"email\">Your email address</label><br>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required></p>\
             <button type=\"submit\">Mail me a link</button></form>"
        ),
    )
}

async fn forgot(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Form(form): Form<ForgotForm>,
) -> Response {
    match app.forgot_password(&form.email, &client).await {
        Ok(()) => html_page(
            StatusCode::OK,
            "Check your mail",
            "<p>If this address has an account, a link to choose a new password is on its way. It works once, for an \
             hour.</p>",
        ),
        Err(e) => error_page("No link was sent", e),
    }
}

async fn invitation_page(Query(q): Query<TokenQuery>) -> Response {
    if !plausible(&q.token) {
        return missing_link();
    }
    html_page(
        StatusCode::OK,
        "You are invited to a workspace on Postora",
        &format!(
            "<p>Sign in to Postora with the address the invitation was sent to (or sign up with it, giving this \
             invitation), then accept it: <code>POST /v1/invitations/accept</code> with <code>{{\"token\": \"{}\"}}</code>. \
             The invitation works once, for 7 days.</p>",
            html_escape(&q.token)
        ),
    )
}
