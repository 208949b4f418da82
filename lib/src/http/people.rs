//! A person's own routes, as JSON: signing up and in, verifying their address, their sessions and sign-ins, their
//! password and address, two-factor authentication, exporting their data and deleting their account.
//!
//! Routes that need a session take the [`SignedIn`] extractor (the session cookie only, with the CSRF check on
//! anything that changes something). Until a person verifies their address only `GET /v1/me`, verifying,
//! re-sending the link and signing out work: every other route here answers 403 `email_not_verified`.
//!
//! Signing up and signing in take JSON only (`Content-Type: application/json`), which a page on another site cannot
//! send without a CORS preflight Postora never grants, so they need no CSRF token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use super::auth::SignedIn;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use super::session::{clear_session_cookie, set_session_cookie};
use crate::app::people::{Credentials, MembershipOf, SignUp};
use crate::app::sessions::ClientInfo;
use crate::app::App;
use crate::domain::{Person, Role, Session, SignIn, SignInOutcome};
use crate::error::Error;

/// The device cookie's name: a random value, kept for a long time, that tells Postora a browser signed in before.
pub const DEVICE_COOKIE: &str = "postora_device";
/// How long the device cookie is kept (400 days, the most browsers keep a cookie).
const DEVICE_COOKIE_DAYS: i64 = 400;

/// The address a request came from, as the platform that received it says. `postora serve` takes it from the TCP
/// connection; the Lambda functions insert this from API Gateway's request context (`sourceIp`). A header such as
/// `X-Forwarded-For` is never read: anyone can write it.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// Where the request comes from: the client address and the browser's own description.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ClientAddress>()
            .map(|a| a.0.clone())
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        Ok(Client(ClientInfo { ip, user_agent }))
    }
}

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/signup", post(sign_up))
        .route("/v1/email/verify", post(verify_email))
        .route("/v1/email/verification", post(resend_verification))
        .route("/v1/session", post(sign_in).delete(sign_out))
        .route(
            "/v1/sessions",
            get(list_sessions).delete(sign_out_everywhere),
        )
        .route("/v1/sessions/{id}", delete(end_session))
        .route("/v1/me", get(me).patch(update_me).delete(delete_me))
        .route("/v1/me/sign-ins", get(list_sign_ins))
        .route("/v1/me/export", get(export_me))
        .route("/v1/me/password", put(change_password))
        .route("/v1/me/email", put(change_email))
        .route(
            "/v1/me/two-factor",
            post(start_two_factor).delete(disable_two_factor),
        )
        .route("/v1/me/two-factor/confirm", post(confirm_two_factor))
        .route("/v1/me/two-factor/recovery-codes", post(new_recovery_codes))
        .route("/v1/password/forgot", post(forgot_password))
        .route("/v1/password/reset", post(reset_password))
}

/// Refuses a person whose address is not verified yet.
fn verified(signed: &SignedIn) -> Result<(), ApiError> {
    if signed.check.session.flags.email_verified {
        Ok(())
    } else {
        Err(Error::forbidden(
            "email_not_verified",
            "verify your email address first: open the link Postora mailed you",
        )
        .into())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Views

/// A person as they see themselves.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub two_factor: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Person> for PersonView {
    fn from(p: &Person) -> Self {
        PersonView {
            id: p.id.to_string(),
            email: p.email.to_string(),
            name: p.name.clone(),
            email_verified: p.email_verified_at.is_some(),
            two_factor: p.two_factor.is_some(),
            created_at: p.created_at,
        }
    }
}

/// A person's place in a workspace.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonMembershipView {
    pub workspace_id: String,
    pub workspace_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl From<&MembershipOf> for PersonMembershipView {
    fn from(m: &MembershipOf) -> Self {
        PersonMembershipView {
            workspace_id: m.membership.workspace_id.to_string(),
            workspace_name: m.workspace_name.clone(),
            role: m.membership.role,
            joined_at: m.membership.joined_at,
        }
    }
}

/// The signed-in person, their workspaces, and the token to send in `X-CSRF-Token` on requests that change
/// something.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub person: PersonView,
    pub memberships: Vec<PersonMembershipView>,
    pub csrf_token: String,
}

