//! Accounts and their sealed tokens, on SQLite. Tokens live in a table of their own, so account listings never read
//! them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{decode_cursor, encode_cursor, SqliteStore};
use crate::adapters::local::db::{from_json, from_ms, ms, to_json};
use crate::domain::{Account, AccountId, PlatformKind, SealedTokens, WorkspaceId};
use crate::ports::{AccountStore, Page, StoreError, StoreResult};

fn accounts_from(
    st: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Account>> {
    let rows = st.query_map(params, |r| r.get::<_, String>(0))?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s)))
        .collect()
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<Account> {
        let a = account.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT data FROM accounts WHERE workspace_id = ?1 AND platform = ?2 AND platform_user_id = ?3",
                        params![a.workspace_id.as_str(), a.platform.as_str(), a.profile.platform_user_id],
                        |r| r.get(0),
                    )
                    .optional()?;
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
                        )?;
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
                        )?;
                        a
                    }
                };
                tx.commit()?;
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
                    .optional()?;
                data.map(|d| from_json(&d)).transpose()
            })
            .await
    }

    async fn list_accounts(&self, ws: &WorkspaceId) -> StoreResult<Vec<Account>> {
        let ws = ws.to_string();
        self.db
            .call(move |c| {
                let mut st =
                    c.prepare("SELECT data FROM accounts WHERE workspace_id = ?1 ORDER BY id")?;
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
                    )?;
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
                    )?;
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
                let tx = c.transaction()?;
                tx.execute(
                    "DELETE FROM tokens WHERE workspace_id = ?1 AND account_id = ?2",
                    [&ws, &id],
                )?;
                tx.execute(
                    "DELETE FROM accounts WHERE workspace_id = ?1 AND id = ?2",
                    [&ws, &id],
                )?;
                tx.commit().map_err(StoreError::from)
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
                        )?,
                    Some(v) => c
                        .execute(
                            "UPDATE tokens SET ciphertext = ?3, version = ?4, expires_at = ?5
                             WHERE workspace_id = ?1 AND account_id = ?2 AND version = ?6",
                            params![ws, id, t.ciphertext, t.version as i64, t.expires_at.map(ms), v as i64],
                        )?,
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
                .map_err(StoreError::from)
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
                .map_err(StoreError::from)
            })
            .await
    }

    async fn accounts_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Account>> {
        // The cursor is the position (expiry, workspace, account) of the last account handed out.
        let after = match cursor {
            None => None,
            Some(c) => {
                let parts = decode_cursor(c, 3)?;
                let at: i64 = parts[0].parse().map_err(|_| StoreError::NotFound)?;
                Some((at, parts[1].clone(), parts[2].clone()))
            }
        };
        let limit = limit.max(1);
        self.db
            .call(move |c| {
                let (at, ws, id) = after.unwrap_or((i64::MIN, String::new(), String::new()));
                let mut st = c.prepare_cached(
                    "SELECT data FROM accounts WHERE token_expires_at IS NOT NULL AND token_expires_at <= ?1
                     AND status = 'active' AND (token_expires_at, workspace_id, id) > (?3, ?4, ?5)
                     ORDER BY token_expires_at, workspace_id, id LIMIT ?2",
                )?;
                let items = accounts_from(&mut st, params![ms(before), limit as i64, at, ws, id])?;
                let next_cursor = (items.len() == limit)
                    .then(|| items.last())
                    .flatten()
                    .and_then(|a| {
                        let expiry = a.token_expires_at?;
                        Some(encode_cursor(&[
                            &ms(expiry).to_string(),
                            a.workspace_id.as_str(),
                            a.id.as_str(),
                        ]))
                    });
                Ok(Page { items, next_cursor })
            })
            .await
    }
}
