//! Mail through SES on the AWS emulator: a message sent from a verified identity arrives with its UTF-8 subject and
//! body (read back from what the emulator recorded), one from an identity SES does not know is refused, an
//! unreachable SES is a failure to try again later, and a deployment without `POSTORA_MAIL_FROM` says so. The
//! adapters built from the configuration send through SES.
//!
//! What the emulator recorded is read from its `/moto-api/data.json`, which dumps every service's state and fails once
//! some other services hold state; the tests that read it therefore start an emulator of their own, holding SES alone.

use std::process::{Child, Command, Stdio};

use postora::adapters::aws::{AwsAdapters, AwsConfig, SesMailer, ENV_MAIL_FROM};
use postora::domain::ids::random_token;
use postora::domain::EmailAddress;
use postora::ports::{Email, MailError, Mailer};
use postora_test_support::aws::{emulator, fresh_resources};

/// An emulator started for one test (`moto_server`, as `scripts/test` installs it), stopped when dropped.
struct OwnEmulator {
    child: Child,
    endpoint: String,
}

impl OwnEmulator {
    async fn start() -> OwnEmulator {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is installed (scripts/test installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let own = OwnEmulator { child, endpoint };
        for _ in 0..300 {
            if reqwest::get(format!("{}/moto-api/", own.endpoint))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return own;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the emulator did not start at {}", own.endpoint);
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "postora-tests",
            ))
            .load()
            .await
    }

    /// The messages the emulator recorded as sent to `to`: (source, subject, body).
    async fn recorded(&self, to: &EmailAddress) -> Vec<(String, String, String)> {
        let data: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(to.as_str())))
            })
            .map(|m| {
                (
                    m["source"].as_str().unwrap_or_default().to_owned(),
                    m["subject"].as_str().unwrap_or_default().to_owned(),
                    m["body"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for OwnEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(to: &EmailAddress) -> Email {
    Email {
        to: to.clone(),
        subject: "Vérifiez votre adresse ✉".into(),
        text: "Bonjour Zoë,\nouvrez ce lien : https://postora.example/verify#t".into(),
        html:
            "<p>Bonjour Zoë, <a href=\"https://postora.example/verify#t\">ouvrez ce lien</a> ✓</p>"
                .into(),
    }
}

fn address(name: &str) -> EmailAddress {
    EmailAddress::parse(&format!("{name}-{}@example.com", random_token(6))).unwrap()
}

/// Verifies `from` in the emulator's SES, as an operator does once.
async fn verified(sdk: &aws_config::SdkConfig, from: &str) {
    aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(from)
        .send()
        .await
        .expect("create the identity");
}

#[tokio::test]
async fn a_message_from_a_verified_identity_is_sent_with_its_utf8_subject_and_body() {
    let own = OwnEmulator::start().await;
    let sdk = own.sdk().await;
    let from = format!("no-reply-{}@postora.example", random_token(4));
    verified(&sdk, &from).await;
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&sdk),
        Some(format!("Postora at Example <{from}>")),
        None,
    );
    assert!(mailer.is_configured());
    let to = address("zoe");
    let email = message(&to);
    mailer.send(&email).await.expect("sent through SES");
    let sent = own.recorded(&to).await;
    assert_eq!(sent.len(), 1, "one message to {to:?}");
    let (source, subject, body) = &sent[0];
    assert!(source.contains(&from), "{source}");
    assert!(source.starts_with("Postora at Example"), "{source}");
    assert_eq!(subject, &email.subject);
    // The emulator keeps the HTML part when a message has one.
    assert_eq!(body, &email.html);
}

#[tokio::test]
async fn a_message_from_an_identity_ses_does_not_know_is_refused() {
    let own = OwnEmulator::start().await;
    let sdk = own.sdk().await;
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&sdk),
        Some(format!("nobody-{}@unverified.example", random_token(4))),
        None,
    );
    let to = address("ann");
    match mailer.send(&message(&to)).await {
        Err(MailError::Refused(why)) => {
            assert!(why.contains("MessageRejected"), "{why}");
            assert!(!why.contains(to.as_str()), "no address in the error: {why}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(own.recorded(&to).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_ses_is_a_failure_to_try_again_later() {
    let sdk = emulator().await;
    // A port nothing listens on, and no retries.
    let conf = aws_sdk_sesv2::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::from_conf(conf),
        Some("no-reply@postora.example".into()),
        None,
    );
    assert!(matches!(
        mailer.send(&message(&address("ann"))).await,
        Err(MailError::Unavailable(_))
    ));
}

#[tokio::test]
async fn without_a_from_address_every_message_fails_naming_the_variable() {
    let sdk = emulator().await;
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(&sdk), Some("  ".into()), None);
    assert!(!mailer.is_configured());
    let to = address("ann");
    match mailer.send(&message(&to)).await {
        Err(MailError::Unavailable(why)) => assert!(why.contains(ENV_MAIL_FROM), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// The adapters a function builds from its environment send through SES, from `POSTORA_MAIL_FROM` (an address SES
/// knows: sent; one it does not: refused, so the message did reach SES from that address), through the
/// configuration set named.
#[tokio::test]
async fn the_aws_backend_sends_mail_through_ses_from_the_configured_address() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let from = format!("hello-{}@postora.example", random_token(4));
    verified(&sdk, &from).await;
    let set = format!("postora-{}", random_token(4));
    aws_sdk_sesv2::Client::new(&sdk)
        .create_configuration_set()
        .configuration_set_name(&set)
        .send()
        .await
        .expect("create the configuration set");
    let with = |from: String| AwsConfig {
        mail_from: Some(from),
        ses_configuration_set: Some(set.clone()),
        ..config.clone()
    };
    let to = address("bob");
    let adapters = AwsAdapters::connect(&sdk, &with(from), None).await.unwrap();
    adapters.backend().mailer.send(&message(&to)).await.unwrap();
    let unknown = format!("stranger-{}@unverified.example", random_token(4));
    let adapters = AwsAdapters::connect(&sdk, &with(unknown), None)
        .await
        .unwrap();
    assert!(matches!(
        adapters.backend().mailer.send(&message(&to)).await,
        Err(MailError::Refused(_))
    ));
}
