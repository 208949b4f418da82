//! Waiting on a platform's processing (a media container, an upload, a video) without holding an attempt past its
//! time. Every adapter that polls decides each wait here: wait and read again, end the attempt and continue from its
//! checkpoint after the wait, or give up once the whole wait has run too long.

use std::time::Duration;

/// A status read is started only with at least this much time left after the wait before it, so that it answers
/// before the attempt's deadline.
pub const READ_TIME: Duration = Duration::from_secs(1);

/// What to do before the next status read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Wait this long, then read again.
    Wait(Duration),
    /// The attempt has no time for the wait: checkpoint, and come back after it.
    Later(Duration),
    /// The platform has been processing for longer than the whole wait may last.
    GiveUp,
}

/// Whether to wait `wait` and read again: `waited` is how long the platform has been processing, `give_up_after` the
/// bound on the whole wait, `time_left` the attempt's, if bounded. Giving up wins over coming back, so nothing is
/// resumed forever.
pub fn next(
    waited: Duration,
    wait: Duration,
    give_up_after: Duration,
    time_left: Option<Duration>,
) -> Poll {
    if waited.saturating_add(wait) > give_up_after {
        Poll::GiveUp
    } else if time_left.is_some_and(|left| wait.saturating_add(READ_TIME) > left) {
        Poll::Later(wait)
    } else {
        Poll::Wait(wait)
    }
}

/// How patiently to wait for a platform that may say how long to wait (X's `check_after_secs`; LinkedIn says
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintedPolling {
    /// The wait when the platform says processing goes on but not how long.
    pub default_wait: Duration,
    /// The longest single wait, whatever the platform says.
    pub max_wait: Duration,
    /// Once an item has been processing this long, the attempt ends as transient (the next one uploads afresh).
    pub give_up_after: Duration,
}

impl Default for HintedPolling {
    fn default() -> Self {
        Self {
            default_wait: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
            give_up_after: Duration::from_secs(15 * 60),
        }
    }
}

impl HintedPolling {
    /// The next step, waiting as long as the platform's `hint` says (within bounds).
    pub fn next(
        &self,
        waited: Duration,
        hint: Option<Duration>,
        time_left: Option<Duration>,
    ) -> Poll {
        let wait = hint.unwrap_or(self.default_wait).min(self.max_wait);
        next(waited, wait, self.give_up_after, time_left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_wait_must_fit_with_a_read_in_the_time_left_and_the_whole_wait_is_bounded() {
        let bound = S(300);
        // No deadline but the whole wait's.
        assert_eq!(next(S(0), S(2), bound, None), Poll::Wait(S(2)));
        assert_eq!(next(S(290), S(20), bound, None), Poll::GiveUp);
        // The wait and a status read must fit in the time left.
        assert_eq!(next(S(0), S(2), bound, Some(S(10))), Poll::Wait(S(2)));
        assert_eq!(next(S(0), S(4), bound, Some(S(4))), Poll::Later(S(4)));
        assert_eq!(
            next(S(0), S(2), bound, Some(Duration::ZERO)),
            Poll::Later(S(2))
        );
        // Giving up wins over coming back.
        assert_eq!(next(S(299), S(20), bound, Some(S(1))), Poll::GiveUp);
        assert_eq!(
            next(Duration::MAX, Duration::MAX, bound, Some(Duration::MAX)),
            Poll::GiveUp
        );
    }

    #[test]
    fn a_hint_is_waited_within_bounds() {
        let p = HintedPolling::default();
        assert_eq!(p.next(S(0), Some(S(5)), None), Poll::Wait(S(5)));
        assert_eq!(p.next(S(0), Some(S(5000)), None), Poll::Wait(p.max_wait));
        assert_eq!(p.next(S(0), None, None), Poll::Wait(p.default_wait));
        assert_eq!(p.next(S(0), Some(S(5)), Some(S(3))), Poll::Later(S(5)));
        assert_eq!(p.next(S(899), Some(S(5)), Some(S(100))), Poll::GiveUp);
        assert_eq!(p.next(Duration::MAX, None, None), Poll::GiveUp);
    }
}
