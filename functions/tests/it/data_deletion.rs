//! The data-deletion binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with every
//! sample in events/data-deletion/: the signed callbacks are carried out, the one signed with another secret is
//! refused with a 400, the pages answer, and nothing is a 5xx. The app secrets that sign the callbacks are read from
//! Secrets Manager at cold start; a secret that cannot be read stops the cold start, naming it.

use std::path::Path;
use std::time::Duration;

use postora_test_support::aws::{
    credentials_json, emulator, fresh_resources, function_env, store_secret,
};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

#[tokio::test]
async fn every_sample_gets_its_documented_answer() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/data-deletion")).unwrap();
    let count = events.len();
    let mut env = function_env(&config);
    // The secrets the samples are signed with (events/README.md), stored in Secrets Manager as an operator stores
    // them: the function is given only their names, as template.yaml gives them.
    for (var, client_id, secret) in [
        (
            "POSTORA_FACEBOOK_CREDENTIALS",
            "sample-facebook-app",
            "postora-sample-meta-app-secret",
        ),
        (
            "POSTORA_INSTAGRAM_CREDENTIALS",
            "sample-instagram-app",
            "postora-sample-meta-app-secret",
        ),
        (
            "POSTORA_THREADS_CREDENTIALS",
            "sample-threads-app",
            "postora-sample-threads-app-secret",
        ),
    ] {
        let name = store_secret(&sdk, &credentials_json(client_id, secret)).await;
        env.push((var.into(), name));
    }
    assert!(
        !env.iter().any(|(_, v)| v.contains("app-secret")),
        "no secret in the function's environment"
    );
    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_data-deletion")),
        "data-deletion",
        &env,
        events,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(answers.len(), count);
    let response = |name: &str| -> serde_json::Value {
        let (_, answer) = answers.iter().find(|(n, _)| n == name).unwrap();
        let Answer::Response(r) = answer else {
            panic!("{name} failed: {answer:?}");
        };
        r.clone()
    };
    for (name, want) in [
        ("meta-data-deletion", 200),
        ("meta-deauthorize", 200),
        ("threads-data-deletion", 200),
        ("threads-deauthorize", 200),
        ("meta-data-deletion-bad-signature", 400),
        ("privacy", 200),
        ("data-deletion-instructions", 200),
        ("deletion-status", 404),
    ] {
        let r = response(name);
        assert_eq!(r["statusCode"].as_u64(), Some(want), "{name}: {r}");
    }
    let answer: serde_json::Value =
        serde_json::from_str(response("meta-data-deletion")["body"].as_str().unwrap()).unwrap();
    let code = answer["confirmation_code"].as_str().unwrap();
    assert!(
        answer["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/deletion/{code}")),
        "{answer}"
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_fails_the_cold_start_and_is_named() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/data-deletion")).unwrap();
    let malformed = store_secret(&sdk, "not-json-cold-start-secret-value").await;
    for (var, secret) in [
        ("POSTORA_THREADS_CREDENTIALS", "postora-test/no-such-secret"),
        ("POSTORA_FACEBOOK_CREDENTIALS", malformed.as_str()),
    ] {
        let mut env = function_env(&config);
        env.push((var.into(), secret.into()));
        let failed = invoke_binary(
            Path::new(env!("CARGO_BIN_EXE_data-deletion")),
            "data-deletion",
            &env,
            events.clone(),
            Duration::from_secs(60),
        )
        .await
        .expect_err("the cold start fails");
        assert!(
            failed.contains("exited") && failed.contains(secret) && failed.contains(var),
            "{failed}"
        );
        assert!(failed.contains("cold start failed"), "logged: {failed}");
        assert!(!failed.contains("cold-start-secret-value"), "{failed}");
    }
}

/// The body's `signed_request` field, if the sample has one.
fn signed_request(sample: &postora_test_support::lambda::Sample) -> Option<String> {
    let body = sample.payload.get("body")?.as_str()?;
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(name, _)| name == "signed_request")
        .map(|(_, value)| value.into_owned())
}

#[test]
fn the_sample_callbacks_are_issued_now_and_the_bad_one_stays_bad() {
    use postora::crypto::signed_request::{verify, SignedRequestError};
    use postora_test_support::lambda::{read_samples, SAMPLE_CALLBACK_SECRETS};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/data-deletion");
    let secrets: Vec<&[u8]> = SAMPLE_CALLBACK_SECRETS
        .iter()
        .map(|s| s.as_bytes())
        .collect();
    let now = chrono::Utc::now();
    let mut checked = 0;
    for sample in samples(&dir).unwrap() {
        let Some(raw) = signed_request(&sample) else {
            continue;
        };
        let got = verify(&raw, &secrets, now);
        if sample.name.contains("bad-signature") {
            assert_eq!(got, Err(SignedRequestError::WrongSignature));
        } else {
            let got = got.unwrap_or_else(|e| panic!("{}: {e}", sample.name));
            assert!((now - got.issued_at).num_seconds() < 60, "{}", sample.name);
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "the four signed samples");
    // As stored, they were issued long ago.
    let stored = read_samples(&dir).unwrap();
    let old = stored
        .iter()
        .find(|s| s.name == "meta-deauthorize")
        .unwrap();
    assert_eq!(
        verify(&signed_request(old).unwrap(), &secrets, now),
        Err(SignedRequestError::TooOld)
    );
}
