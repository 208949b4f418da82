//! Tokens: refreshed ahead of expiry and when a publish meets an expired one, serialized, audited, and never seen —
//! not in a response, a log line, an event, or the store in plaintext — on either backend.

use std::collections::BTreeSet;
use std::time::Duration;

use postora::domain::WorkspaceId;
use postora_test_support::app::TestApp;
use postora_test_support::logs::Capturing;
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(30);

async fn fault(t: &TestApp, kind: &str) {
    let resp = t
        .http
        .post(t.url("/sandbox/faults"))
        .json(&json!({"kind": kind}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

async fn audit_actions(t: &TestApp, ws: &str) -> Vec<String> {
    let ws = WorkspaceId::parse(ws).unwrap();
    let page = t
        .app
        .stores
        .records
        .list_audit(&ws, 500, None)
        .await
        .unwrap();
    page.items.iter().map(|e| e.action.clone()).collect()
}

/// Connects, publishes through refreshes and an expired token, runs the refresher, and loses the grant. Returns
/// every token the account ever had and every API body read along the way.
async fn token_lifecycle(t: &TestApp) -> (BTreeSet<String>, Vec<String>) {
    let mut secrets = BTreeSet::new();
    let mut bodies = Vec::new();
    let (ws, key) = t.workspace("tokens").await;
    let account = t.connect_sandbox(&key, "tess").await;
    secrets.extend(t.secrets_of(&ws, &account).await);

    // Sandbox tokens here live two seconds: every publish finds them within the refresh margin and refreshes first.
    let p1 = t
        .create_post(
            &key,
            &json!({"text": "one", "targets": [{"account_id": account}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, p1["id"].as_str().unwrap(), SETTLE)
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "published", "{settled}");
    secrets.extend(t.secrets_of(&ws, &account).await);
    assert!(
        audit_actions(t, &ws)
            .await
            .contains(&"token.refreshed".to_owned()),
        "a refresh is audited"
    );

    // The platform says the token expired mid-publish: refresh once, publish once.
    fault(t, "expire_token").await;
    let p2 = t
        .create_post(
            &key,
            &json!({"text": "two", "targets": [{"account_id": account}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, p2["id"].as_str().unwrap(), SETTLE)
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "published", "{settled}");
    secrets.extend(t.secrets_of(&ws, &account).await);

    // The refresher refreshes tokens ahead of expiry.
    let report = t
        .app
        .refresh_expiring(chrono::Duration::days(1))
        .await
        .unwrap();
    assert!(report.refreshed >= 1, "{report:?}");
    secrets.extend(t.secrets_of(&ws, &account).await);

    // The grant is revoked at the platform: the account needs reauth, and its pending deliveries fail clearly.
    let later = t
        .create_post(&key, &json!({"text": "later", "targets": [{"account_id": account}], "scheduled_at": "2028-01-01T00:00:00Z"}))
        .await;
    fault(t, "revoke").await;
    let p3 = t
        .create_post(
            &key,
            &json!({"text": "three", "targets": [{"account_id": account}]}),
        )
        .await;
    let settled = t
        .wait_settled(&key, p3["id"].as_str().unwrap(), SETTLE)
        .await;
    assert_eq!(settled["deliveries"][0]["status"], "failed", "{settled}");
    assert_eq!(settled["deliveries"][0]["error"]["code"], "needs_reauth");
    let acc: Value = t
        .get(&key, &format!("/v1/accounts/{account}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acc["status"], "needs_reauth");
    let pending: Value = t
        .get(
            &key,
            &format!("/v1/posts/{}", later["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["deliveries"][0]["status"], "failed", "{pending}");
    assert_eq!(pending["deliveries"][0]["error"]["code"], "needs_reauth");
    let resp = t
        .post_json(
            &key,
            "/v1/posts",
            &json!({"text": "x", "targets": [{"account_id": account}]}),
        )
        .await;
    assert_eq!(
        resp.status(),
        422,
        "an account that needs reauth cannot be targeted"
    );

    let accepted = t.sandbox_posts().await;
    let texts: Vec<&str> = accepted
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["one", "two"],
        "each post published once, nothing after the grant was lost"
    );

    for path in [
        "/v1/accounts",
        &format!("/v1/accounts/{account}"),
        "/v1/posts",
    ] {
        bodies.push(t.get(&key, path).await.text().await.unwrap());
    }
    assert!(secrets.len() >= 6, "the tokens rotated: {}", secrets.len());
    (secrets, bodies)
}

fn assert_nowhere(secrets: &BTreeSet<String>, place: &str, haystack: &str) {
    for s in secrets {
        assert!(!haystack.contains(s.as_str()), "a token appears in {place}");
    }
}

const SHORT_TOKENS: &[(&str, &str)] = &[("POSTORA_SANDBOX_TOKEN_TTL_SECS", "2")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_rotate_and_never_appear_anywhere_on_the_local_backend() {
    let (logs, _capturing) = Capturing::start();
    let t = postora_test_support::app::spawn_app_with(SHORT_TOKENS).await;
    let (secrets, bodies) = token_lifecycle(&t).await;
    for body in &bodies {
        assert_nowhere(&secrets, "an API response", body);
    }
    let events = t.local.bus.recent(1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind.as_str() == "account.needs_reauth"),
        "account.needs_reauth is emitted"
    );
    assert_nowhere(
        &secrets,
        "an event",
        &serde_json::to_string(&events).unwrap(),
    );
    // Every file in the data directory, those in its directories (the media files) too.
    let files = postora_test_support::app::files_under(t.data_dir.path());
    assert!(!files.is_empty());
    for path in files {
        let bytes = std::fs::read(path).unwrap();
        assert_nowhere(
            &secrets,
            "the data directory",
            &String::from_utf8_lossy(&bytes),
        );
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logged.contains("delivery settled"),
        "the logs were captured"
    );
    assert_nowhere(&secrets, "a log line", &logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_rotate_and_never_appear_anywhere_on_the_aws_backend() {
    let (logs, _capturing) = Capturing::start();
    let aws = postora_test_support::aws::Emulator::fresh().await;
    let backend = postora::runtime::Backend {
        stores: aws.adapters.stores(),
        keys: aws.adapters.keys.clone(),
        queue: aws.adapters.queue.clone(),
        bus: aws.adapters.bus.clone(),
        blobs: aws.adapters.blobs.clone(),
        mailer: aws.adapters.backend().mailer,
    };
    let t = postora_test_support::app::spawn_app_on(backend, SHORT_TOKENS).await;
    let (secrets, bodies) = token_lifecycle(&t).await;
    for body in &bodies {
        assert_nowhere(&secrets, "an API response", body);
    }
    // The whole table, every attribute of every item.
    let scan = aws
        .clients
        .dynamodb
        .scan()
        .table_name(&aws.config.table)
        .send()
        .await
        .unwrap();
    let items = format!("{:?}", scan.items());
    assert!(items.contains("TOKEN"), "the token items were scanned");
    assert_nowhere(&secrets, "the DynamoDB table", &items);
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert_nowhere(&secrets, "a log line", &logged);
}
