//! Mail on one machine: through a real SMTP server (Python's aiosmtpd, started by the test with
//! `scripts/smtp-sink.py`) when `POSTORA_SMTP_URL` is set, and otherwise into the outbox as an `.eml` file. Either way
//! one RFC 5322 message, from `POSTORA_MAIL_FROM`, with the plain text and the HTML (escaped) as alternatives,
//! signed with the operator's name.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use postora::app::mail::Message;
use postora::domain::EmailAddress;
use postora_test_support::app::{spawn_app_with, TestApp};
use serde_json::Value;
use std::io::{BufRead, BufReader};

/// The SMTP sink, running until dropped.
struct Sink {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the SMTP sink, or `None` (with a message saying why) when Python's aiosmtpd is not installed here.
async fn sink() -> Option<Sink> {
    let has_aiosmtpd = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_aiosmtpd {
        eprintln!(
            "SKIPPED: Python's aiosmtpd is not installed (`python3 -m pip install aiosmtpd`; CI installs it), so \
             mail through a real SMTP server is not tested here"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let ready = tokio::time::timeout(Duration::from_secs(20), ready)
        .await
        .expect("the SMTP sink starts")
        .unwrap()
        .unwrap();
    assert_eq!(ready.trim(), "listening");
    Some(Sink { child, dir, port })
}

/// The messages the sink received so far, waiting for at least `n`.
async fn received(dir: &Path, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        if files.len() >= n {
            files.sort();
            return files
                .iter()
                .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the SMTP server did not receive {n} message(s)");
}

async fn verify(
    t: &TestApp,
    to: &str,
    name: &str,
    link: &str,
) -> Result<(), postora::error::Error> {
    t.app
        .send_mail(
            &EmailAddress::parse(to).unwrap(),
            Message::VerifyEmail { name, link },
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_goes_through_the_smtp_server_as_text_and_escaped_html() {
    let Some(sink) = sink().await else { return };
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let t = spawn_app_with(&[
        ("POSTORA_SMTP_URL", url.as_str()),
        ("POSTORA_MAIL_FROM", "Bakery Postora <mail@bakery.example>"),
        ("POSTORA_OPERATOR_NAME", "The Bakery & Co"),
    ])
    .await;
    let link = "https://postora.example/verify?token=tok123";
    verify(&t, "ana@example.com", "Ana <b>", link)
        .await
        .unwrap();

    let got = received(sink.dir.path(), 1).await;
    let m = &got[0];
    assert_eq!(m["rcpt_tos"][0], "ana@example.com");
    assert_eq!(m["mail_from"], "mail@bakery.example");
    assert_eq!(m["from"], "Bakery Postora <mail@bakery.example>");
    assert_eq!(m["subject"], "Confirm your email address");
    assert_eq!(m["content_type"], "multipart/alternative");
    let text = m["text"].as_str().unwrap();
    assert!(text.contains("Hello Ana <b>,"), "{text}");
    assert!(text.contains(link), "{text}");
    assert!(
        text.contains("The Bakery & Co"),
        "signed with the operator's name: {text}"
    );
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("Hello Ana &#60;b&#62;,") || html.contains("Hello Ana &lt;b&gt;,"),
        "escaped: {html}"
    );
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        html.contains("The Bakery &#38; Co") || html.contains("The Bakery &amp; Co"),
        "{html}"
    );
    assert!(html.contains("tok123"), "{html}");
    assert!(
        !t.data_dir.path().join("outbox").exists(),
        "with a server configured, nothing goes to the outbox"
    );

    // Every message has its pair of templates.
    let to = EmailAddress::parse("ana@example.com").unwrap();
    let messages = [
        Message::ResetPassword { name: "Ana", link },
        Message::EmailChanging {
            name: "Ana",
            new_email: &to,
        },
        Message::PasswordChanged { name: "Ana" },
        Message::TwoFactorChanged {
            name: "Ana",
            enabled: true,
        },
        Message::NewSignIn {
            name: "Ana",
            at: chrono::Utc::now(),
            ip: "192.0.2.1",
            user_agent: "Firefox",
        },
        Message::Invitation {
            inviter: "Ben",
            workspace: "Bakery",
            role: postora::domain::Role::Client,
            link,
        },
    ];
    for message in messages {
        t.app.send_mail(&to, message).await.unwrap();
    }
    let got = received(sink.dir.path(), 7).await;
    let subjects: Vec<&str> = got.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    assert!(
        subjects.contains(&"Ben invited you to Bakery on Postora"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Two-factor authentication was turned on"),
        "{subjects:?}"
    );
    for m in &got {
        assert!(
            m["text"].as_str().unwrap().contains("The Bakery & Co"),
            "{m}"
        );
        assert!(m["html"].as_str().unwrap().contains("<p"), "{m}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_cannot_be_reached_is_an_error_and_nothing_else_changes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://127.0.0.1:{port}");
    let t = spawn_app_with(&[("POSTORA_SMTP_URL", url.as_str())]).await;
    let err = verify(&t, "ana@example.com", "Ana", "https://x.example/v?token=t")
        .await
        .unwrap_err();
    assert!(
        matches!(err, postora::error::Error::Unavailable(_)),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_server_mail_is_written_to_the_outbox_as_an_eml_file() {
    let t = spawn_app_with(&[("POSTORA_OPERATOR_NAME", "The Bakery")]).await;
    let link = "https://postora.example/verify?token=tok456";
    verify(&t, "ana@example.com", "Ana", link).await.unwrap();
    let outbox = t.data_dir.path().join("outbox");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    assert_eq!(files[1].extension().unwrap(), "txt");
    assert_eq!(files[0].file_stem(), files[1].file_stem());
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("From: Postora <postora@localhost>"), "{eml}");
    assert!(eml.contains("To: ana@example.com"), "{eml}");
    assert!(eml.contains("Subject: Confirm your email address"), "{eml}");
    assert!(eml.contains("multipart/alternative"), "{eml}");
    assert!(
        eml.contains("text/plain") && eml.contains("text/html"),
        "{eml}"
    );
    let txt = std::fs::read_to_string(&files[1]).unwrap();
    assert!(
        txt.starts_with("To: ana@example.com\nSubject: Confirm your email address\n\nHello Ana,"),
        "{txt}"
    );
    assert!(txt.contains(link), "the link as it is: {txt}");
    assert!(txt.contains("The Bakery"), "{txt}");
}

#[tokio::test]
async fn a_bad_smtp_url_or_sender_is_refused_at_start_naming_the_variable() {
    for (name, value) in [
        ("POSTORA_SMTP_URL", "http://mail.example"),
        ("POSTORA_SMTP_URL", "not a url"),
        ("POSTORA_MAIL_FROM", "not an address"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let env = postora_test_support::app::test_env("http://127.0.0.1:9", &[(name, value)]);
        let err =
            postora::runtime::local::LocalBackend::open_at(dir.path(), &env, "http://127.0.0.1:9")
                .err()
                .unwrap_or_else(|| panic!("{name}={value} was accepted"));
        assert!(err.to_string().contains(name), "{err}");
    }
}
