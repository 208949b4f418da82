//! People, sessions, single-use links, sign-ins and attempt counters, memberships and invitations, on SQLite. Each
//! record is JSON beside the columns it is found or conditioned by; expired rows are removed as they are met.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::workspaces::insert_workspace;
use super::{take_once, SqliteStore};
use crate::adapters::local::db::{from_json, from_ms, ms, to_json};
use crate::domain::people::SIGN_IN_RETENTION;
use crate::domain::{
    EmailAddress, Invitation, InvitationId, Membership, OneTimeLink, Person, PersonId, Session,
    SessionFlags, SignIn, Workspace, WorkspaceId,
};
use crate::ports::{MemberStore, PeopleStore, SessionLookup, StoreError, StoreResult};

/// A unique or primary key already taken is a conflict; anything else is the store's trouble.
fn conflict_on_constraint(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict,
        _ => StoreError::from(e),
    }
}

/// What a conditional update that changed no row means: `Conflict` if the row exists (its version moved), `NotFound`
/// if it does not (`exists` asks which).
fn missed_write(
    c: &rusqlite::Connection,
    exists: &str,
    params: impl rusqlite::Params,
) -> StoreResult<StoreError> {
    let exists: bool = c.query_row(exists, params, |r| r.get(0))?;
    Ok(if exists {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}

/// A delete of one named row: `NotFound` if there was none.
fn removed_one(rows: usize) -> StoreResult<()> {
    match rows {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// A session row: its JSON, with `last_seen_at` from its own column (the touch writes the column alone).
fn read_session(data: &str, last_seen: i64) -> StoreResult<Session> {
    let mut session: Session = from_json(data)?;
    session.last_seen_at = from_ms(last_seen);
    Ok(session)
}

fn json_rows<T: serde::de::DeserializeOwned>(
    st: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<T>> {
    let rows = st.query_map(params, |r| r.get::<_, String>(0))?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
        .collect()
}

fn insert_membership(c: &rusqlite::Connection, m: &Membership) -> StoreResult<()> {
    c.execute(
        "INSERT INTO memberships (workspace_id, person_id, joined_at, version, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            m.workspace_id.as_str(),
            m.person_id.as_str(),
            ms(m.joined_at),
            m.version as i64,
            to_json(m)?
        ],
    )
    .map_err(conflict_on_constraint)?;
    Ok(())
}

fn update_membership_row(
    c: &rusqlite::Connection,
    m: &Membership,
    expected_version: u64,
) -> StoreResult<()> {
    let n = c.execute(
        "UPDATE memberships SET version = ?3, data = ?4
         WHERE workspace_id = ?1 AND person_id = ?2 AND version = ?5",
        params![
            m.workspace_id.as_str(),
            m.person_id.as_str(),
            m.version as i64,
            to_json(m)?,
            expected_version as i64
        ],
    )?;
    if n == 1 {
        return Ok(());
    }
    Err(missed_write(
        c,
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = ?1 AND person_id = ?2)",
        params![m.workspace_id.as_str(), m.person_id.as_str()],
    )?)
}

#[async_trait]
impl PeopleStore for SqliteStore {
    async fn create_person(&self, person: &Person) -> StoreResult<()> {
        let p = person.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO people (id, email_key, version, data) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        p.id.as_str(),
                        p.email.lookup_key(),
                        p.version as i64,
                        to_json(&p)?
                    ],
                )
                .map_err(conflict_on_constraint)?;
                Ok(())
            })
            .await
    }

    async fn get_person(&self, id: &PersonId) -> StoreResult<Option<Person>> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                c.query_row("SELECT data FROM people WHERE id = ?1", [id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .map(|s| from_json(&s))
                .transpose()
            })
            .await
    }

    async fn find_person_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Person>> {
        let key = email.lookup_key();
        self.db
            .call(move |c| {
                c.query_row("SELECT data FROM people WHERE email_key = ?1", [key], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .map(|s| from_json(&s))
                .transpose()
            })
            .await
    }

    async fn update_person(&self, person: &Person, expected_version: u64) -> StoreResult<()> {
        let p = person.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE people SET email_key = ?2, version = ?3, data = ?4
                         WHERE id = ?1 AND version = ?5",
                        params![
                            p.id.as_str(),
                            p.email.lookup_key(),
                            p.version as i64,
                            to_json(&p)?,
                            expected_version as i64
                        ],
                    )
                    .map_err(conflict_on_constraint)?;
                if n == 1 {
                    return Ok(());
                }
                Err(missed_write(
                    c,
                    "SELECT EXISTS (SELECT 1 FROM people WHERE id = ?1)",
                    [p.id.as_str()],
                )?)
            })
            .await
    }

    async fn delete_person(&self, id: &PersonId) -> StoreResult<()> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for sql in [
                    "DELETE FROM people WHERE id = ?1",
                    "DELETE FROM sessions WHERE person_id = ?1",
                    "DELETE FROM person_links WHERE person_id = ?1",
                    "DELETE FROM sign_ins WHERE person_id = ?1",
                ] {
                    tx.execute(sql, [&id])?;
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        let s = session.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO sessions (token_hash, person_id, created_at, last_seen_at, expires_at, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        s.token_hash,
                        s.person_id.as_str(),
                        ms(s.created_at),
                        ms(s.last_seen_at),
                        ms(s.expires_at),
                        to_json(&s)?
                    ],
                )
                .map_err(conflict_on_constraint)?;
                Ok(())
            })
            .await
    }

    async fn session_in_workspace(
        &self,
        token_hash: &str,
        person: &PersonId,
        workspace: Option<&WorkspaceId>,
    ) -> StoreResult<SessionLookup> {
        let (hash, person) = (token_hash.to_owned(), person.to_string());
        let ws = workspace.map(|w| w.to_string());
        self.db
            .call(move |c| {
                // One query: the session, with the membership and the workspace's settings beside it when a workspace
                // is named.
                type Row = (String, i64, Option<String>, Option<String>, Option<String>);
                let row: Option<Row> = c
                    .query_row(
                        "SELECT s.data, s.last_seen_at, m.data, w.id, w.settings FROM sessions s
                         LEFT JOIN memberships m ON m.person_id = s.person_id AND m.workspace_id = ?3
                         LEFT JOIN workspaces w ON w.id = ?3
                         WHERE s.token_hash = ?1 AND s.person_id = ?2",
                        params![hash, person, ws],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()?;
                let Some((session, last_seen, membership, ws_id, settings)) = row else {
                    return Ok(SessionLookup::default());
                };
                Ok(SessionLookup {
                    session: Some(read_session(&session, last_seen)?),
                    membership: membership.map(|m| from_json(&m)).transpose()?,
                    settings: ws_id.map(|_| {
                        settings
                            .and_then(|s| serde_json::from_str(&s).ok())
                            .unwrap_or_default()
                    }),
                })
            })
            .await
    }

    async fn set_session_flags(&self, person: &PersonId, flags: SessionFlags) -> StoreResult<()> {
        let person = person.to_string();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let rows: Vec<(String, String)> = {
                    let mut st =
                        tx.prepare("SELECT token_hash, data FROM sessions WHERE person_id = ?1")?;
                    let rows = st.query_map([&person], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect::<Result<_, _>>()?
                };
                for (hash, data) in rows {
                    let mut s: Session = from_json(&data)?;
                    s.flags = flags;
                    tx.execute(
                        "UPDATE sessions SET data = ?2 WHERE token_hash = ?1",
                        params![hash, to_json(&s)?],
                    )?;
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn touch_session(
        &self,
        person: &PersonId,
        token_hash: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (hash, person) = (token_hash.to_owned(), person.to_string());
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE sessions SET last_seen_at = ?3
                     WHERE token_hash = ?1 AND person_id = ?2 AND last_seen_at < ?4",
                    params![hash, person, ms(at), ms(stale_before)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn list_sessions(&self, person: &PersonId) -> StoreResult<Vec<Session>> {
        let person = person.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT data, last_seen_at FROM sessions WHERE person_id = ?1
                     ORDER BY created_at DESC, token_hash",
                )?;
                let rows = st.query_map([person], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?;
                rows.map(|r| {
                    let (data, last_seen) = r?;
                    read_session(&data, last_seen)
                })
                .collect()
            })
            .await
    }

    async fn delete_session(&self, person: &PersonId, token_hash: &str) -> StoreResult<()> {
        let (hash, person) = (token_hash.to_owned(), person.to_string());
        self.db
            .call(move |c| {
                removed_one(c.execute(
                    "DELETE FROM sessions WHERE token_hash = ?1 AND person_id = ?2",
                    params![hash, person],
                )?)
            })
            .await
    }

    async fn delete_sessions(&self, person: &PersonId, except: Option<&str>) -> StoreResult<u64> {
        let (person, except) = (person.to_string(), except.map(str::to_owned));
        self.db
            .call(move |c| {
                let n = c.execute(
                    "DELETE FROM sessions WHERE person_id = ?1 AND token_hash IS NOT ?2",
                    params![person, except],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn put_link(&self, link: &OneTimeLink) -> StoreResult<()> {
        let l = link.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO person_links (token_hash, person_id, expires_at, data) VALUES (?1, ?2, ?3, ?4)",
                    params![l.token_hash, l.person_id.as_str(), ms(l.expires_at), to_json(&l)?],
                )
                .map_err(conflict_on_constraint)?;
                Ok(())
            })
            .await
    }

    async fn take_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeLink>> {
        let hash = token_hash.to_owned();
        self.db
            .call(move |c| take_once(c, "person_links", "token_hash", &hash, now))
            .await
    }

    async fn delete_links(&self, person: &PersonId) -> StoreResult<()> {
        let person = person.to_string();
        self.db
            .call(move |c| {
                c.execute("DELETE FROM person_links WHERE person_id = ?1", [person])?;
                Ok(())
            })
            .await
    }

    async fn record_sign_in(&self, entry: &SignIn) -> StoreResult<()> {
        let e = entry.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO sign_ins (person_id, at, data) VALUES (?1, ?2, ?3)",
                    params![e.person_id.as_str(), ms(e.at), to_json(&e)?],
                )?;
                tx.execute(
                    "DELETE FROM sign_ins WHERE person_id = ?1 AND at < ?2",
                    params![e.person_id.as_str(), ms(e.at - SIGN_IN_RETENTION)],
                )?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn list_sign_ins(&self, person: &PersonId, limit: usize) -> StoreResult<Vec<SignIn>> {
        let person = person.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT data FROM sign_ins WHERE person_id = ?1 ORDER BY at DESC, seq DESC LIMIT ?2",
                )?;
                json_rows(&mut st, params![person, limit as i64])
            })
            .await
    }

    async fn count_attempt(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let key = key.to_owned();
        self.db
            .call(move |c| {
                // A counter from an earlier window starts again at one.
                let count: i64 = c.query_row(
                    "INSERT INTO attempts (key, window_start, count, expires_at) VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT (key) DO UPDATE SET
                        count = CASE WHEN attempts.window_start = excluded.window_start
                                     THEN attempts.count + 1 ELSE 1 END,
                        window_start = excluded.window_start,
                        expires_at = excluded.expires_at
                     RETURNING count",
                    params![key, ms(window_start), ms(expires_at)],
                    |r| r.get(0),
                )?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            })
            .await
    }

    async fn attempts(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        let key = key.to_owned();
        self.db
            .call(move |c| {
                let count: Option<i64> = c
                    .query_row(
                        "SELECT count FROM attempts WHERE key = ?1 AND window_start = ?2",
                        params![key, ms(window_start)],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(count.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
            })
            .await
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.db
            .call(move |c| {
                c.execute("DELETE FROM attempts WHERE key = ?1", [key])?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl MemberStore for SqliteStore {
    async fn create_workspace_with_owner(
        &self,
        workspace: &Workspace,
        owner: &Membership,
    ) -> StoreResult<()> {
        let (w, m) = (workspace.clone(), owner.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                insert_workspace(&tx, &w)?;
                insert_membership(&tx, &m)?;
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn add_membership(&self, membership: &Membership) -> StoreResult<()> {
        let m = membership.clone();
        self.db.call(move |c| insert_membership(c, &m)).await
    }

    async fn get_membership(
        &self,
        ws: &WorkspaceId,
        person: &PersonId,
    ) -> StoreResult<Option<Membership>> {
        let (ws, person) = (ws.to_string(), person.to_string());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT data FROM memberships WHERE workspace_id = ?1 AND person_id = ?2",
                    params![ws, person],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|s| from_json(&s))
                .transpose()
            })
            .await
    }

    async fn list_members(&self, ws: &WorkspaceId) -> StoreResult<Vec<Membership>> {
        let ws = ws.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT data FROM memberships WHERE workspace_id = ?1 ORDER BY joined_at, person_id",
                )?;
                json_rows(&mut st, [ws])
            })
            .await
    }

    async fn memberships_of(&self, person: &PersonId) -> StoreResult<Vec<Membership>> {
        let person = person.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT data FROM memberships WHERE person_id = ?1 ORDER BY joined_at, workspace_id",
                )?;
                json_rows(&mut st, [person])
            })
            .await
    }

    async fn update_membership(
        &self,
        membership: &Membership,
        expected_version: u64,
    ) -> StoreResult<()> {
        let m = membership.clone();
        self.db
            .call(move |c| update_membership_row(c, &m, expected_version))
            .await
    }

    async fn update_memberships(&self, changes: &[(Membership, u64)]) -> StoreResult<()> {
        let changes = changes.to_vec();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (m, expected) in &changes {
                    update_membership_row(&tx, m, *expected)?;
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
    }

    async fn delete_membership(&self, ws: &WorkspaceId, person: &PersonId) -> StoreResult<()> {
        let (ws, person) = (ws.to_string(), person.to_string());
        self.db
            .call(move |c| {
                removed_one(c.execute(
                    "DELETE FROM memberships WHERE workspace_id = ?1 AND person_id = ?2",
                    params![ws, person],
                )?)
            })
            .await
    }

    async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()> {
        let i = invitation.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO invitations (token_hash, workspace_id, id, created_at, expires_at, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        i.token_hash,
                        i.workspace_id.as_str(),
                        i.id.as_str(),
                        ms(i.created_at),
                        ms(i.expires_at),
                        to_json(&i)?
                    ],
                )
                .map_err(conflict_on_constraint)?;
                Ok(())
            })
            .await
    }

    async fn find_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        let hash = token_hash.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT data FROM invitations WHERE token_hash = ?1 AND expires_at > ?2",
                    params![hash, ms(now)],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|s| from_json(&s))
                .transpose()
            })
            .await
    }

    async fn take_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        let hash = token_hash.to_owned();
        self.db
            .call(move |c| take_once(c, "invitations", "token_hash", &hash, now))
            .await
    }

    async fn list_invitations(
        &self,
        ws: &WorkspaceId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        let ws = ws.to_string();
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT data FROM invitations WHERE workspace_id = ?1 AND expires_at > ?2
                     ORDER BY created_at, id",
                )?;
                json_rows(&mut st, params![ws, ms(now)])
            })
            .await
    }

    async fn delete_invitation(&self, ws: &WorkspaceId, id: &InvitationId) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                removed_one(c.execute(
                    "DELETE FROM invitations WHERE workspace_id = ?1 AND id = ?2",
                    params![ws, id],
                )?)
            })
            .await
    }
}
