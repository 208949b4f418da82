//! The library's error: what went wrong, in terms a caller can act on. The HTTP layer maps it to a status in one
//! place (`crate::http::error`), the publisher to retry-or-not in one place (`crate::app::publish`).

use crate::domain::content::Violation;
use crate::domain::PlatformKind;
use crate::ports::PlatformError;
use crate::ports::{BusError, KeyError, QueueError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule; `violations` names each field.
    #[error("{}", .0.first().map(|v| format!("{}: {}", v.field, v.message)).unwrap_or_default())]
    Validation(Vec<Violation>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("a valid API key is required")]
    Unauthorized,
    /// Who the caller is could not be established (no session, a wrong password, an expired session); 401.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// The caller is known but may not do this (their role, an unverified email, a missing second factor); 403.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Too many attempts (signing in, resetting, verifying) from this account or address; 429 with a wait.
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A file, or the workspace's media, would be larger than allowed.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("the platform `{0}` is not enabled on this Postora")]
    PlatformDisabled(PlatformKind),
    #[error("the platform did not accept the request: {0}")]
    Platform(PlatformError),
    /// A dependency is overloaded or unreachable; nothing was changed, or the change is safe to repeat.
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![Violation::new(field, message)])
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Error::TooLarge {
            code,
            message: message.into(),
        }
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthenticated {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                Error::conflict("conflict", "the record changed at the same time; try again")
            }
            StoreError::NotFound => Error::NotFound("record"),
            StoreError::Throttled(m) => Error::Unavailable(format!("the store is busy: {m}")),
            StoreError::Unavailable(m) => {
                Error::Unavailable(format!("the store is unavailable: {m}"))
            }
        }
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<QueueError> for Error {
    fn from(e: QueueError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<crate::crypto::VaultError> for Error {
    fn from(e: crate::crypto::VaultError) -> Self {
        match e {
            crate::crypto::VaultError::NoWorkspace => Error::NotFound("workspace"),
            other => Error::Unavailable(other.to_string()),
        }
    }
}
