//! Typed configuration, read once from the environment. A missing or malformed variable is an error that names it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use zeroize::Zeroize;

/// A snapshot of the environment (or a map given by a test).
///
/// It holds every variable of the process, client secrets and cloud credentials among them, so `Debug` shows the
/// names of the variables and never a value, and the values are wiped from memory when the snapshot is dropped.
/// Settings read from it keep their secrets as [`SecretString`]s.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Env")
            .field("names", &names)
            .finish_non_exhaustive()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for value in self.vars.values_mut() {
            value.zeroize();
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is required")]
    Missing { name: String },
    #[error("{name} is not valid: {reason}")]
    Invalid { name: String, reason: String },
}

impl ConfigError {
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        if let Some(mut old) = self.vars.insert(name.to_owned(), value.into()) {
            old.zeroize();
        }
    }

    /// The value, if set and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(|v| SecretString::from(v.to_owned()))
    }

    pub fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e: T::Err| ConfigError::invalid(name, e.to_string())),
        }
    }

    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "on" | "yes") => Ok(true),
            Some("0" | "false" | "off" | "no") => Ok(false),
            Some(_) => Err(ConfigError::invalid(name, "expected on or off")),
        }
    }

    /// A duration in whole seconds, at most a year ([`crate::domain::bounds::MAX_ENV_SECS`]): a value above that is an
    /// error naming the variable, so no setting can overflow the time arithmetic it feeds.
    pub fn seconds(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        let secs: u64 = self.parse(name, default)?;
        if secs > crate::domain::bounds::MAX_ENV_SECS {
            return Err(ConfigError::invalid(
                name,
                format!(
                    "at most {} seconds (a year)",
                    crate::domain::bounds::MAX_ENV_SECS
                ),
            ));
        }
        Ok(Duration::from_secs(secs))
    }

    /// An origin (scheme, host, optional port, no path), as every platform endpoint variable holds.
    pub fn origin(&self, name: &str, default: &str) -> Result<url::Url, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        parse_origin(raw).map_err(|reason| ConfigError::invalid(name, reason))
    }

    /// A full URL.
    pub fn url(&self, name: &str) -> Result<Option<url::Url>, ConfigError> {
        self.get(name)
            .map(|raw| {
                let u =
                    url::Url::parse(raw).map_err(|e| ConfigError::invalid(name, e.to_string()))?;
                if matches!(u.scheme(), "http" | "https") {
                    Ok(u)
                } else {
                    Err(ConfigError::invalid(name, "must be an http or https URL"))
                }
            })
            .transpose()
    }
}

/// Parses `scheme://host[:port]` and refuses paths, queries and fragments.
pub fn parse_origin(raw: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(raw.trim_end_matches('/')).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if u.host_str().is_none() {
        return Err("has no host".into());
    }
    if (u.path() != "/" && !u.path().is_empty()) || u.query().is_some() || u.fragment().is_some() {
        return Err("must be an origin (scheme, host and port) without a path".into());
    }
    Ok(u)
}

/// How the publisher works.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// How long a claim holds before another attempt may recover the delivery. An attempt renews it before each call
    /// that may publish and at each checkpoint, and cuts off a call still running a margin before it ends.
    pub lease: Duration,
    /// Attempts before a delivery that keeps failing temporarily is marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Refresh a token this long before it expires, when publishing.
    pub refresh_margin: Duration,
}

impl PublisherSettings {
    /// How long before its lease ends an attempt stops waiting for the platform, so it can still record what it
    /// knows before anyone else may claim the delivery: a fifth of the lease, at most ten seconds.
    pub fn lease_margin(&self) -> Duration {
        (self.lease / 5).min(Duration::from_secs(10))
    }
}

/// How the dispatcher works.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// How far ahead a tick looks for due deliveries (a little more than the tick interval).
    pub horizon: Duration,
    /// How long a queued delivery may wait for its publisher before it is queued again.
    pub requeue_after: Duration,
    /// The most deliveries one query returns; a tick pages until nothing is left.
    pub batch: usize,
}

