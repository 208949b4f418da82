//! The OpenAPI 3.1 document of the whole API, generated from the handlers' annotations.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, connect, error, media, members, meta, pages, people, views};
use crate::app::posts;

#[derive(OpenApi)]
#[openapi(
    info(title = "Postora", description = "Write a post once, schedule it for many social accounts, and have it published exactly once at the second it is due."),
    paths(
        connect::connect, connect::connect_bluesky_app_password, api::list_accounts, api::get_account, api::account_options, api::disconnect,
        api::create_post, api::list_posts, api::get_post, api::update_post, api::cancel_post, api::retry_delivery,
        api::approve_post, api::reject_post,
        api::export_workspace, api::erase_workspace, api::list_audit,
        api::list_api_keys, api::create_api_key, api::revoke_api_key,
        media::upload_media, media::import_media, media::start_upload, media::upload_status, media::abort_upload,
        media::complete_upload, media::list_media, media::get_media, media::update_media, media::delete_media,
        media::media_content,
        members::list_workspaces, members::create_workspace, members::get_workspace, members::update_workspace,
        members::list_members, members::change_member, members::remove_member, members::leave_workspace,
        members::transfer_workspace, members::list_invitations, members::create_invitation,
        members::withdraw_invitation, members::accept_invitation,
        meta::meta_data_deletion, meta::meta_deauthorize, meta::threads_data_deletion, meta::threads_deauthorize,
        pages::deletion_status,
        people::sign_up, people::verify_email, people::resend_verification, people::sign_in, people::sign_out,
        people::sign_out_everywhere, people::list_sessions, people::end_session, people::me, people::update_me,
        people::delete_me, people::list_sign_ins, people::export_me, people::change_password, people::change_email,
        people::start_two_factor, people::disable_two_factor, people::confirm_two_factor, people::new_recovery_codes,
        people::forgot_password, people::reset_password,
        super::health,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, error::FieldError,
        views::AccountView, views::AccountList, api::AccountOptionsView, views::DeliveryView, views::PostView, views::PostPage,
        views::ConnectStarted, views::ConnectInput, views::RetryRequest, views::Health,
        views::ApprovalView, views::ByView, views::RejectRequest, crate::domain::ApprovalState,
        views::ExportedAccount, views::ExportedMedia, views::ExportLine, views::AuditPage, views::WorkspaceErasedView,
        views::ApiKeyView, views::ApiKeyList, views::ApiKeyCreated, views::NewApiKey,
        views::DeletionAccepted, views::DeauthorizeDone, views::DeletionStatusView, meta::SignedRequestForm,
        crate::domain::AuditEntry,
        posts::NewPost, posts::PostPatch, posts::MediaInput, posts::TargetInput, posts::PartInput, views::PostMediaView, views::PostPartView, views::PublishedPartView,
        crate::domain::options::MastodonOptions, crate::domain::options::BlueskyOptions, crate::domain::options::XOptions, crate::domain::options::YoutubeOptions, crate::domain::options::YoutubePrivacy,
        crate::domain::options::MastodonOptions, crate::domain::options::BlueskyOptions, crate::domain::options::XOptions,
        crate::domain::options::TiktokOptions, crate::domain::options::TiktokPrivacy, crate::domain::options::TiktokMode,
        crate::domain::options::MastodonVisibility, crate::domain::options::XReplySettings,
        crate::domain::options::LinkedinOptions, crate::domain::options::LinkedinVisibility,
        views::MediaView, views::MetadataView, views::RenditionView, views::PlatformFit, views::MediaPage,
        views::MediaPatch, views::MediaImport, views::NewUpload, views::UploadView, views::PartView,
        views::ReceivedPartView, views::CompleteUpload, views::CompletedPartInput,
        crate::domain::MediaFormat, crate::domain::MediaKind,
        people::PersonView, people::PersonMembershipView, people::MeView, people::SignedInView, people::SessionView,
        people::SessionList, people::SignInView, people::SignInList, people::StatusView, people::TwoFactorStarted,
        people::RecoveryCodes, people::PersonExportView, people::AccountDeleted, people::SignUpRequest,
        people::TokenRequest, people::SignInRequest, people::PersonPatch, people::ForgotRequest, people::ResetRequest,
        people::PasswordChange, people::EmailChange, people::PasswordConfirm, people::CodeConfirm,
        people::PasswordAndCode, people::DeleteAccount,
        crate::domain::Role, members::SettingsView, members::WorkspaceView, members::WorkspaceList, members::NewWorkspace,
        crate::app::members::WorkspacePatch, members::MemberView, members::MemberList, members::MembershipView,
        members::RoleChange, members::Transfer, members::Transferred, members::NewInvitation, members::InvitationView,
        members::InvitationList, members::AcceptInvitation,
    )),
    modifiers(&BearerAuth, &CommonErrors),
    tags((name = "accounts"), (name = "posts"), (name = "media", description = "The media library: images and videos, uploaded, imported, checked and fitted"), (name = "workspace", description = "The workspace's own data: export, erase, audit log, API keys"),
        (name = "members", description = "Workspaces shared by people: settings, members and their roles, invitations; who may call what is in docs/roles.md"),
        (name = "privacy", description = "Meta's data-deletion and deauthorize callbacks, and the status of a deletion request"),
        (name = "people", description = "A person's own account: signing up and in, sessions, password, address, two-factor authentication, export and deletion"),
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
        // A signed-in person: the session cookie, with `Postora-Workspace` naming the workspace on workspace routes,
        // and `Origin` and `X-CSRF-Token` on requests that change something.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new("postora_session"),
            )),
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
                    responses.entry("400".into()).or_insert_with(|| {
                        error("`ambiguous_credentials`: an API key and a session cookie sent together; or `workspace_required`: a session request without `Postora-Workspace`").into()
                    });
                    responses
                        .entry("401".into())
                        .or_insert_with(|| error("no valid API key or session").into());
                    responses.entry("403".into()).or_insert_with(|| {
                        error("`forbidden`: the caller's role may not call this route (see docs/roles.md); or a cookie request without Postora's Origin and CSRF token").into()
                    });
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