/// A new session: the person, and the CSRF token for it (the session itself is in the cookie).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedInView {
    pub person: PersonView,
    pub csrf_token: String,
}

/// One of the person's sessions (never its token).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// A short public id, to end the session with.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: String,
    pub ip: String,
    /// Whether this is the session the request came with.
    pub current: bool,
}

fn session_view(s: &Session, current: &str) -> SessionView {
    SessionView {
        id: s.id.clone(),
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        user_agent: s.user_agent.clone(),
        ip: s.ip.clone(),
        current: s.id == current,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// One sign-in attempt that reached a known account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInView {
    pub at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
    /// `succeeded`, `wrong_password` or `wrong_second_factor`.
    #[schema(value_type = String)]
    pub outcome: SignInOutcome,
}

impl From<&SignIn> for SignInView {
    fn from(s: &SignIn) -> Self {
        SignInView {
            at: s.at,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            outcome: s.outcome,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInList {
    pub sign_ins: Vec<SignInView>,
}

/// A request was taken; what happens next is in `message`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub status: String,
    pub message: String,
}

fn status(status: &str, message: &str) -> Json<StatusView> {
    Json(StatusView {
        status: status.into(),
        message: message.into(),
    })
}

/// A new two-factor secret, shown once: type `secret` into an authenticator app or show `otpauth_uri` as a QR code,
/// then confirm with a code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TwoFactorStarted {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Recovery codes, shown once: each signs in once in place of a code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Everything Postora keeps about the person.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonExportView {
    pub person: PersonView,
    pub memberships: Vec<PersonMembershipView>,
    pub sessions: Vec<SessionView>,
    pub sign_ins: Vec<SignInView>,
    pub exported_at: DateTime<Utc>,
}

/// The account is gone.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountDeleted {
    pub status: String,
    /// The workspaces erased with it (those the person alone owned).
    pub erased_workspaces: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Requests (no Debug: they hold passwords)

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    pub email: String,
    /// 12 to 256 characters, not one of the most common passwords.
    pub password: String,
    pub name: String,
    /// The token of an invitation: no workspace of their own is made; they accept it once signed in.
    #[serde(default)]
    pub invitation: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
    /// A code from the authenticator app, when two-factor authentication is on.
    #[serde(default)]
    pub code: Option<String>,
    /// A recovery code, in place of `code`.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    pub name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    pub email: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub token: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeConfirm {
    pub code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordAndCode {
    pub password: String,
    /// A code from the authenticator app, or a recovery code.
    pub code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    pub password: String,
    /// Exactly the workspaces the person alone owns (erased with the account); `[]` when there are none.
    #[serde(default)]
    pub erase_workspaces: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Handlers

const VERIFICATION_SENT: &str =
    "if this address can be used, a message with a link to confirm it is on its way; \
                                 open it within 24 hours, then sign in";

/// Signs up. Always 202 with the same body and no cookie, whether or not the address has an account: a new address
/// gets a verification mail (and, without an invitation, a workspace of its own); a taken one gets a mail to its
/// owner.
#[utoipa::path(post, path = "/v1/signup", tag = "people", request_body = SignUpRequest,
    responses((status = 202, body = StatusView), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn sign_up(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Json(body): Json<SignUpRequest>,
) -> Result<Response, ApiError> {
    app.sign_up(
        SignUp {
            email: body.email,
            password: body.password,
            name: body.name,
            invitation: body.invitation,
        },
        &client,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        status("verification_sent", VERIFICATION_SENT),
    )
        .into_response())
}

/// Uses a verification link's token: the address is verified (or, for a link to a new address, the change to it is
/// complete). No session needed.
#[utoipa::path(post, path = "/v1/email/verify", tag = "people", request_body = TokenRequest,
    responses((status = 200, body = PersonView), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn verify_email(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Json(body): Json<TokenRequest>,
) -> Result<Json<PersonView>, ApiError> {
    let person = app.verify_email(&body.token, &client).await?;
    Ok(Json(PersonView::from(&person)))
}

/// Sends a new verification link to the signed-in person.
#[utoipa::path(post, path = "/v1/email/verification", tag = "people",
    responses((status = 202, body = StatusView), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("session" = [])))]
async fn resend_verification(
    State(app): State<Arc<App>>,
    Client(client): Client,
    signed: SignedIn,
) -> Result<Response, ApiError> {
    app.resend_verification(signed.person(), &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        status("verification_sent", VERIFICATION_SENT),
    )
        .into_response())
}

fn device_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == DEVICE_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn set_device_cookie(value: &str, secure: bool) -> Option<HeaderValue> {
    let cookie = Cookie::build((DEVICE_COOKIE, value.to_owned()))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::days(DEVICE_COOKIE_DAYS))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// Signs in: a new session in the `postora_session` cookie (HttpOnly, SameSite=Lax, Secure unless Postora is served
/// over plain http), and the CSRF token for it. A wrong password and an unknown address get the same 401
/// `invalid_credentials`; with two-factor authentication on, the right password without a code gets 401
/// `two_factor_required`, and a wrong code 401 `invalid_code`. A person whose address is not verified may sign in,
/// and can then only verify it or sign out.
#[utoipa::path(post, path = "/v1/session", tag = "people", request_body = SignInRequest,
    responses((status = 200, body = SignedInView), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn sign_in(
    State(app): State<Arc<App>>,
    Client(client): Client,
    headers: HeaderMap,
    Json(body): Json<SignInRequest>,
) -> Result<Response, ApiError> {
    let device = device_cookie(&headers);
    let done = app
        .sign_in(
            Credentials {
                email: body.email,
                password: body.password,
                code: body.code,
                recovery_code: body.recovery_code,
            },
            &client,
            device.as_deref(),
        )
        .await?;
    // The browser's earlier session, if it had one, ends: one browser, one session.
    if let Some(old) = super::session::session_token(&headers) {
        app.replace_session(&old).await;
    }
    let mut response = Json(SignedInView {
        person: PersonView::from(&done.person),
        csrf_token: done.token.csrf_token(),
    })
    .into_response();
    let h = response.headers_mut();
    h.append(
        SET_COOKIE,
        set_session_cookie(&done.token, &done.session, &app.settings.people),
    );
    if let Some(value) = done
        .new_device
        .as_deref()
        .and_then(|d| set_device_cookie(d, app.settings.people.secure_cookies))
    {
        h.append(SET_COOKIE, value);
    }
    Ok(response)
}

fn signed_out(app: &App, message: &str) -> Response {
    let mut response = status("signed_out", message).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, clear_session_cookie(&app.settings.people));
    response
}

/// Signs out: ends this session and clears the cookie.
#[utoipa::path(delete, path = "/v1/session", tag = "people",
    responses((status = 200, body = StatusView)), security(("session" = [])))]
