//! The API description tells the truth: what schemathesis (scripts/schemathesis) found where `/openapi.json` and the
//! API disagreed, each pinned here on the API's side and on the document's.

use std::collections::{HashMap, HashSet};

use postora_test_support::app::{spawn_app, spawn_app_with};
use postora_test_support::media::FileHost;
use serde_json::{json, Value};

async fn document(t: &postora_test_support::app::TestApp) -> Value {
    t.http
        .get(t.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every operation of the document by its operationId: (path, operation).
fn operations(doc: &Value) -> HashMap<String, (String, Value)> {
    let mut out = HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                out.insert(id.to_owned(), (path.clone(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_in_the_json_error_shape() {
    // The body limit layer answered a declared-too-large body with a plain-text 413 the document did not describe.
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    let resp = t
        .http
        .patch(t.url("/v1/posts/post_x"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(format!("{{\"text\": \"{}\"}}", "a".repeat(300 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");
}

#[tokio::test]
async fn media_urls_are_refused_unless_written_as_the_document_states() {
    // The URL parser quietly accepts `http:x`, and trims or drops spaces and control characters; the document's
    // pattern does not, so neither does the API.
    let t = spawn_app_with(&[("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK", "true")]).await;
    let (_, key) = t.workspace("demo").await;
    let account = t.connect_sandbox(&key, "alice").await;
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let host = FileHost::start(postora_test_support::media::jpeg(64, 64), "image/jpeg").await;
    for url in [
        "http:example.com/a.png",
        " https://example.com/a.png",
        "https://exa\tmple.com/a.png",
        "https://example.com/a b.png",
        "ftp://example.com/a.png",
    ] {
        let resp = t
            .post_json(
                &key,
                "/v1/posts",
                &json!({"text": "hi", "media": [{"url": url}], "targets": [{"account_id": account}],
                        "scheduled_at": at}),
            )
            .await;
        assert_eq!(resp.status(), 422, "{url:?} is refused");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "media[0].url", "{url:?}");
    }
    let ok = t
        .post_json(
            &key,
            "/v1/posts",
            &json!({"text": "hi", "media": [{"url": host.url("/a.png").replacen("http://", "HTTP://", 1)}],
                    "targets": [{"account_id": account}], "scheduled_at": at}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(host.hits(), 1, "only the well-written URL was fetched");
}

#[tokio::test]
async fn an_empty_cursor_reads_the_first_page() {
    let t = spawn_app().await;
    let (_, key) = t.workspace("demo").await;
    for path in ["/v1/posts?cursor=", "/v1/audit?cursor="] {
        assert_eq!(t.get(&key, path).await.status(), 200, "{path}");
    }
    for path in ["/v1/posts?cursor=nope", "/v1/audit?cursor=nope"] {
        assert_eq!(t.get(&key, path).await.status(), 422, "{path}");
    }
}

#[tokio::test]
async fn the_document_states_the_rules_and_both_answers_of_the_deletion_page() {
    let t = spawn_app().await;
    let doc = document(&t).await;
    let ops = operations(&doc);

    // Query parameters are documented in the query (they were documented as path parameters).
    for id in ["list_posts", "list_audit", "erase_workspace"] {
        for p in ops[id].1["parameters"].as_array().unwrap() {
            assert_eq!(p["in"], "query", "{id}: {p}");
        }
    }
    let erase = &ops["erase_workspace"].1["parameters"][0];
    assert_eq!(
        (&erase["name"], &erase["required"]),
        (&json!("confirm"), &json!(true))
    );

    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["SignedRequestForm"]["properties"]["signed_request"]["minLength"],
        3
    );
    assert_eq!(schemas["NewPost"]["properties"]["targets"]["minItems"], 1);
    assert_eq!(schemas["NewPost"]["properties"]["targets"]["maxItems"], 50);
    assert_eq!(
        schemas["NewPost"]["properties"]["scheduled_at"]["format"],
        "date-time"
    );
    assert_eq!(
        schemas["MediaInput"]["properties"]["url"]["maxLength"],
        2048
    );

    // The deletion page answers HTML unless asked for JSON: both are documented.
    let responses = &ops["deletion_status"].1["responses"];
    for status in ["200", "404"] {
        let content = responses[status]["content"].as_object().unwrap();
        let types: HashSet<&str> = content.keys().map(String::as_str).collect();
        assert_eq!(
            types,
            HashSet::from(["application/json", "text/html"]),
            "{status}"
        );
    }
    let page = t.http.get(t.url("/deletion/nope")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

#[tokio::test]
async fn every_link_names_an_operation_and_its_parameters() {
    let t = spawn_app().await;
    let doc = document(&t).await;
    let ops = operations(&doc);
    let mut count = 0;
    for (source, (_, op)) in &ops {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(links) = response["links"].as_object() else {
                continue;
            };
            for (name, link) in links {
                count += 1;
                let target = link["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{source} {status} {name}"));
                let (_, target_op) = ops
                    .get(target)
                    .unwrap_or_else(|| panic!("{source} {status} {name}: no operation {target}"));
                let params: HashSet<&str> = target_op["parameters"]
                    .as_array()
                    .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                for (param, expression) in link["parameters"].as_object().into_iter().flatten() {
                    assert!(
                        params.contains(param.as_str()),
                        "{source} {name}: {target} has no {param}"
                    );
                    assert!(expression.as_str().unwrap().starts_with("$response.body#/"));
                }
            }
        }
    }
    for (source, status, name) in [
        ("create_post", "201", "GetPost"),
        ("create_post", "201", "RetryDelivery"),
        ("list_accounts", "200", "CreatePost"),
        ("list_accounts", "200", "GetAccount"),
        ("meta_data_deletion", "200", "DeletionStatus"),
    ] {
        assert!(
            ops[source].1["responses"][status]["links"][name].is_object(),
            "{source} {status} links {name}"
        );
    }
    assert!(count >= 25, "{count} links");
}
