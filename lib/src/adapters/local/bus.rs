//! The local event bus: every event is kept in the database and logged; when a webhook is configured each event is
//! also POSTed to it, signed with HMAC-SHA256 (`Postora-Signature: t=<unix seconds>,v1=<hex>` over `<t>.<body>`).
//!
//! Publishing never calls the webhook: it writes each event into the `webhook_outbox` table in the same transaction
//! as the event itself, and [`LocalBus::deliver_due`] (run by a background loop of `postora serve`) POSTs what is due.
//! A delivery that fails (no connection, a timeout, an answer that is not 2xx) is tried again with exponential backoff
//! ([`WebhookRetry`]); after the last attempt it stays in the outbox as `failed`, listed by
//! [`LocalBus::failed_webhooks`] and put back by [`LocalBus::retry_failed`]. The outbox is in SQLite, so pending
//! deliveries survive a restart.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::Notify;

use super::db::{from_json, from_ms, ms, to_json, Db};
use crate::domain::Event;
use crate::ports::{BusError, EventBus, StoreError};

/// How often a webhook delivery is tried: `max_attempts` in all, the n-th retry `backoff_base * 2^(n-1)` after the
/// attempt before it, at most `backoff_max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookRetry {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for WebhookRetry {
    /// 8 attempts: at once, then after 30 s, 1, 2, 4, 8, 16 and 32 minutes (about an hour in all).
    fn default() -> Self {
        WebhookRetry {
            max_attempts: 8,
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
        }
    }
}

impl WebhookRetry {
    /// The most attempts one event may be given.
    pub const MAX_ATTEMPTS: u32 = 50;

    /// The wait before the attempt after attempt number `attempts` (1 for the first).
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.backoff_base
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max)
    }
}

/// Where to POST events, the secret that signs them, and how often to try.
#[derive(Clone)]
pub struct Webhook {
    pub url: url::Url,
    pub secret: SecretString,
    pub retry: WebhookRetry,
}

/// What one run of [`LocalBus::deliver_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WebhookRun {
    /// Deliveries tried in this run.
    pub attempted: usize,
    /// Accepted by the receiver (a 2xx answer), and gone from the outbox.
    pub delivered: usize,
    /// Failed, to be tried again later.
    pub retrying: usize,
    /// Failed on their last attempt: now in the failed list.
    pub failed: usize,
}

impl WebhookRun {
    /// Whether the run tried a whole batch, so that more may be due at once.
    pub fn full(&self) -> bool {
        self.attempted >= BATCH
    }
}

/// An event the webhook never accepted. Holds no secret: the event is already free of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedWebhook {
    pub event_id: String,
    pub kind: String,
    pub attempts: u32,
    /// What the last attempt got: an HTTP status or a connection error, without the URL.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub failed_at: Option<DateTime<Utc>>,
}

/// Deliveries claimed per run of [`LocalBus::deliver_due`].
const BATCH: usize = 16;
/// How long one webhook request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a claimed delivery is hidden from other runs: longer than a request may take, so a delivery is never
/// sent twice at once; a run cut short (a crash, a stop) is tried again after it.
const CLAIM: Duration = Duration::from_secs(120);
/// The longest error kept with a delivery.
const MAX_ERROR_CHARS: usize = 200;

#[derive(Clone)]
pub struct LocalBus {
    db: Db,
    webhook: Option<(Webhook, reqwest::Client)>,
    work: std::sync::Arc<Notify>,
}

impl LocalBus {
    /// The bus on `db`; events also go to `webhook`, when given, through `http`.
    pub fn new(db: Db, webhook: Option<Webhook>, http: reqwest::Client) -> Self {
        Self {
            db,
            webhook: webhook.map(|w| (w, http)),
            work: std::sync::Arc::new(Notify::new()),
        }
    }

    /// Whether events go to a webhook.
    pub fn has_webhook(&self) -> bool {
        self.webhook.is_some()
    }

