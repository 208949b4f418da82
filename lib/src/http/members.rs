//! Workspaces shared by people: a person's workspaces, a workspace's settings, its members, invitations, leaving
//! and transferring ownership. Who may call each route is in the [access table](super::access).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, SignedIn};
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use crate::app::members::{Member, WorkspacePatch};
use crate::app::App;
use crate::domain::{
    EmailAddress, Invitation, InvitationId, Membership, PersonId, Role, Workspace,
};
use crate::error::Error;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/v1/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route("/v1/workspace/leave", post(leave_workspace))
        .route("/v1/workspace/transfer", post(transfer_workspace))
        .route("/v1/members", get(list_members))
        .route(
            "/v1/members/{person_id}",
            patch(change_member).delete(remove_member),
        )
        .route(
            "/v1/invitations",
            get(list_invitations).post(create_invitation),
        )
        .route("/v1/invitations/{id}", delete(withdraw_invitation))
        .route("/v1/invitations/accept", post(accept_invitation))
}

/// A workspace's settings, as its owners and admins chose them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// The IANA time zone the workspace schedules in.
    pub time_zone: String,
    /// Posts by editors wait for an owner, admin or client to approve them.
    pub approval_required: bool,
    /// Members must have two-factor authentication to act in the workspace.
    pub two_factor_required: bool,
}

/// A workspace, with the caller's role in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: SettingsView,
    /// The caller's role in the workspace.
    pub role: Role,
}

impl WorkspaceView {
    fn new(w: &Workspace, role: Role) -> Self {
        WorkspaceView {
            id: w.id.to_string(),
            name: w.name.clone(),
            created_at: w.created_at,
            settings: SettingsView {
                time_zone: w.settings.time_zone.clone(),
                approval_required: w.settings.approval_required,
                two_factor_required: w.settings.two_factor_required,
            },
            role,
        }
    }
}

/// The workspaces the signed-in person belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<WorkspaceView>,
}

/// A new workspace.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// 1 to 200 characters.
    pub name: String,
}

/// A member of the workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub person_id: String,
    /// Absent if the person's account is gone.
    pub name: Option<String>,
    /// Absent if the person's account is gone.
    pub email: Option<String>,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        MemberView {
            person_id: m.membership.person_id.to_string(),
            name: m.person.as_ref().map(|p| p.name.clone()),
            email: m.person.as_ref().map(|p| p.email.to_string()),
            role: m.membership.role,
            joined_at: m.membership.joined_at,
        }
    }
}

/// The workspace's members, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

/// A membership as it is after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub workspace_id: String,
    pub person_id: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl From<&Membership> for MembershipView {
    fn from(m: &Membership) -> Self {
        MembershipView {
            workspace_id: m.workspace_id.to_string(),
            person_id: m.person_id.to_string(),
            role: m.role,
            joined_at: m.joined_at,
        }
    }
}

/// A member's new role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// Whom to hand the workspace to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// A member of the workspace (`per_…`).
    pub person_id: String,
}

/// The workspace after a transfer: the new owner, and the old one, now an admin.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Transferred {
    pub owner: MembershipView,
    pub previous_owner: MembershipView,
}

/// An invitation to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Where to send it.
    pub email: String,
    /// The role the invited person will have: no higher than the inviter's own.
    pub role: Role,
}

/// An open invitation (never its link).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> Self {
        InvitationView {
            id: i.id.to_string(),
            email: i.email.to_string(),
            role: i.role,
            invited_by: i.invited_by.to_string(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// The workspace's open invitations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationView>,
}

/// The token from an invitation's link.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
}

fn person_id(raw: &str) -> Result<PersonId, ApiError> {
    PersonId::parse(raw).ok_or_else(|| ApiError::from(Error::NotFound("member")).field("person_id"))
}

/// An unknown member names the path's `person_id`.
fn member_error(e: Error) -> ApiError {
    match e {
        Error::NotFound(_) => ApiError::from(e).field("person_id"),
        e => e.into(),
    }
}

/// The workspaces the signed-in person belongs to, with their role in each.
#[utoipa::path(get, path = "/v1/workspaces", tag = "members",
    responses((status = 200, body = WorkspaceList)), security(("session" = [])))]
