//! [`SesMailer`]: mail through Amazon SES (API v2, `SendEmail` with simple content: a UTF-8 subject, a plain-text and
//! an HTML body). The From address is the operator's (`POSTORA_MAIL_FROM`, an identity verified in SES; it may carry
//! a display name, `Postora at Example <no-reply@example.com>`), and an optional configuration set
//! ([`ENV_SES_CONFIGURATION_SET`](super::ENV_SES_CONFIGURATION_SET)) routes SES's sending events wherever the operator has it send them.
//!
//! Errors name SES's error code and never its message, which can quote the recipient's address.

use async_trait::async_trait;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;

use super::ENV_MAIL_FROM;
use crate::ports::{Email, MailError, Mailer};

/// Every part of a message is sent as UTF-8.
const CHARSET: &str = "UTF-8";

/// SES's answers that say "not now": the message may be sent later.
const BUSY_CODES: [&str; 4] = [
    "TooManyRequestsException",
    "LimitExceededException",
    "ThrottlingException",
    "SendingPausedException",
];

/// SES's answers that refuse the message itself (its sender or recipient): sending it again will not help.
const REFUSED_CODES: [&str; 3] = [
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "BadRequestException",
];

/// Sends Postora's mail through SES.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
    from: Option<String>,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer sending from `from` (`None`: every message fails, naming `POSTORA_MAIL_FROM`), through
    /// `configuration_set` if given.
    pub fn new(client: Client, from: Option<String>, configuration_set: Option<String>) -> Self {
        Self {
            client,
            from: from.filter(|f| !f.trim().is_empty()),
            configuration_set: configuration_set.filter(|c| !c.trim().is_empty()),
        }
    }

    /// Whether a From address is configured.
    pub fn is_configured(&self) -> bool {
        self.from.is_some()
    }
}

fn content(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset(CHARSET)
        .build()
        .map_err(|e| MailError::Unavailable(format!("the message could not be built: {e}")))
}

/// Maps SES's answer to a [`MailError`] naming its error code only.
fn failure(err: &SdkError<SendEmailError, aws_smithy_runtime_api::http::Response>) -> MailError {
    match err.code() {
        Some(code) if REFUSED_CODES.contains(&code) => MailError::Refused(format!(
            "SES SendEmail: {code} (is the sender, {ENV_MAIL_FROM}, a verified identity, and may the account send to \
             this recipient?)"
        )),
        Some(code) if BUSY_CODES.contains(&code) => {
            MailError::Unavailable(format!("SES SendEmail: {code}"))
        }
        Some(code) => MailError::Unavailable(format!("SES SendEmail: {code}")),
        None => MailError::Unavailable(format!("SES SendEmail: {}", DisplayErrorContext(err))),
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let Some(from) = &self.from else {
            return Err(MailError::Unavailable(format!(
                "{ENV_MAIL_FROM} is not set: Postora has no address to send mail from (set it to an identity \
                 verified in SES)"
            )));
        };
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(to = ?email.to, subject = %email.subject, "mail sent through SES");
                Ok(())
            }
            Err(e) => Err(failure(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn answer(code: &str) -> SdkError<SendEmailError, Response> {
        SdkError::service_error(
            SendEmailError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("Email address is not verified: ann@example.com")
                    .build(),
            ),
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn refusals_and_busy_answers_are_told_apart_and_never_quote_an_address() {
        for code in REFUSED_CODES {
            let e = failure(&answer(code));
            assert!(matches!(e, MailError::Refused(_)), "{code}");
            assert!(!e.to_string().contains("ann@"), "{e}");
        }
        for code in BUSY_CODES
            .into_iter()
            .chain(["AccountSuspendedException", "NotFoundException"])
        {
            let e = failure(&answer(code));
            assert!(matches!(e, MailError::Unavailable(_)), "{code}");
            assert!(!e.to_string().contains("ann@"), "{e}");
        }
    }
}
