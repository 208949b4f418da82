//! Per-account rate limits: once a platform says an account is limited, its other deliveries wait out the hint
//! without calling the platform, while other accounts keep publishing.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::domain::AccountId;

#[derive(Default)]
pub struct RateGate {
    until: Mutex<HashMap<AccountId, DateTime<Utc>>>,
}

impl RateGate {
    /// When the account may publish again, if it is limited now.
    pub fn blocked_until(&self, account: &AccountId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(account) {
            Some(t) if *t > now => Some(*t),
            Some(_) => {
                map.remove(account);
                None
            }
            None => None,
        }
    }

    pub fn block(&self, account: &AccountId, until: DateTime<Utc>) {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(account.clone()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}
