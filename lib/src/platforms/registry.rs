//! Builds the set of platforms switched on from configuration: a platform is on when its client id and secret are
//! set (`POSTORA_<PLATFORM>_CLIENT_ID` / `_CLIENT_SECRET`); the sandbox is on unless `POSTORA_SANDBOX=off`.

use std::sync::Arc;

use secrecy::SecretString;

use super::http::{client, HttpTimeouts};
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