pub(super) async fn list_workspaces(
    State(app): State<Arc<App>>,
    signed_in: SignedIn,
) -> Result<Json<WorkspaceList>, ApiError> {
    let list = app.workspaces_of(signed_in.person()).await?;
    Ok(Json(WorkspaceList {
        workspaces: list
            .iter()
            .map(|w| WorkspaceView::new(&w.workspace, w.role))
            .collect(),
    }))
}

/// Creates a workspace with the signed-in person as its owner. Their address must be verified.
#[utoipa::path(post, path = "/v1/workspaces", tag = "members", request_body = NewWorkspace,
    responses((status = 201, body = WorkspaceView), (status = 403, body = ErrorBody, description = "`email_not_verified`")),
    security(("session" = [])))]
pub(super) async fn create_workspace(
    State(app): State<Arc<App>>,
    signed_in: SignedIn,
    Json(input): Json<NewWorkspace>,
) -> Result<Response, ApiError> {
    if !signed_in.check.session.flags.email_verified {
        return Err(Error::forbidden(
            "email_not_verified",
            "verify your email address first: open the link Postora mailed you",
        )
        .into());
    }
    let workspace = app
        .create_workspace_for(signed_in.person(), &input.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WorkspaceView::new(&workspace, Role::Owner)),
    )
        .into_response())
}

/// The workspace's name and settings, with the caller's role.
#[utoipa::path(get, path = "/v1/workspace", tag = "members",
    responses((status = 200, body = WorkspaceView)), security(("api_key" = []), ("session" = [])))]
pub(super) async fn get_workspace(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<WorkspaceView>, ApiError> {
    let workspace = app.workspace(&caller.workspace).await?;
    Ok(Json(WorkspaceView::new(&workspace, caller.role)))
}

/// Changes the workspace's name and settings (owners and admins): absent fields stay as they are; `time_zone` is an
/// IANA name.
#[utoipa::path(patch, path = "/v1/workspace", tag = "members", request_body = WorkspacePatch,
    responses((status = 200, body = WorkspaceView), (status = 422, body = ErrorBody, description = "`name` or `time_zone` is not valid")),
    security(("api_key" = []), ("session" = [])))]
pub(super) async fn update_workspace(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(patch): Json<WorkspacePatch>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let workspace = app
        .update_workspace(&caller.workspace, &patch, &caller.actor)
        .await?;
    Ok(Json(WorkspaceView::new(&workspace, caller.role)))
}

/// The workspace's members with their names, addresses and roles.
#[utoipa::path(get, path = "/v1/members", tag = "members",
    responses((status = 200, body = MemberList)), security(("api_key" = []), ("session" = [])))]
pub(super) async fn list_members(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<MemberList>, ApiError> {
    let members = app.members(&caller.workspace).await?;
    Ok(Json(MemberList {
        members: members.iter().map(MemberView::from).collect(),
    }))
}

/// Gives a member another role: no higher than the caller's own; an admin does not change an owner; the last owner
/// keeps the role (409 `last_owner`).
#[utoipa::path(patch, path = "/v1/members/{person_id}", tag = "members", request_body = RoleChange,
    params(("person_id" = String, Path)),
    responses((status = 200, body = MembershipView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`last_owner`")),
    security(("api_key" = []), ("session" = [])))]
pub(super) async fn change_member(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<RoleChange>,
) -> Result<Json<MembershipView>, ApiError> {
    let id = person_id(&id)?;
    let changed = app
        .change_role(&caller.workspace, caller.as_member(), &id, input.role)
        .await
        .map_err(member_error)?;
    Ok(Json(MembershipView::from(&changed)))
}

/// Removes a member. An admin does not remove an owner; the last owner stays (409 `last_owner`).
#[utoipa::path(delete, path = "/v1/members/{person_id}", tag = "members",
    params(("person_id" = String, Path)),
    responses((status = 200, body = MembershipView, description = "the membership that ended"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`last_owner`")),
    security(("api_key" = []), ("session" = [])))]
pub(super) async fn remove_member(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MembershipView>, ApiError> {
    let id = person_id(&id)?;
    let removed = app
        .remove_member(&caller.workspace, caller.as_member(), &id)
        .await
        .map_err(member_error)?;
    Ok(Json(MembershipView::from(&removed)))
}

/// The signed-in person leaves the workspace; its last owner cannot (409 `last_owner`).
#[utoipa::path(post, path = "/v1/workspace/leave", tag = "members",
    responses((status = 200, body = MembershipView, description = "the membership that ended"), (status = 409, body = ErrorBody, description = "`last_owner`")),
    security(("session" = [])))]
