//! The ways the sandbox can be told to fail, so retries, rate limits and recovery can be watched: each fault applies
//! to the next `count` publish calls (of one sandbox person, if it names one).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// A way to fail, applied to the next `count` publish calls (of `user`, if given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    /// Only for this sandbox user (for example `sbx-alice`).
    #[serde(default)]
    pub user: Option<String>,
    /// For `rate_limit`: the Retry-After hint in seconds.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// For `rate_limit`: `app` to limit Postora's whole app (every account) instead of one account.
    #[serde(default)]
    pub scope: Option<LimitScope>,
    /// For `slow`: how long to wait before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many publish calls (of `user`, if given) to let through untouched before the fault applies: `2` fails
    /// the third part of a thread.
    #[serde(default)]
    pub after: u32,
    /// For `reject`: the message to refuse with, at most 500 characters.
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

/// The most publish calls one fault applies to.
pub const MAX_FAULT_COUNT: u32 = 10_000;
/// The longest `Retry-After` a rate-limit fault sends: a week, longer than Postora ever waits on a hint (a day), so
/// that cap can be watched, and short enough to stay a number of seconds any client reads.
pub const MAX_FAULT_RETRY_AFTER_SECS: u64 = 7 * 24 * 3600;
/// The longest a `slow` fault holds its answer: ten minutes, far beyond any client's timeout.
pub const MAX_FAULT_DELAY_MS: u64 = 10 * 60 * 1000;

impl Fault {
    /// Checks the fault's numbers and names: the field at fault and why, for a 4xx answer.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.count == 0 || self.count > MAX_FAULT_COUNT {
            return Err(("count", format!("must be from 1 to {MAX_FAULT_COUNT}")));
        }
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.chars().count() > 500)
        {
            return Err(("message", "must be at most 500 characters".to_owned()));
        }
        if self.after > MAX_FAULT_COUNT {
            return Err(("after", format!("must be at most {MAX_FAULT_COUNT}")));
        }
        if self
            .retry_after_secs
            .is_some_and(|s| s > MAX_FAULT_RETRY_AFTER_SECS)
        {
            return Err((
                "retry_after_secs",
                format!("must be at most {MAX_FAULT_RETRY_AFTER_SECS} seconds (a week)"),
            ));
        }
        if self.delay_ms.is_some_and(|d| d > MAX_FAULT_DELAY_MS) {
            return Err((
                "delay_ms",
                format!("must be at most {MAX_FAULT_DELAY_MS} milliseconds (ten minutes)"),
            ));
        }
        if self
            .user
            .as_deref()
            .is_some_and(|u| u.is_empty() || u.len() > 64)
        {
            return Err(("user", "must be 1 to 64 characters".to_owned()));
        }
        Ok(())
    }
}

/// Whom a sandbox rate limit is said to apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// The account that made the request (`rate_limited`).
    Account,
    /// The client app as a whole (`app_rate_limited`).
    App,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 before anything is stored.
    FailBeforeAccept,
    /// The post is stored, then the connection is cut before the answer.
    AcceptThenDrop,
    /// The post is stored, and the answer comes after `delay_ms` (default 35 s, beyond Postora's timeout).
    Slow,
    /// 429 with `Retry-After`.
    RateLimit,
    /// 401 `token_expired`: the access token presented is expired from now on.
    ExpireToken,
    /// 401 `invalid_token`: every token of the user is revoked.
    Revoke,
    /// 422: the content is refused.
    Reject,
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown fault `{s}`"))
    }
}

/// Parses `POSTORA_SANDBOX_FAULTS`: `kind[:count][,kind[:count]...]`, for example `rate_limit:2,fail_before_accept`.
pub fn parse_faults(spec: &str) -> Result<Vec<Fault>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (kind, count) = item.split_once(':').unwrap_or((item, "1"));
            let fault = Fault {
                kind: kind.parse()?,
                count: count
                    .parse()
                    .map_err(|_| format!("`{count}` is not a count"))?,
                user: None,
                retry_after_secs: None,
                scope: None,
                delay_ms: None,
                after: 0,
                message: None,
            };
            fault
                .check()
                .map_err(|(field, why)| format!("`{item}`: {field} {why}"))?;
            Ok(fault)
        })
        .collect()
}

