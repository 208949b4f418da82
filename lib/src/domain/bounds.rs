//! Limits on the durations, times and sizes that come from outside: a platform's answer, a request, a queue message
//! or the environment. Every such value goes through one of these before it meets clock arithmetic, so no value,
//! however absurd, can overflow a time and take the process down.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest wait a platform's hint (`Retry-After`, Meta's minutes to regain access, a rate-limit fault) is taken
/// at: a hint above a day is a day. A platform that really wants longer says so again on the next attempt.
pub const MAX_WAIT_HINT: Duration = Duration::from_secs(24 * 3600);

/// The longest lifetime a token answer may claim. Real platforms grant hours to months; beyond ten years the answer
/// is taken as broken, not as a token that lives forever.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 10 * 366 * 24 * 3600;

/// The largest number of seconds a duration in the environment may hold: a year.
pub const MAX_ENV_SECS: u64 = 366 * 24 * 3600;

/// A platform's wait hint, at most [`MAX_WAIT_HINT`].
pub fn wait_hint(hint: Duration) -> Duration {
    hint.min(MAX_WAIT_HINT)
}

/// A wait hint given in whole seconds (a `Retry-After` header, a sandbox fault), at most [`MAX_WAIT_HINT`].
pub fn wait_hint_secs(secs: u64) -> Duration {
    wait_hint(Duration::from_secs(secs.min(MAX_WAIT_HINT.as_secs())))
}

/// `now + wait`, never panicking: a wait beyond what a time can hold ends at the latest time there is.
pub fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now + wait` for a platform's hint: the hint clamped to a day first. The one place hints become times.
pub fn after_hint(now: DateTime<Utc>, hint: Duration) -> DateTime<Utc> {
    after(now, wait_hint(hint))
}

/// Why a token answer's lifetime cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token answer says it expires in {0} seconds, which is not a plausible lifetime")]
pub struct ImplausibleLifetime(pub i128);

/// When a token granted `now` with `expires_in` seconds expires. A negative lifetime, or one above ten years, is an
/// error: the answer is broken, and no time is made from it.
pub fn token_expiry(
    now: DateTime<Utc>,
    expires_in: i128,
) -> Result<DateTime<Utc>, ImplausibleLifetime> {
    if expires_in < 0 || expires_in > i128::from(MAX_TOKEN_LIFETIME_SECS) {
        return Err(ImplausibleLifetime(expires_in));
    }
    let secs = i64::try_from(expires_in).map_err(|_| ImplausibleLifetime(expires_in))?;
    chrono::Duration::try_seconds(secs)
        .and_then(|d| now.checked_add_signed(d))
        .ok_or(ImplausibleLifetime(expires_in))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_hint_above_a_day_is_a_day() {
        let now = Utc::now();
        assert_eq!(wait_hint_secs(30), Duration::from_secs(30));
        assert_eq!(wait_hint_secs(10_u64.pow(13)), MAX_WAIT_HINT);
        assert_eq!(wait_hint_secs(u64::MAX), MAX_WAIT_HINT);
        assert_eq!(
            after_hint(now, Duration::from_secs(10_u64.pow(13))),
            now + chrono::Duration::days(1)
        );
        assert_eq!(after(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            after(DateTime::<Utc>::MAX_UTC, Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn token_lifetimes_are_checked() {
        let now = Utc::now();
        assert_eq!(
            token_expiry(now, 3600),
            Ok(now + chrono::Duration::hours(1))
        );
        assert_eq!(token_expiry(now, 0), Ok(now));
        for bad in [-1, i128::from(i64::MIN), 10_i128.pow(13), i128::MAX] {
            assert_eq!(token_expiry(now, bad), Err(ImplausibleLifetime(bad)));
        }
        assert!(token_expiry(DateTime::<Utc>::MAX_UTC, 60).is_err());
    }

    proptest! {
        #[test]
        fn no_hint_or_lifetime_panics(secs in any::<u64>(), nanos in 0u32..1_000_000_000, life in any::<i128>()) {
            let now = Utc::now();
            let hint = Duration::new(secs, nanos);
            let at = after_hint(now, hint);
            prop_assert!(at >= now && at <= now + chrono::Duration::days(1));
            let _ = after(now, hint);
            match token_expiry(now, life) {
                Ok(t) => prop_assert!(t >= now && t <= now + chrono::Duration::seconds(MAX_TOKEN_LIFETIME_SECS)),
                Err(e) => prop_assert_eq!(e, ImplausibleLifetime(life)),
            }
        }
    }
}
