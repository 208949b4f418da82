//! The mailer of last resort on one machine: each message is written to `outbox/` in the data directory as an `.eml`
//! file (the RFC 5322 message an SMTP server would get, plain text and HTML as alternatives, which any mail program
//! opens) with a `.txt` beside it (the address, the subject and the plain text as they are, since the message's
//! transfer encoding may break long lines and links), and logged by address and subject, so `postora serve` works
//! with no mail server and a person trying it can open the message. The log never shows the body: it holds
//! single-use links.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::message::Mailbox;

use super::smtp::format_message;
use crate::ports::{Email, MailError, Mailer};

pub struct Outbox {
    dir: PathBuf,
    from: Mailbox,
}

impl Outbox {
    /// An outbox in `dir` (created on the first message), for mail from `from`.
    pub fn new(dir: impl Into<PathBuf>, from: Mailbox) -> Self {
        Outbox {
            dir: dir.into(),
            from,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = format_message(&self.from, email)?;
        let stem = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let unavailable = |e: std::io::Error| MailError::Unavailable(e.to_string());
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(unavailable)?;
        let file = self.dir.join(format!("{stem}.eml"));
        tokio::fs::write(&file, message.formatted())
            .await
            .map_err(unavailable)?;
        let readable = format!(
            "To: {}\nSubject: {}\n\n{}",
            email.to, email.subject, email.text
        );
        tokio::fs::write(self.dir.join(format!("{stem}.txt")), readable)
            .await
            .map_err(unavailable)?;
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            file = %file.display(),
            "mail written to the outbox (no mail server is configured)"
        );
        Ok(())
    }
}
