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
}

fn one() -> u32 {
    1
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
            Ok(Fault {
                kind: kind.parse()?,
                count: count
                    .parse()
                    .map_err(|_| format!("`{count}` is not a count"))?,
                user: None,
                retry_after_secs: None,
                scope: None,
                delay_ms: None,
            })
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

    /// Takes one use of the first fault that applies to `user`.
    pub fn take(&self, user: &str) -> Option<Fault> {
        let mut faults = self.lock();
        let i = faults
            .iter()
            .position(|f| f.user.as_deref().is_none_or(|u| u == user))?;
        let f = faults.get_mut(i)?;
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
