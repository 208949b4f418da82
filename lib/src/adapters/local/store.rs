//! The store ports on SQLite. Whole records are kept as JSON beside the columns that are queried or conditioned on;
//! every state change is a conditional write on the version, as on DynamoDB.

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::db::{from_json, from_ms, map_err, ms, to_json, Db};
use crate::domain::{
    Account, AccountId, AuditEntry, DeletionRequest, Delivery, DeliveryKey, DeliveryStatus,
    IdempotencyRecord, OAuthState, PlatformKind, Post, PostId, SealedTokens, Workspace,
    WorkspaceId,
};
use crate::ports::{
    AccountStore, EphemeralStore, Page, PostFilter, PostRecord, PostStore, PublishInputs,
    RecordStore, StoreError, StoreResult, WorkspaceStore, MAX_DELIVERY_BATCH,
};

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
                let mut st = c.prepare_cached(&sql).map_err(map_err)?;
                let rows = st
                    .query_map(params![ms(before), limit as i64], |r| r.get::<_, String>(0))
                    .map_err(map_err)?;
                rows.map(|r| r.map_err(map_err).and_then(|s| from_json(&s))).collect()
            })
            .await
    }
}

/// The most posts one post listing reads: ten times a page and one. A filter that matches nothing reads that many
/// and answers with an empty page and a cursor, as the DynamoDB store does.
fn list_budget(limit: usize) -> usize {
    limit.saturating_add(1).saturating_mul(10)
}

fn encode_cursor(parts: &[&str]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts.join("\n"))
}

fn decode_cursor(cursor: &str, n: usize) -> StoreResult<Vec<String>> {
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

fn read_workspace(row: &rusqlite::Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(row.get::<_, String>(0)?),
        name: row.get(1)?,
        wrapped_key: row.get(2)?,
        created_at: from_ms(row.get(3)?),
    })
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn create_workspace(&self, workspace: &Workspace, api_key_hash: &str) -> StoreResult<()> {
        let w = workspace.clone();
        let hash = api_key_hash.to_owned();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO workspaces (id, name, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![w.id.as_str(), w.name, w.wrapped_key, ms(w.created_at)],
                    )
                    .map_err(map_err)?;
                if n == 0 {
                    return Err(StoreError::Conflict);
                }
                tx.execute(
                    "INSERT INTO api_keys (hash, workspace_id) VALUES (?1, ?2)",
                    params![hash, w.id.as_str()],
                )
                .map_err(map_err)?;
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT id, name, wrapped_key, created_at FROM workspaces WHERE id = ?1",
                    [id],
                    read_workspace,
                )
                .optional()
                .map_err(map_err)
            })
            .await
    }

    async fn workspace_for_key(&self, api_key_hash: &str) -> StoreResult<Option<WorkspaceId>> {
        let hash = api_key_hash.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT workspace_id FROM api_keys WHERE hash = ?1",
                    [hash],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map(|o| o.map(WorkspaceId::from_trusted))
                .map_err(map_err)
            })
            .await
    }

    async fn add_api_key(&self, id: &WorkspaceId, api_key_hash: &str) -> StoreResult<()> {
        let (id, hash) = (id.to_string(), api_key_hash.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO api_keys (hash, workspace_id) SELECT ?1, id FROM workspaces WHERE id = ?2",
                    params![hash, id],
                )
                .map_err(map_err)
                .and_then(|n| if n == 1 { Ok(()) } else { Err(StoreError::NotFound) })
            })
            .await
    }

    async fn erase_workspace(&self, id: &WorkspaceId) -> StoreResult<()> {
        let id = id.to_string();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                for table in [
                    "api_keys",
                    "accounts",
                    "tokens",
                    "posts",
                    "deliveries",
                    "idempotency",
                    "audit",
                ] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE workspace_id = ?1"),
                        [&id],
                    )
                    .map_err(map_err)?;
                }
                tx.execute("DELETE FROM workspaces WHERE id = ?1", [&id])
                    .map_err(map_err)?;
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>> {
        self.db
            .call(|c| {
                let mut st = c
                    .prepare("SELECT id, name, wrapped_key, created_at FROM workspaces ORDER BY id")
                    .map_err(map_err)?;
                let rows = st.query_map([], read_workspace).map_err(map_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
            })
            .await
    }
}

