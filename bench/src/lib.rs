//! Shared pieces of the benchmarks: run the real `postora serve`, connect sandbox accounts, read deliveries back,
//! and summarise latencies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub mod movie;

/// The `postora` binary: `--postora PATH`, or the release build next to this benchmark.
pub fn postora_binary(args: &[String]) -> PathBuf {
    if let Some(i) = args.iter().position(|a| a == "--postora") {
        if let Some(p) = args.get(i + 1) {
            return PathBuf::from(p);
        }
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .map(|d| d.join("postora"))
        .unwrap_or_else(|| PathBuf::from("target/release/postora"))
}

/// The value after `--name`, parsed, or `default`.
pub fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running `postora serve`.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(bin: &Path, dir: &Path, port: u16, env: &[(&str, &str)]) -> Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("POSTORA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !healthy(port) {
            if Instant::now() > deadline {
                bail!("postora serve did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The server's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then wait for the process to be gone.
    pub fn kill_9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// Creates a workspace with the CLI; returns its API key.
pub fn create_workspace(bin: &Path, dir: &Path) -> Result<String> {
    let out = Command::new(bin)
        .args(["workspace", "create", "bench", "--data-dir"])
        .arg(dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "workspace create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(v["api_key"].as_str().context("no api_key")?.to_owned())
}

/// Connects a sandbox account for `user` by following its authorize URL; returns the account id.
pub async fn connect_sandbox(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    user: &str,
) -> Result<String> {
    let start: Value = http
        .post(format!("{base}/v1/accounts/connect/sandbox"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    let url = format!(
        "{}&user={user}",
        start["authorize_url"]
            .as_str()
            .context("no authorize_url")?
    );
    let follow = reqwest::Client::new();
    let page = follow.get(url).send().await?;
    if !page.status().is_success() {
        bail!("connecting {user} failed: {}", page.status());
    }
    let accounts: Value = http
        .get(format!("{base}/v1/accounts"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    let id = accounts["accounts"]
        .as_array()
        .context("no accounts")?
        .iter()
        .find(|a| a["platform_user_id"] == format!("sbx-{user}"))
        .and_then(|a| a["id"].as_str())
        .context("the account is not listed")?;
    Ok(id.to_owned())
}

/// Every delivery of every post, by paging through `/v1/posts`.
pub async fn deliveries(http: &reqwest::Client, base: &str, key: &str) -> Result<Vec<Value>> {
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
            out.extend(p["deliveries"].as_array().cloned().unwrap_or_default());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

/// The `q` quantile (0..=1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Publish lag in milliseconds (published_at − scheduled_at) of published deliveries, sorted.
pub fn lags_ms(deliveries: &[Value]) -> Vec<f64> {
    let mut lags: Vec<f64> = deliveries
        .iter()
        .filter(|d| d["status"] == "published")
        .filter_map(|d| {
            let s: chrono::DateTime<chrono::Utc> = d["scheduled_at"].as_str()?.parse().ok()?;
            let p: chrono::DateTime<chrono::Utc> = d["published_at"].as_str()?.parse().ok()?;
            Some((p - s).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    lags
}

/// Another process's peak resident set size so far, in KiB.
pub fn vm_hwm_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in the server's status")
}
