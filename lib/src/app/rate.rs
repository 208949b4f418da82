//! Rate limits as the platforms report them: once a platform says an account is limited, that account's other
//! deliveries wait out the hint without calling the platform while other accounts keep publishing; once it says
//! Postora's app as a whole is limited, every delivery to that platform waits, and other platforms carry on.
//!
//! The gate lives in the memory of one process (one `postora serve`, one warm Lambda): each learns a limit from the
//! first answer that reports it, and the platform's own 429s stay the authority.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::domain::{AccountId, PlatformKind};

/// Who a rate limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateScope {
    /// One connected account.
    Account(AccountId),
    /// Postora's app on one platform: every account on it.
    App(PlatformKind),
}

/// Why a delivery is being held back, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub until: DateTime<Utc>,
    pub scope: RateScope,
}

#[derive(Default)]
pub struct RateGate {
    until: Mutex<HashMap<RateScope, DateTime<Utc>>>,
}

impl RateGate {
    /// The latest hold on the account or its platform's app at `now`, if any.
    pub fn hold_for(
        &self,
        account: &AccountId,
        platform: PlatformKind,
        now: DateTime<Utc>,
    ) -> Option<Hold> {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, until| *until > now);
        [
            RateScope::Account(account.clone()),
            RateScope::App(platform),
        ]
        .into_iter()
        .filter_map(|scope| {
            map.get(&scope).map(|until| Hold {
                until: *until,
                scope,
            })
        })
        .max_by_key(|h| h.until)
    }

    /// Holds `scope` until `until` (a later hold wins over an earlier one).
    pub fn block(&self, scope: RateScope, until: DateTime<Utc>) {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(scope).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_limit_holds_only_that_account_and_an_app_limit_holds_its_platform() {
        let gate = RateGate::default();
        let now = Utc::now();
        let (a, b) = (AccountId::generate(), AccountId::generate());
        let soon = now + chrono::Duration::seconds(5);
        gate.block(RateScope::Account(a.clone()), soon);
        assert_eq!(
            gate.hold_for(&a, PlatformKind::Sandbox, now)
                .map(|h| h.until),
            Some(soon)
        );
        assert_eq!(gate.hold_for(&b, PlatformKind::Sandbox, now), None);

        let later = now + chrono::Duration::seconds(60);
        gate.block(RateScope::App(PlatformKind::Sandbox), later);
        let hold = gate.hold_for(&b, PlatformKind::Sandbox, now).unwrap();
        assert_eq!(hold.scope, RateScope::App(PlatformKind::Sandbox));
        assert_eq!(
            gate.hold_for(&a, PlatformKind::Sandbox, now)
                .map(|h| h.until),
            Some(later),
            "the longer of the two holds applies"
        );
        assert_eq!(gate.hold_for(&b, PlatformKind::Threads, now), None);
        assert_eq!(
            gate.hold_for(&a, PlatformKind::Sandbox, later),
            None,
            "holds end"
        );
    }

    #[test]
    fn an_earlier_hint_never_shortens_a_hold() {
        let gate = RateGate::default();
        let now = Utc::now();
        let a = AccountId::generate();
        gate.block(
            RateScope::Account(a.clone()),
            now + chrono::Duration::seconds(30),
        );
        gate.block(
            RateScope::Account(a.clone()),
            now + chrono::Duration::seconds(1),
        );
        assert_eq!(
            gate.hold_for(&a, PlatformKind::Sandbox, now)
                .map(|h| h.until),
            Some(now + chrono::Duration::seconds(30))
        );
    }
}