fn accounts_from(
    st: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Account>> {
    let rows = st
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    rows.map(|r| r.map_err(map_err).and_then(|s| from_json(&s)))
        .collect()
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<Account> {
        let a = account.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT data FROM accounts WHERE workspace_id = ?1 AND platform = ?2 AND platform_user_id = ?3",
                        params![a.workspace_id.as_str(), a.platform.as_str(), a.profile.platform_user_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                let stored = match existing {
                    Some(data) => {
                        let old: Account = from_json(&data)?;
                        let mut merged = a.clone();
                        merged.id = old.id;
                        merged.created_at = old.created_at;
                        merged.version = old.version + 1;
                        tx.execute(
                            "UPDATE accounts SET status = ?3, token_expires_at = ?4, version = ?5, data = ?6
                             WHERE workspace_id = ?1 AND id = ?2",
                            params![
                                merged.workspace_id.as_str(),
                                merged.id.as_str(),
                                merged.status.as_str(),
                                merged.token_expires_at.map(ms),
                                merged.version as i64,
                                to_json(&merged)?
                            ],
                        )
                        .map_err(map_err)?;
                        merged
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO accounts (workspace_id, id, platform, platform_user_id, status, token_expires_at, version, data)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                a.workspace_id.as_str(),
                                a.id.as_str(),
                                a.platform.as_str(),
                                a.profile.platform_user_id,
                                a.status.as_str(),
                                a.token_expires_at.map(ms),
                                a.version as i64,
                                to_json(&a)?
                            ],
                        )
                        .map_err(map_err)?;
                        a
                    }
                };
                tx.commit().map_err(map_err)?;
                Ok(stored)
            })
            .await
    }

    async fn get_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<Option<Account>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM accounts WHERE workspace_id = ?1 AND id = ?2",
                        [ws, id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    async fn list_accounts(&self, ws: &WorkspaceId) -> StoreResult<Vec<Account>> {
        let ws = ws.to_string();
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare("SELECT data FROM accounts WHERE workspace_id = ?1 ORDER BY id")
                    .map_err(map_err)?;
                accounts_from(&mut st, [ws])
            })
            .await
    }

    async fn accounts_by_platform_user(
        &self,
        platform: PlatformKind,
        platform_user_id: &str,
    ) -> StoreResult<Vec<Account>> {
        let (p, u) = (platform.as_str().to_owned(), platform_user_id.to_owned());
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare(
                        "SELECT data FROM accounts
                         WHERE platform = ?1 AND COALESCE(json_extract(data, '$.profile.granted_by'), platform_user_id) = ?2
                         ORDER BY workspace_id, id",
                    )
                    .map_err(map_err)?;
                accounts_from(&mut st, [p, u])
            })
            .await
    }

    async fn update_account(&self, account: &Account, expected_version: u64) -> StoreResult<()> {
        let a = account.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE accounts SET status = ?3, token_expires_at = ?4, version = ?5, data = ?6
                         WHERE workspace_id = ?1 AND id = ?2 AND version = ?7",
                        params![
                            a.workspace_id.as_str(),
                            a.id.as_str(),
                            a.status.as_str(),
                            a.token_expires_at.map(ms),
                            a.version as i64,
                            to_json(&a)?,
                            expected_version as i64
                        ],
                    )
                    .map_err(map_err)?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            })
            .await
    }

    async fn delete_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                tx.execute(
                    "DELETE FROM tokens WHERE workspace_id = ?1 AND account_id = ?2",
                    [&ws, &id],
                )
                .map_err(map_err)?;
                tx.execute(
                    "DELETE FROM accounts WHERE workspace_id = ?1 AND id = ?2",
                    [&ws, &id],
                )
                .map_err(map_err)?;
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn put_tokens(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
        tokens: &SealedTokens,
        expected_version: Option<u64>,
    ) -> StoreResult<()> {
        let (ws, id, t) = (ws.to_string(), id.to_string(), tokens.clone());
        self.db
            .call(move |c| {
                let n = match expected_version {
                    None => c
                        .execute(
                            "INSERT INTO tokens (workspace_id, account_id, ciphertext, version, expires_at)
                             VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (workspace_id, account_id) DO UPDATE SET
                               ciphertext = excluded.ciphertext, version = excluded.version, expires_at = excluded.expires_at",
                            params![ws, id, t.ciphertext, t.version as i64, t.expires_at.map(ms)],
                        )
                        .map_err(map_err)?,
                    Some(v) => c
                        .execute(
                            "UPDATE tokens SET ciphertext = ?3, version = ?4, expires_at = ?5
                             WHERE workspace_id = ?1 AND account_id = ?2 AND version = ?6",
                            params![ws, id, t.ciphertext, t.version as i64, t.expires_at.map(ms), v as i64],
                        )
                        .map_err(map_err)?,
                };
                if n == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            })
            .await
    }

    async fn get_tokens(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
    ) -> StoreResult<Option<SealedTokens>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT ciphertext, version, expires_at FROM tokens WHERE workspace_id = ?1 AND account_id = ?2",
                    [ws, id],
                    |r| {
                        Ok(SealedTokens {
                            ciphertext: r.get(0)?,
                            version: r.get::<_, i64>(1)? as u64,
                            expires_at: r.get::<_, Option<i64>>(2)?.map(from_ms),
                        })
                    },
                )
                .optional()
                .map_err(map_err)
            })
            .await
    }

    async fn delete_tokens(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM tokens WHERE workspace_id = ?1 AND account_id = ?2",
                    [ws, id],
                )
                .map(|_| ())
                .map_err(map_err)
            })
            .await
    }

    async fn accounts_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare(
                        "SELECT data FROM accounts WHERE token_expires_at IS NOT NULL AND token_expires_at <= ?1
                         AND status = 'active' ORDER BY token_expires_at LIMIT ?2",
                    )
                    .map_err(map_err)?;
                accounts_from(&mut st, params![ms(before), limit as i64])
            })
            .await
    }
}

