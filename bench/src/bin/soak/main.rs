//! Soak: many deliveries over many accounts, due within one minute, through a real `postora serve` with random
//! sandbox faults and the process killed with SIGKILL and started again a few times. Every delivery must end
//! published exactly once, failed, or in doubt; the figures are counted from what the sandbox platform accepted.
//!
//! `soak [--postora PATH] [--accounts 200] [--deliveries 10000] [--targets 20] [--window-secs 60] [--lead-secs 30]
//!       [--kills 3] [--fault-every-ms 250] [--workers 32] [--seed 1]`
//!
//! The sandbox runs in `lookup` mode: it makes a new post for every request (a publisher that repeated itself would
//! leave two posts) and answers whether a key landed, as Meta's containers or TikTok's publish ids let a publisher
//! check. Exits with an error if any delivery was duplicated or lost.

mod chaos;
mod tally;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use postora::domain::WorkspaceId;
use postora_bench::{arg, connect_sandbox, free_port, postora_binary, quantile, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Settings for `postora serve` during the soak: short leases and deadlines so a killed process is recovered within
/// seconds, and the sandbox in `lookup` mode so that a duplicate would show.
const SERVE_ENV: &[(&str, &str)] = &[
    ("POSTORA_SANDBOX_IDEMPOTENCY", "lookup"),
    ("POSTORA_PUBLISH_LEASE_SECS", "10"),
    ("POSTORA_REQUEUE_AFTER_SECS", "20"),
    ("POSTORA_QUEUE_VISIBILITY_SECS", "20"),
    ("POSTORA_HTTP_TIMEOUT_SECS", "3"),
    ("POSTORA_BACKOFF_BASE_SECS", "1"),
    ("POSTORA_BACKOFF_MAX_SECS", "5"),
    ("POSTORA_MAX_ATTEMPTS", "8"),
];

struct Plan {
    accounts: usize,
    deliveries: usize,
    targets: usize,
    window: Duration,
    lead: Duration,
    kills: usize,
    fault_every: Duration,
    workers: usize,
    seed: u64,
}

impl Plan {
    fn from_args(args: &[String]) -> Result<Plan> {
        let plan = Plan {
            accounts: arg(args, "--accounts", 200),
            deliveries: arg(args, "--deliveries", 10_000),
            targets: arg(args, "--targets", 20),
            window: Duration::from_secs(arg(args, "--window-secs", 60)),
            lead: Duration::from_secs(arg(args, "--lead-secs", 30)),
            kills: arg(args, "--kills", 3),
            fault_every: Duration::from_millis(arg(args, "--fault-every-ms", 250)),
            workers: arg(args, "--workers", 32),
            seed: arg(args, "--seed", 1),
        };
        if plan.targets == 0 || plan.targets > plan.accounts {
            bail!("--targets must be from 1 to --accounts");
        }
        if plan.deliveries / plan.targets * plan.targets != plan.deliveries {
            bail!("--deliveries must be a multiple of --targets");
        }
        Ok(plan)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let plan = Plan::from_args(&args)?;
    let bin = postora_binary(&args);
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let workers = plan.workers.to_string();
    let mut env: Vec<(&str, &str)> = SERVE_ENV.to_vec();
    env.push(("POSTORA_WORKERS", &workers));
    let mut rng = StdRng::seed_from_u64(plan.seed);

    let (ws, key) = create_workspace(&bin, dir.path())?;
    let mut server = Server::start(&bin, dir.path(), port, &env)?;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let started = Instant::now();
    let accounts = connect_all(&http, &base, &key, plan.accounts).await?;
    println!(
        "connected {} sandbox accounts in {:.1?}",
        accounts.len(),
        started.elapsed()
    );

    // Deliveries due evenly over the window, which starts `lead` from now.
    let posts = plan.deliveries / plan.targets;
    let window_start = chrono::Utc::now() + chrono::Duration::from_std(plan.lead)?;
    let bodies: Vec<Value> = (0..posts)
        .map(|i| {
            let offset = plan.window.as_secs_f64() * i as f64 / posts as f64;
            let due = window_start + chrono::Duration::milliseconds((offset * 1000.0) as i64);
            let targets: Vec<Value> = (0..plan.targets)
                .map(|t| json!({"account_id": accounts[(i * plan.targets + t) % accounts.len()]}))
                .collect();
            json!({"text": format!("soak post {i}"), "targets": targets, "scheduled_at": due.to_rfc3339()})
        })
        .collect();
    let created_at = Instant::now();
    create_posts(&http, &base, &key, bodies).await?;
    println!(
        "created {posts} posts ({} deliveries) in {:.1?}",
        plan.deliveries,
        created_at.elapsed()
    );
    if chrono::Utc::now() >= window_start {
        bail!("creating the posts took past the start of the window; raise --lead-secs");
    }

    // Faults all along, from now until everything has settled.
    let faults_sent = Arc::new(AtomicUsize::new(0));
    let injector = tokio::spawn(inject_faults(
        http.clone(),
        base.clone(),
        plan.accounts,
        plan.fault_every,
        StdRng::seed_from_u64(rng.gen()),
        faults_sent.clone(),
    ));

    // SIGKILL and start again at moments spread over the window.
    let until_window = (window_start - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let window_began = Instant::now() + until_window;
    let mut downtime = Duration::ZERO;
    for moment in chaos::kill_moments(&mut rng, plan.kills, plan.window) {
        tokio::time::sleep_until((window_began + moment).into()).await;
        server.kill_9()?;
        let down = Instant::now();
        server = Server::start(&bin, dir.path(), port, &env)?;
        downtime += down.elapsed();
        println!(
            "killed with SIGKILL and restarted at window + {:.1?} (down {:.1?})",
            moment,
            down.elapsed()
        );
    }

    // Wait until every delivery has settled (or the deadline passes).
    let deadline = window_began + plan.window + Duration::from_secs(300);
    let deliveries = loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let all = match all_deliveries(&http, &base, &key).await {
            Ok(all) => all,
            Err(e) => {
                eprintln!("could not list deliveries yet: {e}");
                continue;
            }
        };
        let settled = all
            .iter()
            .filter(|(_, d)| {
                matches!(
                    d["status"].as_str(),
                    Some("published" | "failed" | "in_doubt")
                )
            })
            .count();
        if settled == all.len() || Instant::now() > deadline {
            break all;
        }
    };
    injector.abort();
    let accepted: Value = http
        .get(format!("{base}/sandbox/posts"))
        .send()
        .await?
        .json()
        .await?;
    let posts_on_platform = accepted["posts"].as_array().context("no posts")?;
    let t = tally::tally(&ws, &deliveries, posts_on_platform)?;
    report(&plan, &t, faults_sent.load(Ordering::Relaxed), downtime);
    drop(server);
    if t.duplicates > 0 || t.lost > 0 || t.unsettled > 0 || t.failed_but_posted > 0 || t.strays > 0
    {
        bail!("exactly once did not hold");
    }
    Ok(())
}

/// Creates the workspace with the CLI; returns its id and API key.
fn create_workspace(bin: &Path, dir: &Path) -> Result<(WorkspaceId, String)> {
    let out = std::process::Command::new(bin)
        .args(["workspace", "create", "soak", "--data-dir"])
        .arg(dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "workspace create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let ws = WorkspaceId::parse(v["workspace_id"].as_str().unwrap_or_default())
        .context("no workspace id")?;
    Ok((ws, v["api_key"].as_str().context("no api_key")?.to_owned()))
}

/// Connects `n` sandbox accounts (`soak0`…), a few at a time.
async fn connect_all(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let (http, base, key) = (http.clone(), base.to_owned(), key.to_owned());
            set.spawn(async move {
                (
                    i,
                    connect_sandbox(&http, &base, &key, &format!("soak{i}")).await,
                )
            });
        }
        while let Some(done) = set.join_next().await {
            let (i, id) = done?;
            ids.push((i, id?));
        }
    }
    ids.sort();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// Creates the posts, sixteen requests in flight.
async fn create_posts(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    bodies: Vec<Value>,
) -> Result<()> {
    let mut pending = bodies.into_iter();
    let mut set = tokio::task::JoinSet::new();
    loop {
        while set.len() < 16 {
            let Some(body) = pending.next() else { break };
            let (http, url, key) = (http.clone(), format!("{base}/v1/posts"), key.to_owned());
            set.spawn(async move {
                let resp = http.post(url).bearer_auth(key).json(&body).send().await?;
                if resp.status() != 201 {
                    bail!("creating a post failed: {}", resp.text().await?);
                }
                Ok(())
            });
        }
        match set.join_next().await {
            Some(done) => done??,
            None => return Ok(()),
        }
    }
}

/// Sends a random fault to the sandbox every `every`, until aborted. While Postora is down (being restarted),
/// the sandbox is down too and its faults are gone; sending resumes when it is back.
async fn inject_faults(
    http: reqwest::Client,
    base: String,
    users: usize,
    every: Duration,
    mut rng: StdRng,
    sent: Arc<AtomicUsize>,
) {
    loop {
        let fault = chaos::random_fault(&mut rng, users);
        let ok = http
            .post(format!("{base}/sandbox/faults"))
            .json(&fault)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            sent.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(every).await;
    }
}

/// Every delivery with its post id, by paging through `/v1/posts`.
async fn all_deliveries(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/posts?limit=200");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let page: Value = http.get(url).bearer_auth(key).send().await?.json().await?;
        for p in page["posts"].as_array().context("no posts")? {
            let id = p["id"].as_str().unwrap_or_default().to_owned();
            for d in p["deliveries"].as_array().cloned().unwrap_or_default() {
                out.push((id.clone(), d));
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

fn report(plan: &Plan, t: &tally::Tally, faults: usize, downtime: Duration) {
    let span = match (t.first_due, t.last_accepted) {
        (Some(first), Some(last)) => (last - first).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    };
    println!();
    println!(
        "deliveries: {} over {} accounts, due within {} s; {} faults sent; {} SIGKILL restarts ({:.1} s down in all)",
        t.deliveries,
        plan.accounts,
        plan.window.as_secs(),
        faults,
        plan.kills,
        downtime.as_secs_f64()
    );
    println!(
        "published: {}  failed: {}  in_doubt: {}  unsettled: {}",
        t.published, t.failed, t.in_doubt, t.unsettled
    );
    if !t.reasons.is_empty() {
        let reasons: Vec<String> = t.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("why: {}", reasons.join(", "));
    }
    println!(
        "duplicates: {}  lost: {}  (published with another post id: {}, failed yet posted: {}, in doubt and posted: {}, \
         posts no delivery accounts for: {})",
        t.duplicates, t.lost, t.wrong_post, t.failed_but_posted, t.in_doubt_posted, t.strays
    );
    println!(
        "publish lag (platform accepted − scheduled): p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        quantile(&t.lags_ms, 0.5),
        quantile(&t.lags_ms, 0.9),
        quantile(&t.lags_ms, 0.99),
        quantile(&t.lags_ms, 1.0)
    );
    println!(
        "  published in one attempt ({}): p50 {:.0} ms  p99 {:.0} ms; after a retry, a wait or a recovery ({}): \
         p50 {:.0} ms  p99 {:.0} ms",
        t.first_try_lags_ms.len(),
        quantile(&t.first_try_lags_ms, 0.5),
        quantile(&t.first_try_lags_ms, 0.99),
        t.lags_ms.len() - t.first_try_lags_ms.len(),
        quantile(&t.later_lags_ms, 0.5),
        quantile(&t.later_lags_ms, 0.99),
    );
    println!(
        "throughput: {:.0} deliveries/s published ({} between the first due time and the last acceptance, {:.1} s); \
         {:.0} deliveries/s offered",
        t.published as f64 / span,
        t.published,
        span,
        t.deliveries as f64 / plan.window.as_secs_f64()
    );
}
