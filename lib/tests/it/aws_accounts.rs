//! People's accounts on the AWS adapters, against the emulator: a two-factor secret sealed under KMS in the service
//! scope opens for its person only, and an account end to end over HTTP on DynamoDB and KMS.

use postora::app::people::two_factor;
use postora::domain::PersonId;
use postora_test_support::aws::Emulator;

#[tokio::test]
async fn a_two_factor_secret_sealed_under_kms_opens_for_its_person_only() {
    let aws = Emulator::fresh().await;
    let keys = aws.adapters.keys.clone();
    let ann = PersonId::generate();
    let bob = PersonId::generate();
    let secret = two_factor::new_secret();
    let sealed = two_factor::seal(keys.as_ref(), &ann, &secret)
        .await
        .unwrap();
    assert!(sealed.starts_with("v1."));
    let (b32, _) = two_factor::enrolment(&secret, "ann@example.com", "Postora");
    assert!(!sealed.contains(&b32));
    let opened = two_factor::open(keys.as_ref(), &ann, &sealed)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), secret.as_slice());
    // Copied onto another person, it does not open; nor does a tampered one.
    assert!(two_factor::open(keys.as_ref(), &bob, &sealed)
        .await
        .is_err());
    let mut tampered = sealed.clone();
    tampered.pop();
    tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
    assert!(two_factor::open(keys.as_ref(), &ann, &tampered)
        .await
        .is_err());
}

/// A person's account end to end over HTTP on the AWS adapters (DynamoDB, KMS) against the emulator, with mail into
/// an outbox: sign-up with a workspace of their own, verification, sign-in, two-factor authentication sealed under
/// KMS, the limit on guessing, and signing out.
#[tokio::test]
async fn an_account_end_to_end_on_the_aws_backend() {
    use std::sync::Arc;

    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::people::{current_step, expect, expect_error, outbox, totp_code, Browser, PASSWORD};

    let aws = Emulator::fresh().await;
    let mail = tempfile::tempdir().unwrap();
    let mut backend = aws.backend();
    backend.mailer = Arc::new(postora::adapters::local::outbox::Outbox::new(
        mail.path().join("outbox"),
        postora::adapters::local::smtp::mail_from(None).unwrap(),
    ));
    let t = postora_test_support::app::spawn_app_on(backend, &[]).await;
    let token_to = |to: &str| {
        outbox(mail.path())
            .iter()
            .rev()
            .find(|m| m.to == to)
            .and_then(|m| m.token())
            .unwrap()
    };

    expect(
        Browser::default()
            .post(
                &t,
                "/v1/signup",
                json!({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}),
            )
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    let token = token_to("ann@example.com");
    expect(
        Browser::default()
            .post(&t, "/v1/email/verify", json!({"token": token}))
            .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        Browser::default()
            .post(&t, "/v1/email/verify", json!({"token": token}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    let mut ann = Browser::default();
    let creds = json!({"email": "ann@example.com", "password": PASSWORD});
    let (s, body) = ann.sign_in(&t, creds.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let me = expect(ann.get(&t, "/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["memberships"][0]["role"], "owner");

    // Two-factor authentication, its secret sealed under KMS.
    let started = expect(
        ann.post(&t, "/v1/me/two-factor", json!({"password": PASSWORD}))
            .await,
        StatusCode::OK,
    )
    .await;
    let secret = started["secret"].as_str().unwrap().to_owned();
    let step = current_step();
    expect(
        ann.post(
            &t,
            "/v1/me/two-factor/confirm",
            json!({"code": totp_code(&secret, step)}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let mut other = Browser::default();
    let (s, body) = other.sign_in(&t, creds.clone()).await;
    assert_eq!(body["error"]["code"], "two_factor_required", "{body}");
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mut with_code = creds.clone();
    with_code["code"] = json!(totp_code(&secret, step + 1));
    let (s, body) = other.sign_in(&t, with_code).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let sessions = expect(other.get(&t, "/v1/sessions").await, StatusCode::OK).await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);

    // Guessing: the eleventh try in the window waits.
    let mut guesser = Browser::default();
    for _ in 0..10 {
        guesser
            .sign_in(
                &t,
                json!({"email": "ann@example.com", "password": "not the password at all"}),
            )
            .await;
    }
    expect_error(
        guesser
            .post(
                &t,
                "/v1/session",
                json!({"email": "ann@example.com", "password": "not the password at all"}),
            )
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;

    expect(
        other.send(&t, Method::DELETE, "/v1/sessions", None).await,
        StatusCode::OK,
    )
    .await;
    expect(ann.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
}