async fn sign_out(State(app): State<Arc<App>>, signed: SignedIn) -> Result<Response, ApiError> {
    app.sign_out(&signed.check).await?;
    Ok(signed_out(&app, "this session has ended"))
}

/// Signs out everywhere: ends every session of the person, this one included.
#[utoipa::path(delete, path = "/v1/sessions", tag = "people",
    responses((status = 200, body = StatusView)), security(("session" = [])))]
async fn sign_out_everywhere(
    State(app): State<Arc<App>>,
    signed: SignedIn,
) -> Result<Response, ApiError> {
    let ended = app.sign_out_everywhere(signed.person()).await?;
    Ok(signed_out(
        &app,
        &format!("{ended} session(s) ended, this one included"),
    ))
}

/// The person's live sessions, newest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "people",
    responses((status = 200, body = SessionList), (status = 403, body = ErrorBody)), security(("session" = [])))]
async fn list_sessions(
    State(app): State<Arc<App>>,
    signed: SignedIn,
) -> Result<Json<SessionList>, ApiError> {
    verified(&signed)?;
    let current = signed.check.session.id.clone();
    let sessions = app.list_sessions(signed.person()).await?;
    Ok(Json(SessionList {
        sessions: sessions.iter().map(|s| session_view(s, &current)).collect(),
    }))
}

/// Ends one of the person's sessions, by its public id.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "people", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)), security(("session" = [])))]
async fn end_session(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    verified(&signed)?;
    let current = signed.check.session.id.clone();
    let ended = app.end_session(signed.person(), &id).await?;
    let mut response = Json(session_view(&ended, &current)).into_response();
    if ended.id == current {
        response
            .headers_mut()
            .append(SET_COOKIE, clear_session_cookie(&app.settings.people));
    }
    Ok(response)
}

