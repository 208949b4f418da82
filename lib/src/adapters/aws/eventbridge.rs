//! [`EventBridgeBus`]: domain events onto Postora's own EventBridge bus, so other systems can subscribe with rules.
//! Every event has source [`SOURCE`] and its kind (`post.published`, ...) as detail-type; the detail is the event as
//! JSON. Events never carry a token.

use async_trait::async_trait;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use crate::domain::Event;
use crate::ports::{BusError, EventBus};

/// The source of every event Postora puts on the bus.
pub const SOURCE: &str = "postora";
/// Most entries one PutEvents call may carry.
const PUT_EVENTS_BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> BusError {
    match err.code() {
        Some(code) => BusError::Unavailable(format!("PutEvents: {code}")),
        None => BusError::Unavailable(format!("PutEvents: {}", DisplayErrorContext(err))),
    }
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    fn entry(&self, event: &Event) -> Result<PutEventsRequestEntry, BusError> {
        let detail = serde_json::to_string(event)
            .map_err(|e| BusError::Unavailable(format!("an event could not be encoded: {e}")))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(SOURCE)
            .detail_type(event.kind.as_str())
            .detail(detail)
            .time(aws_smithy_types::DateTime::from_millis(
                event.at.timestamp_millis(),
            ))
            .build())
    }

    /// Puts one batch; returns the entries EventBridge did not accept.
    async fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<Vec<PutEventsRequestEntry>, BusError> {
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries.clone()))
            .send()
            .await
            .map_err(|e| failure(&e))?;
        if out.failed_entry_count() == 0 {
            return Ok(Vec::new());
        }
        // Results come back in request order; a failed one has an error code.
        Ok(out
            .entries()
            .iter()
            .zip(entries)
            .filter(|(result, _)| result.error_code().is_some())
            .map(|(_, entry)| entry)
            .collect())
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[Event]) -> Result<(), BusError> {
        for chunk in events.chunks(PUT_EVENTS_BATCH) {
            let entries = chunk
                .iter()
                .map(|e| self.entry(e))
                .collect::<Result<Vec<_>, _>>()?;
            let mut failed = self.put(entries).await?;
            // EventBridge may refuse single entries for load; put those once more before giving up.
            if !failed.is_empty() {
                failed = self.put(failed).await?;
            }
            if !failed.is_empty() {
                return Err(BusError::Unavailable(format!(
                    "PutEvents: {} events were not accepted",
                    failed.len()
                )));
            }
        }
        Ok(())
    }
}
