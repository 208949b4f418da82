//! The sandbox network behaves like a real platform's OAuth server: one registered client with its own secret,
//! consents sent back only to registered redirect URIs; and it is on only where it should be.

use postora_test_support::app::spawn_app_with;
use postora_test_support::fakes::meta::FakeMeta;
use serde_json::Value;

#[tokio::test]
async fn the_consent_page_refuses_a_redirect_uri_that_was_never_registered() {
    let t = spawn_app_with(&[]).await;
    let (_, key) = t.workspace("w").await;
    let start: Value = t
        .post_json(&key, "/v1/accounts/connect/sandbox", &serde_json::json!({}))
        .await
        .json()
        .await
        .unwrap();
    let mut authorize = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "https://attacker.example/steal".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    authorize.query_pairs_mut().clear().extend_pairs(pairs);
    let page = t.http.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.headers().get("location").is_none(),
        "it never redirects"
    );
    let body = page.text().await.unwrap();
    assert!(
        body.contains("redirect_uri is not one registered"),
        "{body}"
    );
    assert!(!body.contains("code="), "no code is issued");
}

#[tokio::test]
async fn the_token_endpoint_refuses_the_old_constant_secret() {
    let t = spawn_app_with(&[]).await;
    let resp = t
        .http
        .post(t.url("/sandbox/oauth/token"))
        .basic_auth("postora-sandbox", Some("sandbox-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn the_sandbox_is_off_once_a_real_platform_is_configured_unless_asked_for() {
    let fake = FakeMeta::start().await;
    let env = fake.threads_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let t = spawn_app_with(&pairs).await;
    let health: Value = t
        .http
        .get(t.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["platforms"], serde_json::json!(["threads"]));
    assert!(t.sandbox.is_none());
    let gone = t.http.get(t.url("/sandbox/posts")).send().await.unwrap();
    assert_eq!(gone.status(), 404);

    let mut on = pairs.clone();
    on.push(("POSTORA_SANDBOX", "on"));
    let t = spawn_app_with(&on).await;
    let health: Value = t
        .http
        .get(t.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["platforms"],
        serde_json::json!(["sandbox", "threads"])
    );
}
