//! What publishing costs on AWS, counted: 1,000 deliveries across 20 workspaces and 100 sandbox accounts go through
//! the dispatcher and the publisher on the AWS adapters, against the AWS emulator, and every AWS request is counted
//! by service and operation (an SDK interceptor on every client).
//!
//! The publisher is driven as Lambda drives it: `--instances` publisher instances, each with its own app (so its own
//! cold data-key cache, as a fresh Lambda instance has), each taking one batch of up to ten messages at a time from
//! SQS (long polling, 20 s), handing it to the same `Publisher` the publisher function runs, and deleting the
//! successes in one DeleteMessageBatch, as the SQS event source does. Polling starts when the deliveries are due;
//! receives that find nothing are counted apart, since they cost the same whether one post or a million is published.
//! The dispatcher runs once, as its one-minute schedule would once the posts come within its horizon.
//!
//! The cost per million published posts that follows from these counts is worked out in BENCHMARKS.md.
//!
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
//!  cargo run -p postora-bench --bin aws_cost -- [--workspaces 20] [--accounts-per-workspace 5] \
//!  [--posts-per-workspace 10] [--instances 2]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use postora::adapters::aws::bootstrap::bootstrap;
use postora::adapters::aws::{load_sdk_config, AwsConfig};
use postora::adapters::aws::{AwsAdapters, AwsClients, RequestCounts, RequestMetrics};
use postora::app::posts::{NewPost, TargetInput};
use postora::config::Env;
use postora::runtime;
use postora::runtime::aws::{Publisher, SqsBatch, SqsRecord};
use postora_bench::{arg, connect_sandbox};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let workspaces: usize = arg(&args, "--workspaces", 20);
    let per_workspace: usize = arg(&args, "--accounts-per-workspace", 5);
    let posts_per_workspace: usize = arg(&args, "--posts-per-workspace", 10);
    let instances: usize = arg(&args, "--instances", 2);
    if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.is_empty()) {
        bail!("set AWS_ENDPOINT_URL to an AWS emulator (moto server); this benchmark creates resources as it goes");
    }

    // The emulator's address, credentials and region come from the environment, as for any AWS client.
    let sdk = load_sdk_config().await;
    let config = AwsConfig::named(&format!(
        "bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    let resources = bootstrap(&AwsClients::new(&sdk, None), &config).await?;
    let metrics = RequestMetrics::new();
    let clients = AwsClients::new(&sdk, Some(&metrics));
    let adapters = AwsAdapters::from_clients(
        clients.clone(),
        &config,
        resources.queue_url.clone(),
        resources.dead_letter_url.clone(),
    );

    // Postora in this process on the AWS adapters, with the sandbox platform served beside it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let env = Env::from_pairs([
        ("POSTORA_PUBLIC_URL", base.as_str()),
        ("POSTORA_SANDBOX", "on"),
    ]);
    let data = tempfile::tempdir()?;
    let (app, sandbox) =
        runtime::local::app_with_sandbox(adapters.backend(), &env, &base, data.path()).await?;
    // Setup goes through an app that queues nothing itself (a horizon of zero), so every delivery is left to the
    // dispatcher however long creating them takes.
    let mut setup_env = env.clone();
    setup_env.set("POSTORA_DISPATCH_HORIZON_SECS", "0");
    let (setup_app, _) =
        runtime::local::app_with_sandbox(adapters.backend(), &setup_env, &base, data.path())
            .await?;
    let sandbox = sandbox.context("the sandbox is on")?;
    let router = postora::http::full_router(setup_app.clone(), sandbox.router());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // Setup, counted apart: workspaces, connected accounts, then posts all due at one second.
    let setup_started = Instant::now();
    let http = reqwest::Client::new();
    let horizon = chrono::Duration::from_std(app.settings.dispatcher.horizon)?;
    let mut connected = Vec::new();
    for w in 0..workspaces {
        let (ws, key) = setup_app.create_workspace(&format!("bench {w}")).await?;
        let mut accounts = Vec::new();
        for a in 0..per_workspace {
            accounts.push(connect_sandbox(&http, &base, key.reveal(), &format!("w{w}a{a}")).await?);
        }
        connected.push((ws, accounts));
    }
    let due = chrono::Utc::now() + horizon;
    let mut deliveries = 0;
    for (ws, accounts) in &connected {
        for p in 0..posts_per_workspace {
            let post = NewPost {
                text: format!("cost post {p} of {}", ws.name),
                media: vec![],
                parts: vec![],
                targets: accounts
                    .iter()
                    .map(|id| TargetInput {
                        account_id: id.clone(),
                        text: None,
                        options: None,
                    })
                    .collect(),
                scheduled_at: Some(due.to_rfc3339()),
            };
            let owner = postora::app::approval::Author::new(
                postora::domain::By::ApiKey("bench".into()),
                postora::domain::Role::Owner,
            );
            let (record, _) = setup_app.create_post(&ws.id, &post, None, &owner).await?;
            deliveries += record.deliveries.len();
        }
    }
    let setup = metrics.snapshot();
    println!(
        "setup: {workspaces} workspaces, {} accounts, {deliveries} deliveries due at {due} ({} requests, {:.1?})",
        workspaces * per_workspace,
        setup.total(),
        setup_started.elapsed()
    );

    // Dispatch: one tick once every post is within the horizon (at once if creating them took longer).
    let tick_at = due - horizon + chrono::Duration::seconds(2);
    if let Ok(wait) = (tick_at - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let before_dispatch = metrics.snapshot();
    let report = app.dispatch_tick().await?;
    let dispatch = metrics.snapshot().since(&before_dispatch);
    println!("dispatcher: {report:?}");
    if report.queued != deliveries {
        bail!("the dispatcher queued {} of {deliveries}", report.queued);
    }

    // Publish: from the second the deliveries are due, as the SQS event source drives the publisher function.
    if let Ok(wait) = (due - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let before_publish = metrics.snapshot();
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..instances.max(1) {
        // A fresh publisher per instance: its own data-key cache, cold, as a new Lambda instance starts.
        let instance = Arc::new(Publisher::new(
            adapters.backend(),
            app.settings.clone(),
            app.platforms.clone(),
        ));
        running.spawn(poll(
            instance,
            clients.clone(),
            resources.queue_url.clone(),
            progress.clone(),
            deliveries,
        ));
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    let mut publish = metrics.snapshot().since(&before_publish);
    let publish_time = started.elapsed();
    let published = progress.published.load(Ordering::Relaxed);
    let idle = progress.empty_receives.load(Ordering::Relaxed) as u64;
    // Empty receives are the event source's idle polling: a fixed cost per minute, not a cost per post.
    if let Some(n) = publish
        .0
        .get_mut(&("SQS".to_owned(), "ReceiveMessage".to_owned()))
    {
        *n = n.saturating_sub(idle);
    }

    // Check from the store, uncounted: every delivery published exactly once on the sandbox.
    let accepted: serde_json::Value = http
        .get(format!("{base}/sandbox/posts"))
        .send()
        .await?
        .json()
        .await?;
    let on_platform = accepted["posts"].as_array().map_or(0, Vec::len);
    if published != deliveries || on_platform != deliveries {
        bail!("{published} messages settled and {on_platform} posts on the platform, for {deliveries} deliveries");
    }

    let both = add(&dispatch, &publish);
    summary(deliveries, &dispatch, &publish, &both, publish_time);
    println!(
        "\n{instances} publisher instances; {idle} empty receives (idle polling) left out; setup (workspaces, \
         accounts, posts through the API) took {} requests, {:.2} per delivery",
        setup.total(),
        per(setup.total(), deliveries)
    );
    Ok(())
}

#[derive(Default)]
struct Progress {
    published: AtomicUsize,
    empty_receives: AtomicUsize,
}

/// One publisher instance: receives a batch at a time until every delivery is published, publishing each batch as
/// the publisher function does and deleting what succeeded as the SQS event source does.
async fn poll(
    publisher: Arc<Publisher>,
    clients: AwsClients,
    queue_url: String,
    progress: Arc<Progress>,
    expected: usize,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while progress.published.load(Ordering::Relaxed) < expected {
        if Instant::now() > deadline {
            bail!("publishing did not finish in time");
        }
        let out = clients
            .sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(20)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            progress.empty_receives.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let records: Vec<SqsRecord> = messages
            .iter()
            .map(|m| SqsRecord {
                message_id: m.message_id.clone().unwrap_or_default(),
                receipt_handle: m.receipt_handle.clone().unwrap_or_default(),
                body: m.body.clone().unwrap_or_default(),
            })
            .collect();
        let answer = publisher
            .handle(
                SqsBatch {
                    records: records.clone(),
                },
                None,
            )
            .await;
        let failed: Vec<&str> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = records
            .iter()
            .filter(|r| !failed.contains(&r.message_id.as_str()))
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&r.receipt_handle)
                    .build()
            })
            .collect::<Result<_, _>>()?;
        let settled = done.len();
        if settled > 0 {
            clients
                .sqs
                .delete_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .context("DeleteMessageBatch")?;
        }
        progress.published.fetch_add(settled, Ordering::Relaxed);
    }
    Ok(())
}

