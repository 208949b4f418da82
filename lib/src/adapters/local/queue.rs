//! A durable delay queue on SQLite with the semantics of SQS: per-message delay, a visibility timeout, receive
//! counts, and a dead-letter table for messages received too often. It survives restarts, so a message sent before a
//! crash is still delivered after it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::params;
use tokio::sync::Notify;

use super::db::{ms, Db};
use crate::domain::ids::random_token;
use crate::ports::{
    DeadLetter, Outgoing, Queue, QueueError, Received, StoreError, MAX_QUEUE_DELAY,
};

#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    notify: Arc<Notify>,
    visibility: Duration,
    max_receives: u32,
}

impl SqliteQueue {
    /// `visibility` is how long a received message stays hidden; after `max_receives` receives it is dead-lettered.
    pub fn new(db: Db, visibility: Duration, max_receives: u32) -> Self {
        Self {
            db,
            notify: Arc::new(Notify::new()),
            visibility,
            max_receives: max_receives.max(1),
        }
    }

    /// Messages waiting or in flight (tests and status).
    pub async fn depth(&self) -> Result<usize, QueueError> {
        self.db
            .call(|c| {
                c.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get::<_, i64>(0))
                    .map(|n| n as usize)
                    .map_err(StoreError::from)
            })
            .await
            .map_err(unavailable)
    }

    async fn try_receive(&self, max: usize) -> Result<(Vec<Received>, Option<i64>), QueueError> {
        let visibility = self.visibility;
        let max_receives = self.max_receives;
        self.db
            .call(move |c| {
                let now = ms(Utc::now());
                let tx = c.transaction()?;
                // Dead-letter what has been received too often without being settled, as SQS's redrive policy does.
                tx.execute(
                    "INSERT INTO dead_letters (body, receive_count, died_at)
                     SELECT body, receive_count, ?1 FROM queue WHERE visible_at <= ?1 AND receive_count >= ?2",
                    params![now, max_receives],
                )?;
                tx.execute(
                    "DELETE FROM queue WHERE visible_at <= ?1 AND receive_count >= ?2",
                    params![now, max_receives],
                )?;
                let rows: Vec<(i64, String, u32)> = {
                    let mut st = tx
                        .prepare_cached(
                            "SELECT id, body, receive_count FROM queue WHERE visible_at <= ?1 ORDER BY visible_at, id LIMIT ?2",
                        )?;
                    let rows = st
                        .query_map(params![now, max as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    rows.collect::<Result<_, _>>()?
                };
                let hidden_until = now + visibility.as_millis() as i64;
                let mut out = Vec::with_capacity(rows.len());
                for (id, body, count) in rows {
                    let receipt = format!("{id}.{}", random_token(8));
                    tx.execute(
                        "UPDATE queue SET visible_at = ?2, receive_count = receive_count + 1, receipt = ?3 WHERE id = ?1",
                        params![id, hidden_until, receipt],
                    )?;
                    out.push(Received {
                        id: id.to_string(),
                        body,
                        receipt,
                        receive_count: count + 1,
                    });
                }
                let next: Option<i64> = tx
                    .query_row("SELECT MIN(visible_at) FROM queue", [], |r| r.get(0))?;
                tx.commit()?;
                Ok((out, next))
            })
            .await
            .map_err(unavailable)
    }
}

fn unavailable(e: StoreError) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, i64)> = messages
            .iter()
            .map(|m| {
                let body = serde_json::to_string(&m.message).unwrap_or_default();
                let delay = m.delay.min(MAX_QUEUE_DELAY);
                (body, ms(Utc::now()) + delay.as_millis() as i64)
            })
            .collect();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                {
                    let mut st =
                        tx.prepare_cached("INSERT INTO queue (body, visible_at) VALUES (?1, ?2)")?;
                    for (body, at) in &rows {
                        st.execute(params![body, at])?;
                    }
                }
                tx.commit().map_err(StoreError::from)
            })
            .await
            .map_err(unavailable)?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let (got, next) = self.try_receive(max.max(1)).await?;
            if !got.is_empty() {
                return Ok(got);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // Sleep until the next message becomes visible, a send, or the deadline; never more than a quarter second
            // so that messages sent by another process on the same file are seen promptly.
            let mut nap = (deadline - now).min(Duration::from_millis(250));
            if let Some(next) = next {
                let until = Duration::from_millis((next - ms(Utc::now())).max(0) as u64);
                nap = nap.min(until);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.db
            .call(move |c| {
                c.execute("DELETE FROM queue WHERE receipt = ?1", [receipt])
                    .map(|_| ())
                    .map_err(StoreError::from)
            })
            .await
            .map_err(unavailable)
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let at = ms(Utc::now()) + delay.min(MAX_QUEUE_DELAY).as_millis() as i64;
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE queue SET visible_at = ?2 WHERE receipt = ?1",
                    params![receipt, at],
                )
                .map(|_| ())
                .map_err(StoreError::from)
            })
            .await
            .map_err(unavailable)?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.db
            .call(move |c| {
                let mut st = c.prepare(
                    "SELECT id, body, receive_count FROM dead_letters ORDER BY id LIMIT ?1",
                )?;
                let rows = st.query_map([max as i64], |r| {
                    Ok(DeadLetter {
                        id: r.get::<_, i64>(0)?.to_string(),
                        body: r.get(1)?,
                        receive_count: r.get(2)?,
                    })
                })?;
                rows.collect::<Result<_, _>>().map_err(StoreError::from)
            })
            .await
            .map_err(unavailable)
    }

    async fn redrive(&self) -> Result<usize, QueueError> {
        let moved = self
            .db
            .call(|c| {
                let now = ms(Utc::now());
                let tx = c.transaction()?;
                let n = tx
                    .execute(
                        "INSERT INTO queue (body, visible_at) SELECT body, ?1 FROM dead_letters ORDER BY id",
                        [now],
                    )?;
                tx.execute("DELETE FROM dead_letters", [])?;
                tx.commit()?;
                Ok(n)
            })
            .await
            .map_err(unavailable)?;
        self.notify.notify_waiters();
        Ok(moved)
    }
}
