//! YouTube's upload quota: `videos.insert` has its own daily bucket per Google project (100 calls a day by
//! default), reset at midnight Pacific time. Postora counts what it spends, per project (client id) and Pacific
//! day, and holds every YouTube delivery once the day's uploads are spent, instead of spending calls on certain
//! `quotaExceeded` answers.
//!
//! The counter lives in the process's memory: a process (or Lambda instance) that starts mid-day does not know
//! what others spent, so the count is a floor, and Google's own `quotaExceeded` answer stays the authority (it
//! holds every YouTube delivery until the reset too, through the publisher's app-wide hold, which is stored).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as Span, NaiveDate, TimeZone, Utc, Weekday};

use crate::domain::bounds;
use crate::ports::PlatformError;

/// The default daily `videos.insert` allowance of a Google project.
pub const DEFAULT_DAILY_UPLOADS: u32 = 100;

/// The UTC offset of US Pacific time at `at`: -7 h from the second Sunday of March, 2:00 PST (10:00 UTC), to the
/// first Sunday of November, 2:00 PDT (9:00 UTC); -8 h otherwise.
pub fn pacific_offset(at: DateTime<Utc>) -> Span {
    let year = at.year();
    let nth_sunday = |month: u32, n: u32| -> NaiveDate {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
        let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
        first + Span::days(i64::from(to_sunday + 7 * (n - 1)))
    };
    let starts = Utc.from_utc_datetime(&nth_sunday(3, 2).and_hms_opt(10, 0, 0).unwrap_or_default());
    let ends = Utc.from_utc_datetime(&nth_sunday(11, 1).and_hms_opt(9, 0, 0).unwrap_or_default());
    debug_assert_eq!(nth_sunday(3, 2).weekday(), Weekday::Sun);
    if at >= starts && at < ends {
        Span::hours(-7)
    } else {
        Span::hours(-8)
    }
}

/// The Pacific calendar day of `at`.
pub fn pacific_day(at: DateTime<Utc>) -> NaiveDate {
    (at + pacific_offset(at)).date_naive()
}

/// The next midnight, Pacific time, after `now`.
pub fn next_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = (pacific_day(now) + Span::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    // Local midnight in UTC, with the offset in force then (a change of offset happens at 2:00, never at midnight).
    let guess = Utc.from_utc_datetime(&midnight) - pacific_offset(now);
    Utc.from_utc_datetime(&midnight) - pacific_offset(guess)
}

/// How long from `now` until the quota resets, at least a second and at most a day.
pub fn until_reset(now: DateTime<Utc>) -> Duration {
    let wait = (next_reset(now) - now).to_std().unwrap_or(Duration::ZERO);
    bounds::wait_hint(wait.max(Duration::from_secs(1)))
}

/// What one process knows Postora spent of each project's daily upload quota.
#[derive(Debug)]
pub struct UploadQuota {
    daily: u32,
    spent: Mutex<HashMap<String, (NaiveDate, u32)>>,
}

impl UploadQuota {
    pub fn new(daily: u32) -> Self {
        Self {
            daily,
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one upload for `project`, or refuses it (every YouTube delivery waits for the reset) when the day's
    /// uploads are spent.
    pub fn spend(&self, project: &str, now: DateTime<Utc>) -> Result<(), PlatformError> {
        let day = pacific_day(now);
        let mut map = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(project.to_owned()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        if entry.1 >= self.daily {
            return Err(PlatformError::AppRateLimited {
                retry_after: Some(until_reset(now)),
                message: format!(
                    "Postora has started {} YouTube uploads today, its Google project's daily quota; uploads wait until it resets at midnight Pacific time",
                    entry.1
                ),
            });
        }
        entry.1 += 1;
        Ok(())
    }

    /// Records that Google said the quota is spent (`quotaExceeded`): nothing more is started today.
    pub fn exhausted(&self, project: &str, now: DateTime<Utc>) {
        let mut map = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(project.to_owned(), (pacific_day(now), self.daily));
    }

    /// How many uploads were counted today for `project`.
    pub fn spent_today(&self, project: &str, now: DateTime<Utc>) -> u32 {
        let map = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        map.get(project)
            .filter(|(d, _)| *d == pacific_day(now))
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_quota_resets_at_midnight_pacific_time() {
        // Winter: PST, UTC-8.
        assert_eq!(
            next_reset(at("2026-01-15T12:00:00Z")),
            at("2026-01-16T08:00:00Z")
        );
        assert_eq!(
            next_reset(at("2026-01-16T07:59:00Z")),
            at("2026-01-16T08:00:00Z")
        );
        // Summer: PDT, UTC-7.
        assert_eq!(
            next_reset(at("2026-07-01T06:59:59Z")),
            at("2026-07-01T07:00:00Z")
        );
        assert_eq!(
            next_reset(at("2026-07-01T07:00:00Z")),
            at("2026-07-02T07:00:00Z")
        );
        // DST starts on 8 March 2026 (second Sunday) and ends on 1 November 2026.
        assert_eq!(pacific_offset(at("2026-03-08T09:59:00Z")), Span::hours(-8));
        assert_eq!(pacific_offset(at("2026-03-08T10:00:00Z")), Span::hours(-7));
        assert_eq!(pacific_offset(at("2026-11-01T08:59:00Z")), Span::hours(-7));
        assert_eq!(pacific_offset(at("2026-11-01T09:00:00Z")), Span::hours(-8));
        assert_eq!(
            next_reset(at("2026-03-07T12:00:00Z")),
            at("2026-03-08T08:00:00Z")
        );
        assert_eq!(
            next_reset(at("2026-03-08T12:00:00Z")),
            at("2026-03-09T07:00:00Z")
        );
    }

    #[test]
    fn uploads_are_held_once_the_day_is_spent_and_start_again_after_the_reset() {
        let q = UploadQuota::new(2);
        let now = at("2026-01-15T12:00:00Z");
        assert!(q.spend("p", now).is_ok());
        assert!(q.spend("p", now).is_ok());
        let held = q.spend("p", now).unwrap_err();
        assert_eq!(held.code(), "app_rate_limited");
        assert!(
            matches!(held, PlatformError::AppRateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(20 * 3600))
        );
        assert!(q.spend("other", now).is_ok());
        assert!(q.spend("p", at("2026-01-16T08:00:01Z")).is_ok());
        q.exhausted("p", at("2026-01-16T09:00:00Z"));
        assert!(q.spend("p", at("2026-01-16T09:00:00Z")).is_err());
    }
}
