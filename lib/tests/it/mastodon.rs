//! Mastodon end to end over Postora's API: against the fake instance in `postora_test_support::fakes::mastodon`
//! (written from Mastodon's API documentation: processing media, instance limits, rate limits, refusals, lost
//! answers), and against the mastodon-mock reference server where `scripts/test` started one
//! (`POSTORA_TEST_MASTODON_MOCK`).

use std::time::Duration;

use postora_test_support::app::{spawn_app_in, spawn_app_with, TestApp};
use postora_test_support::fakes::mastodon::{FakeMastodon, Fault, InstanceInfo};
use postora_test_support::media::jpeg;
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(40);

async fn app(extra: &[(&str, &str)]) -> TestApp {
    let mut env = FakeMastodon::env();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(&pairs).await
}

async fn start_connect(t: &TestApp, key: &str, instance: &str) -> reqwest::Response {
    t.post_json(
        key,
        "/v1/accounts/connect/mastodon",
        &json!({ "instance": instance }),
    )
    .await
}

/// Connects `user` on `fake`; answers the account as Postora lists it.
async fn connect(t: &TestApp, key: &str, fake: &FakeMastodon, user: &str) -> Value {
    let resp = start_connect(t, key, &fake.origin()).await;
    let status = resp.status();
    let start: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{start}");
    let authorize = start["authorize_url"].as_str().unwrap();
    let url = url::Url::parse(authorize).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "write:statuses write:media read:accounts");
    assert_eq!(q["state"], start["state"].as_str().unwrap());
    // The instance sends the browser to the redirect URI; here Postora answers at its own address (the same one
    // unless a test keeps the public URL of an earlier run).
    let mut callback = url::Url::parse(&fake.approve(authorize, user).await).unwrap();
    let here = url::Url::parse(&t.base_url).unwrap();
    callback.set_port(here.port()).unwrap();
    let page = t.http.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let accounts: Value = t.get(key, "/v1/accounts").await.json().await.unwrap();
    let want = {
        use postora_test_support::platform_suite::PlatformPeer;
        fake.user_id(user).await
    };
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform_user_id"] == want.as_str())
        .unwrap_or_else(|| panic!("{want} is listed: {accounts}"))
        .clone()
}

async fn post_and_settle(t: &TestApp, key: &str, body: Value) -> Value {
    let created = t.create_post(key, &body).await;
    t.wait_settled(key, created["id"].as_str().unwrap(), SETTLE)
        .await
}

fn id(account: &Value) -> &str {
    account["id"].as_str().unwrap()
}

