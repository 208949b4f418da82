//! The mail Postora sends to people: each message's words in one place, in plain text and HTML, signed with the
//! operator's name, and sent through the [`Mailer`](crate::ports::Mailer) port.

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::{EmailAddress, Role};
use crate::error::{Error, Result};
use crate::ports::Email;

/// A message to a person. Links hold single-use tokens: they appear in the body only, never in a log.
#[derive(Debug, Clone)]
pub enum Message<'a> {
    /// Confirms an address, at sign-up or when a person changes theirs (`link` opens the verification page).
    VerifyEmail { name: &'a str, link: &'a str },
    /// Lets a person set a new password (`link` opens the reset page, good for an hour).
    ResetPassword { name: &'a str, link: &'a str },
    /// Tells the old address that the account's address is changing to `new_email`.
    EmailChanging {
        name: &'a str,
        new_email: &'a EmailAddress,
    },
    /// Tells the owner of an address that someone tried to sign up with it (or to move another account to it): nothing
    /// changed, and `link` opens the page to reset their password if they forgot it.
    AccountExists { name: &'a str, link: &'a str },
    /// Tells a person their password was changed.
    PasswordChanged { name: &'a str },
    /// Tells a person two-factor authentication was turned on or off.
    TwoFactorChanged { name: &'a str, enabled: bool },
    /// A successful sign-in from a browser Postora had not seen for this person.
    NewSignIn {
        name: &'a str,
        at: DateTime<Utc>,
        ip: &'a str,
        user_agent: &'a str,
    },
    /// An invitation to join `workspace` as `role` (`link` opens the invitation).
    Invitation {
        inviter: &'a str,
        workspace: &'a str,
        role: Role,
        link: &'a str,
    },
}

impl Message<'_> {
    /// The subject, the plain-text body and the HTML body, signed with `operator`.
    pub fn render(&self, operator: &str) -> (String, String, String) {
        let (subject, lines): (String, Vec<String>) = match self {
            Message::VerifyEmail { name, link } => (
                "Confirm your email address".into(),
                vec![
                    format!("Hello {name},"),
                    "Open this link to confirm your email address for Postora:".into(),
                    link.to_string(),
                    "The link works once and for 24 hours. If you did not sign up, ignore this message.".into(),
                ],
            ),
            Message::ResetPassword { name, link } => (
                "Reset your Postora password".into(),
                vec![
                    format!("Hello {name},"),
                    "Open this link to choose a new password:".into(),
                    link.to_string(),
                    "The link works once and for one hour. If you did not ask for it, ignore this message: your password stays as it is.".into(),
                ],
            ),
            Message::EmailChanging { name, new_email } => (
                "Your Postora email address is changing".into(),
                vec![
                    format!("Hello {name},"),
                    format!("Someone signed in to your account asked to change its address to {new_email}. It changes once that address is confirmed."),
                    "If this was not you, change your password and sign out everywhere from your settings.".into(),
                ],
            ),
            Message::AccountExists { name, link } => (
                "Someone tried to use your address on Postora".into(),
                vec![
                    format!("Hello {name},"),
                    "Someone tried to sign up for Postora (or move an account) with your email address, which already has an account. Nothing was changed.".into(),
                    "If it was you and you forgot your password, you can reset it here:".into(),
                    link.to_string(),
                    "If it was not you, you can ignore this message.".into(),
                ],
            ),
            Message::PasswordChanged { name } => (
                "Your Postora password was changed".into(),
                vec![
                    format!("Hello {name},"),
                    "Your password was changed, and your other sessions were signed out.".into(),
                    "If this was not you, reset your password now.".into(),
                ],
            ),
            Message::TwoFactorChanged { name, enabled } => (
                format!(
                    "Two-factor authentication was turned {}",
                    if *enabled { "on" } else { "off" }
                ),
                vec![
                    format!("Hello {name},"),
                    format!(
                        "Two-factor authentication was turned {} for your Postora account.",
                        if *enabled { "on" } else { "off" }
                    ),
                    "If this was not you, reset your password now.".into(),
                ],
            ),
            Message::NewSignIn {
                name,
                at,
                ip,
                user_agent,
            } => (
                "New sign-in to your Postora account".into(),
                vec![
                    format!("Hello {name},"),
                    format!(
                        "Your account was signed in to from a new browser at {} UTC, from {ip} ({user_agent}).",
                        at.format("%Y-%m-%d %H:%M")
                    ),
                    "If this was not you, change your password and sign out everywhere from your settings.".into(),
                ],
            ),
            Message::Invitation {
                inviter,
                workspace,
                role,
                link,
            } => (
                format!("{inviter} invited you to {workspace} on Postora"),
                vec![
                    format!("{inviter} invited you to join the workspace {workspace} on Postora as {role}."),
                    "Open this link to accept:".into(),
                    link.to_string(),
                    "The invitation works once and for 7 days.".into(),
                ],
            ),
        };
        let text = format!("{}\n\n{operator}\n", lines.join("\n\n"));
        let html = format!(
            "<!doctype html><html><body>{}<p>{}</p></body></html>",
            lines
                .iter()
                .map(|l| format!("<p>{}</p>", escape(l)))
                .collect::<String>(),
            escape(operator)
        );
        (subject, text, html)
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl App {
    /// Sends `message` to `to`. A mail service that cannot take it is [`Error::Unavailable`]: nothing else changes
    /// because of it, and the person can ask again.
    pub async fn send_mail(&self, to: &EmailAddress, message: Message<'_>) -> Result<()> {
        let (subject, text, html) = message.render(&self.settings.operator.name);
        let email = Email {
            to: to.clone(),
            subject,
            text,
            html,
        };
        self.mailer.send(&email).await.map_err(|e| {
            tracing::warn!(to = ?to, subject = %email.subject, error = %e, "mail not sent");
            Error::Unavailable("the mail service did not take the message".into())
        })
    }

    /// A link to one of Postora's own pages with a single-use token: `<public url><path>?token=<token>`.
    pub fn token_link(&self, path: &str, token: &str) -> String {
        let mut url = self.settings.public_url.clone();
        url.set_path(path);
        url.query_pairs_mut().clear().append_pair("token", token);
        url.to_string()
    }
}
