//! API keys over HTTP on both backends: listed without the key, created with a label and shown once, revoked by id
//! with an immediate 401, a key unable to revoke itself, and bad input answered with the field at fault.

use postora_test_support::app::{spawn_app, spawn_app_on, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn keys(t: &TestApp, key: &str) -> Vec<Value> {
    let resp = t.get(key, "/v1/api-keys").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["api_keys"].as_array().unwrap().clone()
}

async fn error_field(resp: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    body["error"]["field"].clone()
}

async fn revocable_keys(t: &TestApp) {
    let (_, first) = t.workspace("keys").await;

    // Listed by id and prefix, never the key; the request itself counts as a use.
    let listed = keys(t, &first).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let first_id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(first_id.len(), 12);
    assert!(first.starts_with(listed[0]["prefix"].as_str().unwrap()));
    assert_eq!(listed[0]["prefix"], format!("pk_{first_id}"));
    assert!(listed[0]["created_at"].is_string());
    let used = listed[0]["last_used_at"].clone();
    assert!(used.is_string(), "{listed:?}");
    assert!(!serde_json::to_string(&listed).unwrap().contains(&first));
    // A second request within the interval writes nothing: the time stays.
    assert_eq!(keys(t, &first).await[0]["last_used_at"], used);

    // A new key with a label: shown once, not cached.
    let resp = t
        .post_json(&first, "/v1/api-keys", &json!({"label": "ci deploys"}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let created: Value = resp.json().await.unwrap();
    let second = created["api_key"].as_str().unwrap().to_owned();
    let second_id = created["id"].as_str().unwrap().to_owned();
    assert!(second.starts_with(&format!("pk_{second_id}")));
    assert_eq!(created["label"], "ci deploys");
    assert_eq!(
        t.get(&second, "/v1/accounts").await.status(),
        StatusCode::OK
    );
    let listed = keys(t, &first).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["label"], "ci deploys");
    assert!(!serde_json::to_string(&listed).unwrap().contains(&second));

    // Bad labels name the field.
    for label in [
        json!(""),
        json!("   "),
        json!("x".repeat(101)),
        json!("a\nb"),
    ] {
        let resp = t
            .post_json(&first, "/v1/api-keys", &json!({ "label": label }))
            .await;
        assert_eq!(
            error_field(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "label"
        );
    }
    assert_eq!(keys(t, &first).await.len(), 2, "a refused key is not made");

    // A key cannot revoke itself; unknown and malformed ids are 404 naming `id`.
    let resp = t.delete(&first, &format!("/v1/api-keys/{first_id}")).await;
    assert_eq!(error_field(resp, StatusCode::CONFLICT).await, "id");
    for id in ["000000000000", "not-an-id", &second] {
        let resp = t.delete(&first, &format!("/v1/api-keys/{id}")).await;
        assert_eq!(error_field(resp, StatusCode::NOT_FOUND).await, "id");
    }
    // Another workspace cannot revoke this one's key.
    let (_, stranger) = t.workspace("stranger").await;
    let resp = t
        .delete(&stranger, &format!("/v1/api-keys/{second_id}"))
        .await;
    assert_eq!(error_field(resp, StatusCode::NOT_FOUND).await, "id");
    assert_eq!(
        t.get(&second, "/v1/accounts").await.status(),
        StatusCode::OK
    );

    // Revoked: refused at once, on the very next request.
    let resp = t.delete(&first, &format!("/v1/api-keys/{second_id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let revoked: Value = resp.json().await.unwrap();
    assert_eq!(revoked["id"], second_id.as_str());
    assert!(!revoked.to_string().contains(&second));
    let resp = t.get(&second, "/v1/accounts").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.post_json(&second, "/v1/api-keys", &json!({}))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let listed = keys(t, &first).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], first_id.as_str());

    // The audit log says what happened, by id.
    let audit: Value = t.get(&first, "/v1/audit").await.json().await.unwrap();
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(kinds.contains(&"api_key.revoked"), "{audit}");
    assert!(!audit.to_string().contains(&second));
}

#[tokio::test]
async fn keys_are_listed_labelled_and_revoked_at_once_on_sqlite() {
    let t = spawn_app().await;
    revocable_keys(&t).await;
    t.stop().await;
}

#[tokio::test]
async fn keys_are_listed_labelled_and_revoked_at_once_on_aws() {
    let aws = postora_test_support::aws::Emulator::fresh().await;
    let backend = postora::runtime::Backend {
        stores: aws.adapters.stores(),
        keys: aws.adapters.keys.clone(),
        queue: aws.adapters.queue.clone(),
        bus: aws.adapters.bus.clone(),
        blobs: aws.adapters.blobs.clone(),
        mailer: aws.adapters.backend().mailer,
    };
    let t = spawn_app_on(backend, &[]).await;
    revocable_keys(&t).await;
    t.stop().await;
}

/// On AWS the API function records a key's use with UpdateItem and revokes with a delete: its role allows both.
#[test]
fn the_api_function_may_record_key_use_and_revoke_keys() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let function = template
        .split("\n  PostApiFunction:\n")
        .nth(1)
        .expect("the template has the API function");
    let own: Vec<&str> = function
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("   "))
        .map(str::trim)
        .collect();
    for action in ["- dynamodb:UpdateItem", "- dynamodb:DeleteItem"] {
        assert!(own.contains(&action), "the API function lacks {action}");
    }
}