#[tokio::test]
async fn connecting_uses_pkce_and_one_registration_per_instance_across_connects_and_restarts() {
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let alice = connect(&t, &key, &fake, "alice").await;
    assert_eq!(alice["platform"], "mastodon");
    assert_eq!(alice["username"], format!("alice@{}", fake.host()));
    let (_, other_key) = t.workspace("another").await;
    connect(&t, &other_key, &fake, "bob").await;
    assert_eq!(
        fake.world().registrations,
        1,
        "the second connect reused the registration"
    );

    // A restart on the same data directory, at the same public URL, reuses it too.
    let public_url = t.base_url.clone();
    let dir = t.stop().await;
    let mut env = FakeMastodon::env();
    env.push(("POSTORA_PUBLIC_URL".into(), public_url));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let t = spawn_app_in(dir, &pairs).await;
    connect(&t, &key, &fake, "carol").await;
    assert_eq!(
        fake.world().registrations,
        1,
        "a restart reused the registration"
    );
    // At another public URL, the redirect URI changes: Postora registers again, once.
    let dir = t.stop().await;
    let env = FakeMastodon::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let t = spawn_app_in(dir, &pairs).await;
    connect(&t, &key, &fake, "dave").await;
    connect(&t, &key, &fake, "erin").await;
    assert_eq!(
        fake.world().registrations,
        2,
        "a new redirect URI needs one new registration"
    );

    // Neither the client secret nor any token is in the data directory in the clear.
    for file in postora_test_support::app::files_under(t.data_dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for secret in fake.issued_secrets() {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a secret in the clear",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn two_first_connects_at_once_register_once() {
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let origin = fake.origin();
    let (a, b) = tokio::join!(
        start_connect(&t, &key, &origin),
        start_connect(&t, &key, &origin)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(fake.world().registrations, 1);
}

#[tokio::test]
async fn instances_that_are_private_unreachable_or_not_mastodon_are_refused_naming_the_instance() {
    // Without the loopback switch, this machine is as private as any other network.
    let fake = FakeMastodon::start().await;
    let strict = spawn_app_with(&[("POSTORA_MASTODON", "on"), ("POSTORA_SANDBOX", "off")]).await;
    let (_, key) = strict.workspace("w").await;
    for instance in [
        fake.origin(),
        "127.0.0.1".to_owned(),
        "10.0.0.8".into(),
        "192.168.1.1".into(),
        "169.254.169.254".into(),
        "https://[::1]".into(),
        "localhost".into(),
        "https://mastodon.social/@someone".into(),
        "ftp://mastodon.social".into(),
    ] {
        let resp = start_connect(&strict, &key, &instance).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{instance}: {body}");
        assert_eq!(body["error"]["field"], "instance", "{instance}: {body}");
    }
    assert_eq!(
        fake.world().registrations,
        0,
        "nothing reached the loopback instance"
    );

    // With it (tests only): a closed port and a web server that is not Mastodon are refused too.
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    };
    let not_mastodon = FakeMastodon::start_with(InstanceInfo {
        not_mastodon: true,
        ..InstanceInfo::default()
    })
    .await;
    for (instance, says) in [
        (closed, "could not be reached"),
        (not_mastodon.origin(), "not a Mastodon-compatible server"),
        ("no-such-host.invalid".to_owned(), "could not be"),
    ] {
        let resp = start_connect(&t, &key, &instance).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{instance}: {body}");
        assert_eq!(body["error"]["field"], "instance");
        assert!(body.to_string().contains(says), "{instance}: {body}");
    }
    assert_eq!(not_mastodon.world().registrations, 0);
}

#[tokio::test]
async fn the_instances_own_character_limit_is_enforced_when_a_post_is_created() {
    let small = FakeMastodon::start().await;
    let big = FakeMastodon::start_with(InstanceInfo {
        max_characters: 1000,
        ..InstanceInfo::default()
    })
    .await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let on_small = connect(&t, &key, &small, "alice").await;
    let on_big = connect(&t, &key, &big, "alice").await;
    let text = "a".repeat(600);
    let refused = t
        .post_json(
            &key,
            "/v1/posts",
            &json!({"text": text, "targets": [{"account_id": id(&on_small)}]}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(body.to_string().contains("500"), "{body}");
    // A URL counts 23, whatever its length.
    let with_url = format!(
        "{} https://example.com/{}",
        "b".repeat(470),
        "x".repeat(300)
    );
    let post = post_and_settle(
        &t,
        &key,
        json!({"text": with_url, "targets": [{"account_id": id(&on_small)}]}),
    )
    .await;
    assert_eq!(post["deliveries"][0]["status"], "published", "{post}");
    let post = post_and_settle(
        &t,
        &key,
        json!({"text": text, "targets": [{"account_id": id(&on_big)}]}),
    )
    .await;
    assert_eq!(post["deliveries"][0]["status"], "published", "{post}");
    assert_eq!(big.statuses()[0].text, text);
}

#[tokio::test]
async fn the_instances_attachment_count_and_a_content_warning_count_when_a_post_is_created() {
    let two = FakeMastodon::start_with(InstanceInfo {
        max_media_attachments: 2,
        ..InstanceInfo::default()
    })
    .await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &two, "alice").await;
    let mut media = Vec::new();
    for seed in 0..3 {
        let resp = t
            .http
            .post(t.url("/v1/media"))
            .bearer_auth(&key)
            .body(postora_test_support::media::jpeg(64 + seed, 48))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let item: Value = resp.json().await.unwrap();
        media.push(json!({"media_id": item["id"]}));
    }
    let refused = t
        .post_json(
            &key,
            "/v1/posts",
            &json!({"text": "three photos", "media": media, "targets": [{"account_id": id(&account)}]}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["rule"], "count", "{body}");
    assert_eq!(
        body["error"]["details"][0]["target"],
        id(&account),
        "{body}"
    );

    // Mastodon counts the content warning with the text: 480 + 30 is over 500.
    let warned = |spoiler: &str| {
        json!({
            "text": "c".repeat(480),
            "targets": [{"account_id": id(&account), "options": {"spoiler_text": spoiler}}],
        })
    };
    let refused = t
        .post_json(&key, "/v1/posts", &warned(&"w".repeat(30)))
        .await;
    assert_eq!(refused.status(), 422);
    let post = post_and_settle(&t, &key, warned("short cw")).await;
    assert_eq!(post["deliveries"][0]["status"], "published", "{post}");
}

#[tokio::test]
async fn a_thread_with_media_waits_for_processing_and_replies_in_order_with_the_options() {
    let fake = FakeMastodon::start().await;
    fake.world().processing_reads = 2;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &fake, "alice").await;
    let media: Value = t
        .http
        .post(t.url("/v1/media"))
        .bearer_auth(&key)
        .header("content-type", "image/jpeg")
        .body(jpeg(64, 48))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = post_and_settle(
        &t,
        &key,
        json!({
            "parts": [
                {"text": "first", "media": [{"media_id": media["id"], "alt": "a small photo"}]},
                {"text": "second"},
                {"text": "third"}
            ],
            "targets": [{"account_id": id(&account), "options": {
                "visibility": "unlisted", "spoiler_text": "cw: tests", "language": "en"}}]
        }),
    )
    .await;
    assert_eq!(post["deliveries"][0]["status"], "published", "{post}");
    let statuses = fake.statuses();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[0].in_reply_to_id, None);
    assert_eq!(
        statuses[1].in_reply_to_id.as_deref(),
        Some(statuses[0].id.as_str())
    );
    assert_eq!(
        statuses[2].in_reply_to_id.as_deref(),
        Some(statuses[1].id.as_str())
    );
    for s in &statuses {
        assert_eq!(
            (s.visibility.as_str(), s.spoiler_text.as_str()),
            ("unlisted", "cw: tests")
        );
        assert_eq!(s.language.as_deref(), Some("en"));
    }
    assert_eq!(statuses[0].media_ids.len(), 1);
    let w = fake.world();
    let attachment = &w.attachments[&statuses[0].media_ids[0]];
    assert_eq!(attachment.description.as_deref(), Some("a small photo"));
    assert_eq!(attachment.processing, 0, "attached only once processed");
    // Each part carried its own Idempotency-Key.
    let keys: Vec<_> = w
        .status_calls
        .iter()
        .map(|h| h["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0] != keys[1] && keys[1] != keys[2]);
}

#[tokio::test]
async fn a_lost_answer_is_recovered_with_the_same_idempotency_key_and_published_once() {
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &fake, "alice").await;
    fake.fail_next(Fault::LoseAnswer);
    let post = post_and_settle(
        &t,
        &key,
        json!({"text": "only once", "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    let statuses = fake.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(d["platform_post_id"], statuses[0].id.as_str());
    let w = fake.world();
    assert!(w.status_calls.len() >= 2, "the status call was sent again");
    let first = &w.status_calls[0]["idempotency-key"];
    assert!(w
        .status_calls
        .iter()
        .all(|h| &h["idempotency-key"] == first));
}

#[tokio::test]
async fn a_rate_limit_waits_until_the_reset_and_then_publishes() {
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &fake, "alice").await;
    fake.fail_next(Fault::RateLimit(Duration::from_secs(1)));
    let post = post_and_settle(
        &t,
        &key,
        json!({"text": "patience", "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    assert_eq!(post["deliveries"][0]["status"], "published", "{post}");
    assert_eq!(fake.statuses().len(), 1);
    assert_eq!(fake.world().status_calls.len(), 2);
}

#[tokio::test]
async fn a_revoked_token_needs_reauth_and_a_refusal_fails_in_the_instances_words() {
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &fake, "alice").await;
    fake.fail_next(Fault::Reject(
        "Validation failed: Text contains a forbidden word".into(),
    ));
    let post = post_and_settle(
        &t,
        &key,
        json!({"text": "nope", "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "failed", "{post}");
    assert!(
        d.to_string().contains("Text contains a forbidden word"),
        "{d}"
    );

    use postora_test_support::platform_suite::PlatformPeer;
    fake.revoke("alice").await;
    let post = post_and_settle(
        &t,
        &key,
        json!({"text": "after revoke", "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "failed", "{post}");
    assert!(d.to_string().contains("needs_reauth"), "{d}");
    let listed: Value = t
        .get(&key, &format!("/v1/accounts/{}", id(&account)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["status"], "needs_reauth", "{listed}");
    assert!(fake.statuses().is_empty());
}

#[tokio::test]
async fn disconnecting_revokes_the_token_at_the_instance() {
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &fake, "alice").await;
    let resp = t
        .delete(&key, &format!("/v1/accounts/{}", id(&account)))
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(fake.world().revocations, 1);
}

#[tokio::test]
async fn no_token_or_client_secret_appears_in_a_log_line() {
    let (logs, _guard) = postora_test_support::logs::ThreadLogs::start();
    let fake = FakeMastodon::start().await;
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let account = connect(&t, &key, &fake, "alice").await;
    fake.fail_next(Fault::LoseAnswer);
    post_and_settle(
        &t,
        &key,
        json!({"text": "logged", "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    fake.fail_next(Fault::Unavailable);
    post_and_settle(
        &t,
        &key,
        json!({"text": "logged again", "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    t.delete(&key, &format!("/v1/accounts/{}", id(&account)))
        .await;
    let text = logs.text();
    assert!(text.contains("Mastodon"), "the adapter logged something");
    for secret in fake.issued_secrets() {
        assert!(!text.contains(&secret), "a secret is in the logs");
    }
}

/// Against the mastodon-mock reference server (`scripts/test` starts it): register, consent through its account
/// picker, exchange the code, read the account, post a thread with an Idempotency-Key, and post again with it.
#[tokio::test]
async fn against_the_mastodon_mock_reference_server() {
    let Ok(mock) = std::env::var("POSTORA_TEST_MASTODON_MOCK") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "POSTORA_TEST_MASTODON_MOCK must be set in CI: run the tests through scripts/test"
        );
        eprintln!("skipped: POSTORA_TEST_MASTODON_MOCK is not set (scripts/test starts mastodon-mock and sets it)");
        return;
    };
    let mock = mock.trim_end_matches('/').to_owned();
    let t = app(&[]).await;
    let (_, key) = t.workspace("w").await;
    let resp = start_connect(&t, &key, &mock).await;
    let status = resp.status();
    let start: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{start}");
    let authorize = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    // The mock's account picker: choosing its seeded user sends the browser back with a code.
    let picked = t
        .http
        .post(format!("{mock}/oauth/authorize"))
        .form(&[
            ("username", "testuser"),
            ("redirect_uri", q["redirect_uri"].as_str()),
            ("client_id", q["client_id"].as_str()),
            ("scope", q["scope"].as_str()),
            ("state", q["state"].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(picked.status(), 302);
    let callback = picked.headers()["location"].to_str().unwrap().to_owned();
    let page = t.http.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    let account = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == "mastodon")
        .expect("the mock account is connected")
        .clone();
    assert!(account["username"]
        .as_str()
        .unwrap()
        .starts_with("testuser@"));
    let post = post_and_settle(
        &t,
        &key,
        json!({"parts": [{"text": "from Postora, first"}, {"text": "from Postora, second"}],
               "targets": [{"account_id": id(&account)}]}),
    )
    .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    // A second connect reuses the registration; the mock lists the statuses as the account's.
    let again = start_connect(&t, &key, &mock).await;
    let again: Value = again.json().await.unwrap();
    let client = |v: &Value| {
        url::Url::parse(v["authorize_url"].as_str().unwrap())
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(client(&again), client(&start));
}