/// The signed-in person, their workspaces and roles, and the CSRF token. Works before the address is verified.
#[utoipa::path(get, path = "/v1/me", tag = "people",
    responses((status = 200, body = MeView)), security(("session" = [])))]
async fn me(State(app): State<Arc<App>>, signed: SignedIn) -> Result<Json<MeView>, ApiError> {
    let person = app.person(signed.person()).await?;
    let memberships = app.memberships_with_names(signed.person()).await?;
    Ok(Json(MeView {
        person: PersonView::from(&person),
        memberships: memberships.iter().map(PersonMembershipView::from).collect(),
        csrf_token: signed.token.csrf_token(),
    }))
}

/// Changes the name the person goes by.
#[utoipa::path(patch, path = "/v1/me", tag = "people", request_body = PersonPatch,
    responses((status = 200, body = PersonView), (status = 403, body = ErrorBody)), security(("session" = [])))]
async fn update_me(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<PersonPatch>,
) -> Result<Json<PersonView>, ApiError> {
    verified(&signed)?;
    let person = app.rename_person(signed.person(), &body.name).await?;
    Ok(Json(PersonView::from(&person)))
}

/// The person's recent sign-ins (kept 90 days), newest first.
#[utoipa::path(get, path = "/v1/me/sign-ins", tag = "people",
    responses((status = 200, body = SignInList), (status = 403, body = ErrorBody)), security(("session" = [])))]
async fn list_sign_ins(
    State(app): State<Arc<App>>,
    signed: SignedIn,
) -> Result<Json<SignInList>, ApiError> {
    verified(&signed)?;
    let list = app.sign_ins(signed.person()).await?;
    Ok(Json(SignInList {
        sign_ins: list.iter().map(SignInView::from).collect(),
    }))
}

/// Everything Postora keeps about the person: profile, memberships, sessions and sign-ins (never a hash or a
/// secret).
#[utoipa::path(get, path = "/v1/me/export", tag = "people",
    responses((status = 200, body = PersonExportView), (status = 403, body = ErrorBody)), security(("session" = [])))]
async fn export_me(State(app): State<Arc<App>>, signed: SignedIn) -> Result<Response, ApiError> {
    verified(&signed)?;
    let export = app.export_person(signed.person()).await?;
    let current = signed.check.session.id.clone();
    let view = PersonExportView {
        person: PersonView::from(&export.person),
        memberships: export
            .memberships
            .iter()
            .map(PersonMembershipView::from)
            .collect(),
        sessions: export
            .sessions
            .iter()
            .map(|s| session_view(s, &current))
            .collect(),
        sign_ins: export.sign_ins.iter().map(SignInView::from).collect(),
        exported_at: app.now(),
    };
    let mut response = Json(view).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"postora-account.json\""),
    );
    Ok(response)
}

/// Deletes the person's account, confirmed by their password. Every workspace they alone own is erased with it,
/// and `erase_workspaces` must name exactly those (409 `confirm_workspaces` names them otherwise); they leave every
/// other workspace, whose audit log keeps a `person.deleted` tombstone.
#[utoipa::path(delete, path = "/v1/me", tag = "people", request_body = DeleteAccount,
    responses((status = 200, body = AccountDeleted), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
async fn delete_me(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<DeleteAccount>,
) -> Result<Response, ApiError> {
    verified(&signed)?;
    let erased = app
        .delete_account(signed.person(), &body.password, &body.erase_workspaces)
        .await?;
    let mut response = Json(AccountDeleted {
        status: "deleted".into(),
        erased_workspaces: erased.iter().map(ToString::to_string).collect(),
    })
    .into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, clear_session_cookie(&app.settings.people));
    Ok(response)
}

/// Changes the password; every other session of the person ends.
#[utoipa::path(put, path = "/v1/me/password", tag = "people", request_body = PasswordChange,
    responses((status = 200, body = StatusView), (status = 422, body = ErrorBody)), security(("session" = [])))]
