//! Client registrations on SQLite: one row per platform and server, written with `INSERT OR IGNORE` so of two
//! first registrations the first wins and both read it back.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::adapters::local::db::{from_ms, ms};
use crate::domain::PlatformKind;
use crate::ports::{ClientRegistrationStore, StoreError, StoreResult, StoredRegistration};

fn read(
    c: &rusqlite::Connection,
    platform: PlatformKind,
    server: &str,
) -> StoreResult<Option<StoredRegistration>> {
    c.query_row(
        "SELECT client_id, redirect_uri, sealed_secret, wrapped_key, created_at FROM client_registrations
         WHERE platform = ?1 AND server = ?2",
        params![platform.as_str(), server],
        |r| {
            Ok(StoredRegistration {
                platform,
                server: server.to_owned(),
                client_id: r.get(0)?,
                redirect_uri: r.get(1)?,
                sealed_secret: r.get(2)?,
                wrapped_key: r.get(3)?,
                created_at: from_ms(r.get(4)?),
            })
        },
    )
    .optional()
    .map_err(StoreError::from)
}

#[async_trait]
impl ClientRegistrationStore for SqliteStore {
    async fn get_registration(
        &self,
        platform: PlatformKind,
        server: &str,
    ) -> StoreResult<Option<StoredRegistration>> {
        let server = server.to_owned();
        self.db.call(move |c| read(c, platform, &server)).await
    }

    async fn put_registration_if_absent(
        &self,
        registration: &StoredRegistration,
    ) -> StoreResult<StoredRegistration> {
        let r = registration.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT OR IGNORE INTO client_registrations
                     (platform, server, client_id, redirect_uri, sealed_secret, wrapped_key, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        r.platform.as_str(),
                        r.server,
                        r.client_id,
                        r.redirect_uri,
                        r.sealed_secret,
                        r.wrapped_key,
                        ms(r.created_at)
                    ],
                )?;
                let kept = read(&tx, r.platform, &r.server)?.ok_or(StoreError::Conflict)?;
                tx.commit()?;
                Ok(kept)
            })
            .await
    }

    async fn remove_registration(
        &self,
        platform: PlatformKind,
        server: &str,
        client_id: &str,
    ) -> StoreResult<bool> {
        let (server, client_id) = (server.to_owned(), client_id.to_owned());
        self.db
            .call(move |c| {
                let n = c.execute(
                    "DELETE FROM client_registrations WHERE platform = ?1 AND server = ?2 AND client_id = ?3",
                    params![platform.as_str(), server, client_id],
                )?;
                Ok(n > 0)
            })
            .await
    }
}
