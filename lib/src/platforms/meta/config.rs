//! Configuration shared by the Meta adapters: the app credentials and the origins of each host, read from the
//! environment as DESIGN.md ("Platform endpoints") names them.

use std::fmt;

use secrecy::SecretString;

/// An app registered with Meta. The secret signs token exchanges and never leaves this struct in the clear.
#[derive(Clone)]
pub struct MetaApp {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl MetaApp {
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
        }
    }
}

impl fmt::Debug for MetaApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// A configuration variable that is present but unusable. Each names the variable so an operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Only half of a platform's credentials are set.
    #[error("{missing} is not set but {present} is: set both to enable this platform, or neither")]
    Incomplete { missing: String, present: String },
    /// A host variable is not an origin.
    #[error("{name} must be an origin such as https://host or http://127.0.0.1:8080 (no path): {reason}")]
    BadOrigin { name: String, reason: String },
    /// A variable holds a value outside its allowed set.
    #[error("{name} must be one of {allowed}, not `{value}`")]
    BadValue {
        name: String,
        allowed: &'static str,
        value: String,
    },
}

/// Reads variables by name. `std::env::var` in production, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable's value, treating an empty one as unset.
pub(crate) fn var(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `POSTORA_<PLATFORM>_CLIENT_ID` and `_CLIENT_SECRET`: `None` when neither is set (the platform is off).
pub(crate) fn app_from(lookup: Lookup<'_>, platform: &str) -> Result<Option<MetaApp>, ConfigError> {
    let id_name = format!("POSTORA_{platform}_CLIENT_ID");
    let secret_name = format!("POSTORA_{platform}_CLIENT_SECRET");
    match (var(lookup, &id_name), var(lookup, &secret_name)) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => Ok(Some(MetaApp::new(id, SecretString::from(secret)))),
        (Some(_), None) => Err(ConfigError::Incomplete {
            missing: secret_name,
            present: id_name,
        }),
        (None, Some(_)) => Err(ConfigError::Incomplete {
            missing: id_name,
            present: secret_name,
        }),
    }
}

/// The origin in variable `name`, or `default` when it is unset.
pub(crate) fn origin_from(
    lookup: Lookup<'_>,
    name: &str,
    default: &str,
) -> Result<url::Url, ConfigError> {
    let raw = var(lookup, name).unwrap_or_else(|| default.to_owned());
    parse_origin(name, &raw)
}

/// Accepts `scheme://host[:port]` with an optional trailing slash; the adapters add the documented paths.
pub fn parse_origin(name: &str, raw: &str) -> Result<url::Url, ConfigError> {
    let bad = |reason: &str| ConfigError::BadOrigin {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(raw).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it carries credentials"));
    }
    Ok(url)
}

/// One of the real hosts, written as a literal in this module's callers; `defaults_are_origins` checks each.
pub(crate) fn real_origin(raw: &'static str) -> url::Url {
    url::Url::parse(raw).expect("the default origins are valid literals")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_platform_with_no_credentials_is_off() {
        assert!(app_from(&env(&[]), "THREADS").unwrap().is_none());
        assert!(
            app_from(&env(&[("POSTORA_THREADS_CLIENT_ID", " ")]), "THREADS")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn both_credentials_switch_a_platform_on() {
        let app = app_from(
            &env(&[
                ("POSTORA_THREADS_CLIENT_ID", "123"),
                ("POSTORA_THREADS_CLIENT_SECRET", "shh"),
            ]),
            "THREADS",
        )
        .unwrap()
        .unwrap();
        assert_eq!(app.client_id, "123");
        assert_eq!(app.client_secret.expose_secret(), "shh");
        assert!(!format!("{app:?}").contains("shh"));
    }

    #[test]
    fn half_a_credential_names_the_missing_variable() {
        let err = app_from(&env(&[("POSTORA_FACEBOOK_CLIENT_ID", "1")]), "FACEBOOK").unwrap_err();
        assert!(
            err.to_string().contains("POSTORA_FACEBOOK_CLIENT_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn origins_must_have_no_path() {
        let ok = parse_origin("X", "http://127.0.0.1:4000").unwrap();
        assert_eq!(ok.as_str(), "http://127.0.0.1:4000/");
        assert!(parse_origin("X", "https://graph.threads.net/").is_ok());
        for bad in [
            "graph.threads.net",
            "ftp://host",
            "https://host/v1.0",
            "https://host?a=b",
            "https://u:p@host",
        ] {
            let err = parse_origin("POSTORA_THREADS_API_URL", bad).unwrap_err();
            assert!(err.to_string().contains("POSTORA_THREADS_API_URL"), "{err}");
        }
    }

    #[test]
    fn defaults_are_origins() {
        for raw in [
            "https://threads.net",
            "https://graph.threads.net",
            "https://www.instagram.com",
            "https://api.instagram.com",
            "https://graph.instagram.com",
            "https://www.facebook.com",
            "https://graph.facebook.com",
        ] {
            assert_eq!(parse_origin("X", raw).unwrap(), real_origin(raw));
        }
    }
}