/// Who runs this Postora, for the privacy and data-deletion pages.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub contact: String,
}

/// The app secrets that sign Meta's data-deletion and deauthorize callbacks, read once from the environment.
///
/// Facebook and Instagram callbacks (`/meta/*`) are signed with the Meta app's secret,
/// `POSTORA_FACEBOOK_CLIENT_SECRET`; when Instagram runs as its own app (Instagram Login) its callbacks are signed
/// with `POSTORA_INSTAGRAM_CLIENT_SECRET`, so a `/meta/*` callback is accepted when either signed it. Threads has its
/// own app and callbacks (`/threads/*`), signed with `POSTORA_THREADS_CLIENT_SECRET`. A callback whose secret is not
/// set is refused with a 503 that names the variable.
#[derive(Clone, Default)]
pub struct CallbackSecrets {
    pub facebook: Option<SecretString>,
    pub instagram: Option<SecretString>,
    pub threads: Option<SecretString>,
}

impl CallbackSecrets {
    pub fn from_env(env: &Env) -> Self {
        Self {
            facebook: env.secret("POSTORA_FACEBOOK_CLIENT_SECRET"),
            instagram: env.secret("POSTORA_INSTAGRAM_CLIENT_SECRET"),
            threads: env.secret("POSTORA_THREADS_CLIENT_SECRET"),
        }
    }
}

impl std::fmt::Debug for CallbackSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<SecretString>| if s.is_some() { "set" } else { "not set" };
        f.debug_struct("CallbackSecrets")
            .field("facebook", &set(&self.facebook))
            .field("instagram", &set(&self.instagram))
            .field("threads", &set(&self.threads))
            .finish()
    }
}

/// Everything the use cases are configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The origin people and platforms reach Postora at.
    pub public_url: url::Url,
    /// Where a person lands after connecting an account, if set.
    pub return_url: Option<url::Url>,
    pub publisher: PublisherSettings,
    pub dispatcher: DispatcherSettings,
    pub operator: Operator,
    /// The secrets that verify Meta's callbacks; the HTTP layer takes them when it builds its routers.
    pub callbacks: CallbackSecrets,
    pub media: MediaSettings,
    pub people: PeopleSettings,
}

/// How long a person stays signed in.
#[derive(Debug, Clone)]
pub struct PeopleSettings {
    /// A session ends after this long without a request (`POSTORA_SESSION_IDLE_HOURS`, default 24).
    pub session_idle: chrono::Duration,
    /// A session ends this long after sign-in whatever happens (`POSTORA_SESSION_MAX_DAYS`, default 14).
    pub session_max: chrono::Duration,
    /// Whether cookies are `Secure`: always, except when the public URL is plain `http` (a local trial).
    pub secure_cookies: bool,
}

impl PeopleSettings {
    pub fn from_env(env: &Env, public_url: &url::Url) -> Result<Self, ConfigError> {
        let idle_hours: i64 = env.parse("POSTORA_SESSION_IDLE_HOURS", 24)?;
        if !(1..=24 * 90).contains(&idle_hours) {
            return Err(ConfigError::invalid(
                "POSTORA_SESSION_IDLE_HOURS",
                "must be from 1 to 2,160 (90 days)",
            ));
        }
        let max_days: i64 = env.parse("POSTORA_SESSION_MAX_DAYS", 14)?;
        if !(1..=365).contains(&max_days) {
            return Err(ConfigError::invalid(
                "POSTORA_SESSION_MAX_DAYS",
                "must be from 1 to 365",
            ));
        }
        Ok(PeopleSettings {
            session_idle: chrono::Duration::hours(idle_hours),
            session_max: chrono::Duration::days(max_days),
            secure_cookies: public_url.scheme() != "http",
        })
    }
}

