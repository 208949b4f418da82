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
        Ok(Caller(app.authenticate(presented_key(parts)?).await?))
    }
}

/// The key in `Authorization: Bearer <key>`.
fn presented_key(parts: &Parts) -> Result<&str, Error> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(Error::Unauthorized)
}

/// The authenticated workspace and the id of the key the request came with, for the routes that act on keys.
#[derive(Debug, Clone)]
pub struct CallerKey {
    pub workspace: WorkspaceId,
    pub key_id: String,
}

impl FromRequestParts<Arc<App>> for CallerKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let key = app.authenticate_key(presented_key(parts)?).await?;
        Ok(CallerKey {
            workspace: key.workspace_id,
            key_id: key.id,
        })
    }
}
