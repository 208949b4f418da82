//! Reading requests: a JSON body and a query string whose every failure (wrong content type, bad syntax, wrong
//! shape, too large) is an [`ApiError`] naming the field at fault; and answering with JSON.

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
use crate::error::Error;

/// A JSON body whose every failure (wrong content type, bad syntax, wrong shape, too large) is an [`ApiError`]
/// that names the field at fault.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_content_type);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the body is larger than this endpoint accepts",
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        "the body could not be read",
                    )
                }
            })?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body, naming the field at fault: `targets[0].account_id`, or the unknown field itself.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body Postora takes is an object. serde would read a struct from an array too (`[null, null]` as its
    // fields in order), so an array is refused before it gets the chance.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the body must be a JSON object, not an array",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {inner}"),
            );
        }
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let named = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next());
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next());
        // serde_path_to_error's path already ends in an unknown field's name, but stops at a missing field's parent.
        let at_root = path.is_empty() || path == ".";
        let field = match (named, missing) {
            (Some(f), _) if at_root => f.to_owned(),
            (_, Some(f)) if at_root => f.to_owned(),
            (_, Some(f)) => format!("{path}.{f}"),
            _ if at_root => "body".to_owned(),
            _ => path,
        };
        Error::invalid(field, message).into()
    })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Parses a query string into `T`, naming the parameter on failure.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).unwrap_or("query").to_owned();
        ApiError::invalid(&field, message)
    })
}

/// The most items one page of a listing may hold.
pub const MAX_PAGE: usize = 200;

/// A listing's `limit`: absent is `default`, otherwise a whole number from 1 to [`MAX_PAGE`].
pub fn page_limit(raw: Option<&str>, default: usize) -> Result<usize, ApiError> {
    limit_within(raw, default, MAX_PAGE)
}

/// A `limit`: absent is `default`, otherwise a whole number from 1 to `max`.
pub fn limit_within(raw: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match raw {
        None => Ok(default),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("must be a whole number from 1 to {max}"))
            }),
    }
}
