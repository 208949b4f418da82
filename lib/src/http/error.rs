//! One place maps errors to HTTP: `{"error": {"code", "message", "field"?, "details"?}}` with a fitting status.
//! The extractors ([`super::extract`]) turn every malformed request into that shape too, so no input reaches a
//! handler unchecked and none produces a 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
    /// The target account whose platform has the rule, for a platform's rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The media item at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// The platform rule broken: `format`, `bytes`, `pixels`, `aspect_ratio`, `duration`, `count`, `mixing`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// An error on its way out of a handler.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// Seconds to wait, sent as `Retry-After` (a 429 always has one).
    retry_after: Option<u64>,
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
            retry_after: None,
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

    /// What went wrong, for a person (what the body's `message` says).
    pub fn message(&self) -> &str {
        &self.body.error.message
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
                                    target: x.target,
                                    media_id: x.media_id,
                                    rule: x.rule,
                                })
                                .collect(),
                        },
                    },
                    retry_after: None,
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
            Error::Unauthenticated { code, message } => {
                ApiError::new(StatusCode::UNAUTHORIZED, code, message)
            }
            Error::Forbidden { code, message } => {
                ApiError::new(StatusCode::FORBIDDEN, code, message)
            }
            Error::TooManyAttempts {
                message,
                retry_after,
            } => {
                let mut e =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message);
                e.retry_after = Some(retry_after.as_secs().max(1));
                e
            }
            Error::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            Error::BadRequest { code, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            Error::TooLarge { code, message } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
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
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
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
