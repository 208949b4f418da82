//! Why a fetch from an address a person supplied did not happen or did not finish.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use super::guard::Refusal;

/// Why a fetch did not happen or did not finish. Every message can be shown to the person who supplied the address:
/// it names a host, an IP address or a status, never a whole URL (whose path or query may carry a secret).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The address is not `http` or `https`.
    #[error("only http and https addresses can be fetched")]
    Scheme { scheme: String },
    /// The address carries a user name or password.
    #[error("addresses with a user name or password are not accepted")]
    Credentials,
    /// The address names no host.
    #[error("the address has no host")]
    NoHost,
    /// The host is, or resolves to, an address the policy refuses.
    #[error("{}", forbidden_message(host, *ip, *reason))]
    Forbidden {
        host: String,
        ip: IpAddr,
        reason: Refusal,
    },
    /// The host name has no address.
    #[error("{host} could not be found")]
    NotFound { host: String },
    /// No connection could be made to the host.
    #[error("could not connect to {host}")]
    Connect { host: String },
    /// The connection broke before the whole answer arrived.
    #[error("the connection to {host} broke before the file arrived")]
    Broken { host: String },
    /// The fetch, body included, took longer than its deadline.
    #[error("the server did not answer within {}", human(*after))]
    Timeout { after: Duration },
    /// The chain of redirects went on past the limit.
    #[error("more than {max} redirects")]
    TooManyRedirects { max: u8 },
    /// A redirect without a usable `Location`.
    #[error("{host} redirected without a valid address to go to")]
    BadRedirect { host: String },
    /// The final answer was not a success.
    #[error("the server answered {status}")]
    Status { host: String, status: u16 },
    /// The body is, or says it is, larger than the limit.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The HTTP client could not be built (no TLS configuration).
    #[error("the HTTP client could not be set up")]
    Setup,
}

impl FetchError {
    /// The fetch error a body's `io::Error` carries, if it carries one.
    pub fn from_io(e: &io::Error) -> Option<&FetchError> {
        e.get_ref()?.downcast_ref::<FetchError>()
    }

    pub(super) fn into_io(self) -> io::Error {
        let kind = match self {
            FetchError::TooLarge { .. } => io::ErrorKind::FileTooLarge,
            FetchError::Timeout { .. } => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, self)
    }
}

fn forbidden_message(host: &str, ip: IpAddr, reason: Refusal) -> String {
    if host == ip.to_string() {
        format!(
            "{ip} is {}, which Postora does not fetch from",
            reason.describe()
        )
    } else {
        format!(
            "{host} resolves to {} ({ip}), which Postora does not fetch from",
            reason.describe()
        )
    }
}

/// "30 seconds", "1 second", "500 milliseconds".
fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        match d.as_secs() {
            1 => "1 second".to_owned(),
            n => format!("{n} seconds"),
        }
    } else {
        format!("{} milliseconds", d.as_millis())
    }
}
