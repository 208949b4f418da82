//! One place maps errors to HTTP: `{"error": {"code", "message", "field"?, "details"?}}` with a fitting status.
//! Extractors here turn every malformed request into that shape too, so no input reaches a handler unchecked and
//! none produces a 500.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// The error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, for example `validation_failed`, `not_found`, `unauthorized`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every violation, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An error on its way out of a handler.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message: message.into(),
                    field: None,
                    details: Vec::new(),
                },
            },
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::invalid(field, message).into()
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.body.error.field = Some(field.to_owned());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(v) => {
                let first = v
                    .first()
                    .map(|x| (x.field.clone(), x.message.clone()))
                    .unwrap_or_default();
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    body: ErrorBody {
                        error: ErrorDetail {
                            code: "validation_failed".into(),
                            message: format!("{} {}", first.0, first.1),
                            field: Some(first.0),
                            details: v
                                .into_iter()
                                .map(|x| FieldError {
                                    field: x.field,
                                    message: x.message,
                                })
                                .collect(),
                        },
                    },
                }
            }
            Error::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            Error::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a valid API key as `Authorization: Bearer <key>`",
            ),
            Error::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            Error::BadRequest { code, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            Error::PlatformDisabled(p) => ApiError::new(
                StatusCode::NOT_FOUND,
                "platform_not_enabled",
                format!("the platform `{p}` is not enabled on this Postora"),
            ),
            Error::Platform(p) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "platform_error", p.to_string())
            }
            Error::Unavailable(m) => {
                tracing::warn!(reason = %m, "request could not be served");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Postora is busy or a dependency is unreachable; nothing was changed, try again",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

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

/// Answers requests for routes that do not exist.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "there is no such route; see /openapi.json",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Parses a query string into `T`, naming the parameter on failure.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).unwrap_or("query").to_owned();
        ApiError::invalid(&field, message)
    })
}

/// Escapes text for HTML pages.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The one stylesheet of every page, inline in its `<style>` element. The Content-Security-Policy allows exactly
/// this text by its hash (see [`super::security`]), so any other style or script on a page is refused.
pub const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}\
code{background:#f3f3f3;padding:0 .2rem}";

/// A small, self-contained HTML page: no script, no inline `style=` attribute, and only [`PAGE_STYLE`].
pub fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>{PAGE_STYLE}</style></head><body><h1>{t}</h1>{body_html}</body></html>",
        t = html_escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}