/// Links each answer that names a resource to the operations that use it, so that a client (or a stateful fuzzer)
/// can follow them: a created or listed post to reading, changing, canceling and retrying it; a listed account to
/// reading and disconnecting it and to posting to it; a deletion callback's answer to its status.
///
/// Added to the JSON rather than through utoipa's `Link`, which names its fields in snake_case (`operation_id`)
/// where OpenAPI says `operationId`.
fn links() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let to = |target: &str, params: Value| json!({"operationId": target, "parameters": params});
    let post = |at: &str| {
        let id = format!("$response.body#{at}/id");
        vec![
            ("GetPost", to("get_post", json!({"id": id}))),
            ("UpdatePost", to("update_post", json!({"id": id}))),
            ("CancelPost", to("cancel_post", json!({"id": id}))),
            ("ApprovePost", to("approve_post", json!({"id": id}))),
            ("RejectPost", to("reject_post", json!({"id": id}))),
            (
                "RetryDelivery",
                to(
                    "retry_delivery",
                    json!({"id": id, "account_id": format!("$response.body#{at}/deliveries/0/account_id")}),
                ),
            ),
        ]
    };
    let mut out = Vec::new();
    for (source, status) in [
        ("create_post", "201"),
        ("get_post", "200"),
        ("update_post", "200"),
        ("cancel_post", "200"),
        ("retry_delivery", "200"),
    ] {
        out.extend(post("").into_iter().map(|(n, l)| (source, status, n, l)));
    }
    out.extend(
        post("/posts/0")
            .into_iter()
            .map(|(n, l)| ("list_posts", "200", n, l)),
    );
    let account = "$response.body#/accounts/0/id";
    out.push((
        "list_accounts",
        "200",
        "GetAccount",
        to("get_account", json!({"id": account})),
    ));
    out.push((
        "list_accounts",
        "200",
        "Disconnect",
        to("disconnect", json!({"id": account})),
    ));
    // Posting to a listed account, now.
    out.push((
        "list_accounts",
        "200",
        "CreatePost",
        json!({
            "operationId": "create_post",
            "requestBody": {"targets": [{"account_id": account}], "scheduled_at": null},
        }),
    ));
    out.push((
        "get_account",
        "200",
        "Disconnect",
        to("disconnect", json!({"id": "$response.body#/id"})),
    ));
    for source in ["meta_data_deletion", "threads_data_deletion"] {
        out.push((
            source,
            "200",
            "DeletionStatus",
            to(
                "deletion_status",
                json!({"code": "$response.body#/confirmation_code"}),
            ),
        ));
    }
    out
}

/// Adds [`links`] to the responses they start from.
fn add_links(doc: &mut Value) {
    let links = links();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut() {
            let Some(id) = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            for (source, status, name, link) in &links {
                if *source != id {
                    continue;
                }
                if let Some(response) = op
                    .pointer_mut(&format!("/responses/{status}"))
                    .and_then(Value::as_object_mut)
                {
                    let entry = response.entry("links").or_insert_with(|| json!({}));
                    if let Some(map) = entry.as_object_mut() {
                        map.insert((*name).to_owned(), link.clone());
                    }
                }
            }
        }
    }
}

/// The document as JSON.
pub fn document() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    add_links(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
}

pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
