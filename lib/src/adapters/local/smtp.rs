//! Mail through an SMTP server (`POSTORA_SMTP_URL`), and the one way Postora formats a message on one machine: an
//! RFC 5322 message with the plain text and the HTML as alternatives, from `POSTORA_MAIL_FROM`. The outbox writes the
//! same message to a file. Logs show the address and the subject, never the body: it holds single-use links.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::config::ConfigError;
use crate::ports::{Email, MailError, Mailer};

/// The sender when `POSTORA_MAIL_FROM` is unset.
pub const DEFAULT_FROM: &str = "Postora <postora@localhost>";

/// The sender Postora's mail comes from: `POSTORA_MAIL_FROM` (`Name <address>` or an address), or [`DEFAULT_FROM`].
pub fn mail_from(raw: Option<&str>) -> Result<Mailbox, ConfigError> {
    raw.unwrap_or(DEFAULT_FROM).parse().map_err(|_| {
        ConfigError::invalid(
            "POSTORA_MAIL_FROM",
            "must be an address, or a name and an address as in `Postora <mail@example.com>`",
        )
    })
}

/// `email` as an RFC 5322 message from `from`: plain text and HTML as alternatives.
pub fn format_message(from: &Mailbox, email: &Email) -> Result<lettre::Message, MailError> {
    let to: Mailbox = email
        .to
        .as_str()
        .parse()
        .map_err(|_| MailError::Refused("the address cannot be written in a message".into()))?;
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| MailError::Refused(e.to_string()))
}

/// Sends through an SMTP server: `smtp://host:port` (no TLS; `?tls=required` for STARTTLS) or
/// `smtps://user:password@host:465` (TLS from the start), as lettre reads such URLs.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The server, for logs (the URL may hold a password).
    server: String,
}

impl SmtpMailer {
    pub fn new(url: &SecretString, from: Mailbox) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::invalid("POSTORA_SMTP_URL", why);
        let parsed = url::Url::parse(url.expose_secret()).map_err(|_| {
            invalid(
                "must be a URL such as smtp://localhost:25 or smtps://user:password@host:465"
                    .into(),
            )
        })?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            return Err(invalid("must start with smtp:// or smtps://".into()));
        }
        let server = format!(
            "{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port().map(|p| p.to_string()).unwrap_or_default()
        );
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| invalid(format!("is not a usable SMTP URL: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(SmtpMailer {
            transport,
            from,
            server,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = format_message(&self.from, email)?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(to = %email.to, subject = %email.subject, server = %self.server, "mail sent");
                Ok(())
            }
            Err(e) if e.is_permanent() => Err(MailError::Refused(e.to_string())),
            Err(e) => Err(MailError::Unavailable(e.to_string())),
        }
    }
}
