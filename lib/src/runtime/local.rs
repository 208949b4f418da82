//! The embedded backend: everything in one data directory (SQLite, a master key file, the durable local queue and
//! the event log, media objects as files), and the sandbox network that `postora serve` runs beside Postora.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{assemble, platforms, Backend, Shutdown, StartError};
use crate::adapters::local::{
    Db, LocalBlobs, LocalBus, MasterKeyFile, Outbox, SmtpMailer, SqliteQueue, SqliteStore, Webhook,
    WebhookRetry,
};
use crate::app::App;
use crate::config::{ConfigError, Env, Settings};
use crate::domain::PlatformKind;
use crate::ports::{Platforms, Stores};
use crate::sandbox::{parse_faults, Idempotency, Sandbox, SandboxPlatform};

/// The embedded backend: everything in one data directory.
pub struct LocalBackend {
    pub backend: Backend,
    pub queue: Arc<SqliteQueue>,
    pub bus: Arc<LocalBus>,
    /// Media objects under `media/`; [`router`] serves their links.
    pub blobs: Arc<LocalBlobs>,
    pub data_dir: PathBuf,
}

/// The public URL the embedded backend's links are made under when `POSTORA_PUBLIC_URL` is unset and the caller
/// knows no better: where `postora serve` listens by default.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

impl LocalBackend {
    /// Opens (creating if needed) the data directory, with links under `POSTORA_PUBLIC_URL` or
    /// [`DEFAULT_PUBLIC_URL`]: see [`LocalBackend::open_at`].
    pub fn open(data_dir: &Path, env: &Env) -> Result<Self, StartError> {
        Self::open_at(data_dir, env, DEFAULT_PUBLIC_URL)
    }

    /// Opens (creating if needed) the data directory: `postora.db`, `master.key` and `media.key` (mode 0600), and
    /// `media/` for objects, whose links are made under the settings' public URL (`POSTORA_PUBLIC_URL`, or
    /// `default_public_url`, as for the app).
    pub fn open_at(
        data_dir: &Path,
        env: &Env,
        default_public_url: &str,
    ) -> Result<Self, StartError> {
        let dir_err = |reason: String| StartError::DataDir {
            path: data_dir.to_owned(),
            reason,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| dir_err(e.to_string()))?;
        let db = Db::open(&data_dir.join("postora.db")).map_err(|e| dir_err(e.to_string()))?;
        let keys = MasterKeyFile::load_or_create(&data_dir.join("master.key"))
            .map_err(|e| dir_err(e.to_string()))?;
        let queue = Arc::new(SqliteQueue::new(
            db.clone(),
            env.seconds("POSTORA_QUEUE_VISIBILITY_SECS", 60)?,
            env.parse("POSTORA_QUEUE_MAX_RECEIVES", 5)?,
        ));
        let webhook = match (
            env.url("POSTORA_WEBHOOK_URL")?,
            env.secret("POSTORA_WEBHOOK_SECRET"),
        ) {
            (Some(url), Some(secret)) => Some(Webhook {
                url,
                secret,
                retry: webhook_retry(env)?,
            }),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    name: "POSTORA_WEBHOOK_SECRET".into(),
                }
                .into())
            }
            _ => None,
        };
        let bus = Arc::new(LocalBus::new(
            db.clone(),
            webhook,
            platforms::http_client(env)?,
        ));
        // The public URL as the app's settings read it.
        let public_url = env.origin("POSTORA_PUBLIC_URL", default_public_url)?;
        let blobs =
            Arc::new(LocalBlobs::open(data_dir, &public_url).map_err(|e| dir_err(e.to_string()))?);
        let store = Arc::new(SqliteStore::new(db));
        Ok(LocalBackend {
            backend: Backend {
                stores: Stores::from_one(store),
                keys: Arc::new(keys),
                queue: queue.clone(),
                bus: bus.clone(),
                blobs: blobs.clone(),
                mailer: local_mailer(env, data_dir)?,
            },
            queue,
            bus,
            blobs,
            data_dir: data_dir.to_owned(),
        })
    }
}

/// How often a webhook delivery is tried: `POSTORA_WEBHOOK_MAX_ATTEMPTS` (1 to 50, default 8) attempts, waiting
/// `POSTORA_WEBHOOK_BACKOFF_BASE_SECS` (default 30) after the first and twice as long after each next one, at most
/// `POSTORA_WEBHOOK_BACKOFF_MAX_SECS` (default 3600).
pub fn webhook_retry(env: &Env) -> Result<WebhookRetry, ConfigError> {
    let default = WebhookRetry::default();
    let max_attempts: u32 = env.parse("POSTORA_WEBHOOK_MAX_ATTEMPTS", default.max_attempts)?;
    if !(1..=WebhookRetry::MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(ConfigError::invalid(
            "POSTORA_WEBHOOK_MAX_ATTEMPTS",
            format!("must be 1 to {}", WebhookRetry::MAX_ATTEMPTS),
        ));
    }
    Ok(WebhookRetry {
        max_attempts,
        backoff_base: env.seconds(
            "POSTORA_WEBHOOK_BACKOFF_BASE_SECS",
            default.backoff_base.as_secs(),
        )?,
        backoff_max: env.seconds(
            "POSTORA_WEBHOOK_BACKOFF_MAX_SECS",
            default.backoff_max.as_secs(),
        )?,
    })
}

