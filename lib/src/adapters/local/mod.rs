//! Adapters for one machine: an embedded SQLite store, a master key file, a durable delay queue and a local event
//! bus, all on one database file in the data directory, and media objects as files beside it.

pub mod blobs;
pub mod bus;
pub mod db;
pub mod keys;
pub mod outbox;
pub mod queue;
pub mod smtp;
pub mod store;

pub use blobs::LocalBlobs;
pub use bus::{FailedWebhook, LocalBus, Webhook, WebhookRetry, WebhookRun};
pub use db::Db;
pub use keys::MasterKeyFile;
pub use outbox::Outbox;
pub use queue::SqliteQueue;
pub use smtp::SmtpMailer;
pub use store::SqliteStore;
