//! [`DynamoStore`]: every store port on one DynamoDB table (see [`super::table`] for the table and [`keys`] for the
//! item keys). Every state change is a conditional write; a failed condition is [`StoreError::Conflict`] (or
//! [`StoreError::NotFound`] when the item is gone), and DynamoDB's throttling answers are [`StoreError::Throttled`].
//! All reads of the base table are strongly consistent, because the use cases read a version and then write on it;
//! index reads are eventually consistent, which the conditional writes that follow them make harmless.

mod accounts;
mod ephemeral;
mod items;
pub mod keys;
mod media;
mod people;
mod posts;
mod records;
mod registrations;
mod workspaces;

pub use posts::LIST_PAGES_PER_REQUEST;

use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use base64::Engine;

use self::items::{Item, VERSION};
use super::table::TABLE;
use crate::ports::{StoreError, StoreResult};

/// Postora's single-table store on DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Most items one TransactWriteItems call may carry.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Most requests one BatchWriteItem call may carry.
const MAX_BATCH_WRITE: usize = 25;
/// Most keys one BatchGetItem call may carry.
const MAX_BATCH_GET: usize = 100;
/// How often to send back what a batch call left unprocessed before giving up.
const BATCH_ROUNDS: u32 = 8;

/// Error codes DynamoDB uses to say "not now": the caller should back off and try again.
const BUSY_CODES: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Which part of a sort key a query reads.
#[derive(Debug, Clone)]
enum SortRange {
    /// Every item of the partition.
    All,
    /// `sk BETWEEN from AND to`, both inclusive.
    Between(String, String),
    /// `sk < below`.
    Below(String),
}

/// One query: a partition of the table or of an index, a sort key range and a direction.
#[derive(Debug, Clone)]
struct Query {
    index: Option<&'static str>,
    partition: String,
    range: SortRange,
    newest_first: bool,
    page_size: Option<i32>,
    keys_only: bool,
}

impl Query {
    fn table(partition: String) -> Self {
        Query {
            index: None,
            partition,
            range: SortRange::All,
            newest_first: false,
            page_size: None,
            keys_only: false,
        }
    }

    fn index(index: &'static str, partition: String) -> Self {
        Query {
            index: Some(index),
            ..Query::table(partition)
        }
    }

    fn range(mut self, range: SortRange) -> Self {
        self.range = range;
        self
    }

    fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    fn page_size(mut self, n: usize) -> Self {
        self.page_size = Some(i32::try_from(n.clamp(1, 1000)).unwrap_or(1000));
        self
    }

    fn keys_only(mut self) -> Self {
        self.keys_only = true;
        self
    }
}

/// Why a transaction did not commit.
#[derive(Debug)]
enum TransactionError {
    /// The condition of these items (by position) failed.
    Condition(Vec<usize>),
    Store(StoreError),
}

impl From<TransactionError> for StoreError {
    fn from(e: TransactionError) -> Self {
        match e {
            TransactionError::Condition(_) => StoreError::Conflict,
            TransactionError::Store(e) => e,
        }
    }
}

/// Maps an SDK failure to a store error that names the operation and DynamoDB's error code, never an item's content.
fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> StoreError {
    match err.code() {
        Some(code) if BUSY_CODES.contains(&code) => {
            StoreError::Throttled(format!("{op}: {code}").into())
        }
        Some(code) => StoreError::Unavailable(format!("{op}: {code}").into()),
        None => StoreError::Unavailable(format!("{op}: {}", DisplayErrorContext(err)).into()),
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("a request could not be built: {e}").into())
}

/// Encodes a position in a listing as an opaque cursor.
fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

