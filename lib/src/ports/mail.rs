//! Sending email: Amazon SES on AWS; SMTP, or an outbox in the data directory, on one machine.

use std::fmt;

use async_trait::async_trait;

use crate::domain::EmailAddress;

/// One message to one person, in plain text and HTML. The body holds single-use links, so `Debug` shows the
/// address's domain and the subject only.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server or service refused the message or could not be reached; it may be tried again later.
    #[error("the message could not be sent: {0}")]
    Unavailable(String),
    /// The message itself was refused (an address the service will not send to).
    #[error("the message was refused: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}
