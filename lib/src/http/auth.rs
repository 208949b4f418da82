//! Who is calling: an API key (`Authorization: Bearer pk_…`) or a signed-in person (the session cookie), never both.
//!
//! - [`Caller`]: a workspace-scoped caller with a role. An API key acts in its own workspace with its own role; a
//!   person names the workspace in the `Postora-Workspace` header and acts in their membership's role.
//! - [`SignedIn`]: a person's own routes (their profile, sessions, two-factor), which take the session cookie only.
//!
//! A cookie-authenticated request that changes something must come from Postora's own origin (`Origin`) and carry
//! the session's CSRF token in `X-CSRF-Token` (SameSite=Lax on the cookie is the first line).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

use super::access::{self, Access};
use super::error::ApiError;
use super::session::{has_session_cookie, session_token, CSRF_HEADER};
use crate::app::sessions::SessionCheck;
use crate::app::App;
use crate::domain::{PersonId, Role, SessionToken, WorkspaceId};
use crate::error::Error;

/// The header a signed-in person names the workspace they act in with.
pub const WORKSPACE_HEADER: &str = "postora-workspace";

pub use crate::domain::Actor;

/// An authenticated caller acting in one workspace with a role. Every `/v1` route that reads or changes a
/// workspace takes one, so none is reachable without a valid key or session; and taking one checks the caller's role
/// against the route's row in the [access table](super::access), so no handler can forget to: a route without a row
/// is refused.
#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace: WorkspaceId,
    pub role: Role,
    pub actor: Actor,
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, app).await?;
        authorize(parts, caller.role)?;
        Ok(caller)
    }
}

/// The caller a request's credentials name, before any role is checked.
async fn authenticate(parts: &Parts, app: &App) -> Result<Caller, ApiError> {
    match credentials(&parts.headers)? {
        Credentials::Key(presented) => {
            let key = app.authenticate_key(presented).await?;
            Ok(Caller {
                workspace: key.workspace_id,
                role: key.role,
                actor: Actor::Key { id: key.id },
            })
        }
        Credentials::Session(token) => {
            let workspace = named_workspace(&parts.headers)?;
            let check = app.check_session(&token, Some(&workspace)).await?;
            check_csrf(parts, &token, app)?;
            let role = check.membership.as_ref().map(|m| m.role).ok_or_else(|| {
                Error::forbidden("not_a_member", "you are not a member of this workspace")
            })?;
            Ok(Caller {
                workspace,
                role,
                actor: Actor::Person {
                    id: check.session.person_id.clone(),
                    session_id: check.session.id.clone(),
                },
            })
        }
    }
}

/// Refuses the request unless `role` may do what the matched route's row in the access table names. A route with no
/// row, or with a row that is not a workspace member's, is refused too: it is a mistake in Postora, logged as one.
fn authorize(parts: &Parts, role: Role) -> Result<(), Error> {
    let path = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or_default();
    match access::required(&parts.method, path) {
        Some(Access::Member(action)) if role.may(action) => Ok(()),
        Some(Access::Member(action)) => Err(Error::forbidden(
            "forbidden",
            format!("a {role} of this workspace may not {}", action.describe()),
        )),
        _ => {
            tracing::error!(method = %parts.method, route = %path, "a workspace route has no row in the access table");
            Err(Error::forbidden(
                "forbidden",
                "this route is not open to any role",
            ))
        }
    }
}

impl Caller {
    /// The caller as the application layer takes it: their role and who they are.
    pub fn as_member(&self) -> crate::app::members::AsMember<'_> {
        crate::app::members::AsMember {
            role: self.role,
            actor: &self.actor,
        }
    }

    /// The person acting, or 401 `session_required` for an API key: some things only a person does (leaving,
    /// transferring, inviting).
    pub fn person(&self) -> Result<&PersonId, Error> {
        self.actor.person().ok_or_else(|| {
            Error::unauthenticated(
                "session_required",
                "only a signed-in person may do this: send the session cookie, not an API key",
            )
        })
    }
}

/// A signed-in person on their own routes. API keys are refused here: a key belongs to a workspace, not a person.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: Arc<SessionToken>,
    pub check: SessionCheck,
}

impl SignedIn {
    pub fn person(&self) -> &PersonId {
        self.check.person()
    }
}

impl FromRequestParts<Arc<App>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        match credentials(&parts.headers)? {
            Credentials::Key(_) => Err(Error::unauthenticated(
                "session_required",
                "this route is for a signed-in person and takes the session cookie, not an API key",
            )
            .into()),
            Credentials::Session(token) => {
                let check = app.check_session(&token, None).await?;
                check_csrf(parts, &token, app)?;
                Ok(SignedIn {
                    token: Arc::new(token),
                    check,
                })
            }
        }
    }
}

enum Credentials<'a> {
    Key(&'a str),
    Session(SessionToken),
}

/// The one credential a request carries: a key or a session, never both, and neither in the other's place.
fn credentials(headers: &HeaderMap) -> Result<Credentials<'_>, Error> {
    let bearer = presented_key(headers);
    let cookie = has_session_cookie(headers);
    match (bearer, cookie) {
        (Some(_), true) => Err(Error::bad_request(
            "ambiguous_credentials",
            "send either an API key or a session cookie, not both",
        )),
        (Some(key), false) if key.starts_with("ps_") => Err(Error::unauthenticated(
            "session_token_as_key",
            "a session is not an API key: send API keys as `Authorization: Bearer pk_…`",
        )),
        (Some(key), false) => Ok(Credentials::Key(key)),
        (None, true) => session_token(headers)
            .map(Credentials::Session)
            .ok_or_else(|| {
                Error::unauthenticated(
                    "session_expired",
                    "your session has ended or is not valid; sign in again",
                )
            }),
        (None, false) => Err(Error::Unauthorized),
    }
}

/// The key in `Authorization: Bearer <key>`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The workspace a signed-in person acts in, from the `Postora-Workspace` header.
fn named_workspace(headers: &HeaderMap) -> Result<WorkspaceId, Error> {
    let raw = headers
        .get(WORKSPACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::bad_request(
                "workspace_required",
                "name the workspace to act in with the `Postora-Workspace` header",
            )
        })?;
    WorkspaceId::parse(raw.trim()).ok_or_else(|| {
        Error::bad_request(
            "workspace_required",
            "`Postora-Workspace` must be a workspace id (`ws_…`)",
        )
    })
}

/// A cookie-authenticated request that may change something (any method but GET, HEAD and OPTIONS) must come from
/// Postora's own origin and carry the session's CSRF token.
fn check_csrf(parts: &Parts, token: &SessionToken, app: &App) -> Result<(), Error> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let ours = app.settings.public_url.origin().ascii_serialization();
    let origin = parts
        .headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            parts
                .headers
                .get(REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| u.origin().ascii_serialization())
        });
    if origin.as_deref() != Some(ours.as_str()) {
        return Err(Error::forbidden(
            "cross_site_request",
            "this request did not come from Postora's own pages (its Origin is missing or another site's)",
        ));
    }
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = token.csrf_token();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        sent.as_bytes(),
        expected.as_bytes(),
    )) {
        return Err(Error::forbidden(
            "csrf_token_invalid",
            "send the session's CSRF token (from GET /v1/me) in the `X-CSRF-Token` header",
        ));
    }
    Ok(())
}
