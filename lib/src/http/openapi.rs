//! The OpenAPI 3.1 document of the whole API, generated from the handlers' annotations.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, error, meta, pages, views};
use crate::app::posts;

#[derive(OpenApi)]
#[openapi(
    info(title = "Postora", description = "Write a post once, schedule it for many social accounts, and have it published exactly once at the second it is due."),
    paths(
        api::connect, api::list_accounts, api::get_account, api::disconnect,
        api::create_post, api::list_posts, api::get_post, api::update_post, api::cancel_post, api::retry_delivery,
        api::export_workspace, api::erase_workspace, api::list_audit,
        api::list_api_keys, api::create_api_key, api::revoke_api_key,
        meta::meta_data_deletion, meta::meta_deauthorize, meta::threads_data_deletion, meta::threads_deauthorize,
        pages::deletion_status,
        super::health,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, error::FieldError,
        views::AccountView, views::AccountList, views::DeliveryView, views::PostView, views::PostPage,
        views::ConnectStarted, views::RetryRequest, views::Health,
        views::ExportedAccount, views::WorkspaceExportView, views::AuditPage, views::WorkspaceErasedView,
        views::ApiKeyView, views::ApiKeyList, views::ApiKeyCreated, views::NewApiKey,
        views::DeletionAccepted, views::DeauthorizeDone, views::DeletionStatusView, meta::SignedRequestForm,
        crate::domain::AuditEntry,
        posts::NewPost, posts::PostPatch, posts::MediaInput, posts::TargetInput,
    )),
    modifiers(&BearerAuth, &CommonErrors),
    tags((name = "accounts"), (name = "posts"), (name = "workspace", description = "The workspace's own data: export, erase, audit log, API keys"),
        (name = "privacy", description = "Meta's data-deletion and deauthorize callbacks, and the status of a deletion request"),
        (name = "service"))
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

/// Documents the errors every operation can answer with, in the one error shape: 401 where a key is needed, and
/// 400, 413 and 415 where a JSON body is read.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                // Only JSON bodies go through the JSON extractor; Meta's callbacks take a form and answer 400 alone.
                let has_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                let responses = &mut op.responses.responses;
                if secured {
                    responses
                        .entry("401".into())
                        .or_insert_with(|| error("no valid API key").into());
                }
                if has_body {
                    responses
                        .entry("400".into())
                        .or_insert_with(|| error("the body is not valid JSON").into());
                    responses
                        .entry("413".into())
                        .or_insert_with(|| error("the body is too large").into());
                    responses
                        .entry("415".into())
                        .or_insert_with(|| error("the body is not JSON").into());
                    responses.entry("422".into()).or_insert_with(|| {
                        error("a field is missing, unknown or breaks a rule").into()
                    });
                }
                responses.entry("503".into()).or_insert_with(|| {
                    error("busy or a dependency is unreachable; nothing changed").into()
                });
            }
        }
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
