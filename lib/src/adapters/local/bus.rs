//! The local event bus: every event is kept in the database and logged; when a webhook is configured each event is
//! also POSTed to it, signed with HMAC-SHA256 (`Postora-Signature: t=<unix seconds>,v1=<hex>` over `<t>.<body>`).

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rusqlite::params;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::db::{from_json, ms, to_json, Db};
use crate::domain::Event;
use crate::ports::{BusError, EventBus, StoreError};

/// Where to POST events, and the secret that signs them.
#[derive(Clone)]
pub struct Webhook {
    pub url: url::Url,
    pub secret: SecretString,
}

#[derive(Clone)]
pub struct LocalBus {
    db: Db,
    webhook: Option<(Webhook, reqwest::Client)>,
}

impl LocalBus {
    /// The bus on `db`; events also go to `webhook`, when given, through `http`.
    pub fn new(db: Db, webhook: Option<Webhook>, http: reqwest::Client) -> Self {
        Self {
            db,
            webhook: webhook.map(|w| (w, http)),
        }
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
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (id, kind, ws, at, data) in &rows {
                    tx.execute(
                        "INSERT OR IGNORE INTO events (id, kind, workspace_id, at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, kind, ws, at, data],
                    )?;
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        for e in events {
            tracing::info!(event = e.kind.as_str(), workspace = ?e.workspace_id, detail = %e.detail, "event");
        }
        if let Some((hook, http)) = &self.webhook {
            for e in events {
                let body = serde_json::to_vec(e).unwrap_or_default();
                let signature = sign(&hook.secret, e.at.timestamp(), &body);
                let (http, url) = (http.clone(), hook.url.clone());
                tokio::spawn(async move {
                    let sent = http
                        .post(url)
                        .header("Content-Type", "application/json")
                        .header("Postora-Signature", signature)
                        .body(body)
                        .send()
                        .await;
                    if let Err(err) = sent {
                        tracing::warn!(error = %err.without_url(), "webhook delivery failed");
                    }
                });
            }
        }
        Ok(())
    }
}
