//! Data-deletion requests and the audit log. A deletion request lives at `DEL#<code>` (the status page reads it by
//! code) with a marker `DELU#<platform>#<user>` naming it, written in the same transaction, so a platform that calls
//! twice for one user gets the first request back. The audit log is a partition per workspace, newest last in key
//! order, read backwards.

use async_trait::async_trait;

use super::items::{self, Item};
use super::{
    decode_cursor, encode_cursor, keys, Condition, DynamoStore, Query, SortRange, TransactionError,
};
use crate::domain::{AccountId, AuditEntry, DeletionRequest, WorkspaceId};
use crate::ports::{Page, RecordStore, StoreError, StoreResult};

#[async_trait]
impl RecordStore for DynamoStore {
    async fn put_deletion_request(
        &self,
        request: &DeletionRequest,
    ) -> StoreResult<DeletionRequest> {
        let writes = vec![
            self.tx_put(
                items::deletion_user_item(request),
                Some(Condition::absent()),
            )?,
            self.tx_put(items::deletion_item(request)?, Some(Condition::absent()))?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(request.clone()),
            Err(TransactionError::Condition(failed)) if failed.contains(&0) => {
                let marker = self
                    .get(items::key(
                        keys::deletion_user_pk(request.platform, &request.platform_user_id),
                        keys::DELETION_SK,
                    ))
                    .await?;
                let code = marker
                    .as_ref()
                    .and_then(|m| items::get_s(m, items::REF_CODE))
                    .ok_or(StoreError::Conflict)?;
                self.get_deletion_request(code)
                    .await?
                    .ok_or(StoreError::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn update_deletion_request(&self, request: &DeletionRequest) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::deletion_item(request)?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if super::is_condition_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(super::failure("PutItem", &e)),
        }
    }

    async fn get_deletion_request(&self, code: &str) -> StoreResult<Option<DeletionRequest>> {
        self.get(items::key(keys::deletion_pk(code), keys::DELETION_SK))
            .await?
            .map(|item| items::data(&item, "deletion request"))
            .transpose()
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.put_new(items::audit_item(entry)?).await
    }

    async fn redact_audit(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        detail: &serde_json::Value,
    ) -> StoreResult<u64> {
        let partition = self.query_all(&Query::table(keys::audit_pk(ws))).await?;
        let mut redacted = 0;
        for item in partition {
            let mut entry: AuditEntry = items::data(&item, "audit entry")?;
            if entry.account_id.as_deref() != Some(account.as_str()) || entry.detail == *detail {
                continue;
            }
            entry.detail = detail.clone();
            // The same key, so the entry keeps its place in the log; a rerun rewrites it to the same value.
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(items::audit_item(&entry)?))
                .send()
                .await
                .map_err(|e| super::failure("PutItem", &e))?;
            redacted += 1;
        }
        Ok(redacted)
    }

    async fn list_audit(
        &self,
        ws: &WorkspaceId,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<Page<AuditEntry>> {
        let limit = limit.max(1);
        let mut query = Query::table(keys::audit_pk(ws))
            .newest_first()
            .page_size(limit + 1);
        if let Some(c) = cursor {
            query = query.range(SortRange::Below(decode_cursor(c)?));
        }
        let mut found: Vec<Item> = Vec::new();
        let mut start = None;
        while found.len() <= limit {
            let (page, next) = self.query_page(&query, start).await?;
            found.extend(page);
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        let next_cursor = if more {
            found.last().and_then(items::sort_key).map(encode_cursor)
        } else {
            None
        };
        let entries = found
            .iter()
            .map(|item| items::data(item, "audit entry"))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page {
            items: entries,
            next_cursor,
        })
    }
}
