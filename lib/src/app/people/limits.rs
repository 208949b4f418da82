//! Limits on guessing: how many attempts of each kind an account or a client address may make in a window, counted
//! in the store ([`PeopleStore::count_attempt`](crate::ports::PeopleStore::count_attempt)) so every instance shares
//! them. Over a limit the request is refused with a 429 and a wait, and nothing else is done.
//!
//! Windows are fixed (they start at multiples of their length since the Unix epoch), so a counter is one item that
//! starts again from one in the next window.

use chrono::{DateTime, Utc};

use super::super::App;
use crate::error::{Error, Result};

/// One kind of attempt: what it is called in keys, how many are allowed, and in how long a window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub max: u32,
    pub window: chrono::Duration,
}

/// Failed sign-ins (a wrong password or second factor) per account: 10 per 15 minutes.
pub const SIGN_IN_ACCOUNT: Limit = Limit {
    name: "signin:account",
    max: 10,
    window: chrono::Duration::minutes(15),
};
/// Failed sign-ins per client address, whatever the account: 50 per 15 minutes.
pub const SIGN_IN_ADDRESS: Limit = Limit {
    name: "signin:ip",
    max: 50,
    window: chrono::Duration::minutes(15),
};
/// Password-reset requests per account: 5 per hour.
pub const RESET_ACCOUNT: Limit = Limit {
    name: "reset:account",
    max: 5,
    window: chrono::Duration::hours(1),
};
/// Password-reset requests per client address: 20 per hour.
pub const RESET_ADDRESS: Limit = Limit {
    name: "reset:ip",
    max: 20,
    window: chrono::Duration::hours(1),
};
/// Single-use link tokens submitted (verification and reset) per client address: 30 per 15 minutes.
pub const TOKEN_ADDRESS: Limit = Limit {
    name: "token:ip",
    max: 30,
    window: chrono::Duration::minutes(15),
};
/// Sign-ups and verification mails asked for per client address: 20 per hour.
pub const MAIL_ADDRESS: Limit = Limit {
    name: "mail:ip",
    max: 20,
    window: chrono::Duration::hours(1),
};
/// Mails asked for to one address (sign-ups naming it, verification links re-sent to it, address changes to it),
/// whether or not it has an account: 5 per hour, so no one can flood a mailbox through Postora.
pub const MAIL_ACCOUNT: Limit = Limit {
    name: "mail:account",
    max: 5,
    window: chrono::Duration::hours(1),
};
/// Failed password or code checks by a signed-in person (changing their password, address or second factor,
/// deleting their account): 10 per 15 minutes.
pub const CONFIRM_PERSON: Limit = Limit {
    name: "confirm:person",
    max: 10,
    window: chrono::Duration::minutes(15),
};

/// Every limit, for the docs and tests.
pub const ALL: [Limit; 8] = [
    SIGN_IN_ACCOUNT,
    SIGN_IN_ADDRESS,
    RESET_ACCOUNT,
    RESET_ADDRESS,
    TOKEN_ADDRESS,
    MAIL_ADDRESS,
    MAIL_ACCOUNT,
    CONFIRM_PERSON,
];

impl Limit {
    fn key(&self, subject: &str) -> String {
        format!("{}:{subject}", self.name)
    }

    fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let len = self.window.num_seconds().max(1);
        let start = now.timestamp().div_euclid(len) * len;
        DateTime::from_timestamp(start, 0).unwrap_or(now)
    }

    fn refused(&self, now: DateTime<Utc>) -> Error {
        let end = self.window_start(now) + self.window;
        let wait = (end - now).num_seconds().max(1) as u64;
        Error::TooManyAttempts {
            message: format!(
                "too many attempts; wait {} before trying again",
                describe(wait)
            ),
            retry_after: std::time::Duration::from_secs(wait),
        }
    }
}

fn describe(secs: u64) -> String {
    if secs < 90 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    }
}

impl App {
    /// Refuses (429) if `subject` has used up `limit` in this window, without counting.
    pub(crate) async fn check_limit(&self, limit: Limit, subject: &str) -> Result<()> {
        let now = self.now();
        let used = self
            .stores
            .people
            .attempts(&limit.key(subject), limit.window_start(now))
            .await?;
        if used >= limit.max {
            return Err(limit.refused(now));
        }
        Ok(())
    }

    /// Counts one attempt by `subject`; refuses (429) if it goes over `limit`.
    pub(crate) async fn spend_limit(&self, limit: Limit, subject: &str) -> Result<()> {
        let now = self.now();
        let start = limit.window_start(now);
        let used = self
            .stores
            .people
            .count_attempt(&limit.key(subject), start, start + limit.window)
            .await?;
        if used > limit.max {
            return Err(limit.refused(now));
        }
        Ok(())
    }

    /// Counts a failure by `subject` without refusing (the request already failed).
    pub(crate) async fn count_failure(&self, limit: Limit, subject: &str) {
        let now = self.now();
        let start = limit.window_start(now);
        if let Err(e) = self
            .stores
            .people
            .count_attempt(&limit.key(subject), start, start + limit.window)
            .await
        {
            tracing::warn!(limit = limit.name, error = %e, "could not count a failed attempt");
        }
    }

    /// Forgets `subject`'s attempts under `limit`.
    pub(crate) async fn clear_limit(&self, limit: Limit, subject: &str) {
        if let Err(e) = self.stores.people.clear_attempts(&limit.key(subject)).await {
            tracing::warn!(limit = limit.name, error = %e, "could not clear a counter");
        }
    }
}
