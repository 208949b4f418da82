//! The mailer of last resort on one machine: each message is written to `outbox/` in the data directory (a plain text
//! file and an HTML file side by side) and logged by address and subject, so `postora serve` works with no mail
//! server and a person trying it can open the message. The log never shows the body: it holds single-use links.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::ports::{Email, MailError, Mailer};

pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// An outbox in `dir` (created on the first message).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Outbox { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let stem = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let unavailable = |e: std::io::Error| MailError::Unavailable(e.to_string());
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(unavailable)?;
        let text = format!(
            "To: {}\nSubject: {}\n\n{}",
            email.to, email.subject, email.text
        );
        tokio::fs::write(self.dir.join(format!("{stem}.txt")), text)
            .await
            .map_err(unavailable)?;
        tokio::fs::write(self.dir.join(format!("{stem}.html")), &email.html)
            .await
            .map_err(unavailable)?;
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            file = %self.dir.join(format!("{stem}.txt")).display(),
            "mail written to the outbox (no mail server is configured)"
        );
        Ok(())
    }
}