/// How much media a workspace may keep, and for how long.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Bytes a workspace may store, originals and renditions together (`POSTORA_MEDIA_QUOTA_MB`, default 10,240).
    pub quota_bytes: u64,
    /// The largest file one upload or import may be (`POSTORA_MEDIA_MAX_FILE_MB`, default 4,096).
    pub max_file_bytes: u64,
    /// Removes the media of a post this many days after its last delivery finished (`POSTORA_MEDIA_RETENTION_DAYS`;
    /// unset keeps them until they are deleted).
    pub retention: Option<chrono::Duration>,
    /// Lets media import fetch from loopback addresses (`POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK`). For tests only: it
    /// opens the local machine to anyone who may import.
    pub import_allow_loopback: bool,
}

impl MediaSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        const MB: u64 = 1024 * 1024;
        let quota_mb: u64 = env.parse("POSTORA_MEDIA_QUOTA_MB", 10_240)?;
        let max_file_mb: u64 = env.parse("POSTORA_MEDIA_MAX_FILE_MB", 4_096)?;
        if max_file_mb == 0 || max_file_mb > 5 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "POSTORA_MEDIA_MAX_FILE_MB",
                "must be from 1 to 5,242,880 (5 TiB, the largest object S3 stores)",
            ));
        }
        let retention = match env.get("POSTORA_MEDIA_RETENTION_DAYS") {
            None => None,
            Some(_) => {
                let days: u32 = env.parse("POSTORA_MEDIA_RETENTION_DAYS", 0)?;
                if days == 0 || days > 3650 {
                    return Err(ConfigError::invalid(
                        "POSTORA_MEDIA_RETENTION_DAYS",
                        "must be a number of days from 1 to 3650",
                    ));
                }
                Some(chrono::Duration::days(i64::from(days)))
            }
        };
        Ok(MediaSettings {
            quota_bytes: quota_mb.saturating_mul(MB),
            max_file_bytes: max_file_mb * MB,
            retention,
            import_allow_loopback: env.flag("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", false)?,
        })
    }
}

impl Settings {
    pub fn from_env(env: &Env, default_public_url: &str) -> Result<Self, ConfigError> {
        if env.seconds("POSTORA_PUBLISH_LEASE_SECS", 120)?.is_zero() {
            return Err(ConfigError::invalid(
                "POSTORA_PUBLISH_LEASE_SECS",
                "a publishing lease must last at least a second",
            ));
        }
        let public_url = env.origin("POSTORA_PUBLIC_URL", default_public_url)?;
        Ok(Settings {
            people: PeopleSettings::from_env(env, &public_url)?,
            public_url,
            return_url: env.url("POSTORA_RETURN_URL")?,
            media: MediaSettings::from_env(env)?,
            publisher: PublisherSettings {
                lease: env.seconds("POSTORA_PUBLISH_LEASE_SECS", 120)?,
                max_attempts: env.parse("POSTORA_MAX_ATTEMPTS", 5)?,
                backoff_base: env.seconds("POSTORA_BACKOFF_BASE_SECS", 2)?,
                backoff_max: env.seconds("POSTORA_BACKOFF_MAX_SECS", 900)?,
                refresh_margin: env.seconds("POSTORA_REFRESH_MARGIN_SECS", 300)?,
            },
            dispatcher: DispatcherSettings {
                horizon: env.seconds("POSTORA_DISPATCH_HORIZON_SECS", 75)?,
                requeue_after: env.seconds("POSTORA_REQUEUE_AFTER_SECS", 120)?,
                batch: env.parse("POSTORA_DISPATCH_BATCH", 500)?,
            },
            operator: Operator {
                name: env
                    .get("POSTORA_OPERATOR_NAME")
                    .unwrap_or("The operator of this Postora")
                    .to_owned(),
                contact: env
                    .get("POSTORA_OPERATOR_CONTACT")
                    .unwrap_or("the address given by the operator")
                    .to_owned(),
            },
            callbacks: CallbackSecrets::from_env(env),
        })
    }

    /// The redirect URI registered with a platform: `<public url>/oauth/<platform>/callback`.
    pub fn redirect_uri(&self, platform: crate::domain::PlatformKind) -> String {
        format!(
            "{}/oauth/{}/callback",
            self.public_url.as_str().trim_end_matches('/'),
            platform
        )
    }