    /// The most recent events, oldest first (tests and the CLI).
    pub async fn recent(&self, limit: usize) -> Result<Vec<Event>, BusError> {
        self.db
            .call(move |c| {
                let mut st = c
                    .prepare("SELECT data FROM (SELECT id, data FROM events ORDER BY id DESC LIMIT ?1) ORDER BY id")?;
                let rows = st.query_map([limit as i64], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map_err(StoreError::from).and_then(|s| from_json(&s))).collect()
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    /// Waits until an event was published in this process, or `at_most` has passed.
    pub async fn wait_for_work(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.work.notified()).await;
    }

    /// POSTs the webhook deliveries that are due at `now` (at most a batch of them), and records each outcome:
    /// delivered ones leave the outbox, failed ones wait for their next attempt or, after the last, are kept as
    /// failed. Does nothing without a webhook.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<WebhookRun, BusError> {
        let Some((hook, http)) = &self.webhook else {
            return Ok(WebhookRun::default());
        };
        let (now_ms, claim_until) = (ms(now), ms(now + chrono_duration(CLAIM)));
        let claimed: Vec<(String, String, u32)> = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let due = {
                    let mut st = tx.prepare(
                        "SELECT event_id, body, attempts FROM webhook_outbox
                         WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at, event_id LIMIT ?2",
                    )?;
                    let rows = st.query_map(params![now_ms, BATCH as i64], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u32>(2)?))
                    })?;
                    rows.collect::<Result<Vec<_>, _>>()?
                };
                for (id, _, _) in &due {
                    tx.execute(
                        "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?2 WHERE event_id = ?1",
                        params![id, claim_until],
                    )?;
                }
                tx.commit()?;
                Ok(due
                    .into_iter()
                    .map(|(id, body, attempts)| (id, body, attempts.saturating_add(1)))
                    .collect())
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;

        let mut sends = tokio::task::JoinSet::new();
        for (event_id, body, attempt) in claimed {
            let (http, url, secret) = (http.clone(), hook.url.clone(), hook.secret.clone());
            sends.spawn(async move {
                let signature = sign(&secret, Utc::now().timestamp(), body.as_bytes());
                let sent = http
                    .post(url)
                    .timeout(REQUEST_TIMEOUT)
                    .header("Content-Type", "application/json")
                    .header("Postora-Event-Id", &event_id)
                    .header("Postora-Signature", signature)
                    .body(body)
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(resp) if resp.status().is_success() => Ok(()),
                    Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
                    Err(err) => Err(err.without_url().to_string()),
                };
                (event_id, attempt, outcome)
            });
        }
        let mut run = WebhookRun::default();
        let mut outcomes = Vec::new();
        while let Some(done) = sends.join_next().await {
            if let Ok(done) = done {
                outcomes.push(done);
            }
        }
        run.attempted = outcomes.len();
        for (event_id, attempt, outcome) in &outcomes {
            match outcome {
                Ok(()) => run.delivered += 1,
                Err(error) if *attempt >= hook.retry.max_attempts => {
                    run.failed += 1;
                    tracing::warn!(event_id, attempts = attempt, %error, "a webhook delivery failed for the last time; it is kept in the failed list");
                }
                Err(error) => {
                    run.retrying += 1;
                    tracing::info!(event_id, attempts = attempt, %error, "a webhook delivery failed; it will be tried again");
                }
            }
        }
        let retry = hook.retry;
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (event_id, attempt, outcome) in outcomes {
                    match outcome {
                        Ok(()) => {
                            tx.execute("DELETE FROM webhook_outbox WHERE event_id = ?1", [&event_id])?;
                        }
                        Err(error) => {
                            let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
                            if attempt >= retry.max_attempts {
                                tx.execute(
                                    "UPDATE webhook_outbox SET status = 'failed', last_error = ?2, failed_at = ?3
                                     WHERE event_id = ?1",
                                    params![event_id, error, now_ms],
                                )?;
                            } else {
                                let next = now + chrono_duration(retry.delay_after(attempt));
                                tx.execute(
                                    "UPDATE webhook_outbox SET next_at = ?2, last_error = ?3 WHERE event_id = ?1",
                                    params![event_id, ms(next), error],
                                )?;
                            }
                        }
                    }
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(run)
    }

    /// How many deliveries wait for an attempt (tests and the CLI).
    pub async fn pending_webhooks(&self) -> Result<usize, BusError> {
        self.db
            .call(|c| {
                let n: i64 = c.query_row(
                    "SELECT COUNT(*) FROM webhook_outbox WHERE status = 'pending'",
                    [],
                    |r| r.get(0),
                )?;
                Ok(usize::try_from(n).unwrap_or(0))
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    /// The events the webhook never accepted, the most recent failure first.
    pub async fn failed_webhooks(&self, limit: usize) -> Result<Vec<FailedWebhook>, BusError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT event_id, kind, attempts, last_error, created_at, failed_at FROM webhook_outbox
                     WHERE status = 'failed' ORDER BY failed_at DESC, event_id LIMIT ?1",
                )?;
                let rows = st.query_map([limit], |r| {
                    Ok(FailedWebhook {
                        event_id: r.get(0)?,
                        kind: r.get(1)?,
                        attempts: r.get(2)?,
                        last_error: r.get(3)?,
                        created_at: from_ms(r.get(4)?),
                        failed_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::from)
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    /// Puts failed deliveries back in the outbox with their attempts reset, to be tried at `now`: the one of
    /// `event_id`, or every one. Returns how many.
    pub async fn retry_failed(
        &self,
        event_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, BusError> {
        let event_id = event_id.map(str::to_owned);
        let now_ms = ms(now);
        let n = self
            .db
            .call(move |c| {
                let n = match &event_id {
                    Some(id) => c.execute(
                        "UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_at = ?2, failed_at = NULL
                         WHERE status = 'failed' AND event_id = ?1",
                        params![id, now_ms],
                    )?,
                    None => c.execute(
                        "UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_at = ?1, failed_at = NULL
                         WHERE status = 'failed'",
                        params![now_ms],
                    )?,
                };
                Ok(n)
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        if n > 0 {
            self.work.notify_one();
        }
        Ok(n)
    }

    /// Whether an event is still in the outbox, pending or failed (tests).
    pub async fn webhook_status(&self, event_id: &str) -> Result<Option<String>, BusError> {
        let event_id = event_id.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT status FROM webhook_outbox WHERE event_id = ?1",
                    [&event_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(StoreError::from)
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The signature header value for a webhook body.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, events: &[Event]) -> Result<(), BusError> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = events
            .iter()
            .map(|e| {
                Ok((
                    e.id.clone(),
                    e.kind.as_str(),
                    e.workspace_id.as_ref().map(|w| w.to_string()),
                    ms(e.at),
                    to_json(e)?,
                ))
            })
            .collect::<Result<Vec<_>, crate::ports::StoreError>>()
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let outbox = self.webhook.is_some();
        let now = ms(Utc::now());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (id, kind, ws, at, data) in &rows {
                    let inserted = tx.execute(
                        "INSERT OR IGNORE INTO events (id, kind, workspace_id, at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, kind, ws, at, data],
                    )?;
                    // An event published again (a retried publish) is not sent again.
                    if outbox && inserted == 1 {
                        tx.execute(
                            "INSERT OR IGNORE INTO webhook_outbox (event_id, kind, body, status, attempts, next_at, created_at)
                             VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)",
                            params![id, kind, data, now],
                        )?;
                    }
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        for e in events {
            tracing::info!(event = e.kind.as_str(), workspace = ?e.workspace_id, detail = %e.detail, "event");
        }
        if outbox {
            self.work.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_never_overflows() {
        let r = WebhookRetry::default();
        let secs: Vec<u64> = (1..=8).map(|n| r.delay_after(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600]);
        assert_eq!(r.delay_after(u32::MAX), Duration::from_secs(3600));
        assert_eq!(r.delay_after(0), Duration::from_secs(30));
    }
}
