//! Short-lived records. OAuth states and idempotency records carry DynamoDB's time to live (`expires_at`, seconds),
//! which removes them eventually (within days, not at the second), so every read also checks the exact expiry kept
//! beside it (`expires_ns`).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::items::{self, EXPIRES_NS};
use super::{failure, is_condition_failure, keys, DynamoStore};
use crate::domain::{IdempotencyRecord, OAuthState, WorkspaceId};
use crate::ports::{EphemeralStore, StoreResult};

#[async_trait]
impl EphemeralStore for DynamoStore {
    async fn put_oauth_state(&self, state: &OAuthState) -> StoreResult<()> {
        self.put_new(items::oauth_state_item(state)?).await
    }

    /// A conditional delete that returns the deleted item: of two callbacks racing with the same state, exactly one
    /// gets it. An expired state is left for the time to live to remove.
    async fn take_oauth_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OAuthState>> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(items::key(
                keys::oauth_state_pk(state),
                keys::OAUTH_STATE_SK,
            )))
            .condition_expression("attribute_exists(pk) AND #exp > :now")
            .expression_attribute_names("#exp", EXPIRES_NS)
            .expression_attribute_values(":now", items::n(keys::nanos(now)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes()
                .filter(|a| !a.is_empty())
                .map(|a| items::data(a, "OAuth state"))
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(failure("DeleteItem", &e)),
        }
    }

    /// Writes the record unless a live one holds the key; the failed condition hands back the one that does.
    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::idempotency_item(record)?))
            .condition_expression("attribute_not_exists(pk) OR #exp <= :now")
            .expression_attribute_names("#exp", EXPIRES_NS)
            .expression_attribute_values(":now", items::n(keys::nanos(now)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(ctx)) => match ctx.err() {
                PutItemError::ConditionalCheckFailedException(c) => match c.item() {
                    Some(existing) if !existing.is_empty() => {
                        items::idempotency_from(existing).map(Some)
                    }
                    // Some emulators do not return the item; read it.
                    _ => self
                        .get(items::key(
                            keys::workspace_pk(&record.workspace_id),
                            keys::idempotency_sk(&record.key),
                        ))
                        .await?
                        .map(|i| items::idempotency_from(&i))
                        .transpose(),
                },
                _ => Err(failure("PutItem", &SdkError::ServiceError(ctx))),
            },
            Err(e) => Err(failure("PutItem", &e)),
        }
    }

    async fn delete_idempotency(&self, ws: &WorkspaceId, key: &str) -> StoreResult<()> {
        self.delete(items::key(
            keys::workspace_pk(ws),
            keys::idempotency_sk(key),
        ))
        .await
    }
}
