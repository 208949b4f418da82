//! Builds the set of platforms switched on from configuration: a platform is on when its client id and secret are
//! set (`POSTORA_<PLATFORM>_CLIENT_ID` / `_CLIENT_SECRET`); the sandbox is on unless `POSTORA_SANDBOX=off`.

use std::sync::Arc;

use secrecy::SecretString;

use super::http::{client, set_max_body_bytes, HttpTimeouts, DEFAULT_MAX_BODY_BYTES};
use super::meta::{
    FacebookConfig, FacebookPlatform, InstagramConfig, InstagramPlatform, ThreadsConfig,
    ThreadsPlatform,
};
use super::sandbox::SandboxPlatform;
use super::Platforms;
use crate::config::{ConfigError, Env};
use crate::http::sandbox::Idempotency;

/// The sandbox's fixed app credentials: it is a demo network, and its "secret" protects nothing real.
pub const SANDBOX_CLIENT_ID: &str = "postora-sandbox";
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-secret";

/// The bounds of `POSTORA_HTTP_MAX_BODY_BYTES`: 4 KiB to 64 MiB.
const MIN_BODY_BYTES: usize = 4 << 10;
const MAX_BODY_BYTES: usize = 64 << 20;

/// All configured platforms. `public_url` is the default origin of the built-in sandbox.
pub fn from_env(
    env: &Env,
    public_url: &url::Url,
    sandbox_default: bool,
) -> Result<Platforms, ConfigError> {
    let http = client(HttpTimeouts {
        connect: env.seconds("POSTORA_HTTP_CONNECT_TIMEOUT_SECS", 5)?,
        request: env.seconds("POSTORA_HTTP_TIMEOUT_SECS", 30)?,
    });
    let max_body = env.parse("POSTORA_HTTP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?;
    if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&max_body) {
        return Err(ConfigError::invalid(
            "POSTORA_HTTP_MAX_BODY_BYTES",
            format!("must be from {MIN_BODY_BYTES} to {MAX_BODY_BYTES} bytes"),
        ));
    }
    set_max_body_bytes(max_body);
    let mut platforms = Platforms::new();
    if env.flag("POSTORA_SANDBOX", sandbox_default)? {
        let origin = public_url.as_str().trim_end_matches('/').to_owned();
        let auth = env.origin("POSTORA_SANDBOX_AUTH_URL", &origin)?;
        let api = env.origin("POSTORA_SANDBOX_API_URL", &origin)?;
        platforms = platforms.with(Arc::new(
            SandboxPlatform::new(
                http.clone(),
                &auth,
                &api,
                SANDBOX_CLIENT_ID,
                SecretString::from(SANDBOX_CLIENT_SECRET.to_owned()),
            )
            .recoverable(
                env.parse("POSTORA_SANDBOX_IDEMPOTENCY", Idempotency::Dedupe)? != Idempotency::None,
            ),
        ));
    }
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
