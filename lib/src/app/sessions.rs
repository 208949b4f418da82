//! Sessions: starting one for a person who proved who they are, and checking the one a request presents. Checking
//! costs one store read (the session, with the membership and the workspace's settings when a workspace is named)
//! and no key service call; the session's last activity is written at most every [`TOUCH_EVERY`].

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::{
    Membership, Person, PersonId, Session, SessionFlags, SessionToken, WorkspaceId,
    WorkspaceSettings,
};
use crate::error::{Error, Result};

/// How often a session's `last_seen_at` is written: a busy session costs one conditional write per interval.
pub const TOUCH_EVERY: chrono::Duration = chrono::Duration::minutes(5);

/// Where a request comes from, as far as Postora can tell, for the person's own listing of sessions and sign-ins.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

/// A live session, and when a workspace was named, the person's place in it.
#[derive(Debug, Clone)]
pub struct SessionCheck {
    pub session: Session,
    pub membership: Option<Membership>,
    pub settings: Option<WorkspaceSettings>,
}

impl SessionCheck {
    pub fn person(&self) -> &PersonId {
        &self.session.person_id
    }
}

impl App {
    /// Starts a session for `person`, who has just proved who they are (password, and second factor where they
    /// have one). A new token every time: a session id is never carried over from before sign-in.
    pub async fn start_session(
        &self,
        person: &Person,
        client: &ClientInfo,
    ) -> Result<(SessionToken, Session)> {
        let now = self.now();
        let token = SessionToken::generate(&person.id);
        let token_hash = token.hash();
        let session = Session {
            id: token_hash.chars().take(12).collect(),
            token_hash,
            person_id: person.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.people.session_max,
            user_agent: client.user_agent.chars().take(300).collect(),
            ip: client.ip.chars().take(64).collect(),
            flags: SessionFlags {
                email_verified: person.email_verified_at.is_some(),
                two_factor: person.two_factor.is_some(),
            },
        };
        self.stores.people.put_session(&session).await?;
        Ok((token, session))
    }

    /// Checks the session a request presents. Without a workspace, any live session passes (what a person may do
    /// before verifying their address is the route's to decide). With one, the person must be a member, have a
    /// verified address, and have two-factor authentication if the workspace requires it.
    pub async fn check_session(
        &self,
        token: &SessionToken,
        workspace: Option<&WorkspaceId>,
    ) -> Result<SessionCheck> {
        let now = self.now();
        let found = self
            .stores
            .people
            .session_in_workspace(&token.hash(), &token.person(), workspace)
            .await?;
        let Some(session) = found
            .session
            .filter(|s| s.is_live(now, self.settings.people.session_idle))
        else {
            return Err(Error::unauthenticated(
                "session_expired",
                "your session has ended or is not valid; sign in again",
            ));
        };
        self.touch_session(&session, now).await;
        if let Some(ws) = workspace {
            let (Some(_), Some(settings)) = (&found.membership, &found.settings) else {
                return Err(Error::forbidden(
                    "not_a_member",
                    format!("you are not a member of the workspace {ws}"),
                ));
            };
            if !session.flags.email_verified {
                return Err(Error::forbidden(
                    "email_not_verified",
                    "verify your email address first: open the link Postora mailed you",
                ));
            }
            if settings.two_factor_required && !session.flags.two_factor {
                return Err(Error::forbidden(
                    "two_factor_required",
                    "this workspace requires two-factor authentication: turn it on in your settings",
                ));
            }
        }
        Ok(SessionCheck {
            session,
            membership: found.membership,
            settings: found.settings,
        })
    }

    /// Writes the session's activity if the stored time is older than [`TOUCH_EVERY`]. A failure is logged: the
    /// request it serves goes on.
    async fn touch_session(&self, session: &Session, now: DateTime<Utc>) {
        if now - session.last_seen_at < TOUCH_EVERY {
            return;
        }
        if let Err(e) = self
            .stores
            .people
            .touch_session(
                &session.person_id,
                &session.token_hash,
                now,
                now - TOUCH_EVERY,
            )
            .await
        {
            tracing::warn!(session = %session.id, error = %e, "could not record a session's activity");
        }
    }
}
