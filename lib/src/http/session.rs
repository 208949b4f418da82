//! The session cookie: its name and attributes, reading it from a request, and setting and clearing it.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

use crate::config::PeopleSettings;
use crate::domain::{Session, SessionToken};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "postora_session";

/// The header a cookie-authenticated request that changes something carries, with
/// [`SessionToken::csrf_token`].
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token in the request's `Cookie` header, if one has the shape of a token. Several cookies of that name
/// (a second one planted for a sibling domain) are refused together: `None`.
pub fn session_token(headers: &HeaderMap) -> Option<SessionToken> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned());
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    SessionToken::parse(&first)
}

/// Whether the request carries a session cookie at all (well formed or not).
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .any(|c| c.name() == SESSION_COOKIE)
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure unless Postora is served over plain http, for the
/// whole site, until the session's absolute end.
pub fn set_session_cookie(
    token: &SessionToken,
    session: &Session,
    settings: &PeopleSettings,
) -> HeaderValue {
    let max_age = (session.expires_at - session.created_at)
        .num_seconds()
        .max(0);
    let cookie = Cookie::build((SESSION_COOKIE, token.reveal().to_owned()))
        .http_only(true)
        .secure(settings.secure_cookies)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    header_value(&cookie)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(settings: &PeopleSettings) -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .secure(settings.secure_cookies)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    header_value(&cookie)
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // A cookie built from a token (hex and ASCII) is always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