fn add(a: &RequestCounts, b: &RequestCounts) -> RequestCounts {
    let mut all = a.0.clone();
    for (k, n) in &b.0 {
        *all.entry(k.clone()).or_default() += n;
    }
    RequestCounts(all)
}

fn per(n: u64, deliveries: usize) -> f64 {
    n as f64 / deliveries as f64
}

fn summary(
    deliveries: usize,
    dispatch: &RequestCounts,
    publish: &RequestCounts,
    both: &RequestCounts,
    publish_time: Duration,
) {
    println!(
        "\n## dispatcher ({} requests)\n{dispatch}",
        dispatch.total()
    );
    println!(
        "\n## publisher ({} requests, {publish_time:.1?})\n{publish}",
        publish.total()
    );
    println!("\n## per published delivery ({deliveries} deliveries)");
    println!("{:<12} {:<32} {:>8}", "service", "operation", "per post");
    for ((service, operation), n) in &both.0 {
        println!("{service:<12} {operation:<32} {:>8.3}", per(*n, deliveries));
    }
    println!(
        "{:<12} {:<32} {:>8.3}",
        "all",
        "",
        per(both.total(), deliveries)
    );
    println!(
        "{:<12} {:<32} {:>8.3}",
        "KMS",
        "",
        per(both.service("KMS"), deliveries)
    );
}
