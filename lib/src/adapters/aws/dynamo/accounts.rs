//! Accounts and their sealed tokens. The account item carries its platform-user lookup (GSI2) and, while active
//! with an expiring token, its place in the token-expiry listing (GSI1). Tokens are an item of their own with no index
//! keys, holding only the ciphertext, its version and its expiry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::items::{self, Item};
use super::{
    decode_cursor, encode_cursor, keys, Condition, DynamoStore, Query, SortRange, TransactionError,
};
use crate::adapters::aws::table::{DUE_INDEX, LOOKUP_INDEX};
use crate::domain::{Account, AccountId, AccountStatus, PlatformKind, SealedTokens, WorkspaceId};
use crate::ports::{AccountStore, Page, StoreError, StoreResult};

/// How many times an upsert re-reads and tries again when another writer got there first.
const UPSERT_ATTEMPTS: usize = 5;

impl DynamoStore {
    async fn read_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<Option<Account>> {
        self.get(items::key(keys::workspace_pk(ws), keys::account_sk(id)))
            .await?
            .map(|item| items::data(&item, "account"))
            .transpose()
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<Account> {
        let marker_key = items::key(
            keys::workspace_pk(&account.workspace_id),
            keys::platform_user_sk(account.platform, &account.profile.platform_user_id),
        );
        for _ in 0..UPSERT_ATTEMPTS {
            let marker = self.get(marker_key.clone()).await?;
            let existing_id = marker
                .as_ref()
                .and_then(|m| items::get_s(m, items::REF_ACCOUNT))
                .map(AccountId::from_trusted);
            let Some(existing_id) = existing_id else {
                // A new account: the marker and the account appear together, or neither does.
                let writes = vec![
                    self.tx_put(
                        items::platform_user_item(account),
                        Some(Condition::absent()),
                    )?,
                    self.tx_put(items::account_item(account)?, Some(Condition::absent()))?,
                ];
                match self.transact(writes).await {
                    Ok(()) => return Ok(account.clone()),
                    Err(TransactionError::Condition(_)) => continue,
                    Err(TransactionError::Store(e)) => return Err(e),
                };
            };
            let Some(existing) = self
                .read_account(&account.workspace_id, &existing_id)
                .await?
            else {
                // The marker outlived its account (an erase cut short): drop it and start over.
                self.delete(marker_key.clone()).await?;
                continue;
            };
            let mut stored = account.clone();
            stored.id = existing.id.clone();
            stored.created_at = existing.created_at;
            stored.version = existing.version + 1;
            match self
                .put_versioned(items::account_item(&stored)?, existing.version)
                .await
            {
                Ok(()) => return Ok(stored),
                Err(StoreError::Conflict | StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn get_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<Option<Account>> {
        self.read_account(ws, id).await
    }

    async fn list_accounts(&self, ws: &WorkspaceId) -> StoreResult<Vec<Account>> {
        let prefix = keys::ACCOUNT_PREFIX;
        let found = self
            .query_all(
                &Query::table(keys::workspace_pk(ws))
                    .range(SortRange::Between(prefix.to_owned(), format!("{prefix}~"))),
            )
            .await?;
        found
            .iter()
            .map(|item| items::data(item, "account"))
            .collect()
    }

    async fn accounts_by_platform_user(
        &self,
        platform: PlatformKind,
        platform_user_id: &str,
    ) -> StoreResult<Vec<Account>> {
        // The lookup index holds keys only: read the accounts themselves, current, from the table.
        let listed = self
            .query_all(&Query::index(
                LOOKUP_INDEX.name,
                keys::platform_user_index(platform, platform_user_id),
            ))
            .await?;
        let found = self
            .batch_get(listed.iter().map(items::key_of).collect())
            .await?;
        let mut accounts = found
            .iter()
            .map(|item| items::data::<Account>(item, "account"))
            .collect::<StoreResult<Vec<_>>>()?;
        accounts.sort_by(|a, b| (&a.workspace_id, &a.id).cmp(&(&b.workspace_id, &b.id)));
        Ok(accounts)
    }

    async fn update_account(&self, account: &Account, expected_version: u64) -> StoreResult<()> {
        self.put_versioned(items::account_item(account)?, expected_version)
            .await
    }

    async fn delete_account(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<()> {
        let Some(account) = self.read_account(ws, id).await? else {
            return Ok(());
        };
        let mut doomed: Vec<Item> = vec![
            items::key(keys::workspace_pk(ws), keys::account_sk(id)),
            items::key(keys::workspace_pk(ws), keys::token_sk(id)),
        ];
        // Only drop the platform-user marker if it still names this account.
        let marker_key = items::key(
            keys::workspace_pk(ws),
            keys::platform_user_sk(account.platform, &account.profile.platform_user_id),
        );
        let marker = self.get(marker_key.clone()).await?;
        if marker
            .as_ref()
            .and_then(|m| items::get_s(m, items::REF_ACCOUNT))
            == Some(id.as_str())
        {
            doomed.push(marker_key);
        }
        self.batch_delete(doomed).await
    }

    async fn put_tokens(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
        tokens: &SealedTokens,
        expected_version: Option<u64>,
    ) -> StoreResult<()> {
        let item = items::tokens_item(ws, id, tokens);
        match expected_version {
            // A lost refresh race is a conflict even when the tokens were deleted meanwhile.
            Some(v) => match self.put_versioned(item, v).await {
                Err(StoreError::NotFound) => Err(StoreError::Conflict),
                other => other,
            },
            None => {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(|e| super::failure("PutItem", &e))?;
                Ok(())
            }
        }
    }

    async fn get_tokens(
        &self,
        ws: &WorkspaceId,
        id: &AccountId,
    ) -> StoreResult<Option<SealedTokens>> {
        self.get(items::key(keys::workspace_pk(ws), keys::token_sk(id)))
            .await?
            .map(|item| items::tokens_from(&item))
            .transpose()
    }

    async fn delete_tokens(&self, ws: &WorkspaceId, id: &AccountId) -> StoreResult<()> {
        self.delete(items::key(keys::workspace_pk(ws), keys::token_sk(id)))
            .await
    }

    async fn accounts_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Account>> {
        // The cursor is the index sort key (`<expiry ms>#<ws>#<acc>`) of the last account handed out. The next page
        // starts there (BETWEEN is inclusive, so that account itself is skipped) rather than at an exclusive start
        // key, which would name an item whose place may have moved since.
        let after = cursor.map(decode_cursor).transpose()?;
        if after.as_deref().is_some_and(|a| !a.is_ascii()) {
            return Err(StoreError::NotFound);
        }
        let limit = limit.max(1);
        let upper = format!("{}#~", keys::padded_millis(before));
        let range = match &after {
            Some(a) => SortRange::Between(a.clone(), upper),
            None => SortRange::Below(keys::millis_upper_bound(before)),
        };
        let query = Query::index(DUE_INDEX.name, keys::TOKEN_EXPIRY_INDEX.into())
            .range(range)
            .page_size(limit.saturating_add(1));
        let mut found: Vec<(String, Account)> = Vec::new();
        let mut start = None;
        let mut exhausted = false;
        while found.len() < limit {
            let (page, next) = self.query_page(&query, start).await?;
            for item in &page {
                let position = items::get_s(item, DUE_INDEX.sort_key.name).unwrap_or_default();
                if after.as_deref() == Some(position) {
                    continue;
                }
                let account: Account = items::data(item, "account")?;
                let due = account.token_expires_at.is_some_and(|t| t < before);
                if due && account.status == AccountStatus::Active && found.len() < limit {
                    found.push((position.to_owned(), account));
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        let next_cursor = if found.len() == limit || !exhausted {
            found.last().map(|(position, _)| encode_cursor(position))
        } else {
            None
        };
        Ok(Page {
            items: found.into_iter().map(|(_, a)| a).collect(),
            next_cursor,
        })
    }
}
