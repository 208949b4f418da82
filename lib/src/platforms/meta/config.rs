//! Configuration shared by the Meta adapters: the app credentials, read from the environment as
//! docs/oauth.md ("Configuration") names them. Origins are read with [`Env::origin`].

use std::fmt;

use secrecy::SecretString;

use crate::config::{ConfigError, Env};

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

/// `POSTORA_<PLATFORM>_CLIENT_ID` and `_CLIENT_SECRET`: `None` when neither is set (the platform is off), an
/// error naming the missing one when only one is.
pub(crate) fn app_from(env: &Env, platform: &str) -> Result<Option<MetaApp>, ConfigError> {
    let id_name = format!("POSTORA_{platform}_CLIENT_ID");
    let secret_name = format!("POSTORA_{platform}_CLIENT_SECRET");
    let half = |missing: &str, present: &str| {
        ConfigError::invalid(
            missing,
            format!("it must be set too, since {present} is (set both to enable the platform, or neither)"),
        )
    };
    match (env.get(&id_name), env.secret(&secret_name)) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => Ok(Some(MetaApp::new(id, secret))),
        (Some(_), None) => Err(half(&secret_name, &id_name)),
        (None, Some(_)) => Err(half(&id_name, &secret_name)),
    }
}

/// One of the real hosts, written as a literal in this module's callers; `defaults_are_origins` checks each.
pub(crate) fn real_origin(raw: &'static str) -> url::Url {
    url::Url::parse(raw).expect("the default origins are valid literals")
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_platform_with_no_credentials_is_off() {
        assert!(app_from(&Env::default(), "THREADS").unwrap().is_none());
        let blank = Env::from_pairs([("POSTORA_THREADS_CLIENT_ID", " ")]);
        assert!(app_from(&blank, "THREADS").unwrap().is_none());
    }

    #[test]
    fn both_credentials_switch_a_platform_on() {
        let env = Env::from_pairs([
            ("POSTORA_THREADS_CLIENT_ID", "123"),
            ("POSTORA_THREADS_CLIENT_SECRET", "shh"),
        ]);
        let app = app_from(&env, "THREADS").unwrap().unwrap();
        assert_eq!(app.client_id, "123");
        assert_eq!(app.client_secret.expose_secret(), "shh");
        assert!(!format!("{app:?}").contains("shh"));
    }

    #[test]
    fn half_a_credential_names_the_missing_variable() {
        let env = Env::from_pairs([("POSTORA_FACEBOOK_CLIENT_ID", "1")]);
        let err = app_from(&env, "FACEBOOK").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("POSTORA_FACEBOOK_CLIENT_SECRET"),
            "{err}"
        );
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
            assert_eq!(crate::config::parse_origin(raw).unwrap(), real_origin(raw));
        }
    }
}
