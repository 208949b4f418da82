//! Workspaces shared by people: the workspaces a person belongs to, a workspace's settings, its members and their
//! roles, invitations, leaving and transferring ownership. What a role may do is [`Role::may`] and
//! [`Role::may_grant`]; the rules of membership (a workspace always keeps an owner, an admin does not touch an
//! owner, nobody hands out a role above their own) are here, once.

use serde::Deserialize;

/// The page an invitation's link opens.
pub const INVITATION_PATH: &str = "/invitations/accept";

use super::mail::Message;
use super::App;
use crate::domain::people::hash_token;
use crate::domain::roles::INVITATION_TTL;
use crate::domain::workspace::MAX_WORKSPACE_NAME;
use crate::domain::{
    ActedBy, Actor, AuditEntry, EmailAddress, Event, EventKind, Invitation, InvitationId,
    Membership, Person, PersonId, Role, Workspace, WorkspaceId, WorkspaceSettings,
};
use crate::error::{Error, Result};
use crate::ports::StoreError;

/// Who asks, in a workspace: their role there and who they are.
#[derive(Debug, Clone, Copy)]
pub struct AsMember<'a> {
    pub role: Role,
    pub actor: &'a Actor,
}

/// A workspace a person belongs to, with their role in it.
#[derive(Debug, Clone)]
pub struct PersonsWorkspace {
    pub workspace: Workspace,
    pub role: Role,
}

/// A member with who they are (a member whose person record is gone shows without a name or address).
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: Membership,
    pub person: Option<Person>,
}

/// A change to a workspace's name and settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// 1 to 200 characters.
    pub name: Option<String>,
    /// An IANA time zone, such as `Europe/Paris`.
    pub time_zone: Option<String>,
    /// Posts by editors wait for an owner, admin or client to approve them.
    pub approval_required: Option<bool>,
    /// Members must have two-factor authentication to act in the workspace.
    pub two_factor_required: Option<bool>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_WORKSPACE_NAME
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "name",
            format!("a workspace name has 1 to {MAX_WORKSPACE_NAME} characters and no control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn cannot_grant(role: Role, granted: Role, what: &str) -> Error {
    Error::forbidden(
        "role_not_grantable",
        format!("a {role} may not {what} with the role {granted}: it is above their own"),
    )
}

impl App {
    /// The workspaces `person` belongs to, oldest membership first, with their role in each.
    pub async fn workspaces_of(&self, person: &PersonId) -> Result<Vec<PersonsWorkspace>> {
        let mut out = Vec::new();
        for m in self.stores.members.memberships_of(person).await? {
            if let Some(workspace) = self
                .stores
                .workspaces
                .get_workspace(&m.workspace_id)
                .await?
            {
                out.push(PersonsWorkspace {
                    workspace,
                    role: m.role,
                });
            }
        }
        Ok(out)
    }

    /// Creates a workspace with `person` as its owner (and no API key: they add one if they want).
    pub async fn create_workspace_for(&self, person: &PersonId, name: &str) -> Result<Workspace> {
        let name = check_name(name)?;
        let now = self.now();
        let id = WorkspaceId::generate();
        let wrapped_key = self.vault.new_workspace_key(&id).await?;
        let workspace = Workspace {
            id,
            name: name.clone(),
            wrapped_key,
            created_at: now,
            settings: WorkspaceSettings::default(),
        };
        let owner = Membership {
            workspace_id: workspace.id.clone(),
            person_id: person.clone(),
            role: Role::Owner,
            joined_at: now,
            version: 1,
        };
        self.stores
            .members
            .create_workspace_with_owner(&workspace, &owner)
            .await?;
        self.audit(
            AuditEntry::new(
                workspace.id.clone(),
                now,
                "workspace.created",
                serde_json::json!({"name": name}),
            )
            .by(ActedBy::Person(person.clone())),
        )
        .await;
        Ok(workspace)
    }

    /// The workspace, with its name and settings.
    pub async fn workspace(&self, ws: &WorkspaceId) -> Result<Workspace> {
        self.stores
            .workspaces
            .get_workspace(ws)
            .await?
            .ok_or(Error::NotFound("workspace"))
    }

