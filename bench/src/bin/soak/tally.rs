//! Counting the soak's outcome from the platform's side: what the sandbox accepted, grouped by idempotency key,
//! against the deliveries Postora was asked to make.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use postora::domain::{AccountId, DeliveryKey, PostId, WorkspaceId};
use serde_json::Value;

/// The figures the soak reports.
#[derive(Debug, Default)]
pub struct Tally {
    pub deliveries: usize,
    pub published: usize,
    pub failed: usize,
    pub in_doubt: usize,
    /// Why deliveries failed or are in doubt: `status/code` → how many.
    pub reasons: BTreeMap<String, usize>,
    /// Not settled when the soak gave up waiting.
    pub unsettled: usize,
    /// Posts on the platform beyond the first for a delivery.
    pub duplicates: usize,
    /// Deliveries neither settled nor on the platform, plus published ones the platform does not have.
    pub lost: usize,
    /// Published deliveries whose recorded post is not the one on the platform.
    pub wrong_post: usize,
    /// Failed deliveries that are on the platform after all.
    pub failed_but_posted: usize,
    /// In-doubt deliveries that did land.
    pub in_doubt_posted: usize,
    /// Posts on the platform that no delivery accounts for.
    pub strays: usize,
    /// accepted_at − scheduled_at of each published delivery, in milliseconds, sorted.
    pub lags_ms: Vec<f64>,
    /// The same, of deliveries published at their first attempt, and of the others.
    pub first_try_lags_ms: Vec<f64>,
    pub later_lags_ms: Vec<f64>,
    pub first_due: Option<DateTime<Utc>>,
    pub last_accepted: Option<DateTime<Utc>>,
}

struct Accepted {
    id: String,
    at: DateTime<Utc>,
}

/// Tallies `deliveries` (as `GET /v1/posts` lists them, with their post id) against the sandbox's `posts`.
pub fn tally(ws: &WorkspaceId, deliveries: &[(String, Value)], posts: &[Value]) -> Result<Tally> {
    let mut by_key: HashMap<String, Vec<Accepted>> = HashMap::new();
    for p in posts {
        let key = p["idempotency_key"].as_str().unwrap_or_default().to_owned();
        let at: DateTime<Utc> = p["accepted_at"]
            .as_str()
            .context("a sandbox post without accepted_at")?
            .parse()?;
        let id = p["id"].as_str().unwrap_or_default().to_owned();
        by_key.entry(key).or_default().push(Accepted { id, at });
    }
    let mut t = Tally {
        deliveries: deliveries.len(),
        ..Tally::default()
    };
    let mut known = std::collections::HashSet::new();
    for (post_id, d) in deliveries {
        let key = DeliveryKey {
            workspace_id: ws.clone(),
            post_id: PostId::parse(post_id).context("a post id")?,
            account_id: AccountId::parse(d["account_id"].as_str().unwrap_or_default())
                .context("an account id")?,
        }
        .idempotency_key();
        let landed = by_key.get(&key).map(Vec::as_slice).unwrap_or_default();
        known.insert(key);
        t.duplicates += landed.len().saturating_sub(1);
        let scheduled: DateTime<Utc> = d["scheduled_at"]
            .as_str()
            .context("a delivery without scheduled_at")?
            .parse()?;
        t.first_due = Some(t.first_due.map_or(scheduled, |f| f.min(scheduled)));
        let status = d["status"].as_str().unwrap_or_default();
        if let Some(code) = d["error"]["code"]
            .as_str()
            .filter(|_| status != "published")
        {
            *t.reasons.entry(format!("{status}/{code}")).or_default() += 1;
        }
        match status {
            "published" => {
                t.published += 1;
                match landed.first() {
                    None => t.lost += 1,
                    Some(first) => {
                        if d["platform_post_id"].as_str() != Some(first.id.as_str()) {
                            t.wrong_post += 1;
                        }
                        let lag = (first.at - scheduled).num_milliseconds() as f64;
                        t.lags_ms.push(lag);
                        if d["attempts"].as_u64() == Some(1) {
                            t.first_try_lags_ms.push(lag);
                        } else {
                            t.later_lags_ms.push(lag);
                        }
                        t.last_accepted =
                            Some(t.last_accepted.map_or(first.at, |l| l.max(first.at)));
                    }
                }
            }
            "failed" => {
                t.failed += 1;
                t.failed_but_posted += usize::from(!landed.is_empty());
            }
            "in_doubt" => {
                t.in_doubt += 1;
                t.in_doubt_posted += usize::from(!landed.is_empty());
            }
            _ => {
                t.unsettled += 1;
                if landed.is_empty() {
                    t.lost += 1;
                }
            }
        }
    }
    t.strays = by_key.keys().filter(|k| !known.contains(*k)).count();
    t.lags_ms.sort_by(f64::total_cmp);
    t.first_try_lags_ms.sort_by(f64::total_cmp);
    t.later_lags_ms.sort_by(f64::total_cmp);
    Ok(t)
}
