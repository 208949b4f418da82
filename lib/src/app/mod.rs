//! The use cases. Each takes the ports through [`App`] and never a concrete client, so the same code runs on AWS
//! and on one machine.

use std::sync::Arc;

use crate::config::Settings;
use crate::crypto::Vault;
use crate::domain::{AuditEntry, Event};
use crate::ports::Platforms;
use crate::ports::{BlobStore, Clock, EventBus, KeyService, Mailer, Queue, RemoteFiles, Stores};

pub mod accounts;
pub mod approval;
pub mod connect;
pub mod deletion;
pub mod dispatch;
pub mod lease;
pub mod mail;
pub mod media;
pub mod members;
pub mod people;
pub mod posts;
pub mod privacy;
pub mod publish;
pub mod rate;
pub mod refresh;
pub mod sessions;
pub mod tokens;
pub mod workspaces;

/// The ports and settings every use case needs.
pub struct Deps {
    pub stores: Stores,
    pub keys: Arc<dyn KeyService>,
    pub queue: Arc<dyn Queue>,
    pub bus: Arc<dyn EventBus>,
    /// Where media items' bytes live.
    pub blobs: Arc<dyn BlobStore>,
    /// How mail reaches people.
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub platforms: Platforms,
    pub settings: Settings,
    /// Fetches files from addresses people give (media import).
    pub remote: Arc<dyn RemoteFiles>,
}

/// Postora's use cases over one set of ports. Cheap to share: hold it in an `Arc`.
pub struct App {
    pub stores: Stores,
    pub queue: Arc<dyn Queue>,
    pub bus: Arc<dyn EventBus>,
    /// Where media items' bytes live.
    pub blobs: Arc<dyn BlobStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub platforms: Platforms,
    pub settings: Settings,
    pub remote: Arc<dyn RemoteFiles>,
    pub vault: Vault,
    pub(crate) rate: rate::RateGate,
    pub(crate) refresh_turns: tokens::RefreshTurns,
}

impl App {
    pub fn new(deps: Deps) -> Self {
        let vault = Vault::new(deps.keys.clone(), deps.stores.workspaces.clone());
        App {
            stores: deps.stores,
            queue: deps.queue,
            bus: deps.bus,
            blobs: deps.blobs,
            mailer: deps.mailer,
            clock: deps.clock,
            platforms: deps.platforms,
            settings: deps.settings,
            remote: deps.remote,
            vault,
            rate: rate::RateGate::default(),
            refresh_turns: tokens::RefreshTurns::default(),
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Writes an audit entry. The audit log must never stop the work it records, so a failure is logged instead.
    pub(crate) async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.stores.records.append_audit(&entry).await {
            tracing::warn!(action = %entry.action, error = %e, "could not write an audit entry");
        }
    }

    /// Emits events; a bus outage is logged, never fatal to the work that caused the event.
    pub(crate) async fn emit(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if let Err(e) = self.bus.publish(&events).await {
            tracing::warn!(error = %e, count = events.len(), "could not publish events");
        }
    }
}
