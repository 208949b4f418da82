//! The HTTP contract of `postora serve`, end to end over real HTTP with the app on a random port and a fresh data
//! directory.

use std::time::Duration;

use postora_test_support::app::spawn_app;
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(20);

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["code"].is_string(),
        "errors have a code: {body}"
    );
    assert!(
        body["error"]["message"].is_string(),
        "errors have a message: {body}"
    );
    (status, body)
}

#[tokio::test]
async fn health_and_the_openapi_document_are_served() {
    let t = spawn_app().await;
    let health: Value = t
        .http
        .get(t.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["platforms"], json!(["sandbox"]));
    let doc: Value = t
        .http
        .get(t.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/posts",
        "/v1/posts/{id}",
        "/v1/accounts",
        "/v1/accounts/connect/{platform}",
        "/v1/posts/{id}/deliveries/{account_id}/retry",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let t = spawn_app().await;
    let resp = t.http.get(t.url("/v1/posts")).send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let (status, body) = error_of(resp).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "unauthorized")
    );
    let (status, _) = error_of(t.get("pk_not_a_key", "/v1/accounts").await).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_workspace_never_sees_another_workspaces_data() {
    let t = spawn_app().await;
    let (_, alice) = t.workspace("alice").await;
    let (_, bob) = t.workspace("bob").await;
    let account = t.connect_sandbox(&alice, "alice").await;
    let post = t.create_post(&alice, &json!({"text": "mine", "targets": [{"account_id": account}], "scheduled_at": "2028-01-01T00:00:00Z"})).await;
    let id = post["id"].as_str().unwrap();
    assert_eq!(t.get(&bob, &format!("/v1/posts/{id}")).await.status(), 404);
    assert_eq!(
        t.get(&bob, &format!("/v1/accounts/{account}"))
            .await
            .status(),
        404
    );
    let listed: Value = t.get(&bob, "/v1/posts").await.json().await.unwrap();
    assert_eq!(listed["posts"], json!([]));
    // Bob cannot target Alice's account either.
    let resp = t
        .post_json(
            &bob,
            "/v1/posts",
            &json!({"text": "hi", "targets": [{"account_id": account}]}),
        )
        .await;
    let (status, body) = error_of(resp).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "targets[0].account_id");
}

#[tokio::test]
async fn a_post_due_now_is_published_once_and_shows_where() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let account = t.connect_sandbox(&key, "demo").await;
    let created = t
        .create_post(
            &key,
            &json!({"text": "hello from postora", "targets": [{"account_id": account}]}),
        )
        .await;
    assert_eq!(created["deliveries"].as_array().unwrap().len(), 1);
    let post = t
        .wait_settled(&key, created["id"].as_str().unwrap(), SETTLE)
        .await;
    let d = &post["deliveries"][0];
    assert_eq!(d["status"], "published", "{post}");
    assert!(d["platform_post_id"]
        .as_str()
        .unwrap()
        .starts_with("sbxpost_"));
    assert!(d["permalink"].as_str().unwrap().contains("/sandbox/posts/"));
    let accepted = t.sandbox_posts().await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["text"], "hello from postora");
    assert_eq!(accepted[0]["account"], "sbx-demo");
}

#[tokio::test]
async fn a_scheduled_post_is_not_published_before_its_time() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let account = t.connect_sandbox(&key, "demo").await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let created = t
        .create_post(&key, &json!({"text": "later", "targets": [{"account_id": account}], "scheduled_at": at.to_rfc3339()}))
        .await;
    let post = t
        .wait_settled(&key, created["id"].as_str().unwrap(), SETTLE)
        .await;
    let published: chrono::DateTime<chrono::Utc> = post["deliveries"][0]["published_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        published >= at,
        "published at {published}, before its time {at}"
    );
}