fn insert_delivery(tx: &Transaction<'_>, d: &Delivery) -> StoreResult<()> {
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO deliveries (workspace_id, post_id, account_id, status, wake_at, version, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                d.workspace_id.as_str(),
                d.post_id.as_str(),
                d.account_id.as_str(),
                d.status.as_str(),
                d.wake_at.map(ms),
                d.version as i64,
                to_json(d)?
            ],
        )
        .map_err(map_err)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

fn update_delivery(conn: &rusqlite::Connection, d: &Delivery, expected: u64) -> StoreResult<()> {
    let n = conn
        .execute(
            "UPDATE deliveries SET status = ?4, wake_at = ?5, version = ?6, data = ?7
             WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3 AND version = ?8",
            params![
                d.workspace_id.as_str(),
                d.post_id.as_str(),
                d.account_id.as_str(),
                d.status.as_str(),
                d.wake_at.map(ms),
                d.version as i64,
                to_json(d)?,
                expected as i64
            ],
        )
        .map_err(map_err)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Appends an audit entry; one with the same id is the same entry, written already.
fn insert_audit(conn: &rusqlite::Connection, e: &AuditEntry) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO audit (workspace_id, id, data) VALUES (?1, ?2, ?3)",
        params![e.workspace_id.as_str(), e.id, to_json(e)?],
    )
    .map(|_| ())
    .map_err(map_err)
}

