//! The platforms switched on by configuration: a platform is on when its client id and secret are set
//! (`POSTORA_<PLATFORM>_CLIENT_ID` / `_CLIENT_SECRET`). The built-in sandbox is added by the embedded runtime
//! ([`super::local`]), which serves it.

use std::sync::Arc;

use crate::config::{ConfigError, Env};
use crate::platforms::http::{client, HttpTimeouts};
use crate::platforms::meta::{
    FacebookConfig, FacebookPlatform, InstagramConfig, InstagramPlatform, ThreadsConfig,
    ThreadsPlatform,
};
use crate::ports::Platforms;

/// The HTTP client every platform adapter shares, with the timeouts from the environment.
pub fn http_client(env: &Env) -> Result<reqwest::Client, ConfigError> {
    Ok(client(HttpTimeouts {
        connect: env.seconds("POSTORA_HTTP_CONNECT_TIMEOUT_SECS", 5)?,
        request: env.seconds("POSTORA_HTTP_TIMEOUT_SECS", 30)?,
    }))
}

/// Every real platform whose app credentials are configured.
pub fn from_env(env: &Env) -> Result<Platforms, ConfigError> {
    let http = http_client(env)?;
    let mut platforms = Platforms::new();
    if let Some(config) = ThreadsConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(ThreadsPlatform::new(http.clone(), config)));
    }
    if let Some(config) = InstagramConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(InstagramPlatform::new(http.clone(), config)));
    }
    if let Some(config) = FacebookConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(FacebookPlatform::new(http.clone(), config)));
    }
    Ok(platforms)
}