pub(super) async fn leave_workspace(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<MembershipView>, ApiError> {
    let person = caller.person()?;
    let left = app.leave_workspace(&caller.workspace, person).await?;
    Ok(Json(MembershipView::from(&left)))
}

/// Hands the workspace to another member (an owner, signed in): they become owner and the caller admin, at once.
#[utoipa::path(post, path = "/v1/workspace/transfer", tag = "members", request_body = Transfer,
    responses((status = 200, body = Transferred), (status = 422, body = ErrorBody, description = "`person_id` is not another member")),
    security(("session" = [])))]
pub(super) async fn transfer_workspace(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(input): Json<Transfer>,
) -> Result<Json<Transferred>, ApiError> {
    let from = caller.person()?;
    let to = PersonId::parse(input.person_id.trim())
        .ok_or_else(|| Error::invalid("person_id", "is not a member of this workspace"))?;
    let (owner, previous) = app.transfer_ownership(&caller.workspace, from, &to).await?;
    Ok(Json(Transferred {
        owner: MembershipView::from(&owner),
        previous_owner: MembershipView::from(&previous),
    }))
}

/// The workspace's open invitations (never their links).
#[utoipa::path(get, path = "/v1/invitations", tag = "members",
    responses((status = 200, body = InvitationList)), security(("api_key" = []), ("session" = [])))]
pub(super) async fn list_invitations(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<InvitationList>, ApiError> {
    let list = app.invitations(&caller.workspace).await?;
    Ok(Json(InvitationList {
        invitations: list.iter().map(InvitationView::from).collect(),
    }))
}

/// Invites someone by email to a role no higher than the signed-in caller's own (403 `role_not_grantable`). The
/// mail holds a single-use link good for 7 days.
#[utoipa::path(post, path = "/v1/invitations", tag = "members", request_body = NewInvitation,
    responses((status = 201, body = InvitationView), (status = 403, body = ErrorBody, description = "`role_not_grantable`"),
        (status = 409, body = ErrorBody, description = "`already_a_member`"),
        (status = 422, body = ErrorBody, description = "`email` is not an address")),
    security(("session" = [])))]
pub(super) async fn create_invitation(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(input): Json<NewInvitation>,
) -> Result<Response, ApiError> {
    let inviter = caller.person()?;
    let email = EmailAddress::parse(&input.email)
        .ok_or_else(|| Error::invalid("email", "is not a valid email address"))?;
    let invitation = app
        .invite(
            &caller.workspace,
            caller.as_member(),
            inviter,
            &email,
            input.role,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(InvitationView::from(&invitation)),
    )
        .into_response())
}

/// Withdraws an invitation: its link stops working.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "members", params(("id" = String, Path)),
    responses((status = 204, description = "withdrawn"), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub(super) async fn withdraw_invitation(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = InvitationId::parse(&id)
        .ok_or_else(|| ApiError::from(Error::NotFound("invitation")).field("id"))?;
    app.withdraw_invitation(&caller.workspace, &id, &caller.actor)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => ApiError::from(e).field("id"),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation (the token from its link) as the signed-in person, whose verified address must be the one
/// invited. The link works once; a member already gets 409 `already_a_member`.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "members", request_body = AcceptInvitation,
    responses((status = 200, body = MembershipView), (status = 403, body = ErrorBody, description = "`email_not_verified` or `invitation_for_another_address`"),
        (status = 409, body = ErrorBody, description = "`already_a_member`"),
        (status = 422, body = ErrorBody, description = "the invitation was used, withdrawn or expired, or the token is not one")),
    security(("session" = [])))]
pub(super) async fn accept_invitation(
    State(app): State<Arc<App>>,
    signed_in: SignedIn,
    Json(input): Json<AcceptInvitation>,
) -> Result<Json<MembershipView>, ApiError> {
    let membership = app
        .accept_invitation(signed_in.person(), &input.token)
        .await?;
    Ok(Json(MembershipView::from(&membership)))
}