/// Reads back a cursor this store issued. One it did not issue is [`StoreError::NotFound`], as on every store: the
/// caller's mistake, never an outage.
fn decode_cursor(cursor: &str) -> StoreResult<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(StoreError::NotFound)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Reads one item, strongly consistent.
    async fn get(&self, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("GetItem", &e))?;
        Ok(out.item)
    }

    /// Writes an item that must not exist yet.
    async fn put_new(&self, item: Item) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(failure("PutItem", &e)),
        }
    }

    /// Writes an item whose stored `version` must be `expected`: [`StoreError::NotFound`] if there is none,
    /// [`StoreError::Conflict`] if it has moved on.
    async fn put_versioned(&self, item: Item, expected: u64) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":expected", items::n(expected))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                let existed = match ctx.err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                        c.item().is_some_and(|i| !i.is_empty())
                    }
                    _ => true,
                };
                Err(if existed {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            }
            Err(e) => Err(failure("PutItem", &e)),
        }
    }

    async fn delete(&self, key: Item) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(|e| failure("DeleteItem", &e))?;
        Ok(())
    }

    /// One page of a query, and where the next one starts.
    async fn query_page(
        &self,
        q: &Query,
        start: Option<Item>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let (pk, sk) = match q.index.and_then(|name| TABLE.index(name)) {
            Some(index) => (index.partition_key.name, index.sort_key.name),
            None => (TABLE.partition_key.name, TABLE.sort_key.name),
        };
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(str::to_owned))
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":pk", items::s(q.partition.as_str()))
            .scan_index_forward(!q.newest_first)
            .set_limit(q.page_size)
            .set_exclusive_start_key(start)
            // Only the base table can be read consistently.
            .consistent_read(q.index.is_none());
        req = match &q.range {
            SortRange::All => req.key_condition_expression("#pk = :pk"),
            SortRange::Between(from, to) => req
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#sk", sk)
                .expression_attribute_values(":from", items::s(from.as_str()))
                .expression_attribute_values(":to", items::s(to.as_str())),
            SortRange::Below(below) => req
                .key_condition_expression("#pk = :pk AND #sk < :below")
                .expression_attribute_names("#sk", sk)
                .expression_attribute_values(":below", items::s(below.as_str())),
        };
        if q.keys_only {
            req = req
                .projection_expression("#kpk, #ksk")
                .expression_attribute_names("#kpk", TABLE.partition_key.name)
                .expression_attribute_names("#ksk", TABLE.sort_key.name);
        }
        let out = req.send().await.map_err(|e| failure("Query", &e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// Every item a query matches, page after page.
    async fn query_all(&self, q: &Query) -> StoreResult<Vec<Item>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let (items, next) = self.query_page(q, start).await?;
            all.extend(items);
            match next {
                Some(n) => start = Some(n),
                None => return Ok(all),
            }
        }
    }

    /// Reads items by key, strongly consistent, in any order; missing items are skipped.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH_GET) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?,
            );
            let mut round = 0;
            while let Some(request) = pending.take() {
                if round > 0 {
                    backoff(round).await;
                }
                round += 1;
                if round > BATCH_ROUNDS {
                    return Err(StoreError::Throttled(
                        "BatchGetItem: keys left unprocessed".into(),
                    ));
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| failure("BatchGetItem", &e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(found)
    }

    /// Deletes items by key, unconditionally.
    async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(MAX_BATCH_WRITE) {
            let mut requests = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            let mut round = 0;
            while !requests.is_empty() {
                if round > 0 {
                    backoff(round).await;
                }
                round += 1;
                if round > BATCH_ROUNDS {
                    return Err(StoreError::Throttled(
                        "BatchWriteItem: items left unprocessed".into(),
                    ));
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| failure("BatchWriteItem", &e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Writes all or nothing.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), TransactionError> {
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(TransactionError::Store(StoreError::Unavailable(
                format!("one change may touch at most {MAX_TRANSACTION_ITEMS} items").into(),
            )));
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let reasons: Vec<String> = match err.as_service_error() {
            Some(
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c),
            ) => c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
            _ => return Err(TransactionError::Store(failure("TransactWriteItems", &err))),
        };
        let failed: Vec<usize> = reasons
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_str() == "ConditionalCheckFailed")
            .map(|(i, _)| i)
            .collect();
        if !failed.is_empty() {
            return Err(TransactionError::Condition(failed));
        }
        let busy = reasons.iter().any(|c| {
            matches!(
                c.as_str(),
                "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
            )
        });
        let summary = reasons
            .iter()
            .filter(|c| c.as_str() != "None")
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("TransactWriteItems canceled: {summary}");
        Err(TransactionError::Store(if busy {
            StoreError::Throttled(message.into())
        } else {
            StoreError::Unavailable(message.into())
        }))
    }

    /// Transaction parts, all on this store's table.
    fn tx_put(&self, item: Item, condition: Option<Condition>) -> StoreResult<TransactWriteItem> {
        let mut put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item));
        if let Some(c) = condition {
            put = put
                .condition_expression(c.expression)
                .set_expression_attribute_names(c.names)
                .set_expression_attribute_values(c.values);
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    fn tx_delete(&self, key: Item, condition: Option<Condition>) -> StoreResult<TransactWriteItem> {
        let mut delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key));
        if let Some(c) = condition {
            delete = delete
                .condition_expression(c.expression)
                .set_expression_attribute_names(c.names)
                .set_expression_attribute_values(c.values);
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(build_error)?)
            .build())
    }

    /// An update in a transaction: `update` is the update expression with its placeholders, merged with those of
    /// `condition`.
    fn tx_update(
        &self,
        key: Item,
        update: Condition,
        condition: Option<Condition>,
    ) -> StoreResult<TransactWriteItem> {
        let mut names = update.names.unwrap_or_default();
        let mut values = update.values.unwrap_or_default();
        let mut builder = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update.expression);
        if let Some(c) = condition {
            names.extend(c.names.unwrap_or_default());
            values.extend(c.values.unwrap_or_default());
            builder = builder.condition_expression(c.expression);
        }
        let update = builder
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn tx_check(&self, key: Item, condition: Condition) -> StoreResult<TransactWriteItem> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(condition.names)
            .set_expression_attribute_values(condition.values)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

