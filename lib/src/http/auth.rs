//! The caller's workspace, from `Authorization: Bearer <api key>`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::app::App;
use crate::domain::WorkspaceId;
use crate::error::Error;

/// The authenticated workspace. Every `/v1` handler takes one, so no route is reachable without a valid key.
#[derive(Debug, Clone)]
pub struct Caller(pub WorkspaceId);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(Error::Unauthorized)?;
        Ok(Caller(app.authenticate(key).await?))
    }
}
