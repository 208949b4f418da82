//! Workspaces and their API keys. A key item `KEY#<hash>` answers "which workspace is this key for" in one read; a
//! reference in the workspace's partition lets erasing the workspace find its keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::items::{self, Item};
use super::{
    failure, is_condition_failure, keys, Condition, DynamoStore, Query, SortRange, TransactionError,
};
use crate::adapters::aws::table::LOOKUP_INDEX;
use crate::domain::{ApiKeyRecord, Workspace, WorkspaceId};
use crate::ports::{StoreError, StoreResult, WorkspaceStore};

#[async_trait]
impl WorkspaceStore for DynamoStore {
    async fn create_workspace(&self, workspace: &Workspace, key: &ApiKeyRecord) -> StoreResult<()> {
        let key = ApiKeyRecord {
            workspace_id: workspace.id.clone(),
            ..key.clone()
        };
        let writes = vec![
            self.tx_put(items::workspace_item(workspace)?, Some(Condition::absent()))?,
            self.tx_put(items::api_key_item(&key)?, Some(Condition::absent()))?,
            self.tx_put(items::api_key_ref_item(&key), None)?,
        ];
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        self.get(items::key(keys::workspace_pk(id), keys::WORKSPACE_SK))
            .await?
            .map(|item| items::workspace_from(&item))
            .transpose()
    }

    async fn update_workspace(&self, workspace: &Workspace) -> StoreResult<()> {
        // The whole item is written again (its wrapped key with it), on condition that it exists.
        let write = self.tx_put(
            items::workspace_item(workspace)?,
            Some(Condition::present()),
        )?;
        self.transact(vec![write])
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict => StoreError::NotFound,
                other => other,
            })
    }

    async fn find_api_key(&self, api_key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.get(items::key(keys::api_key_pk(api_key_hash), keys::API_KEY_SK))
            .await?
            .map(|item| items::api_key_from(&item))
            .transpose()
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let writes = vec![
            self.tx_check(
                items::key(keys::workspace_pk(&key.workspace_id), keys::WORKSPACE_SK),
                Condition::present(),
            )?,
            self.tx_put(items::api_key_item(key)?, Some(Condition::absent()))?,
            self.tx_put(items::api_key_ref_item(key), None)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(failed)) if failed.contains(&0) => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn list_api_keys(&self, ws: &WorkspaceId) -> StoreResult<Vec<ApiKeyRecord>> {
        // The references in the workspace's partition name the keys; the key items hold what is listed.
        let refs = self.key_refs(ws).await?;
        let found = self
            .batch_get(
                refs.iter()
                    .map(|(hash, _)| items::key(keys::api_key_pk(hash), keys::API_KEY_SK))
                    .collect(),
            )
            .await?;
        let mut listed = found
            .iter()
            .map(items::api_key_from)
            .collect::<StoreResult<Vec<_>>>()?;
        listed.retain(|k| &k.workspace_id == ws);
        listed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(listed)
    }

    async fn revoke_api_key(&self, ws: &WorkspaceId, key_id: &str) -> StoreResult<ApiKeyRecord> {
        let refs = self.key_refs(ws).await?;
        let (hash, _) = refs
            .into_iter()
            .find(|(_, id)| id == key_id)
            .ok_or(StoreError::NotFound)?;
        let key_item = items::key(keys::api_key_pk(&hash), keys::API_KEY_SK);
        let found = self
            .get(key_item.clone())
            .await?
            .map(|item| items::api_key_from(&item))
            .transpose()?
            .filter(|k| &k.workspace_id == ws)
            .ok_or(StoreError::NotFound)?;
        let writes = vec![
            self.tx_delete(key_item, Some(Condition::present()))?,
            self.tx_delete(
                items::key(keys::workspace_pk(ws), keys::api_key_ref_sk(&hash)),
                None,
            )?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(found),
            Err(TransactionError::Condition(_)) => Err(StoreError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn touch_api_key(
        &self,
        api_key_hash: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // UpdateItem would create a missing item: `attribute_exists(pk)` keeps a revoked key revoked.
        let result = self
            .client()
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(items::key(
                keys::api_key_pk(api_key_hash),
                keys::API_KEY_SK,
            )))
            .update_expression("SET #used = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#used) OR #used < :stale)",
            )
            .expression_attribute_names("#used", items::LAST_USED)
            .expression_attribute_values(":at", items::n(at.timestamp_millis()))
            .expression_attribute_values(":stale", items::n(stale_before.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(failure("UpdateItem", &e)),
        }
    }

    async fn erase_workspace(&self, id: &WorkspaceId) -> StoreResult<()> {
        // Memberships' mirrors and invitations live outside the partition: they go first, found by what is in it.
        self.erase_people_of_workspace(id).await?;
        let partition = self
            .query_all(&Query::table(keys::workspace_pk(id)).keys_only())
            .await?;
        let mut doomed: Vec<Item> = Vec::with_capacity(partition.len());
        let mut workspace_item = None;
        for item in partition {
            let sk = items::sort_key(&item).unwrap_or_default().to_owned();
            if sk == keys::WORKSPACE_SK {
                workspace_item = Some(item);
                continue;
            }
            if let Some(hash) = sk.strip_prefix(keys::API_KEY_REF_PREFIX) {
                doomed.push(items::key(keys::api_key_pk(hash), keys::API_KEY_SK));
            }
            doomed.push(items::key_of(&item));
        }
        let audit = self
            .query_all(&Query::table(keys::audit_pk(id)).keys_only())
            .await?;
        doomed.extend(audit.iter().map(items::key_of));
        self.batch_delete(doomed).await?;
        // The workspace item goes last, so an erase cut short can be run again and still finds what is left.
        if let Some(item) = workspace_item {
            self.delete(items::key_of(&item)).await?;
        }
        Ok(())
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>> {
        // The lookup index holds keys only: it names the workspaces and the table supplies them.
        let listed = self
            .query_all(&Query::index(
                LOOKUP_INDEX.name,
                keys::WORKSPACES_INDEX.into(),
            ))
            .await?;
        let found = self
            .batch_get(listed.iter().map(items::key_of).collect())
            .await?;
        let mut workspaces = found
            .iter()
            .map(items::workspace_from)
            .collect::<StoreResult<Vec<_>>>()?;
        workspaces.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(workspaces)
    }
}

impl DynamoStore {
    /// The (hash, public id) of every key reference in the workspace's partition.
    async fn key_refs(&self, ws: &WorkspaceId) -> StoreResult<Vec<(String, String)>> {
        let refs = self
            .query_all(
                &Query::table(keys::workspace_pk(ws)).range(SortRange::Between(
                    keys::API_KEY_REF_PREFIX.to_owned(),
                    format!("{}~", keys::API_KEY_REF_PREFIX),
                )),
            )
            .await?;
        Ok(refs.iter().filter_map(items::api_key_ref_from).collect())
    }
}
