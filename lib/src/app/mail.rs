//! The mail Postora sends to people: each message's words in one place (a plain-text and an HTML template per message
//! under `lib/templates/mail/`, the HTML escaped), signed with the operator's name, and sent through the
//! [`Mailer`](crate::ports::Mailer) port.

use askama::Template;
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

/// What the templates of `lib/templates/mail/` may show: every message's values, empty where a message has none.
/// Each message has a plain-text template and an HTML one (escaping on), signed with the operator's name.
#[derive(Default)]
struct Vars<'a> {
    operator: &'a str,
    name: &'a str,
    link: &'a str,
    new_email: &'a str,
    on_off: &'a str,
    at: String,
    ip: &'a str,
    user_agent: &'a str,
    inviter: &'a str,
    workspace: &'a str,
    role: &'a str,
}

/// A message's two templates: `$text` (plain) and `$html` (escaped), over the same [`Vars`].
macro_rules! templates {
    ($text:ident, $text_path:tt, $html:ident, $html_path:tt) => {
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            v: &'a Vars<'a>,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            v: &'a Vars<'a>,
            subject: &'a str,
        }
    };
}

templates!(
    VerifyText,
    "mail/verify_email.txt",
    VerifyHtml,
    "mail/verify_email.html"
);
templates!(
    ResetText,
    "mail/reset_password.txt",
    ResetHtml,
    "mail/reset_password.html"
);
templates!(
    ChangingText,
    "mail/email_changing.txt",
    ChangingHtml,
    "mail/email_changing.html"
);
templates!(
    PasswordText,
    "mail/password_changed.txt",
    PasswordHtml,
    "mail/password_changed.html"
);
templates!(
    TwoFactorText,
    "mail/two_factor_changed.txt",
    TwoFactorHtml,
    "mail/two_factor_changed.html"
);
templates!(
    ExistsText,
    "mail/account_exists.txt",
    ExistsHtml,
    "mail/account_exists.html"
);
templates!(
    SignInText,
    "mail/new_sign_in.txt",
    SignInHtml,
    "mail/new_sign_in.html"
);
templates!(
    InvitationText,
    "mail/invitation.txt",
    InvitationHtml,
    "mail/invitation.html"
);

impl Message<'_> {
    /// The subject, the plain-text body and the HTML body, signed with `operator`.
    pub fn render(&self, operator: &str) -> Result<(String, String, String)> {
        let mut v = Vars {
            operator,
            ..Vars::default()
        };
        let subject: String = match self {
            Message::VerifyEmail { name, link } => {
                (v.name, v.link) = (name, link);
                "Confirm your email address".into()
            }
            Message::ResetPassword { name, link } => {
                (v.name, v.link) = (name, link);
                "Reset your Postora password".into()
            }
            Message::EmailChanging { name, new_email } => {
                (v.name, v.new_email) = (name, new_email.as_str());
                "Your Postora email address is changing".into()
            }
            Message::AccountExists { name, link } => {
                (v.name, v.link) = (name, link);
                "Someone tried to use your address on Postora".into()
            }
            Message::PasswordChanged { name } => {
                v.name = name;
                "Your Postora password was changed".into()
            }
            Message::TwoFactorChanged { name, enabled } => {
                v.name = name;
                v.on_off = if *enabled { "on" } else { "off" };
                format!("Two-factor authentication was turned {}", v.on_off)
            }
            Message::NewSignIn {
                name,
                at,
                ip,
                user_agent,
            } => {
                (v.name, v.ip, v.user_agent) = (name, ip, user_agent);
                v.at = at.format("%Y-%m-%d %H:%M").to_string();
                "New sign-in to your Postora account".into()
            }
            Message::Invitation {
                inviter,
                workspace,
                role,
                link,
            } => {
                (v.inviter, v.workspace, v.link) = (inviter, workspace, link);
                v.role = role.as_str();
                format!("{inviter} invited you to {workspace} on Postora")
            }
        };
        let v = &v;
        let subject_ref = subject.as_str();
        let rendered = match self {
            Message::VerifyEmail { .. } => both(
                VerifyText { v },
                VerifyHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::ResetPassword { .. } => both(
                ResetText { v },
                ResetHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::EmailChanging { .. } => both(
                ChangingText { v },
                ChangingHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::AccountExists { .. } => both(
                ExistsText { v },
                ExistsHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::PasswordChanged { .. } => both(
                PasswordText { v },
                PasswordHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::TwoFactorChanged { .. } => both(
                TwoFactorText { v },
                TwoFactorHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::NewSignIn { .. } => both(
                SignInText { v },
                SignInHtml {
                    v,
                    subject: subject_ref,
                },
            ),
            Message::Invitation { .. } => both(
                InvitationText { v },
                InvitationHtml {
                    v,
                    subject: subject_ref,
                },
            ),
        };
        let (text, html) = rendered.map_err(|e| {
            tracing::error!(error = %e, "a mail template did not render");
            Error::Unavailable("the message could not be written".into())
        })?;
        Ok((subject, text, html))
    }
}

fn both(text: impl Template, html: impl Template) -> askama::Result<(String, String)> {
    Ok((text.render()?, html.render()?))
}

impl App {
    /// Sends `message` to `to`. A mail service that cannot take it is [`Error::Unavailable`]: nothing else changes
    /// because of it, and the person can ask again.
    pub async fn send_mail(&self, to: &EmailAddress, message: Message<'_>) -> Result<()> {
        let (subject, text, html) = message.render(&self.settings.operator.name)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_is_escaped_and_the_text_is_not() {
        let (subject, text, html) = Message::VerifyEmail {
            name: "Ana <b>&",
            link: "https://p.example/verify?token=t1",
        }
        .render("Bakery & Co")
        .unwrap();
        assert_eq!(subject, "Confirm your email address");
        assert!(text.contains("Hello Ana <b>&,"), "{text}");
        assert!(text.contains("https://p.example/verify?token=t1"));
        assert!(text.trim_end().ends_with("Bakery & Co"), "{text}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("Ana &#60;b&#62;&#38;") || html.contains("Ana &lt;b&gt;&amp;"),
            "{html}"
        );
        assert!(
            html.contains("<title>Confirm your email address</title>"),
            "{html}"
        );
    }
}
