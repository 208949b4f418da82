//! The embedded SQLite database: one file in the data directory, WAL mode with a busy timeout so admin commands can
//! work on it while `postora serve` runs. Blocking calls run on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::ports::{Cause, StoreError, StoreResult};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
-- key_id is NULL for keys stored before keys had ids (their id is the start of the hash).
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    key_id TEXT,
    label TEXT,
    created_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_workspace ON api_keys (workspace_id);
CREATE TABLE IF NOT EXISTS accounts (
    workspace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    token_expires_at INTEGER,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, platform, platform_user_id)
);
CREATE INDEX IF NOT EXISTS accounts_by_platform_user ON accounts (platform, platform_user_id);
-- The platform user a data-deletion callback names: whoever granted access (Profile::grantor_id).
CREATE INDEX IF NOT EXISTS accounts_by_grantor
    ON accounts (platform, COALESCE(json_extract(data, '$.profile.granted_by'), platform_user_id));
CREATE INDEX IF NOT EXISTS accounts_by_expiry ON accounts (token_expires_at) WHERE token_expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS tokens (
    workspace_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (workspace_id, account_id)
);
CREATE TABLE IF NOT EXISTS posts (
    workspace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX IF NOT EXISTS posts_by_time ON posts (workspace_id, scheduled_at, id);
CREATE TABLE IF NOT EXISTS deliveries (
    workspace_id TEXT NOT NULL,
    post_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    wake_at INTEGER,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, post_id, account_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_by_account ON deliveries (workspace_id, account_id, status);
CREATE TABLE IF NOT EXISTS oauth_states (
    state TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    workspace_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    post_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE TABLE IF NOT EXISTS deletion_requests (
    code TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (platform, platform_user_id)
);
CREATE TABLE IF NOT EXISTS audit (
    workspace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
-- OAuth clients Postora registered with a server (a Mastodon instance), one per platform and server; the secret
-- sealed under its own data key (wrapped_key), never in the clear.
CREATE TABLE IF NOT EXISTS client_registrations (
    platform TEXT NOT NULL,
    server TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    sealed_secret BLOB NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (platform, server)
);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue (visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    died_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    workspace_id TEXT,
    at INTEGER NOT NULL,
    data TEXT NOT NULL
);
-- Events waiting to be POSTed to the webhook (status `pending`, next try at `next_at`), and those that used every
-- attempt (`failed`). A delivered event's row is deleted.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    failed_at INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (status, next_at);
-- Media items: the record as JSON, beside what queries and conditions need. `attached_at` and `version` are the
-- columns' (attaching an item changes them without rewriting `data`).
CREATE TABLE IF NOT EXISTS media (
    workspace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    stored_bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    attached_at INTEGER,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX IF NOT EXISTS media_unattached ON media (created_at, workspace_id, id) WHERE attached_at IS NULL;
-- Which posts ever used which item.
CREATE TABLE IF NOT EXISTS media_posts (
    workspace_id TEXT NOT NULL,
    media_id TEXT NOT NULL,
    post_id TEXT NOT NULL,
    PRIMARY KEY (workspace_id, media_id, post_id)
);
-- Bytes each workspace stores (originals and renditions), counted against its quota.
CREATE TABLE IF NOT EXISTS media_usage (
    workspace_id TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS media_uploads (
    workspace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX IF NOT EXISTS media_uploads_by_expiry ON media_uploads (expires_at, workspace_id, id);
-- People, found by id or by the lookup key of their address (a hash, never the address).
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    email_key TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_person ON sessions (person_id, created_at);
CREATE TABLE IF NOT EXISTS person_links (
    token_hash TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS person_links_by_person ON person_links (person_id);
CREATE TABLE IF NOT EXISTS sign_ins (
    person_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_ins_by_person ON sign_ins (person_id, at);
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    workspace_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, person_id)
);
CREATE INDEX IF NOT EXISTS memberships_by_person ON memberships (person_id, joined_at);
CREATE TABLE IF NOT EXISTS invitations (
    token_hash TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invitations_by_workspace ON invitations (workspace_id, created_at);
"#;

/// Columns added to tables of [`SCHEMA`] after they were first released: (table, column, type).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("api_keys", "key_id", "TEXT"),
    ("api_keys", "label", "TEXT"),
    ("api_keys", "created_at", "INTEGER"),
    ("api_keys", "last_used_at", "INTEGER"),
    // NULL for keys stored before keys had roles: owners' keys.
    ("api_keys", "role", "TEXT"),
    // JSON of the workspace's settings; NULL until they are first changed.
    ("workspaces", "settings", "TEXT"),
];

/// A shared handle on the database file.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Self::open_with_schema(path, SCHEMA)?;
        db.upgrade()?;
        Ok(db)
    }

    /// Columns added since a table was first created: a database made by an older Postora gets them, in one
    /// immediate transaction so that two processes opening it at once do not both add them.
    fn upgrade(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (table, column, kind) in ADDED_COLUMNS {
            let present: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
                [table, column],
                |r| r.get(0),
            )?;
            if !present {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Opens a database file with another schema (the sandbox platform keeps its own file).
    pub fn open_with_schema(path: &Path, schema: &str) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::init(conn, schema)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Self::in_memory_with_schema(SCHEMA)?;
        db.upgrade()?;
        Ok(db)
    }

    pub fn in_memory_with_schema(schema: &str) -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, schema)
    }

    fn init(conn: Connection, schema: &str) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(schema)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}").into()))?
    }
}

/// SQLite's errors: a busy database is load (retry later), anything else is unavailability. The SQLite error is kept
/// as the cause.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked)
        );
        let cause = Cause::from_error(e);
        if busy {
            StoreError::Throttled(cause)
        } else {
            StoreError::Unavailable(cause)
        }
    }
}

/// Milliseconds since the epoch, as stored.
pub fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(v: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(v).unwrap_or_default()
}

pub fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Unavailable(Cause::from_error(e)))
}

pub fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Unavailable(Cause::from_error(e)))
}