/// Mail on one machine: through the SMTP server of `POSTORA_SMTP_URL` when it is set, else into `outbox/` in the data
/// directory; from `POSTORA_MAIL_FROM`.
fn local_mailer(env: &Env, data_dir: &Path) -> Result<Arc<dyn crate::ports::Mailer>, ConfigError> {
    let from = crate::adapters::local::smtp::mail_from(env.get("POSTORA_MAIL_FROM"))?;
    Ok(match env.secret("POSTORA_SMTP_URL") {
        Some(url) => Arc::new(SmtpMailer::new(&url, from)?),
        None => Arc::new(Outbox::new(data_dir.join("outbox"), from)),
    })
}

/// Delivers the webhook outbox until shutdown: what is due, as soon as an event is published in this process and
/// at least every `interval` (failed deliveries come due again, and other processes on the data directory may have
/// put some back). Publishing never waits for it. Stopping cuts a delivery in flight short; it is tried again after
/// its claim lapses.
pub async fn webhook_loop(
    bus: Arc<LocalBus>,
    interval: std::time::Duration,
    mut shutdown: Shutdown,
) {
    if !bus.has_webhook() {
        return;
    }
    loop {
        if shutdown.is_set() {
            return;
        }
        let run = tokio::select! {
            r = bus.deliver_due(chrono::Utc::now()) => r,
            _ = shutdown.wait() => return,
        };
        match run {
            // A full batch: there may be more due at once.
            Ok(run) if run.full() => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the webhook outbox could not be read; trying again")
            }
        }
        tokio::select! {
            _ = bus.wait_for_work(interval) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Postora with the sandbox network beside it, as `postora serve` runs: the app on `backend`, and the sandbox
/// (kept in `sandbox.db` in `data_dir`, whichever backend Postora itself uses) when it is on.
pub async fn app_with_sandbox(
    backend: Backend,
    env: &Env,
    default_public_url: &str,
    data_dir: &Path,
) -> Result<(Arc<App>, Option<Sandbox>), StartError> {
    let settings = Settings::from_env(env, default_public_url)?;
    let mut platforms = platforms::configured(env, &backend)?;
    let sandbox = if sandbox_on(env, &platforms)? {
        let sandbox = open_sandbox(data_dir, env, settings.public_url.as_str())?;
        platforms = platforms.with(Arc::new(sandbox_platform(env, &settings, &sandbox).await?));
        Some(sandbox)
    } else {
        None
    };
    Ok((assemble(backend, settings, platforms), sandbox))
}

/// Everything `postora serve` answers: the app's routers ([`crate::http::full_router`]) with the sandbox network's
/// beside them, and the routes of the local objects' links when the objects are local. Those are merged outside the
/// API's body limit and timeout (a part may be large, and a video slow to send); they set their own limits.
pub fn router(
    app: Arc<App>,
    sandbox: Option<&Sandbox>,
    blobs: Option<&LocalBlobs>,
) -> axum::Router {
    let beside = sandbox.map(Sandbox::router).unwrap_or_default();
    let router = crate::http::full_router(app, beside);
    match blobs {
        Some(blobs) => router.merge(blobs.router()),
        None => router,
    }
}

/// Whether the sandbox is on: as `POSTORA_SANDBOX` says, and otherwise only while no real platform is configured,
/// so that a deployment with real accounts does not also offer a make-believe network.
pub fn sandbox_on(env: &Env, real: &Platforms) -> Result<bool, ConfigError> {
    env.flag("POSTORA_SANDBOX", real.enabled().is_empty())
}

/// The sandbox network, on `sandbox.db` in `data_dir`, answering at `public_url`. It is a stand-in for a social
/// network, not part of Postora's data.
pub fn open_sandbox(data_dir: &Path, env: &Env, public_url: &str) -> Result<Sandbox, StartError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StartError::DataDir {
        path: data_dir.to_owned(),
        reason: e.to_string(),
    })?;
    let sandbox = Sandbox::open(
        &data_dir.join("sandbox.db"),
        public_url,
        env.seconds("POSTORA_SANDBOX_TOKEN_TTL_SECS", 3600)?,
    )
    .map_err(|e| StartError::Other(format!("the sandbox could not open its database: {e}")))?;
    let sandbox = sandbox
        .with_idempotency(env.parse("POSTORA_SANDBOX_IDEMPOTENCY", Idempotency::Dedupe)?)
        .with_fetch_policy(crate::net::AddressPolicy {
            allow_loopback: env.flag("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", false)?,
        });
    if let Some(spec) = env.get("POSTORA_SANDBOX_FAULTS") {
        sandbox.add_faults(
            parse_faults(spec).map_err(|r| ConfigError::invalid("POSTORA_SANDBOX_FAULTS", r))?,
        );
    }
    Ok(sandbox)
}

/// Registers Postora with the sandbox network (its one redirect URI is Postora's OAuth callback) and makes the
/// adapter that reaches it: at `POSTORA_SANDBOX_AUTH_URL` for people's browsers and `POSTORA_SANDBOX_API_URL` for
/// Postora's calls, both the public URL unless set.
pub async fn sandbox_platform(
    env: &Env,
    settings: &Settings,
    sandbox: &Sandbox,
) -> Result<SandboxPlatform, StartError> {
    let origin = settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let auth = env.origin("POSTORA_SANDBOX_AUTH_URL", &origin)?;
    let api = env.origin("POSTORA_SANDBOX_API_URL", &origin)?;
    let client = sandbox
        .register_client(&settings.redirect_uri(PlatformKind::Sandbox))
        .await
        .map_err(|e| StartError::Other(format!("the sandbox could not register Postora: {e}")))?;
    Ok(SandboxPlatform::new(
        platforms::http_client(env)?,
        &auth,
        &api,
        &client.client_id,
        client.secret,
    )
    .recoverable(sandbox.idempotency() != Idempotency::None))
}
