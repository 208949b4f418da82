//! Workspaces and their API keys. A key item `KEY#<hash>` answers "which workspace is this key for" in one read; a
//! reference in the workspace's partition lets erasing the workspace find its keys.

use async_trait::async_trait;

use super::items::{self, Item};
use super::{keys, Condition, DynamoStore, Query, TransactionError};
use crate::adapters::aws::table::LOOKUP_INDEX;
use crate::domain::{Workspace, WorkspaceId};
use crate::ports::{StoreError, StoreResult, WorkspaceStore};

#[async_trait]
impl WorkspaceStore for DynamoStore {
    async fn create_workspace(&self, workspace: &Workspace, api_key_hash: &str) -> StoreResult<()> {
        let writes = vec![
            self.tx_put(items::workspace_item(workspace)?, Some(Condition::absent()))?,
            self.tx_put(
                items::api_key_item(api_key_hash, &workspace.id),
                Some(Condition::absent()),
            )?,
            self.tx_put(items::api_key_ref_item(api_key_hash, &workspace.id), None)?,
        ];
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        self.get(items::key(keys::workspace_pk(id), keys::WORKSPACE_SK))
            .await?
            .map(|item| items::workspace_from(&item))
            .transpose()
    }

    async fn workspace_for_key(&self, api_key_hash: &str) -> StoreResult<Option<WorkspaceId>> {
        let item = self
            .get(items::key(keys::api_key_pk(api_key_hash), keys::API_KEY_SK))
            .await?;
        Ok(item
            .as_ref()
            .and_then(|i| items::get_s(i, items::REF_WORKSPACE))
            .map(WorkspaceId::from_trusted))
    }

    async fn add_api_key(&self, id: &WorkspaceId, api_key_hash: &str) -> StoreResult<()> {
        let writes = vec![
            self.tx_check(
                items::key(keys::workspace_pk(id), keys::WORKSPACE_SK),
                Condition::present(),
            )?,
            self.tx_put(
                items::api_key_item(api_key_hash, id),
                Some(Condition::absent()),
            )?,
            self.tx_put(items::api_key_ref_item(api_key_hash, id), None)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(failed)) if failed.contains(&0) => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn erase_workspace(&self, id: &WorkspaceId) -> StoreResult<()> {
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
