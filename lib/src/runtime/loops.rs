//! Running Postora as long-lived loops in one process (`postora serve`): the dispatcher ticking every second, the
//! publisher workers draining the queue, and a daily token refresh. The same loops run over the local adapters or
//! the AWS ones; on Lambda the functions call the same use cases once per event instead.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use crate::app::publish::Settle;
use crate::app::App;

/// Stops the loops when flipped to `true`.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait(&mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Runs the dispatcher every `interval` until shutdown.
pub async fn dispatcher_loop(app: Arc<App>, interval: Duration, mut shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait() => return,
        }
        if let Err(e) = app.dispatch_tick().await {
            tracing::warn!(error = %e, "dispatcher run failed; trying again next tick");
        }
    }
}

/// The most publishes in flight at once one process runs, whatever `--workers` says.
pub const MAX_WORKERS: usize = 10_000;

/// Drains the queue with up to `concurrency` publishes at once until shutdown, then lets those in flight finish. A
/// panic while handling one message ends only that message's handling; the message comes back (see
/// [`App::handle_message_isolated`]).
pub async fn publisher_loop(app: Arc<App>, concurrency: usize, mut shutdown: Shutdown) {
    let concurrency = concurrency.clamp(1, MAX_WORKERS);
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        if shutdown.is_set() {
            break;
        }
        let available = permits.available_permits().clamp(1, 10);
        let received = tokio::select! {
            r = app.queue.receive(available, Duration::from_secs(1)) => r,
            _ = shutdown.wait() => break,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "the queue could not be read; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let settle = app
                    .handle_message_isolated(message.body.clone(), None)
                    .await;
                let settled = match &settle {
                    Settle::Done => app.queue.ack(&message.receipt).await,
                    Settle::Retry(delay) => app.queue.retry_later(&message.receipt, *delay).await,
                    Settle::Poison(reason) => {
                        tracing::warn!(message = %message.id, %reason, "an unreadable message will go to the dead-letter queue");
                        app.queue
                            .retry_later(&message.receipt, Duration::from_secs(1))
                            .await
                    }
                };
                if let Err(e) = settled {
                    tracing::warn!(error = %e, "could not settle a queue message; it will come back");
                }
                drop(permit);
            });
        }
    }
    // Wait for in-flight publishes (they hold permits), at most a while.
    let _ = tokio::time::timeout(
        Duration::from_secs(15),
        permits.acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX)),
    )
    .await;
}

/// Refreshes tokens that expire within a day and sweeps the media library, every `interval`, until shutdown.
pub async fn refresher_loop(app: Arc<App>, interval: Duration, mut shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait() => return,
        }
        match app.refresh_expiring(chrono::Duration::days(1)).await {
            Ok(report) if report.examined > 0 => tracing::info!(?report, "token refresh run"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "token refresh run failed"),
        }
        if let Err(e) = app.sweep_media().await {
            tracing::warn!(error = %e, "media sweep failed");
        }
    }
}

/// Runs the HTTP server and every loop until `signal` resolves.
pub async fn serve(
    app: Arc<App>,
    router: axum::Router,
    listener: tokio::net::TcpListener,
    workers: usize,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, shutdown) = Shutdown::new();
    let loops = [
        tokio::spawn(dispatcher_loop(
            app.clone(),
            Duration::from_secs(1),
            shutdown.clone(),
        )),
        tokio::spawn(publisher_loop(app.clone(), workers, shutdown.clone())),
        tokio::spawn(refresher_loop(
            app.clone(),
            Duration::from_secs(24 * 3600),
            shutdown.clone(),
        )),
    ];
    let mut http_shutdown = shutdown.clone();
    // The connection's address is what the sign-in limits count per client (see `http::people::ClientAddress`).
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { http_shutdown.wait().await });
    let server = tokio::spawn(async move { server.await });
    signal.await;
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    server.await.map_err(std::io::Error::other)?
}
