//! Cold starts of the Lambda functions, through the stand-in for the Lambda Runtime API, against the AWS emulator:
//! for each function, the time from starting the process to its first poll for an event, and the duration of its
//! first invocation on a sample event from `events/`; beside them, a hello-world function built with the same
//! profile. Each is started `--runs` times (default 20) and the median and the 90th percentile are printed.
//!
//! ```sh
//! cargo lambda build --profile lambda-release --bin post-api ...   # or: cargo build --profile lambda-release -p postora-functions
//! cargo build --profile lambda-release -p postora-bench --bin hello_lambda
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
//!   cargo bench -p postora-bench --bench cold_start -- [--profile lambda-release] [--runs 20]
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use postora::adapters::aws::{ENV_DLQ_URL, ENV_QUEUE_URL};
use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{lambda_command, samples, RuntimeApiStub, Sample};

/// Each function, and the sample event its first invocation gets.
const FUNCTIONS: &[(&str, &str)] = &[
    ("hello_lambda", ""),
    ("post-api", "post-api/health.json"),
    ("oauth-callback", "oauth-callback/denied-callback.json"),
    ("data-deletion", "data-deletion/privacy.json"),
    ("dispatcher", "dispatcher/tick.json"),
    ("publisher", "publisher/batch.json"),
    ("token-refresher", "token-refresher/daily.json"),
];

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// One cold start: the time to the first poll, and the first invocation's duration.
async fn cold_start(
    binary: &Path,
    name: &str,
    env: &[(String, String)],
    event: Sample,
) -> Result<(Duration, Duration), String> {
    let stub = RuntimeApiStub::start(vec![event])
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = lambda_command(binary, name, env, &stub)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let deadline = started + Duration::from_secs(30);
    while !stub.finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(e) = stub.init_error() {
        return Err(format!("{name} failed to start: {e}"));
    }
    let timings = stub.timings();
    let poll = timings
        .first_poll
        .ok_or_else(|| format!("{name} never polled"))?
        .saturating_duration_since(started);
    let (_, first) = timings
        .invocations
        .first()
        .cloned()
        .ok_or_else(|| format!("{name} never answered"))?;
    Ok((poll, first))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("cold_start is a benchmark: run it with `cargo bench -p postora-bench --bench cold_start`");
        return Ok(());
    }
    let runs: usize = arg(&args, "--runs", 20);
    let profile: String = arg(&args, "--profile", "lambda-release".to_owned());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("target"));
    let sdk = emulator().await;
    let (config, resources) = fresh_resources(&sdk).await?;
    // As the template sets them: the queues by URL (a name would cost a lookup at every cold start).
    let mut env: Vec<(String, String)> = function_env(&config)
        .into_iter()
        .filter(|(k, _)| k != ENV_QUEUE_URL && k != ENV_DLQ_URL)
        .collect();
    env.push((ENV_QUEUE_URL.into(), resources.queue_url));
    env.push((ENV_DLQ_URL.into(), resources.dead_letter_url));
    println!("profile {profile}, {runs} cold starts each (median / p90, ms)");
    println!(
        "{:<16} {:>10} {:>16} {:>10} {:>22}",
        "function", "size MB", "to first poll", "x hello", "first invocation"
    );
    let mut hello_poll = None;
    for (name, event) in FUNCTIONS {
        let binary = target.join(&profile).join(name);
        let size = std::fs::metadata(&binary)
            .map_err(|e| format!("{}: {e} (build it first, see the header)", binary.display()))?
            .len();
        let sample = if event.is_empty() {
            Sample {
                name: "tick".into(),
                payload: serde_json::json!({}),
            }
        } else {
            let path = repo.join("events").join(event);
            let dir = path.parent().unwrap_or(&repo);
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            samples(dir)?
                .into_iter()
                .find(|s| s.name == stem)
                .ok_or_else(|| format!("no sample {event}"))?
        };
        let mut polls = Vec::new();
        let mut firsts = Vec::new();
        for _ in 0..runs {
            let (poll, first) = cold_start(&binary, name, &env, sample.clone()).await?;
            polls.push(poll);
            firsts.push(first);
        }
        polls.sort();
        firsts.sort();
        let median = quantile(&polls, 0.5);
        let ratio = match hello_poll {
            None => {
                hello_poll = Some(median);
                1.0
            }
            Some(h) => median.as_secs_f64() / Duration::as_secs_f64(&h).max(1e-9),
        };
        println!(
            "{:<16} {:>10.2} {:>16} {:>10.2} {:>22}",
            name,
            size as f64 / 1_000_000.0,
            format!("{} / {}", ms(median), ms(quantile(&polls, 0.9))),
            ratio,
            format!(
                "{} / {}",
                ms(quantile(&firsts, 0.5)),
                ms(quantile(&firsts, 0.9))
            ),
        );
    }
    Ok(())
}
