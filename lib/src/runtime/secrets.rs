//! Which secrets each Lambda function reads, in one place, and reading them from Secrets Manager at cold start.
//!
//! On AWS no secret is in a function's environment. Each platform's app credentials live in one Secrets Manager
//! secret holding `{"client_id": "...", "client_secret": "..."}`, and a function that needs them is given the
//! secret's *name* in `POSTORA_<PLATFORM>_CREDENTIALS` (with an IAM grant on that secret alone). At cold start
//! [`resolve`] reads the secrets the function uses ([`Function::secrets`]) and puts them in its [`Env`] snapshot as
//! `POSTORA_<PLATFORM>_CLIENT_ID` and `_CLIENT_SECRET`, the variables `postora serve` reads from its own environment,
//! so nothing after the cold start knows where a secret came from. `template.yaml` is checked against
//! [`Function::secrets`] by the template test.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde::Deserialize;
use zeroize::Zeroize;

use crate::config::Env;
use crate::domain::PlatformKind;

/// The six Lambda functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    PostApi,
    OAuthCallback,
    DataDeletion,
    Dispatcher,
    Publisher,
    TokenRefresher,
}

/// The platforms Postora can be given credentials for (every one but the built-in sandbox).
const REAL_PLATFORMS: [PlatformKind; 9] = [
    PlatformKind::Threads,
    PlatformKind::Instagram,
    PlatformKind::Facebook,
    PlatformKind::Tiktok,
    PlatformKind::X,
    PlatformKind::Linkedin,
    PlatformKind::Bluesky,
    PlatformKind::Youtube,
    PlatformKind::Mastodon,
];

/// The apps whose secrets sign data-deletion and deauthorize callbacks: Meta's (Facebook and Instagram, `/meta/*`)
/// and Threads' (`/threads/*`).
const CALLBACK_SIGNERS: [PlatformKind; 3] = [
    PlatformKind::Threads,
    PlatformKind::Instagram,
    PlatformKind::Facebook,
];

impl Function {
    pub const ALL: [Function; 6] = [
        Function::PostApi,
        Function::OAuthCallback,
        Function::DataDeletion,
        Function::Dispatcher,
        Function::Publisher,
        Function::TokenRefresher,
    ];

    /// The binary under `functions/src/bin/`, as `template.yaml` names it.
    pub fn binary(self) -> &'static str {
        match self {
            Function::PostApi => "post-api",
            Function::OAuthCallback => "oauth-callback",
            Function::DataDeletion => "data-deletion",
            Function::Dispatcher => "dispatcher",
            Function::Publisher => "publisher",
            Function::TokenRefresher => "token-refresher",
        }
    }

    /// The platforms whose credentials secret this function reads:
    ///
    /// - the publisher, the OAuth callback (which also starts connections) and the token refresher call platforms
    ///   (publish, exchange a code, refresh a token), so they read every platform's;
    /// - the public API calls no platform, but a platform is on only where its credentials are, and the API checks
    ///   every post against the rules of the platforms that are on, so it reads every platform's too;
    /// - the data-deletion function calls no platform but verifies the callbacks Meta and Threads sign with their
    ///   app secrets, so it reads Facebook's, Instagram's and Threads';
    /// - the dispatcher never uses a secret, so it reads none.
    pub fn secrets(self) -> &'static [PlatformKind] {
        match self {
            Function::Publisher
            | Function::OAuthCallback
            | Function::TokenRefresher
            | Function::PostApi => &REAL_PLATFORMS,
            Function::DataDeletion => &CALLBACK_SIGNERS,
            Function::Dispatcher => &[],
        }
    }
}

/// The variable naming a platform's credentials secret: `POSTORA_<PLATFORM>_CREDENTIALS`.
pub fn credentials_var(platform: PlatformKind) -> String {
    format!("POSTORA_{}_CREDENTIALS", platform.env_name())
}

/// A secret that could not be used. It names the secret and the variable that named it, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret {secret} (named by {var}) cannot be read: {reason}")]
    Unreadable {
        secret: String,
        var: String,
        reason: String,
    },
    #[error(
        "the secret {secret} (named by {var}) is not a JSON object with the strings client_id and client_secret"
    )]
    Malformed { secret: String, var: String },
}

/// What a credentials secret holds.
#[derive(Deserialize)]
struct Credentials {
    client_id: String,
    client_secret: String,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        self.client_id.zeroize();
        self.client_secret.zeroize();
    }
}

/// Reads the secrets `function` uses and whose names `env` holds, and puts their values in `env`. A platform whose
/// `POSTORA_<PLATFORM>_CREDENTIALS` is unset is left as the environment has it (off, on AWS). The first secret that
/// is missing, unreadable or malformed stops the cold start with an error naming it.
pub async fn resolve(
    env: &mut Env,
    function: Function,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<(), SecretError> {
    for &platform in function.secrets() {
        let var = credentials_var(platform);
        let Some(secret) = env.get(&var).map(str::to_owned) else {
            continue;
        };
        let unreadable = |reason: String| SecretError::Unreadable {
            secret: secret.clone(),
            var: var.clone(),
            reason,
        };
        let out = client
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await
            .map_err(|e| {
                unreadable(match e.code() {
                    Some(code) => code.to_owned(),
                    None => DisplayErrorContext(&e).to_string(),
                })
            })?;
        let Some(text) = out.secret_string() else {
            return Err(unreadable("it holds no secret string".into()));
        };
        // serde's messages may quote the value they could not take, so the error says only what was expected.
        let credentials: Credentials =
            serde_json::from_str(text).map_err(|_| SecretError::Malformed {
                secret: secret.clone(),
                var: var.clone(),
            })?;
        let name = platform.env_name();
        env.set(
            &format!("POSTORA_{name}_CLIENT_ID"),
            credentials.client_id.clone(),
        );
        env.set(
            &format!("POSTORA_{name}_CLIENT_SECRET"),
            credentials.client_secret.clone(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_functions_that_call_or_check_platforms_or_verify_callbacks_read_secrets() {
        for f in Function::ALL {
            let n = f.secrets().len();
            match f {
                Function::Dispatcher => assert_eq!(n, 0, "{f:?}"),
                Function::DataDeletion => assert_eq!(n, 3, "{f:?}"),
                _ => assert_eq!(n, PlatformKind::ALL.len() - 1, "{f:?}"),
            }
            assert!(!f.secrets().contains(&PlatformKind::Sandbox));
        }
        assert_eq!(
            credentials_var(PlatformKind::Threads),
            "POSTORA_THREADS_CREDENTIALS"
        );
    }
}