/// A condition expression with its placeholders (also used for an update expression with its own).
#[derive(Debug, Clone)]
struct Condition {
    expression: String,
    names: Option<std::collections::HashMap<String, String>>,
    values: Option<std::collections::HashMap<String, AttributeValue>>,
}

impl Condition {
    /// The item must not exist.
    fn absent() -> Self {
        Condition {
            expression: "attribute_not_exists(pk)".into(),
            names: None,
            values: None,
        }
    }

    /// The item must exist.
    fn present() -> Self {
        Condition {
            expression: "attribute_exists(pk)".into(),
            names: None,
            values: None,
        }
    }

    /// The item must exist at this version.
    fn at_version(version: u64) -> Self {
        Condition {
            expression: "#v = :expected".into(),
            names: Some([("#v".to_owned(), VERSION.to_owned())].into()),
            values: Some([(":expected".to_owned(), items::n(version))].into()),
        }
    }

    /// The item must exist at this version, or be new when `version` is `None`.
    fn at_version_or_absent(version: Option<u64>) -> Self {
        version.map_or_else(Condition::absent, Condition::at_version)
    }
}

fn is_condition_failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// Waits a little longer each round (25 ms, 50 ms, ... up to about 3 s) before resending unprocessed items.
async fn backoff(round: u32) {
    let ms = 25u64.saturating_mul(1 << round.min(7));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str) -> SdkError<PutItemError, Response> {
        let err = PutItemError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("item contained very-secret")
                .build(),
        );
        SdkError::service_error(
            err,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn throttling_answers_become_throttled_and_others_unavailable() {
        for code in BUSY_CODES {
            assert!(matches!(
                failure("PutItem", &service_error(code)),
                StoreError::Throttled(_)
            ));
        }
        let other = failure("PutItem", &service_error("ValidationException"));
        assert!(matches!(other, StoreError::Unavailable(_)));
        let shown = other.to_string();
        assert!(shown.contains("ValidationException"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(is_condition_failure(&service_error(
            "ConditionalCheckFailedException"
        )));
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor("POST#x")).unwrap(), "POST#x");
        assert!(decode_cursor("not base64 !").is_err());
    }
}