    /// Changes the workspace's name and settings. The time zone must be an IANA name.
    pub async fn update_workspace(
        &self,
        ws: &WorkspaceId,
        patch: &WorkspacePatch,
        actor: &Actor,
    ) -> Result<Workspace> {
        let mut workspace = self.workspace(ws).await?;
        if let Some(name) = &patch.name {
            workspace.name = check_name(name)?;
        }
        if let Some(tz) = &patch.time_zone {
            let zone: chrono_tz::Tz = tz.trim().parse().map_err(|_| {
                Error::invalid(
                    "time_zone",
                    "must be an IANA time zone, such as `Europe/Paris` or `UTC`",
                )
            })?;
            workspace.settings.time_zone = zone.name().to_owned();
        }
        if let Some(on) = patch.approval_required {
            workspace.settings.approval_required = on;
        }
        if let Some(on) = patch.two_factor_required {
            workspace.settings.two_factor_required = on;
        }
        self.stores
            .workspaces
            .update_workspace(&workspace)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("workspace"),
                e => e.into(),
            })?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "workspace.updated",
                serde_json::json!({"name": workspace.name, "settings": workspace.settings}),
            )
            .by(actor.acted_by()),
        )
        .await;
        Ok(workspace)
    }

    /// The workspace's members, oldest first, with their names and addresses.
    pub async fn members(&self, ws: &WorkspaceId) -> Result<Vec<Member>> {
        let mut out = Vec::new();
        for membership in self.stores.members.list_members(ws).await? {
            let person = self.stores.people.get_person(&membership.person_id).await?;
            out.push(Member { membership, person });
        }
        Ok(out)
    }

    async fn membership(&self, ws: &WorkspaceId, person: &PersonId) -> Result<Membership> {
        self.stores
            .members
            .get_membership(ws, person)
            .await?
            .ok_or(Error::NotFound("member"))
    }

    /// When `leaving` is an owner about to stop being one: another owner, or 409 `last_owner` if there is none. The
    /// change is then written together with that other owner's membership at its version (as a witness, its version
    /// moved on), so two owners taking each other away at once cannot both succeed.
    async fn other_owner(
        &self,
        ws: &WorkspaceId,
        leaving: &Membership,
        what: &str,
    ) -> Result<Option<Membership>> {
        if leaving.role != Role::Owner {
            return Ok(None);
        }
        let other = self
            .stores
            .members
            .list_members(ws)
            .await?
            .into_iter()
            .find(|m| m.role == Role::Owner && m.person_id != leaving.person_id);
        match other {
            Some(owner) => Ok(Some(owner)),
            None => Err(Error::conflict(
                "last_owner",
                format!(
                    "the workspace's last owner cannot {what}: make another member owner first (POST /v1/workspace/transfer)"
                ),
            )),
        }
    }

    /// Writes `changed` (at `expected`) with the witness owner, if there is one, all or nothing.
    async fn write_witnessed(
        &self,
        changed: &Membership,
        expected: u64,
        witness: Option<Membership>,
    ) -> Result<()> {
        let mut changes = vec![(changed.clone(), expected)];
        if let Some(w) = witness {
            let expected = w.version;
            changes.push((
                Membership {
                    version: w.version + 1,
                    ..w
                },
                expected,
            ));
        }
        self.stores
            .members
            .update_memberships(&changes)
            .await
            .map_err(changed_meanwhile)
    }

    /// Takes `current` out of the workspace. An owner is first made an admin beside another owner (see
    /// [`App::other_owner`]), so the workspace never loses its last owner however requests interleave.
    async fn end_membership(&self, current: &Membership, what: &str) -> Result<()> {
        let ws = &current.workspace_id;
        if let Some(witness) = self.other_owner(ws, current, what).await? {
            let demoted = Membership {
                role: Role::Admin,
                version: current.version + 1,
                ..current.clone()
            };
            self.write_witnessed(&demoted, current.version, Some(witness))
                .await?;
        }
        self.stores
            .members
            .delete_membership(ws, &current.person_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("member"),
                e => e.into(),
            })
    }

    /// Gives a member another role. Nobody gives a role above their own; an admin does not change an owner's role;
    /// the last owner keeps theirs.
    pub async fn change_role(
        &self,
        ws: &WorkspaceId,
        by: AsMember<'_>,
        person: &PersonId,
        role: Role,
    ) -> Result<Membership> {
        let current = self.membership(ws, person).await?;
        if current.role == Role::Owner && by.role != Role::Owner {
            return Err(Error::forbidden(
                "owner_untouchable",
                format!("a {} may not change an owner's role", by.role),
            ));
        }
        if !by.role.may_grant(role) {
            return Err(cannot_grant(by.role, role, "give a member a role"));
        }
        if current.role == role {
            return Ok(current);
        }
        // `current.role != role` here, so an owner is losing the role.
        let witness = self
            .other_owner(ws, &current, "be given another role")
            .await?;
        let changed = Membership {
            role,
            version: current.version + 1,
            ..current.clone()
        };
        self.write_witnessed(&changed, current.version, witness)
            .await?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "member.role_changed",
                serde_json::json!({"person_id": person, "from": current.role, "to": role}),
            )
            .by(by.actor.acted_by()),
        )
        .await;
        self.emit(member_event(
            EventKind::MemberRoleChanged,
            ws,
            self.now(),
            serde_json::json!({"person_id": person, "from": current.role, "to": role}),
        ))
        .await;
        Ok(changed)
    }

    /// Removes a member. An admin does not remove an owner; the last owner stays.
    pub async fn remove_member(
        &self,
        ws: &WorkspaceId,
        by: AsMember<'_>,
        person: &PersonId,
    ) -> Result<Membership> {
        let current = self.membership(ws, person).await?;
        if current.role == Role::Owner && by.role != Role::Owner {
            return Err(Error::forbidden(
                "owner_untouchable",
                format!("a {} may not remove an owner", by.role),
            ));
        }
        self.end_membership(&current, "be removed").await?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "member.removed",
                serde_json::json!({"person_id": person, "role": current.role}),
            )
            .by(by.actor.acted_by()),
        )
        .await;
        self.emit(member_event(
            EventKind::MemberRemoved,
            ws,
            self.now(),
            serde_json::json!({"person_id": person, "role": current.role, "left": false}),
        ))
        .await;
        Ok(current)
    }

    /// `person` leaves the workspace; its last owner cannot.
    pub async fn leave_workspace(&self, ws: &WorkspaceId, person: &PersonId) -> Result<Membership> {
        let current = self.membership(ws, person).await?;
        self.end_membership(&current, "leave").await?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "member.left",
                serde_json::json!({"person_id": person, "role": current.role}),
            )
            .by(ActedBy::Person(person.clone())),
        )
        .await;
        self.emit(member_event(
            EventKind::MemberRemoved,
            ws,
            self.now(),
            serde_json::json!({"person_id": person, "role": current.role, "left": true}),
        ))
        .await;
        Ok(current)
    }

    /// Hands the workspace from the owner `from` to the member `to`: `to` becomes owner and `from` admin, in one
    /// write.
    pub async fn transfer_ownership(
        &self,
        ws: &WorkspaceId,
        from: &PersonId,
        to: &PersonId,
    ) -> Result<(Membership, Membership)> {
        if from == to {
            return Err(Error::invalid(
                "person_id",
                "name another member: you are the owner already",
            ));
        }
        let giver = self.membership(ws, from).await?;
        if giver.role != Role::Owner {
            return Err(Error::forbidden(
                "forbidden",
                "only an owner may transfer the workspace",
            ));
        }
        let taker = self
            .stores
            .members
            .get_membership(ws, to)
            .await?
            .ok_or_else(|| Error::invalid("person_id", "is not a member of this workspace"))?;
        let new_owner = Membership {
            role: Role::Owner,
            version: taker.version + 1,
            ..taker.clone()
        };
        let new_admin = Membership {
            role: Role::Admin,
            version: giver.version + 1,
            ..giver.clone()
        };
        self.stores
            .members
            .update_memberships(&[
                (new_owner.clone(), taker.version),
                (new_admin.clone(), giver.version),
            ])
            .await
            .map_err(changed_meanwhile)?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "workspace.ownership_transferred",
                serde_json::json!({"from": from, "to": to, "previous_role": taker.role}),
            )
            .by(ActedBy::Person(from.clone())),
        )
        .await;
        let now = self.now();
        let mut events = member_event(
            EventKind::MemberRoleChanged,
            ws,
            now,
            serde_json::json!({"person_id": to, "from": taker.role, "to": Role::Owner}),
        );
        events.extend(member_event(
            EventKind::MemberRoleChanged,
            ws,
            now,
            serde_json::json!({"person_id": from, "from": Role::Owner, "to": Role::Admin}),
        ));
        self.emit(events).await;
        Ok((new_owner, new_admin))
    }

    /// Invites `email` to the workspace as `role`, by mail with a single-use link good for
    /// [`INVITATION_TTL`]. Nobody invites to a role above their own.
    pub async fn invite(
        &self,
        ws: &WorkspaceId,
        by: AsMember<'_>,
        inviter: &PersonId,
        email: &EmailAddress,
        role: Role,
    ) -> Result<Invitation> {
        if !by.role.may_grant(role) {
            return Err(cannot_grant(by.role, role, "invite someone"));
        }
        let workspace = self.workspace(ws).await?;
        let key = email.lookup_key();
        let members = self.members(ws).await?;
        if members.iter().any(|m| {
            m.person
                .as_ref()
                .is_some_and(|p| p.email.lookup_key() == key)
        }) {
            return Err(Error::conflict(
                "already_a_member",
                "the person with this address is a member of the workspace already",
            ));
        }
        let inviter_name = self
            .stores
            .people
            .get_person(inviter)
            .await?
            .map(|p| p.name)
            .unwrap_or_else(|| "A member".to_owned());
        let now = self.now();
        let token = crate::domain::ids::random_token(32);
        let invitation = Invitation {
            id: InvitationId::generate(),
            token_hash: hash_token(&token),
            workspace_id: ws.clone(),
            email: email.clone(),
            role,
            invited_by: inviter.clone(),
            created_at: now,
            expires_at: now + INVITATION_TTL,
        };
        self.stores.members.put_invitation(&invitation).await?;
        let link = self.token_link(INVITATION_PATH, &token);
        let sent = self
            .send_mail(
                email,
                Message::Invitation {
                    inviter: &inviter_name,
                    workspace: &workspace.name,
                    role,
                    link: &link,
                },
            )
            .await;
        if let Err(e) = sent {
            // Nobody can use an invitation that was not delivered: take it back, so nothing is left half done.
            let _ = self
                .stores
                .members
                .delete_invitation(ws, &invitation.id)
                .await;
            return Err(e);
        }
        self.audit(
            AuditEntry::new(
                ws.clone(),
                now,
                "invitation.created",
                serde_json::json!({"id": invitation.id, "role": role}),
            )
            .by(by.actor.acted_by()),
        )
        .await;
        Ok(invitation)
    }

    /// The workspace's open invitations.
    pub async fn invitations(&self, ws: &WorkspaceId) -> Result<Vec<Invitation>> {
        Ok(self.stores.members.list_invitations(ws, self.now()).await?)
    }

    /// Withdraws an invitation: its link stops working.
    pub async fn withdraw_invitation(
        &self,
        ws: &WorkspaceId,
        id: &InvitationId,
        actor: &Actor,
    ) -> Result<()> {
        self.stores
            .members
            .delete_invitation(ws, id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("invitation"),
                e => e.into(),
            })?;
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "invitation.withdrawn",
                serde_json::json!({"id": id}),
            )
            .by(actor.acted_by()),
        )
        .await;
        Ok(())
    }

    /// `person` accepts the invitation whose link holds `token`: they must have verified their address, and it must
    /// be the one invited (compared case folded). The invitation is used up whatever happens next; a member already
    /// gets a 409.
    pub async fn accept_invitation(&self, person: &PersonId, token: &str) -> Result<Membership> {
        let person = self
            .stores
            .people
            .get_person(person)
            .await?
            .ok_or_else(|| {
                Error::unauthenticated("session_expired", "your session has ended; sign in again")
            })?;
        if person.email_verified_at.is_none() {
            return Err(Error::forbidden(
                "email_not_verified",
                "verify your email address first: open the link Postora mailed you",
            ));
        }
        let token = token.trim();
        let invalid = || {
            Error::invalid(
                "token",
                "this invitation is not valid: it was used, withdrawn or has expired, or the link is incomplete",
            )
        };
        if token.is_empty() || token.len() > 256 {
            return Err(invalid());
        }
        let hash = hash_token(token);
        let now = self.now();
        let found = self
            .stores
            .members
            .find_invitation(&hash, now)
            .await?
            .ok_or_else(invalid)?;
        if found.email.lookup_key() != person.email.lookup_key() {
            return Err(Error::forbidden(
                "invitation_for_another_address",
                "this invitation was sent to another email address: sign in with that address to accept it",
            ));
        }
        let invitation = self
            .stores
            .members
            .take_invitation(&hash, now)
            .await?
            .ok_or_else(invalid)?;
        let membership = Membership {
            workspace_id: invitation.workspace_id.clone(),
            person_id: person.id.clone(),
            role: invitation.role,
            joined_at: now,
            version: 1,
        };
        self.stores
            .members
            .add_membership(&membership)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::conflict(
                    "already_a_member",
                    "you are a member of this workspace already",
                ),
                StoreError::NotFound => Error::NotFound("workspace"),
                e => e.into(),
            })?;
        self.audit(
            AuditEntry::new(
                invitation.workspace_id.clone(),
                now,
                "member.joined",
                serde_json::json!({"person_id": person.id, "role": invitation.role, "invitation_id": invitation.id}),
            )
            .by(ActedBy::Person(person.id.clone())),
        )
        .await;
        self.emit(member_event(
            EventKind::MemberJoined,
            &invitation.workspace_id,
            now,
            serde_json::json!({"person_id": person.id, "role": invitation.role}),
        ))
        .await;
        Ok(membership)
    }
}

fn member_event(
    kind: EventKind,
    ws: &WorkspaceId,
    at: chrono::DateTime<chrono::Utc>,
    detail: serde_json::Value,
) -> Vec<Event> {
    vec![Event::new(kind, Some(ws.clone()), at, detail)]
}

fn changed_meanwhile(e: StoreError) -> Error {
    match e {
        StoreError::Conflict => Error::conflict(
            "changed_meanwhile",
            "the membership changed while this request was made: read it again and retry",
        ),
        StoreError::NotFound => Error::NotFound("member"),
        e => e.into(),
    }
}
