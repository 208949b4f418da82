//! What checking a signed-in person's session costs on every request: the store requests it makes and how long it
//! takes, on both backends.
//!
//! A person, a workspace they own and a session are made through the app; then the session is checked `--checks`
//! times as a request to a workspace route checks it (`App::check_session` with the workspace named). On AWS every
//! request to DynamoDB and KMS is counted by operation (an SDK interceptor on every client); on one machine the
//! checks run against SQLite in a temporary directory.
//!
//! `cargo run --release -p postora-bench --bin session_check -- [--checks 2000]` (the local backend), and with
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1`
//! set, the AWS backend on the emulator too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use postora::adapters::aws::bootstrap::bootstrap;
use postora::adapters::aws::{
    load_sdk_config, AwsAdapters, AwsClients, AwsConfig, RequestCounts, RequestMetrics,
};
use postora::app::sessions::ClientInfo;
use postora::app::App;
use postora::config::Env;
use postora::domain::{
    EmailAddress, Membership, Person, PersonId, Role, Workspace, WorkspaceId, WorkspaceSettings,
};
use postora::runtime::{self, Backend};
use postora_bench::arg;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let checks: usize = arg(&args, "--checks", 2000);

    let dir = tempfile::tempdir()?;
    let env = Env::from_pairs([("POSTORA_PUBLIC_URL", "http://127.0.0.1:1")]);
    let local = runtime::local::LocalBackend::open(dir.path(), &env)?;
    let app = runtime::build_app(local.backend.clone(), &env, "http://127.0.0.1:1")?;
    let (took, _) = measure(&app, checks, None).await?;
    report("SQLite (one machine)", checks, &took, None);

    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()) {
        let sdk = load_sdk_config().await;
        let config = AwsConfig::named(&format!(
            "bench-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ));
        let metrics = RequestMetrics::new();
        let clients = AwsClients::new(&sdk, Some(&metrics));
        let resources = bootstrap(&clients, &config).await?;
        let adapters = AwsAdapters::from_clients(
            clients,
            &config,
            resources.queue_url,
            resources.dead_letter_url,
        );
        let backend: Backend = adapters.backend();
        let app = runtime::build_app(backend, &env, "http://127.0.0.1:1")?;
        let (took, counts) = measure(&app, checks, Some(&metrics)).await?;
        report("DynamoDB (AWS emulator)", checks, &took, counts.as_ref());
    } else {
        println!("(AWS_ENDPOINT_URL is not set: the AWS backend was not measured)");
    }
    Ok(())
}

/// Makes a person, their workspace and a session, then checks the session `checks` times. Returns each check's
/// time and, with `metrics`, the AWS requests the checks made (the setup's are left out).
async fn measure(
    app: &Arc<App>,
    checks: usize,
    metrics: Option<&RequestMetrics>,
) -> Result<(Vec<Duration>, Option<RequestCounts>)> {
    let now = app.now();
    let person = Person {
        id: PersonId::generate(),
        email: EmailAddress::parse(&format!(
            "bench-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .context("address")?,
        name: "Bench".into(),
        email_verified_at: Some(now),
        password_hash: String::new(),
        password_changed_at: now,
        two_factor: None,
        pending_two_factor: None,
        known_devices: Vec::new(),
        created_at: now,
        version: 1,
    };
    app.stores.people.create_person(&person).await?;
    let ws = WorkspaceId::generate();
    let workspace = Workspace {
        id: ws.clone(),
        name: "bench".into(),
        wrapped_key: app.vault.new_workspace_key(&ws).await?,
        created_at: now,
        settings: WorkspaceSettings::default(),
    };
    let owner = Membership {
        workspace_id: ws.clone(),
        person_id: person.id.clone(),
        role: Role::Owner,
        joined_at: now,
        version: 1,
    };
    app.stores
        .members
        .create_workspace_with_owner(&workspace, &owner)
        .await?;
    let (token, _) = app.start_session(&person, &ClientInfo::default()).await?;
    let before = metrics.map(RequestMetrics::snapshot);
    let mut took = Vec::with_capacity(checks);
    for _ in 0..checks {
        let start = Instant::now();
        app.check_session(&token, Some(&ws)).await?;
        took.push(start.elapsed());
    }
    let counts = metrics
        .zip(before)
        .map(|(m, before)| m.snapshot().since(&before));
    Ok((took, counts))
}

fn report(backend: &str, checks: usize, took: &[Duration], counts: Option<&RequestCounts>) {
    let mut sorted = took.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{backend}: {checks} checks, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
    if let Some(counts) = counts {
        for ((service, op), n) in &counts.0 {
            println!(
                "  {service} {op}: {n} ({:.3} per check)",
                *n as f64 / checks as f64
            );
        }
    }
}
