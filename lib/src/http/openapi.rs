//! The OpenAPI 3.1 document of the whole API, generated from the handlers' annotations.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, error, sandbox, views};
use crate::app::posts;

#[derive(OpenApi)]
#[openapi(
    info(title = "Postora", description = "Write a post once, schedule it for many social accounts, and have it published exactly once at the second it is due."),
    paths(
        api::connect, api::list_accounts, api::get_account, api::disconnect,
        api::create_post, api::list_posts, api::get_post, api::update_post, api::cancel_post, api::retry_delivery,
        super::health,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, error::FieldError,
        views::AccountView, views::AccountList, views::DeliveryView, views::PostView, views::PostPage,
        views::ConnectStarted, views::RetryRequest, views::Health,
        posts::NewPost, posts::PostPatch, posts::MediaInput, posts::TargetInput,
        sandbox::Fault, sandbox::FaultKind, sandbox::SandboxPost, sandbox::SandboxPosts,
    )),
    modifiers(&BearerAuth),
    tags((name = "accounts"), (name = "posts"), (name = "service"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}

pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
