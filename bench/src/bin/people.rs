//! What signing in and checking a session cost, on the embedded backend (SQLite) in this process.
//!
//! - Argon2id alone, with Postora's parameters (m=19,456 KiB, t=2, p=1): the time to verify one password, and the
//!   peak resident memory it adds, measured in a child process of the bench (its peak with one verification, less
//!   the peak of the same child doing none).
//! - A whole sign-in (`App::sign_in`: limits, the person's read, Argon2id, the new session, the sign-in record).
//!
//! What checking a session costs on every request is the `session_check` bench's.
//!
//! `cargo run --release -p postora-bench --bin people -- [--runs 20]`

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use postora::app::people::{passwords, Credentials, SignUp};
use postora::app::sessions::ClientInfo;
use postora::config::Env;
use postora::runtime::{self, local::LocalBackend};
use postora_bench::arg;

const PASSWORD: &str = "correct horse battery staple";

/// The peak resident set of this process so far, in KiB (Linux's `VmHWM`).
fn peak_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM in /proc/self/status")
}

fn child(mode: &str, phc: &str) -> Result<u64> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--child", mode, "--hash", phc])
        .output()?;
    if !out.status.success() {
        bail!(
            "child {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), samples[samples.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let mode = args.get(i + 1).map(String::as_str).unwrap_or("idle");
        let phc: String = arg(&args, "--hash", String::new());
        if mode == "verify" && !passwords::verify(PASSWORD, &phc) {
            bail!("the hash did not verify");
        }
        println!("{}", peak_kib()?);
        return Ok(());
    }
    let runs: usize = arg(&args, "--runs", 20);

    let phc = passwords::hash(PASSWORD)?;
    println!("parameters: {}", phc.split('$').nth(3).unwrap_or("?"));

    // Argon2id alone.
    let mut verify = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        assert!(passwords::verify(PASSWORD, &phc));
        verify.push(started.elapsed());
    }
    let (p50, p95, max) = stats(verify);
    println!(
        "argon2id verify ({runs} runs): median {}, p95 {}, max {}",
        ms(p50),
        ms(p95),
        ms(max)
    );
    let idle = child("idle", &phc)?;
    let busy = child("verify", &phc)?;
    println!(
        "peak resident memory: {} KiB with one verification, {} KiB without: {} KiB for Argon2id",
        busy,
        idle,
        busy.saturating_sub(idle)
    );

    // A whole sign-in on the embedded backend.
    let dir = tempfile::tempdir()?;
    let env = Env::from_pairs([("POSTORA_PUBLIC_URL", "http://127.0.0.1:9")]);
    let local = LocalBackend::open(dir.path(), &env)?;
    let app = runtime::build_app(local.backend, &env, "http://127.0.0.1:9")?;
    let client = ClientInfo {
        ip: "127.0.0.1".into(),
        user_agent: "bench".into(),
    };
    app.sign_up(
        SignUp {
            email: "bench@example.com".into(),
            password: PASSWORD.into(),
            name: "Bench".into(),
            invitation: None,
        },
        &client,
    )
    .await?;
    let credentials = Credentials {
        email: "bench@example.com".into(),
        password: PASSWORD.into(),
        code: None,
        recovery_code: None,
    };
    let first = app.sign_in(credentials.clone(), &client, None).await?;
    let device = first.new_device.clone();
    let mut sign_ins = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        app.sign_in(credentials.clone(), &client, device.as_deref())
            .await?;
        sign_ins.push(started.elapsed());
    }
    let (p50, p95, max) = stats(sign_ins);
    println!(
        "sign-in ({runs} runs): median {}, p95 {}, max {}",
        ms(p50),
        ms(p95),
        ms(max)
    );

    Ok(())
}
