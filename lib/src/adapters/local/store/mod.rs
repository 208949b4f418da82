//! The store ports on SQLite. Whole records are kept as JSON beside the columns that are queried or conditioned on;
//! every state change is a conditional write on the version, as on DynamoDB.

use base64::Engine;
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::db::{from_json, ms, to_json, Db};
use crate::domain::{AuditEntry, Delivery};
use crate::ports::{StoreError, StoreResult};

mod accounts;
mod ephemeral;
mod media;
mod people;
mod posts;
mod records;
mod registrations;
mod workspaces;

/// Every store port on one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    async fn timers(
        &self,
        which: &'static str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.db
            .call(move |c| {
                let sql = format!(
                    "SELECT data FROM deliveries WHERE wake_at IS NOT NULL AND wake_at <= ?1 AND {which}
                     ORDER BY wake_at LIMIT ?2"
                );
                let mut st = c.prepare_cached(&sql)?;
                let rows = st
                    .query_map(params![ms(before), limit as i64], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s))).collect()
            })
            .await
    }
}

/// Removes and returns the record (its JSON `data`) whose `key_column` is `key` in `table`, if it has not expired at
/// `now` (its `expires_at`), and removes the table's expired rows with it, in one transaction: a single-use record
/// (an OAuth state, a mailed link, an invitation) is taken once, however many ask at the same time.
pub(super) fn take_once<T: serde::de::DeserializeOwned>(
    c: &mut rusqlite::Connection,
    table: &str,
    key_column: &str,
    key: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<T>> {
    use rusqlite::OptionalExtension;
    let tx = c.transaction()?;
    let row: Option<(String, i64)> = tx
        .query_row(
            &format!("SELECT data, expires_at FROM {table} WHERE {key_column} = ?1"),
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    tx.execute(
        &format!("DELETE FROM {table} WHERE {key_column} = ?1 OR expires_at <= ?2"),
        params![key, ms(now)],
    )?;
    tx.commit()?;
    match row {
        Some((data, expires_at)) if expires_at > ms(now) => Ok(Some(from_json(&data)?)),
        _ => Ok(None),
    }
}

pub(super) fn encode_cursor(parts: &[&str]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts.join("\n"))
}

pub(super) fn decode_cursor(cursor: &str, n: usize) -> StoreResult<Vec<String>> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(StoreError::NotFound)?;
    let parts: Vec<String> = raw.split('\n').map(str::to_owned).collect();
    if parts.len() == n {
        Ok(parts)
    } else {
        Err(StoreError::NotFound)
    }
}

/// Appends an audit entry inside the caller's transaction.
pub(super) fn insert_audit(conn: &rusqlite::Connection, e: &AuditEntry) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO audit (workspace_id, id, data) VALUES (?1, ?2, ?3)",
        params![e.workspace_id.as_str(), e.id, to_json(e)?],
    )
    .map(|_| ())
    .map_err(StoreError::from)
}
