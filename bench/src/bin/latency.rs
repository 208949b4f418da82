//! Publish lag: many posts due in the same second, through a real `postora serve` on the sandbox platform.
//!
//! `cargo run --release -p postora-bench --bin latency -- [--posts 200] [--accounts 20] [--lead-secs 15]`

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use postora_bench::{
    arg, connect_sandbox, create_workspace, deliveries, free_port, lags_ms, postora_binary,
    quantile, Server,
};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let posts: usize = arg(&args, "--posts", 200);
    let accounts: usize = arg(&args, "--accounts", 20);
    let lead: i64 = arg(&args, "--lead-secs", 15);
    let bin = postora_binary(&args);
    let dir = tempfile::tempdir()?;
    let key = create_workspace(&bin, dir.path())?;
    let server = Server::start(&bin, dir.path(), free_port()?, &[])?;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..accounts {
        ids.push(connect_sandbox(&http, &server.base, &key, &format!("bench{i}")).await?);
    }
    // Every post is due at the same whole second, far enough ahead that creating them all finishes first.
    let now = chrono::Utc::now();
    let due = chrono::DateTime::from_timestamp(now.timestamp() + lead, 0).unwrap_or(now);
    let started = Instant::now();
    for i in 0..posts {
        let body = json!({
            "text": format!("latency post {i}"),
            "targets": [{"account_id": ids[i % ids.len()]}],
            "scheduled_at": due.to_rfc3339(),
        });
        let resp = http
            .post(format!("{}/v1/posts", server.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?;
        if resp.status() != 201 {
            bail!("creating a post failed: {}", resp.text().await?);
        }
    }
    let created_in = started.elapsed();
    if chrono::Utc::now() >= due {
        bail!("creating {posts} posts took {created_in:?}, past their due time; raise --lead-secs");
    }
    let deadline = Instant::now() + Duration::from_secs(lead as u64 + 60);
    let all = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all = deliveries(&http, &server.base, &key).await?;
        if all.iter().all(|d| d["status"] == "published") || Instant::now() > deadline {
            break all;
        }
    };
    let lags = lags_ms(&all);
    println!("posts due in the same second: {posts} over {accounts} sandbox accounts (created in {created_in:.1?})");
    println!("published: {} of {}", lags.len(), all.len());
    println!(
        "publish lag ms: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}",
        quantile(&lags, 0.5),
        quantile(&lags, 0.9),
        quantile(&lags, 0.99),
        quantile(&lags, 1.0)
    );
    Ok(())
}
