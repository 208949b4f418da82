//! The token refresher over many accounts: paged, with bounded concurrency, every account due refreshed once
//! however many pages they fill, and a run that meets its deadline stops cleanly and leaves the rest to the next.

use std::sync::Arc;
use std::time::Duration;

use postora::app::refresh::RefreshRun;
use postora::app::App;
use postora::config::{Env, Settings};
use postora::runtime::{self, local::LocalBackend, Backend};
use postora_test_support::refresh::{seed_due_accounts, CountingTokenEndpoint};

fn no_env() -> Env {
    Env::from_pairs(Vec::<(String, String)>::new())
}

fn app_on(backend: Backend, endpoint: &Arc<CountingTokenEndpoint>) -> Arc<App> {
    let settings = Settings::from_env(&no_env(), "http://127.0.0.1:9").unwrap();
    runtime::assemble(backend, settings, endpoint.platforms())
}

/// Seeds `n` due accounts and runs the refresher with pages of `page_size` and at most `concurrency` in flight.
async fn every_account_due_is_refreshed_once(
    backend: Backend,
    n: usize,
    page_size: usize,
    concurrency: usize,
) {
    let endpoint = CountingTokenEndpoint::new(Duration::from_millis(5));
    let app = app_on(backend, &endpoint);
    let (ws, _) = app.create_workspace("refresh").await.unwrap();
    let ids = seed_due_accounts(&app, &ws.id, n).await;

    let run = RefreshRun {
        page_size,
        concurrency,
        ..RefreshRun::new(chrono::Duration::days(1))
    };
    let report = app.refresh_run(run).await.unwrap();
    assert_eq!(report.examined, n, "{report:?}");
    assert_eq!(report.refreshed, n, "{report:?}");
    assert_eq!((report.failed, report.deferred), (0, 0), "{report:?}");
    assert!(report.complete);
    let refreshed = endpoint.refreshes();
    assert_eq!(refreshed.len(), n);
    assert!(
        ids.iter().all(|id| refreshed.get(id) == Some(&1)),
        "each account once"
    );
    assert!(
        endpoint.peak() <= concurrency && report.peak_in_flight <= concurrency,
        "at most {concurrency} in flight: {} seen, {report:?}",
        endpoint.peak()
    );
    assert!(endpoint.peak() > 1, "refreshes overlap");
    for id in &ids {
        let account = app.get_account(&ws.id, id).await.unwrap();
        assert!(account.token_expires_at > Some(chrono::Utc::now() + chrono::Duration::days(59)));
    }

    // Nothing is due any more: a second run refreshes nothing.
    let again = app.refresh_run(run).await.unwrap();
    assert_eq!(again.refreshed, 0, "{again:?}");
    assert!(again.complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_refresher_pages_through_every_account_due_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalBackend::open(dir.path(), &no_env()).unwrap();
    every_account_due_is_refreshed_once(local.backend, 450, 100, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_refresher_pages_through_every_account_due_on_aws() {
    let aws = postora_test_support::aws::Emulator::fresh().await;
    let backend = Backend {
        stores: aws.adapters.stores(),
        keys: aws.adapters.keys.clone(),
        queue: aws.adapters.queue.clone(),
        bus: aws.adapters.bus.clone(),
        blobs: aws.adapters.blobs.clone(),
        mailer: aws.adapters.backend().mailer,
    };
    every_account_due_is_refreshed_once(backend, 60, 25, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_stops_starting_refreshes_at_its_deadline_and_the_next_run_does_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalBackend::open(dir.path(), &no_env()).unwrap();
    let endpoint = CountingTokenEndpoint::new(Duration::from_millis(40));
    let app = app_on(local.backend, &endpoint);
    let (ws, _) = app.create_workspace("deadline").await.unwrap();
    let n = 120;
    seed_due_accounts(&app, &ws.id, n).await;

    let run = RefreshRun {
        page_size: 50,
        concurrency: 2,
        ..RefreshRun::new(chrono::Duration::days(1))
    }
    .within(Duration::from_millis(400), Duration::from_millis(200));
    let started = std::time::Instant::now();
    let first = app.refresh_run(run).await.unwrap();
    assert!(!first.complete, "{first:?}");
    assert!(first.refreshed > 0 && first.refreshed < n, "{first:?}");
    assert_eq!(
        first.refreshed, first.examined,
        "what was started finished: {first:?}"
    );
    assert!(first.deferred > 0, "{first:?}");
    // It stops starting at 200 ms; those in flight end 40 ms later.
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    let second = app
        .refresh_run(RefreshRun {
            concurrency: 8,
            ..RefreshRun::new(chrono::Duration::days(1))
        })
        .await
        .unwrap();
    assert!(second.complete);
    assert_eq!(
        first.refreshed + second.refreshed,
        n,
        "{first:?} {second:?}"
    );
    assert!(endpoint.refreshes().values().all(|c| *c == 1));
}

/// The budget a Lambda run keeps to is the token refresher's timeout in the template.
#[test]
fn the_lambda_run_budget_is_the_functions_timeout() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let function = template
        .split("\n  TokenRefresherFunction:\n")
        .nth(1)
        .expect("the template has the token refresher");
    // The function's own lines: indented deeper than the resources.
    let timeout = function
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("   "))
        .find_map(|l| l.trim().strip_prefix("Timeout:"))
        .expect("the token refresher has a timeout");
    assert_eq!(
        timeout.trim().parse::<u64>().unwrap(),
        postora::app::refresh::LAMBDA_RUN_BUDGET.as_secs()
    );
}