#[tokio::test]
async fn one_post_goes_to_many_accounts_with_per_account_text() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let a = t.connect_sandbox(&key, "anna").await;
    let b = t.connect_sandbox(&key, "ben").await;
    let created = t
        .create_post(&key, &json!({"text": "shared", "targets": [{"account_id": a}, {"account_id": b, "text": "just for ben"}]}))
        .await;
    let post = t
        .wait_settled(&key, created["id"].as_str().unwrap(), SETTLE)
        .await;
    assert!(
        post["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "published"),
        "{post}"
    );
    let mut texts: Vec<(String, String)> = t
        .sandbox_posts()
        .await
        .iter()
        .map(|p| {
            (
                p["account"].as_str().unwrap().to_owned(),
                p["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        vec![
            ("sbx-anna".into(), "shared".into()),
            ("sbx-ben".into(), "just for ben".into())
        ]
    );
}

#[tokio::test]
async fn every_rule_violation_is_a_422_that_names_the_field_and_changes_nothing() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let account = t.connect_sandbox(&key, "demo").await;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(6)).to_rfc3339();
    let cases = [
        (json!({"text": "x", "targets": []}), "targets"),
        (
            json!({"text": "a".repeat(501), "targets": [{"account_id": account}]}),
            "text",
        ),
        (
            json!({"text": "ok", "targets": [{"account_id": account, "text": "b".repeat(501)}]}),
            "targets[0].text",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": account}], "scheduled_at": "tomorrow"}),
            "scheduled_at",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": account}], "scheduled_at": "2030-01-01T00:00:00"}),
            "scheduled_at",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": account}], "scheduled_at": past}),
            "scheduled_at",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": "acc_nope"}]}),
            "targets[0].account_id",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": "not an id"}]}),
            "targets[0].account_id",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": account}, {"account_id": account}]}),
            "targets[1].account_id",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": account}], "media": [{"url": "ftp://x/y.png"}]}),
            "media[0].url",
        ),
        (
            json!({"text": "", "targets": [{"account_id": account}]}),
            "text",
        ),
        (
            json!({"text": "x", "targets": [{"account_id": account}], "colour": "red"}),
            "colour",
        ),
        (
            json!({"text": 5, "targets": [{"account_id": account}]}),
            "text",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = error_of(t.post_json(&key, "/v1/posts", &body).await).await;
        assert_eq!(status, 422, "{body} gave {err}");
        assert_eq!(err["error"]["field"], field, "{body} gave {err}");
    }
    let listed: Value = t.get(&key, "/v1/posts").await.json().await.unwrap();
    assert_eq!(listed["posts"], json!([]), "nothing was created");
}

#[tokio::test]
async fn malformed_requests_get_json_errors_not_500s() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut r = t.http.post(t.url("/v1/posts")).bearer_auth(&key).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    assert_eq!(
        error_of(raw("{not json", Some("application/json")).await.unwrap())
            .await
            .0,
        400
    );
    assert_eq!(error_of(raw("{}", None).await.unwrap()).await.0, 415);
    assert_eq!(
        error_of(raw("[1,2]", Some("application/json")).await.unwrap())
            .await
            .0,
        422
    );
    let huge = "x".repeat(400 * 1024);
    let resp = t
        .http
        .post(t.url("/v1/posts"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let (status, body) = error_of(t.get(&key, "/v1/nothing-here").await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (404, "not_found")
    );
    let resp = t
        .http
        .put(t.url("/v1/posts"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.0, 405);
    assert_eq!(
        error_of(t.get(&key, "/v1/posts?limit=0").await).await.0,
        422
    );
    assert_eq!(
        error_of(t.get(&key, "/v1/posts?limit=abc").await).await.0,
        422
    );
    assert_eq!(
        error_of(t.get(&key, "/v1/posts?cursor=garbage!").await)
            .await
            .0,
        422
    );
    assert_eq!(
        error_of(t.get(&key, "/v1/posts?status=lost").await).await.0,
        422
    );
    assert_eq!(
        error_of(t.get(&key, "/v1/posts?from=yesterday").await)
            .await
            .0,
        422
    );
    assert_eq!(
        error_of(t.get(&key, "/v1/posts/post_doesnotexist").await)
            .await
            .0,
        404
    );
    assert_eq!(
        error_of(t.get(&key, "/v1/posts/..%2F..%2Fetc").await)
            .await
            .0,
        404
    );
    let resp = t
        .http
        .post(t.url("/v1/accounts/connect/myspace"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.0, 404);
    let resp = t
        .http
        .post(t.url("/v1/accounts/connect/threads"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (404, "platform_not_enabled")
    );
}

#[tokio::test]
async fn an_idempotency_key_makes_a_repeat_the_same_post_and_refuses_a_different_body() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let account = t.connect_sandbox(&key, "demo").await;
    let body = json!({"text": "once", "targets": [{"account_id": account}], "scheduled_at": "2028-01-01T00:00:00Z"});
    let send = |b: Value| {
        t.http
            .post(t.url("/v1/posts"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "k-1")
            .json(&b)
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let mut other = body.clone();
    other["text"] = json!("twice");
    let (status, err) = error_of(send(other).await.unwrap()).await;
    assert_eq!(
        (status, err["error"]["code"].as_str().unwrap()),
        (409, "idempotency_key_reused")
    );
    let listed: Value = t.get(&key, "/v1/posts").await.json().await.unwrap();
    assert_eq!(listed["posts"].as_array().unwrap().len(), 1);
    let bad = t
        .http
        .post(t.url("/v1/posts"))
        .bearer_auth(&key)
        .header("Idempotency-Key", "a b")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(bad).await.0, 400);
}

#[tokio::test]
async fn a_post_can_be_edited_until_it_is_queued_and_canceled_until_it_publishes() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let a = t.connect_sandbox(&key, "anna").await;
    let b = t.connect_sandbox(&key, "ben").await;
    let created = t
        .create_post(&key, &json!({"text": "draft", "targets": [{"account_id": a}], "scheduled_at": "2028-01-01T00:00:00Z"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let patch = |body: Value| {
        t.http
            .patch(t.url(&format!("/v1/posts/{id}")))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let edited: Value = patch(json!({"text": "final", "targets": [{"account_id": b}], "scheduled_at": "2028-06-01T12:00:00+02:00"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["text"], "final");
    assert_eq!(edited["scheduled_at"], "2028-06-01T10:00:00Z");
    let accounts: Vec<&str> = edited["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, vec![b.as_str()]);
    let (status, err) = error_of(patch(json!({"text": "a".repeat(600)})).await.unwrap()).await;
    assert_eq!(
        (status, err["error"]["field"].as_str().unwrap()),
        (422, "text")
    );

    // Canceling stops it for good; it can no longer be edited.
    let canceled: Value = t
        .http
        .delete(t.url(&format!("/v1/posts/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(canceled["deliveries"][0]["status"], "canceled");
    let (status, err) = error_of(patch(json!({"text": "too late"})).await.unwrap()).await;
    assert_eq!(
        (status, err["error"]["code"].as_str().unwrap()),
        (409, "post_not_editable")
    );

    // A published post cannot be edited either.
    let now = t
        .create_post(
            &key,
            &json!({"text": "now", "targets": [{"account_id": a}]}),
        )
        .await;
    let nid = now["id"].as_str().unwrap();
    t.wait_settled(&key, nid, SETTLE).await;
    let resp = t
        .http
        .patch(t.url(&format!("/v1/posts/{nid}")))
        .bearer_auth(&key)
        .json(&json!({"text": "edit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.0, 409);
    assert_eq!(
        t.sandbox_posts().await.len(),
        1,
        "only the post due now was published"
    );
}

#[tokio::test]
async fn posts_list_by_status_and_page_with_a_cursor() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let a = t.connect_sandbox(&key, "anna").await;
    for i in 0..5 {
        t.create_post(&key, &json!({"text": format!("p{i}"), "targets": [{"account_id": a}], "scheduled_at": format!("2028-01-0{}T00:00:00Z", i + 1)}))
            .await;
    }
    let now = t
        .create_post(
            &key,
            &json!({"text": "now", "targets": [{"account_id": a}]}),
        )
        .await;
    t.wait_settled(&key, now["id"].as_str().unwrap(), SETTLE)
        .await;
    let published: Value = t
        .get(&key, "/v1/posts?status=published")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published["posts"].as_array().unwrap().len(), 1);
    let first: Value = t
        .get(&key, "/v1/posts?status=scheduled&limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["posts"][0]["text"], "p4", "newest scheduled first");
    let mut seen = first["posts"].as_array().unwrap().len();
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page: Value = t
            .get(
                &key,
                &format!("/v1/posts?status=scheduled&limit=2&cursor={c}"),
            )
            .await
            .json()
            .await
            .unwrap();
        seen += page["posts"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 5);
    let window: Value = t
        .get(
            &key,
            "/v1/posts?from=2028-01-02T00:00:00Z&to=2028-01-03T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(window["posts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn disconnecting_an_account_cancels_its_pending_deliveries_and_deletes_its_tokens() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("demo").await;
    let a = t.connect_sandbox(&key, "anna").await;
    let post = t.create_post(&key, &json!({"text": "later", "targets": [{"account_id": a}], "scheduled_at": "2028-01-01T00:00:00Z"})).await;
    let resp = t
        .http
        .delete(t.url(&format!("/v1/accounts/{a}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        t.get(&key, &format!("/v1/accounts/{a}")).await.status(),
        404
    );
    let after: Value = t
        .get(&key, &format!("/v1/posts/{}", post["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["deliveries"][0]["status"], "canceled");
    assert_eq!(
        after["deliveries"][0]["error"]["code"],
        "account_disconnected"
    );
    let ws = postora::domain::WorkspaceId::parse(&ws).unwrap();
    let acc = postora::domain::AccountId::parse(&a).unwrap();
    assert!(t
        .app
        .stores
        .accounts
        .get_tokens(&ws, &acc)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn no_token_or_ciphertext_appears_in_responses_and_the_store_holds_none_in_plaintext() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("demo").await;
    let a = t.connect_sandbox(&key, "anna").await;
    let ws = postora::domain::WorkspaceId::parse(&ws).unwrap();
    let acc = postora::domain::AccountId::parse(&a).unwrap();
    let sealed = t
        .app
        .stores
        .accounts
        .get_tokens(&ws, &acc)
        .await
        .unwrap()
        .unwrap();
    let tokens = t
        .app
        .vault
        .open(&ws, &acc, &sealed.ciphertext)
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    let access = tokens.access_token.expose_secret().to_owned();
    let refresh = tokens
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let post = t
        .create_post(&key, &json!({"text": "x", "targets": [{"account_id": a}]}))
        .await;
    t.wait_settled(&key, post["id"].as_str().unwrap(), SETTLE)
        .await;
    let hex_ct = hex::encode(&sealed.ciphertext);
    for path in [
        "/v1/accounts",
        &format!("/v1/accounts/{a}"),
        "/v1/posts",
        "/openapi.json",
    ] {
        let body = t.get(&key, path).await.text().await.unwrap();
        for secret in [&access, &refresh, &hex_ct] {
            assert!(!body.contains(secret.as_str()), "{path} shows a secret");
        }
    }
    // Neither database file holds a token in the clear.
    for file in [
        "postora.db",
        "postora.db-wal",
        "sandbox.db",
        "sandbox.db-wal",
    ] {
        let Ok(bytes) = std::fs::read(t.data_dir.path().join(file)) else {
            continue;
        };
        for secret in [&access, &refresh] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file} holds a token in the clear"
            );
        }
    }
    assert!(!format!("{tokens:?}").contains(&access));
}

#[tokio::test]
async fn the_oauth_callback_refuses_replays_denials_and_unknown_states_with_a_page() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let start: Value = t
        .post_json(&key, "/v1/accounts/connect/sandbox", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let consent = t
        .http
        .get(start["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(t.http.get(&callback).send().await.unwrap().status(), 200);
    let replay = t.http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(replay.text().await.unwrap().contains("already used"));

    let start: Value = t
        .post_json(&key, "/v1/accounts/connect/sandbox", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let denied = t
        .http
        .get(format!(
            "{}&deny=1",
            start["authorize_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let back = denied.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(t.http.get(&back).send().await.unwrap().status(), 403);
    for q in [
        "",
        "?state=nope&code=x",
        "?code=x",
        "?state=&error=access_denied",
    ] {
        let r = t
            .http
            .get(t.url(&format!("/oauth/sandbox/callback{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
    assert_eq!(
        t.http
            .get(t.url("/oauth/nowhere/callback"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    assert_eq!(
        accounts["accounts"].as_array().unwrap().len(),
        1,
        "only the first consent stored an account"
    );
}

#[tokio::test]
async fn a_failed_delivery_can_be_retried_and_an_in_doubt_one_only_with_confirmation() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let a = t.connect_sandbox(&key, "anna").await;
    t.http
        .post(t.url("/sandbox/faults"))
        .json(&json!({"kind": "reject"}))
        .send()
        .await
        .unwrap();
    let post = t
        .create_post(&key, &json!({"text": "x", "targets": [{"account_id": a}]}))
        .await;
    let id = post["id"].as_str().unwrap();
    let settled = t.wait_settled(&key, id, SETTLE).await;
    assert_eq!(settled["deliveries"][0]["status"], "failed");
    assert_eq!(settled["deliveries"][0]["error"]["code"], "rejected");
    let retry = t
        .post_json(
            &key,
            &format!("/v1/posts/{id}/deliveries/{a}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(retry.status(), 200);
    let settled = t.wait_settled(&key, id, SETTLE).await;
    assert_eq!(settled["deliveries"][0]["status"], "published");
    let resp = t
        .post_json(
            &key,
            &format!("/v1/posts/{id}/deliveries/{a}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(
        error_of(resp).await.0,
        409,
        "a published delivery cannot be retried"
    );
    assert_eq!(t.sandbox_posts().await.len(), 1);
}

#[tokio::test]
async fn a_consent_finished_after_its_workspace_was_erased_stores_nothing() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("gone").await;
    let start: Value = t
        .post_json(&key, "/v1/accounts/connect/sandbox", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let consent = t
        .http
        .get(start["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let erased = t
        .http
        .delete(t.url(&format!("/v1/workspace?confirm={ws}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200, "{}", erased.text().await.unwrap());
    assert_eq!(t.http.get(&callback).send().await.unwrap().status(), 400);
    let ws = postora::domain::WorkspaceId::parse(&ws).unwrap();
    assert!(t
        .app
        .stores
        .accounts
        .list_accounts(&ws)
        .await
        .unwrap()
        .is_empty());
}