    /// A link under the public URL.
    pub fn public_link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_refuse_paths_and_name_the_variable() {
        let env = Env::from_pairs([("POSTORA_THREADS_API_URL", "http://127.0.0.1:9/v1.0")]);
        let err = env
            .origin("POSTORA_THREADS_API_URL", "https://graph.threads.net")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("POSTORA_THREADS_API_URL is not valid"),
            "{err}"
        );
        let ok = Env::default()
            .origin("POSTORA_THREADS_API_URL", "https://graph.threads.net")
            .unwrap();
        assert_eq!(ok.as_str(), "https://graph.threads.net/");
    }

    #[test]
    fn numbers_that_do_not_parse_name_their_variable() {
        let env = Env::from_pairs([("POSTORA_MAX_ATTEMPTS", "many")]);
        let err = Settings::from_env(&env, "http://127.0.0.1:8080").unwrap_err();
        assert!(err.to_string().contains("POSTORA_MAX_ATTEMPTS"));
    }

    #[test]
    fn durations_above_a_year_name_their_variable() {
        for (raw, ok) in [
            ("31622400", true),
            ("31622401", false),
            ("10000000000000", false),
            ("18446744073709551615", false),
            ("18446744073709551616", false),
            ("-1", false),
            ("1e9", false),
            ("NaN", false),
        ] {
            let env = Env::from_pairs([("POSTORA_BACKOFF_MAX_SECS", raw)]);
            match Settings::from_env(&env, "http://127.0.0.1:8080") {
                Ok(s) => {
                    assert!(ok, "{raw} was taken");
                    assert_eq!(s.publisher.backoff_max.as_secs(), 31_622_400);
                }
                Err(e) => {
                    assert!(!ok, "{raw} was refused: {e}");
                    assert!(e.to_string().contains("POSTORA_BACKOFF_MAX_SECS"), "{e}");
                }
            }
        }
    }

    #[test]
    fn debug_of_the_environment_names_variables_and_shows_no_value() {
        let mut env = Env::from_pairs([
            ("POSTORA_FACEBOOK_CLIENT_SECRET", "fb-very-secret"),
            ("POSTORA_WEBHOOK_SECRET", "hook-very-secret"),
            ("AWS_SECRET_ACCESS_KEY", "aws-very-secret"),
            ("POSTORA_ADDR", "127.0.0.1:9999"),
        ]);
        env.set("POSTORA_THREADS_CLIENT_SECRET", "threads-very-secret");
        for shown in [
            format!("{env:?}"),
            format!("{env:#?}"),
            format!("{:?}", env.clone()),
        ] {
            assert!(!shown.contains("very-secret"), "{shown}");
            assert!(!shown.contains("9999"), "no value at all: {shown}");
            assert!(shown.contains("POSTORA_FACEBOOK_CLIENT_SECRET"), "{shown}");
            assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        }
    }

    #[test]
    fn callback_secrets_are_read_once_and_never_shown() {
        let env = Env::from_pairs([
            ("POSTORA_FACEBOOK_CLIENT_SECRET", "fb-very-secret"),
            ("POSTORA_THREADS_CLIENT_SECRET", " "),
        ]);
        let s = Settings::from_env(&env, "http://127.0.0.1:8080").unwrap();
        assert!(s.callbacks.facebook.is_some());
        assert!(s.callbacks.threads.is_none(), "a blank variable is not set");
        let shown = format!("{s:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    fn the_redirect_uri_follows_the_public_url() {
        let env = Env::from_pairs([("POSTORA_PUBLIC_URL", "https://postora.example.com")]);
        let s = Settings::from_env(&env, "http://127.0.0.1:8080").unwrap();
        assert_eq!(
            s.redirect_uri(crate::domain::PlatformKind::Threads),
            "https://postora.example.com/oauth/threads/callback"
        );
    }
}
