//! At TRACE the AWS SDK logs request and response bodies, and on the AWS backend those bodies hold wrapped data keys
//! (KMS `GenerateDataKey`, the workspace item) and sealed tokens (the token item). The log filter the CLI and the
//! functions use (`postora::logging::filter`) caps the SDK's targets, so a process turned up to TRACE writes no
//! ciphertext: this test runs the writes that carry both on the emulator and searches the captured log for them in
//! every encoding a body could show them in. The same run under a plain `trace` filter must find them, so the search
//! is known to work.
//!
//! The binary's global subscriber (see `tokens`) is left alone: the test runs on one thread, with its own subscriber
//! as that thread's default, so every task the app, the sandbox and the SDK spawn logs to it, and nothing another
//! test logs meanwhile reaches it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use postora::domain::{AccountId, WorkspaceId};
use postora_test_support::app::spawn_app_on;
use postora_test_support::aws::Emulator;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every way a body or a `Debug` print could show `bytes`, each with its name.
fn encodings(bytes: &[u8]) -> Vec<(&'static str, String)> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let debug = format!("{bytes:?}");
    vec![
        ("base64", STANDARD.encode(bytes)),
        ("base64 without padding", STANDARD_NO_PAD.encode(bytes)),
        ("URL-safe base64", URL_SAFE.encode(bytes)),
        (
            "URL-safe base64 without padding",
            URL_SAFE_NO_PAD.encode(bytes),
        ),
        ("hex", hex::encode(bytes)),
        ("upper-case hex", hex::encode_upper(bytes)),
        // A `Debug` print of the bytes, cut before its end.
        ("a byte list", debug[..debug.len() / 2].to_owned()),
    ]
}

/// Creates a workspace and connects a sandbox account on the AWS backend under `filter`; returns the captured log and
/// the ciphertexts written: the workspace's wrapped data key and the account's sealed tokens.
fn run_at(filter: Targets) -> (String, Vec<(&'static str, Vec<u8>)>) {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(filter),
    );
    let _default = tracing::subscriber::set_default(subscriber);
    // One thread, so every task spawned below logs to this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let written = runtime.block_on(async {
        let aws = Emulator::fresh().await;
        let t = spawn_app_on(aws.adapters.backend(), &[]).await;
        let (ws, key) = t.workspace("trace").await;
        let account = t.connect_sandbox(&key, "tracey").await;
        let ws = WorkspaceId::parse(&ws).unwrap();
        let account = AccountId::parse(&account).unwrap();
        let wrapped = t
            .app
            .stores
            .workspaces
            .get_workspace(&ws)
            .await
            .unwrap()
            .unwrap()
            .wrapped_key
            .clone();
        let sealed = t
            .app
            .stores
            .accounts
            .get_tokens(&ws, &account)
            .await
            .unwrap()
            .unwrap()
            .ciphertext;
        t.stop().await;
        vec![("wrapped data key", wrapped), ("sealed tokens", sealed)]
    });
    drop(runtime);
    let log = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    (log, written)
}

/// The ciphertexts `log` shows, by name and encoding (never the ciphertext itself).
fn found(log: &str, written: &[(&'static str, Vec<u8>)]) -> Vec<String> {
    let mut shown = Vec::new();
    for (what, bytes) in written {
        assert!(bytes.len() >= 32, "{what} is a real ciphertext");
        for (encoding, encoded) in encodings(bytes) {
            if log.contains(&encoded) {
                shown.push(format!("{what} in {encoding}"));
            }
        }
    }
    shown
}

#[test]
fn at_trace_on_the_aws_backend_the_log_holds_no_ciphertext() {
    let (log, written) = run_at(postora::logging::filter(Some("trace")));
    assert!(
        log.contains("TRACE"),
        "the capture saw TRACE lines: {} bytes",
        log.len()
    );
    let shown = found(&log, &written);
    assert!(shown.is_empty(), "the log shows {shown:?}");

    // Without the cap the same writes do show their ciphertext: the search above would have found it.
    let (uncapped, written) = run_at(Targets::new().with_default(LevelFilter::TRACE));
    let shown = found(&uncapped, &written);
    assert!(
        shown.iter().any(|s| s.starts_with("wrapped data key"))
            && shown.iter().any(|s| s.starts_with("sealed tokens")),
        "an uncapped TRACE log shows both: {shown:?}"
    );
}
