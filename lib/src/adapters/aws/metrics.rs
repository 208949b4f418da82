//! Counting AWS requests. [`RequestMetrics`] is an SDK interceptor attached to every client Postora builds; it counts
//! each HTTP request sent (retries included, since each is billed) by service and operation. The cost benchmark reads
//! the counts to report requests per published delivery; in production it is cheap enough to leave attached.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Requests counted so far, shared by every client it is attached to.
#[derive(Clone, Debug, Default)]
pub struct RequestMetrics {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

/// A snapshot of the counts: `(service, operation) -> requests`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts(pub BTreeMap<(String, String), u64>);

impl RequestMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn record(&self, service: &str, operation: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts
            .entry((service.to_owned(), operation.to_owned()))
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts(
            self.counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    /// Clears the counts (between the phases of a benchmark).
    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Requests to one service, by the SDK's service name (`DynamoDB`, `KMS`, `SQS`, `EventBridge`).
    pub fn service(&self, service: &str) -> u64 {
        self.0
            .iter()
            .filter(|((s, _), _)| s.eq_ignore_ascii_case(service))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn operation(&self, service: &str, operation: &str) -> u64 {
        self.0
            .iter()
            .filter(|((s, o), _)| s.eq_ignore_ascii_case(service) && o == operation)
            .map(|(_, n)| n)
            .sum()
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts(
            self.0
                .iter()
                .map(|(k, n)| {
                    (
                        k.clone(),
                        n.saturating_sub(earlier.0.get(k).copied().unwrap_or(0)),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
        )
    }
}

impl fmt::Display for RequestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ((service, operation), n) in &self.0 {
            writeln!(f, "{service:<12} {operation:<32} {n:>8}")?;
        }
        write!(f, "{:<12} {:<32} {:>8}", "total", "", self.total())
    }
}

impl Intercept for RequestMetrics {
    fn name(&self) -> &'static str {
        "PostoraRequestMetrics"
    }

    /// Called once per attempt, just before the request goes on the wire.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(m) => self.record(m.service(), m.name()),
            None => self.record("unknown", "unknown"),
        }
        Ok(())
    }
}