fn deliveries_of(conn: &rusqlite::Connection, ws: &str, post: &str) -> StoreResult<Vec<Delivery>> {
    let mut st = conn
        .prepare_cached("SELECT data FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 ORDER BY account_id")
        .map_err(map_err)?;
    let rows = st
        .query_map([ws, post], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    rows.map(|r| r.map_err(map_err).and_then(|s| from_json(&s)))
        .collect()
}

#[async_trait]
impl PostStore for SqliteStore {
    async fn create_post(&self, record: &PostRecord) -> StoreResult<()> {
        let r = record.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let p = &r.post;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO posts (workspace_id, id, scheduled_at, version, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![p.workspace_id.as_str(), p.id.as_str(), ms(p.scheduled_at), p.version as i64, to_json(p)?],
                    )
                    .map_err(map_err)?;
                if n == 0 {
                    return Err(StoreError::Conflict);
                }
                for d in &r.deliveries {
                    insert_delivery(&tx, d)?;
                }
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn get_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<Option<PostRecord>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM posts WHERE workspace_id = ?1 AND id = ?2",
                        [&ws, &id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                let Some(data) = data else { return Ok(None) };
                let post: Post = from_json(&data)?;
                let deliveries = deliveries_of(c, &ws, &id)?;
                Ok(Some(PostRecord { post, deliveries }))
            })
            .await
    }

    async fn list_posts(
        &self,
        ws: &WorkspaceId,
        filter: &PostFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<PostRecord>> {
        let ws = ws.to_string();
        let filter = filter.clone();
        let after = cursor.map(|c| decode_cursor(c, 2)).transpose()?;
        let limit = limit.clamp(1, 200);
        // The same contract as on DynamoDB: a request reads a bounded number of posts, and a status filter that
        // matches few answers with a short page (even an empty one) and a cursor after the last post it read.
        let budget = list_budget(limit);
        self.db
            .call(move |c| {
                // Newest scheduled first; the cursor is the (scheduled_at, id) of the last post read before.
                let (cur_t, cur_id) = match &after {
                    Some(p) => (p[0].parse::<i64>().map_err(|_| StoreError::NotFound)?, p[1].clone()),
                    None => (i64::MAX, String::new()),
                };
                let mut st = c
                    .prepare(
                        "SELECT p.id, p.scheduled_at, p.data,
                                (?6 IS NULL OR EXISTS (SELECT 1 FROM deliveries d WHERE d.workspace_id = p.workspace_id
                                 AND d.post_id = p.id AND d.status = ?6)) AS hit
                         FROM posts p
                         WHERE p.workspace_id = ?1
                           AND (p.scheduled_at < ?2 OR (p.scheduled_at = ?2 AND p.id < ?3) OR ?3 = '')
                           AND p.scheduled_at <= ?2
                           AND (?4 IS NULL OR p.scheduled_at >= ?4)
                           AND (?5 IS NULL OR p.scheduled_at <= ?5)
                         ORDER BY p.scheduled_at DESC, p.id DESC LIMIT ?7",
                    )
                    .map_err(map_err)?;
                let rows = st
                    .query_map(
                        params![
                            ws,
                            cur_t,
                            cur_id,
                            filter.from.map(ms),
                            filter.to.map(ms),
                            filter.status.map(|s| s.as_str()),
                            i64::try_from(budget + 1).unwrap_or(i64::MAX)
                        ],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, bool>(3)?,
                            ))
                        },
                    )
                    .map_err(map_err)?;
                let rows: Vec<_> = rows.collect::<Result<_, _>>().map_err(map_err)?;
                // More posts lie beyond what this request may read.
                let mut more = rows.len() > budget;
                let mut items = Vec::new();
                let mut last = None;
                for (id, t, data, hit) in rows.into_iter().take(budget) {
                    if hit {
                        if items.len() == limit {
                            more = true;
                            break;
                        }
                        let post: Post = from_json(&data)?;
                        let deliveries = deliveries_of(c, &ws, &id)?;
                        items.push(PostRecord { post, deliveries });
                    }
                    last = Some((t, id));
                }
                let next_cursor = match (more, last) {
                    (true, Some((t, id))) => Some(encode_cursor(&[&t.to_string(), &id])),
                    _ => None,
                };
                Ok(Page { items, next_cursor })
            })
            .await
    }

    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
        upsert: &[(Delivery, Option<u64>)],
        remove: &[(AccountId, u64)],
    ) -> StoreResult<()> {
        let (p, upsert, remove) = (post.clone(), upsert.to_vec(), remove.to_vec());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let n = tx
                    .execute(
                        "UPDATE posts SET scheduled_at = ?3, version = ?4, data = ?5 WHERE workspace_id = ?1 AND id = ?2 AND version = ?6",
                        params![p.workspace_id.as_str(), p.id.as_str(), ms(p.scheduled_at), p.version as i64, to_json(&p)?, expected_version as i64],
                    )
                    .map_err(map_err)?;
                if n != 1 {
                    return Err(StoreError::Conflict);
                }
                for (d, expected) in &upsert {
                    match expected {
                        Some(v) => update_delivery(&tx, d, *v)?,
                        None => insert_delivery(&tx, d)?,
                    }
                }
                for (acc, v) in &remove {
                    let n = tx
                        .execute(
                            "DELETE FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3 AND version = ?4",
                            params![p.workspace_id.as_str(), p.id.as_str(), acc.as_str(), *v as i64],
                        )
                        .map_err(map_err)?;
                    if n != 1 {
                        return Err(StoreError::Conflict);
                    }
                }
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn delete_post(&self, ws: &WorkspaceId, id: &PostId) -> StoreResult<()> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                tx.execute(
                    "DELETE FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2",
                    [&ws, &id],
                )
                .map_err(map_err)?;
                tx.execute(
                    "DELETE FROM posts WHERE workspace_id = ?1 AND id = ?2",
                    [&ws, &id],
                )
                .map_err(map_err)?;
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn get_delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>> {
        let k = key.clone();
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3",
                        [k.workspace_id.as_str(), k.post_id.as_str(), k.account_id.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    /// The plain queries, in one read transaction so the four records are seen at one moment.
    async fn publish_inputs(&self, key: &DeliveryKey) -> StoreResult<Option<PublishInputs>> {
        let k = key.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let (ws, post, acc) = (k.workspace_id.as_str(), k.post_id.as_str(), k.account_id.as_str());
                let one = |sql: &str, params: &[&str]| -> StoreResult<Option<String>> {
                    tx.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0))
                        .optional()
                        .map_err(map_err)
                };
                let Some(delivery) = one(
                    "SELECT data FROM deliveries WHERE workspace_id = ?1 AND post_id = ?2 AND account_id = ?3",
                    &[ws, post, acc],
                )?
                else {
                    return Ok(None);
                };
                let post = one("SELECT data FROM posts WHERE workspace_id = ?1 AND id = ?2", &[ws, post])?;
                let account = one("SELECT data FROM accounts WHERE workspace_id = ?1 AND id = ?2", &[ws, acc])?;
                let tokens = tx
                    .query_row(
                        "SELECT ciphertext, version, expires_at FROM tokens WHERE workspace_id = ?1 AND account_id = ?2",
                        [ws, acc],
                        |r| {
                            Ok(SealedTokens {
                                ciphertext: r.get(0)?,
                                version: r.get::<_, i64>(1)? as u64,
                                expires_at: r.get::<_, Option<i64>>(2)?.map(from_ms),
                            })
                        },
                    )
                    .optional()
                    .map_err(map_err)?;
                Ok(Some(PublishInputs {
                    delivery: from_json(&delivery)?,
                    post: post.map(|p| from_json(&p)).transpose()?,
                    account: account.map(|a| from_json(&a)).transpose()?,
                    tokens,
                }))
            })
            .await
    }

    async fn save_delivery(&self, delivery: &Delivery, expected_version: u64) -> StoreResult<()> {
        let d = delivery.clone();
        self.db
            .call(move |c| update_delivery(c, &d, expected_version))
            .await
    }

    async fn save_delivery_with_audit(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let (d, e) = (delivery.clone(), audit.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                update_delivery(&tx, &d, expected_version)?;
                insert_audit(&tx, &e)?;
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn save_deliveries(&self, changes: &[(Delivery, u64)]) -> StoreResult<()> {
        if changes.len() > MAX_DELIVERY_BATCH {
            return Err(StoreError::Unavailable(format!(
                "one batch may write at most {MAX_DELIVERY_BATCH} deliveries"
            )));
        }
        let changes = changes.to_vec();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                for (d, expected) in &changes {
                    update_delivery(&tx, d, *expected)?;
                }
                tx.commit().map_err(map_err)
            })
            .await
    }

    async fn due_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.timers("status = 'scheduled'", before, limit).await
    }

    async fn expired_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.timers("status IN ('queued', 'publishing')", before, limit)
            .await
    }

    async fn live_deliveries_for_account(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
    ) -> StoreResult<Vec<Delivery>> {
        let (ws, acc) = (ws.to_string(), account.to_string());
        let live: Vec<&'static str> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .map(|s| s.as_str())
            .collect();
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare(
                        "SELECT data FROM deliveries WHERE workspace_id = ?1 AND account_id = ?2 AND status IN (?3, ?4, ?5)",
                    )
                    .map_err(map_err)?;
                let rows = st
                    .query_map(params![ws, acc, live[0], live[1], live[2]], |r| r.get::<_, String>(0))
                    .map_err(map_err)?;
                rows.map(|r| r.map_err(map_err).and_then(|s| from_json(&s))).collect()
            })
            .await
    }
}

