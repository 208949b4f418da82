//! Token refresher throughput: how many accounts one run refreshes, on the embedded store, through the real Threads
//! adapter against a fake token endpoint on loopback that answers after `--latency-ms`.
//!
//! `cargo run --release -p postora-bench --bin refresh -- [--accounts 5000] [--concurrency 16] [--latency-ms 0]`
//!
//! Prints accounts per second and what that makes of the token-refresher function's run on Lambda (900 s, of which
//! the last 90 start no refresh).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use axum::response::IntoResponse;
use postora::app::refresh::{RefreshRun, LAMBDA_RUN_BUDGET, LAMBDA_STOP_MARGIN};
use postora::config::Env;
use postora::domain::{
    Account, AccountId, AccountStatus, PlatformKind, Profile, SealedTokens, TokenSet,
};
use postora::runtime::{self, local::LocalBackend};
use postora_bench::arg;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let accounts: usize = arg(&args, "--accounts", 5000);
    let concurrency: usize = arg(&args, "--concurrency", 16);
    let latency = Duration::from_millis(arg(&args, "--latency-ms", 0));

    // The fake token endpoint: any path, a fresh 60-day token after `latency`.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let endpoint = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            tokio::time::sleep(latency).await;
            counted.fetch_add(1, Ordering::Relaxed);
            axum::Json(serde_json::json!({
                "access_token": format!("TH{}", uuid::Uuid::new_v4().simple()),
                "token_type": "bearer",
                "expires_in": 5_184_000,
            }))
            .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, endpoint).await });

    let dir = tempfile::tempdir()?;
    let env = Env::from_pairs([
        ("POSTORA_THREADS_CLIENT_ID", "bench"),
        ("POSTORA_THREADS_CLIENT_SECRET", "bench-secret"),
        ("POSTORA_THREADS_API_URL", origin.as_str()),
        ("POSTORA_THREADS_AUTH_URL", origin.as_str()),
    ]);
    let local = LocalBackend::open(dir.path(), &env)?;
    let app = runtime::build_app(local.backend, &env, "http://127.0.0.1:9")?;
    let (ws, _) = app.create_workspace("bench").await?;

    // Accounts whose 60-day tokens, issued 59 days ago, expire within the hour: every one is due.
    let seeding = Instant::now();
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::minutes(30);
    for i in 0..accounts {
        let account = Account {
            id: AccountId::generate(),
            workspace_id: ws.id.clone(),
            platform: PlatformKind::Threads,
            profile: Profile {
                platform_user_id: format!("{}", 10_000_000 + i),
                username: None,
                display_name: None,
                picture_url: None,
                biography: None,
                granted_by: None,
            },
            status: AccountStatus::Active,
            settings: serde_json::json!({ "threads_user_id": format!("{}", 10_000_000 + i) }),
            token_expires_at: Some(expires),
            created_at: now,
            updated_at: now,
            connected_at: Some(now),
            version: 1,
        };
        let account = app.stores.accounts.upsert_account(&account).await?;
        let tokens = TokenSet {
            access_token: SecretString::from(format!("TH-old-{i}")),
            refresh_token: None,
            expires_at: Some(expires),
            refresh_expires_at: None,
            scope: None,
            issued_at: now - chrono::Duration::days(59),
            dpop_key: None,
        };
        let sealed = SealedTokens {
            ciphertext: app.vault.seal(&ws.id, &account.id, &tokens).await?,
            version: 1,
            expires_at: Some(expires),
        };
        app.stores
            .accounts
            .put_tokens(&ws.id, &account.id, &sealed, None)
            .await?;
    }
    eprintln!("seeded {accounts} accounts in {:.1?}", seeding.elapsed());

    let run = RefreshRun {
        concurrency,
        ..RefreshRun::new(chrono::Duration::hours(48))
    };
    let started = Instant::now();
    let report = app.refresh_run(run).await?;
    let elapsed = started.elapsed();
    if report.refreshed != accounts || calls.load(Ordering::Relaxed) != accounts {
        bail!(
            "expected {accounts} refreshes, got {report:?} and {} calls",
            calls.load(Ordering::Relaxed)
        );
    }
    let per_second = accounts as f64 / elapsed.as_secs_f64();
    let usable = LAMBDA_RUN_BUDGET - LAMBDA_STOP_MARGIN;
    println!(
        "accounts {accounts}, concurrency {concurrency}, token endpoint latency {} ms",
        latency.as_millis()
    );
    println!(
        "refreshed {} in {:.2} s: {per_second:.0} accounts/s (peak {} in flight)",
        report.refreshed,
        elapsed.as_secs_f64(),
        report.peak_in_flight
    );
    println!(
        "one Lambda run ({} s, refreshes started for {} s): about {:.0} accounts",
        LAMBDA_RUN_BUDGET.as_secs(),
        usable.as_secs(),
        per_second * usable.as_secs_f64()
    );
    Ok(())
}
