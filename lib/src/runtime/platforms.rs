//! The platforms switched on by configuration: a platform is on when its client id and secret are set
//! (`POSTORA_<PLATFORM>_CLIENT_ID` / `_CLIENT_SECRET`), and Mastodon, which registers itself with each instance,
//! when `POSTORA_MASTODON=on` ([`configured`], since it keeps its registrations in the backend). The built-in
//! sandbox is added by the embedded runtime ([`super::local`]), which serves it.

use std::sync::Arc;

use super::Backend;
use crate::config::{ConfigError, Env};
use crate::crypto::SealedRegistrations;
use crate::platforms::bluesky::{BlueskyConfig, BlueskyPlatform};
use crate::platforms::http::{client, set_max_body_bytes, HttpTimeouts, DEFAULT_MAX_BODY_BYTES};
use crate::platforms::linkedin::{LinkedInConfig, LinkedInPlatform};
use crate::platforms::mastodon::{MastodonConfig, MastodonPlatform};
use crate::platforms::meta::{
    FacebookConfig, FacebookPlatform, InstagramConfig, InstagramPlatform, ThreadsConfig,
    ThreadsPlatform,
};
use crate::platforms::tiktok::{TiktokConfig, TiktokPlatform};
use crate::platforms::x::{XConfig, XPlatform};
use crate::platforms::youtube::{Library, YoutubeConfig, YoutubePlatform};
use crate::ports::Platforms;

/// The bounds of `POSTORA_HTTP_MAX_BODY_BYTES`: 4 KiB to 64 MiB.
const MIN_BODY_BYTES: usize = 4 << 10;
const MAX_BODY_BYTES: usize = 64 << 20;

/// How long a platform call may take to connect, and in all, unless `POSTORA_HTTP_CONNECT_TIMEOUT_SECS` and
/// `POSTORA_HTTP_TIMEOUT_SECS` say otherwise.
pub const DEFAULT_HTTP_CONNECT_TIMEOUT_SECS: u64 = 5;
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 30;

/// The HTTP client every platform adapter shares, with the timeouts and the largest answer body it reads from the
/// environment.
pub fn http_client(env: &Env) -> Result<reqwest::Client, ConfigError> {
    let max_body = env.parse("POSTORA_HTTP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?;
    if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&max_body) {
        return Err(ConfigError::invalid(
            "POSTORA_HTTP_MAX_BODY_BYTES",
            format!("must be from {MIN_BODY_BYTES} to {MAX_BODY_BYTES} bytes"),
        ));
    }
    set_max_body_bytes(max_body);
    Ok(client(http_timeouts(env)?))
}

/// `POSTORA_HTTP_CONNECT_TIMEOUT_SECS` and `POSTORA_HTTP_TIMEOUT_SECS`.
fn http_timeouts(env: &Env) -> Result<HttpTimeouts, ConfigError> {
    Ok(HttpTimeouts {
        connect: env.seconds(
            "POSTORA_HTTP_CONNECT_TIMEOUT_SECS",
            DEFAULT_HTTP_CONNECT_TIMEOUT_SECS,
        )?,
        request: env.seconds("POSTORA_HTTP_TIMEOUT_SECS", DEFAULT_HTTP_TIMEOUT_SECS)?,
    })
}

/// Every platform the environment switches on, over `backend`: those of [`from_env`], and Mastodon when
/// `POSTORA_MASTODON=on`, keeping its registrations with instances in the backend's store, their secrets sealed
/// under data keys of the backend's key service.
pub fn configured(env: &Env, backend: &Backend) -> Result<Platforms, ConfigError> {
    let mut platforms = from_env(env)?;
    if let Some(config) = YoutubeConfig::from_env(env)? {
        // Custom thumbnails are read from the workspace's media library.
        let library = Library {
            media: backend.stores.media.clone(),
            blobs: backend.blobs.clone(),
        };
        platforms = platforms.with(Arc::new(
            YoutubePlatform::new(http_client(env)?, config).with_library(library),
        ));
    }
    if let Some(config) = MastodonConfig::from_env(env, http_timeouts(env)?)? {
        let registrations = Arc::new(SealedRegistrations::new(
            backend.stores.registrations.clone(),
            backend.keys.clone(),
        ));
        platforms = platforms.with(Arc::new(MastodonPlatform::new(registrations, config)));
    }
    Ok(platforms)
}

/// Every real platform whose app credentials are configured (Mastodon, which needs none, is added by
/// [`configured`]).
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
    if let Some(config) = XConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(XPlatform::new(http.clone(), config)));
    }
    if let Some(config) = YoutubeConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(YoutubePlatform::new(http.clone(), config)));
    }
    if let Some(config) = TiktokConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(TiktokPlatform::new(http.clone(), config)));
    }
    if let Some(config) = LinkedInConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(LinkedInPlatform::new(http.clone(), config)));
    }
    if let Some(config) = BlueskyConfig::from_env(env)? {
        platforms = platforms.with(Arc::new(BlueskyPlatform::new(config)));
    }
    Ok(platforms)
}