#[async_trait]
impl EphemeralStore for SqliteStore {
    async fn put_oauth_state(&self, state: &OAuthState) -> StoreResult<()> {
        let s = state.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO oauth_states (state, data, expires_at) VALUES (?1, ?2, ?3)",
                    params![s.state, to_json(&s)?, ms(s.expires_at)],
                )
                .map(|_| ())
                .map_err(map_err)
            })
            .await
    }

    async fn take_oauth_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OAuthState>> {
        let state = state.to_owned();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let row: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT data, expires_at FROM oauth_states WHERE state = ?1",
                        [&state],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(map_err)?;
                tx.execute(
                    "DELETE FROM oauth_states WHERE state = ?1 OR expires_at < ?2",
                    params![state, ms(now)],
                )
                .map_err(map_err)?;
                tx.commit().map_err(map_err)?;
                match row {
                    Some((data, exp)) if exp > ms(now) => Ok(Some(from_json(&data)?)),
                    _ => Ok(None),
                }
            })
            .await
    }

    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let r = record.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                tx.execute(
                    "DELETE FROM idempotency WHERE workspace_id = ?1 AND key = ?2 AND expires_at <= ?3",
                    params![r.workspace_id.as_str(), r.key, ms(now)],
                )
                .map_err(map_err)?;
                let existing = tx
                    .query_row(
                        "SELECT request_hash, post_id, expires_at FROM idempotency WHERE workspace_id = ?1 AND key = ?2",
                        params![r.workspace_id.as_str(), r.key],
                        |row| {
                            Ok(IdempotencyRecord {
                                workspace_id: r.workspace_id.clone(),
                                key: r.key.clone(),
                                request_hash: row.get(0)?,
                                post_id: PostId::from_trusted(row.get::<_, String>(1)?),
                                expires_at: from_ms(row.get(2)?),
                            })
                        },
                    )
                    .optional()
                    .map_err(map_err)?;
                if existing.is_none() {
                    tx.execute(
                        "INSERT INTO idempotency (workspace_id, key, request_hash, post_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![r.workspace_id.as_str(), r.key, r.request_hash, r.post_id.as_str(), ms(r.expires_at)],
                    )
                    .map_err(map_err)?;
                }
                tx.commit().map_err(map_err)?;
                Ok(existing)
            })
            .await
    }

    async fn delete_idempotency(&self, ws: &WorkspaceId, key: &str) -> StoreResult<()> {
        let (ws, key) = (ws.to_string(), key.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM idempotency WHERE workspace_id = ?1 AND key = ?2",
                    [ws, key],
                )
                .map(|_| ())
                .map_err(map_err)
            })
            .await
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn put_deletion_request(
        &self,
        request: &DeletionRequest,
    ) -> StoreResult<DeletionRequest> {
        let r = request.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                tx.execute(
                    "INSERT OR IGNORE INTO deletion_requests (code, platform, platform_user_id, data) VALUES (?1, ?2, ?3, ?4)",
                    params![r.confirmation_code, r.platform.as_str(), r.platform_user_id, to_json(&r)?],
                )
                .map_err(map_err)?;
                let data: String = tx
                    .query_row(
                        "SELECT data FROM deletion_requests WHERE platform = ?1 AND platform_user_id = ?2",
                        params![r.platform.as_str(), r.platform_user_id],
                        |row| row.get(0),
                    )
                    .map_err(map_err)?;
                tx.commit().map_err(map_err)?;
                from_json(&data)
            })
            .await
    }

    async fn update_deletion_request(&self, request: &DeletionRequest) -> StoreResult<()> {
        let r = request.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE deletion_requests SET data = ?2 WHERE code = ?1",
                        params![r.confirmation_code, to_json(&r)?],
                    )
                    .map_err(map_err)?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            })
            .await
    }

    async fn get_deletion_request(&self, code: &str) -> StoreResult<Option<DeletionRequest>> {
        let code = code.to_owned();
        self.db
            .call(move |c| {
                let data: Option<String> = c
                    .query_row(
                        "SELECT data FROM deletion_requests WHERE code = ?1",
                        [code],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let e = entry.clone();
        self.db.call(move |c| insert_audit(c, &e)).await
    }

    async fn redact_audit(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        detail: &serde_json::Value,
    ) -> StoreResult<u64> {
        let (ws, account, detail) = (ws.to_string(), account.to_string(), detail.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(map_err)?;
                let rows: Vec<(String, String)> = {
                    let mut st = tx
                        .prepare("SELECT id, data FROM audit WHERE workspace_id = ?1")
                        .map_err(map_err)?;
                    let rows = st
                        .query_map([&ws], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(map_err)?;
                    rows.collect::<Result<_, _>>().map_err(map_err)?
                };
                let mut redacted = 0;
                for (id, data) in rows {
                    let mut entry: AuditEntry = from_json(&data)?;
                    if entry.account_id.as_deref() != Some(account.as_str())
                        || entry.detail == detail
                    {
                        continue;
                    }
                    entry.detail = detail.clone();
                    tx.execute(
                        "UPDATE audit SET data = ?3 WHERE workspace_id = ?1 AND id = ?2",
                        params![ws, id, to_json(&entry)?],
                    )
                    .map_err(map_err)?;
                    redacted += 1;
                }
                tx.commit().map_err(map_err)?;
                Ok(redacted)
            })
            .await
    }

    async fn list_audit(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEntry>> {
        let ws = ws.to_string();
        let before = cursor
            .map(|c| decode_cursor(c, 1))
            .transpose()?
            .map(|mut v| v.remove(0));
        let limit = limit.clamp(1, 500);
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare(
                        "SELECT id, data FROM audit WHERE workspace_id = ?1 AND (?2 IS NULL OR id < ?2)
                         ORDER BY id DESC LIMIT ?3",
                    )
                    .map_err(map_err)?;
                let rows = st
                    .query_map(params![ws, before, (limit + 1) as i64], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(map_err)?;
                let rows: Vec<_> = rows.collect::<Result<_, _>>().map_err(map_err)?;
                let more = rows.len() > limit;
                let mut items = Vec::new();
                for (_, data) in rows.iter().take(limit) {
                    items.push(from_json(data)?);
                }
                let next_cursor = if more {
                    rows.get(limit - 1).map(|(id, _)| encode_cursor(&[id]))
                } else {
                    None
                };
                Ok(Page { items, next_cursor })
            })
            .await
    }
}