async fn change_password(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<PasswordChange>,
) -> Result<Json<StatusView>, ApiError> {
    verified(&signed)?;
    app.change_password(
        signed.person(),
        &signed.check.session.token_hash,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(status(
        "password_changed",
        "your password was changed and your other sessions ended",
    ))
}

/// Starts changing the address: a link to confirm the new one goes to it, and the old one is told. The change
/// happens when the link is opened. Always 202, whether or not the new address has an account.
#[utoipa::path(put, path = "/v1/me/email", tag = "people", request_body = EmailChange,
    responses((status = 202, body = StatusView), (status = 422, body = ErrorBody)), security(("session" = [])))]
async fn change_email(
    State(app): State<Arc<App>>,
    Client(client): Client,
    signed: SignedIn,
    Json(body): Json<EmailChange>,
) -> Result<Response, ApiError> {
    verified(&signed)?;
    app.change_email(signed.person(), &body.email, &body.password, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        status(
            "verification_sent",
            "if this address can be used, a message with a link to confirm it is on its way; your address changes \
             when it is opened",
        ),
    )
        .into_response())
}

/// Starts turning two-factor authentication on: a new secret, shown once. Confirm it with a code to turn it on.
#[utoipa::path(post, path = "/v1/me/two-factor", tag = "people", request_body = PasswordConfirm,
    responses((status = 200, body = TwoFactorStarted), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
async fn start_two_factor(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<PasswordConfirm>,
) -> Result<Json<TwoFactorStarted>, ApiError> {
    verified(&signed)?;
    let (secret, otpauth_uri) = app
        .start_two_factor(signed.person(), &body.password)
        .await?;
    Ok(Json(TwoFactorStarted {
        secret,
        otpauth_uri,
    }))
}

/// Confirms the new secret with a code from it: two-factor authentication is on. Returns 10 recovery codes, shown
/// once.
#[utoipa::path(post, path = "/v1/me/two-factor/confirm", tag = "people", request_body = CodeConfirm,
    responses((status = 200, body = RecoveryCodes), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
async fn confirm_two_factor(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<CodeConfirm>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    verified(&signed)?;
    let recovery_codes = app.confirm_two_factor(signed.person(), &body.code).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Turns two-factor authentication off, confirmed by the password and a code (or a recovery code).
#[utoipa::path(delete, path = "/v1/me/two-factor", tag = "people", request_body = PasswordAndCode,
    responses((status = 200, body = StatusView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
async fn disable_two_factor(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<PasswordAndCode>,
) -> Result<Json<StatusView>, ApiError> {
    verified(&signed)?;
    app.disable_two_factor(signed.person(), &body.password, &body.code)
        .await?;
    Ok(status("two_factor_off", "two-factor authentication is off"))
}

/// Replaces the recovery codes with a new set of 10, shown once, confirmed by the password and a code.
#[utoipa::path(post, path = "/v1/me/two-factor/recovery-codes", tag = "people", request_body = PasswordAndCode,
    responses((status = 200, body = RecoveryCodes), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
async fn new_recovery_codes(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    Json(body): Json<PasswordAndCode>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    verified(&signed)?;
    let recovery_codes = app
        .new_recovery_codes(signed.person(), &body.password, &body.code)
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Asks for a password-reset link. Always 202 with the same body, whether or not the address has an account.
#[utoipa::path(post, path = "/v1/password/forgot", tag = "people", request_body = ForgotRequest,
    responses((status = 202, body = StatusView), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn forgot_password(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Json(body): Json<ForgotRequest>,
) -> Result<Response, ApiError> {
    app.forgot_password(&body.email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        status(
            "reset_sent",
            "if this address has an account, a message with a link to choose a new password is on its way; it works \
             once and for one hour",
        ),
    )
        .into_response())
}

/// Uses a reset link's token to set a new password; every session of the person ends.
#[utoipa::path(post, path = "/v1/password/reset", tag = "people", request_body = ResetRequest,
    responses((status = 200, body = StatusView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn reset_password(
    State(app): State<Arc<App>>,
    Client(client): Client,
    Json(body): Json<ResetRequest>,
) -> Result<Json<StatusView>, ApiError> {
    app.reset_password(&body.token, &body.password, &client)
        .await?;
    Ok(status(
        "password_reset",
        "your password was changed and every session ended; sign in with the new one",
    ))
}