/// The faults waiting to be applied, in order.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<VecDeque<Fault>>>);

impl Faults {
    pub fn add(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().extend(faults);
    }

    /// Takes one use of the first fault that applies to `user` (or, while it lets calls through first, counts one
    /// call through and takes nothing).
    pub fn take(&self, user: &str) -> Option<Fault> {
        let mut faults = self.lock();
        let i = faults
            .iter()
            .position(|f| f.user.as_deref().is_none_or(|u| u == user))?;
        let f = faults.get_mut(i)?;
        if f.after > 0 {
            f.after -= 1;
            return None;
        }
        f.count = f.count.saturating_sub(1);
        let taken = f.clone();
        if f.count == 0 {
            faults.remove(i);
        }
        Some(taken)
    }

    pub fn list(&self) -> Vec<Fault> {
        self.lock().iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Fault>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_refuse_unknown_kinds() {
        let f = parse_faults("rate_limit:2, fail_before_accept").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, FaultKind::RateLimit);
        assert_eq!(f[0].count, 2);
        assert_eq!(f[1].count, 1);
        assert!(parse_faults("explode").is_err());
        assert!(parse_faults("rate_limit:x").is_err());
        for bad in [
            "rate_limit:0",
            "rate_limit:10001",
            "rate_limit:99999999999",
            "reject:-1",
        ] {
            assert!(parse_faults(bad).is_err(), "{bad}");
        }
    }

    fn fault(json: serde_json::Value) -> Result<Fault, (&'static str, String)> {
        let f: Fault = serde_json::from_value(json).map_err(|e| ("body", e.to_string()))?;
        f.check().map(|()| f)
    }

    #[test]
    fn absurd_fault_numbers_are_refused_naming_the_field() {
        use serde_json::json;
        let field = |j| fault(j).unwrap_err().0;
        assert_eq!(
            field(json!({"kind": "rate_limit", "retry_after_secs": 10_u64.pow(13)})),
            "retry_after_secs"
        );
        assert_eq!(
            field(json!({"kind": "slow", "delay_ms": u64::MAX})),
            "delay_ms"
        );
        assert_eq!(field(json!({"kind": "reject", "count": 0})), "count");
        assert_eq!(field(json!({"kind": "reject", "count": 10_001})), "count");
        assert_eq!(field(json!({"kind": "reject", "user": ""})), "user");
        assert!(
            fault(json!({"kind": "rate_limit", "retry_after_secs": 604_800, "count": 10_000}))
                .is_ok()
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| format!("{f:e}")),
                "[0-9]{1,40}",
                Just("\"NaN\"".to_owned()),
                Just("null".to_owned()),
            ]
        }

        proptest! {
            #[test]
            fn faults_with_any_numbers_are_taken_within_bounds_or_refused(
                count in number(), retry in number(), delay in number(), spec in ".{0,40}",
            ) {
                let body = format!(
                    r#"{{"kind":"slow","count":{count},"retry_after_secs":{retry},"delay_ms":{delay}}}"#
                );
                if let Ok(f) = serde_json::from_str::<Fault>(&body) {
                    if f.check().is_ok() {
                        prop_assert!((1..=MAX_FAULT_COUNT).contains(&f.count));
                        prop_assert!(f.retry_after_secs.is_none_or(|s| s <= MAX_FAULT_RETRY_AFTER_SECS));
                        prop_assert!(f.delay_ms.is_none_or(|d| d <= MAX_FAULT_DELAY_MS));
                    }
                }
                if let Ok(faults) = parse_faults(&spec) {
                    prop_assert!(faults.iter().all(|f| f.check().is_ok()));
                }
            }
        }
    }

    #[test]
    fn a_fault_for_one_person_passes_the_others_by() {
        let faults = Faults::default();
        faults.add(parse_faults("reject:2").unwrap().into_iter().map(|mut f| {
            f.user = Some("sbx-alice".into());
            f
        }));
        assert!(faults.take("sbx-bob").is_none());
        assert!(faults.take("sbx-alice").is_some());
        assert!(faults.take("sbx-alice").is_some());
        assert!(faults.take("sbx-alice").is_none());
    }
}
