//! Putting Postora together: the ports of a backend, the platforms switched on, and the settings, made into one
//! [`App`]; and running it, as long-lived loops in one process ([`loops`]) or once per Lambda event ([`aws`]).
//! This is the only place that knows every concrete adapter.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::{App, Deps};
use crate::config::{ConfigError, Env, Settings};
use crate::ports::{
    BlobStore, Clock, EventBus, KeyService, Mailer, Platforms, Queue, Stores, SystemClock,
};

pub mod aws;
#[cfg(feature = "embedded")]
pub mod local;
pub mod loops;
pub mod platforms;
pub mod secrets;

pub use loops::{dispatcher_loop, publisher_loop, refresher_loop, serve, Shutdown};

/// The ports of one backend, before they become an [`App`].
#[derive(Clone)]
pub struct Backend {
    pub stores: Stores,
    pub keys: Arc<dyn KeyService>,
    pub queue: Arc<dyn Queue>,
    pub bus: Arc<dyn EventBus>,
    pub blobs: Arc<dyn BlobStore>,
    /// How mail reaches people.
    pub mailer: Arc<dyn Mailer>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the data directory {path} cannot be used: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error("{0}")]
    Other(String),
}

/// Builds the app over a backend, with the settings and the platforms the environment switches on.
pub fn build_app(
    backend: Backend,
    env: &Env,
    default_public_url: &str,
) -> Result<Arc<App>, StartError> {
    let settings = Settings::from_env(env, default_public_url)?;
    let platforms = platforms::configured(env, &backend)?;
    Ok(assemble(backend, settings, platforms))
}

/// Makes the app from its parts.
pub fn assemble(backend: Backend, settings: Settings, platforms: Platforms) -> Arc<App> {
    Arc::new(App::new(Deps {
        stores: backend.stores,
        keys: backend.keys,
        queue: backend.queue,
        bus: backend.bus,
        blobs: backend.blobs,
        mailer: backend.mailer,
        clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        remote: crate::net::media_fetcher(&settings.media),
        platforms,
        settings,
    }))
}
