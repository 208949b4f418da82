//! Data deletion and privacy over HTTP, on the local backend: Meta's callbacks with signed requests built from the
//! documented algorithm, the status page, export, erase, the audit log and the privacy pages. The same scenarios
//! run on the AWS adapters in `tests/aws_deletion.rs`.

use crate::deletion_scenarios;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use deletion_scenarios::harness::{
    in_secs, payload, sign, threads_request, DeletionApp, OPERATOR_CONTACT,
};
use postora::domain::{AccountStatus, EventKind, PlatformKind};
use postora::runtime::{self, local::LocalBackend, Backend};
use postora_test_support::fakes::meta::{THREADS_APP, THREADS_USER};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn local() -> DeletionApp {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalBackend::open(
        dir.path(),
        &postora_test_support::app::test_env("http://127.0.0.1:1", &[]),
    )
    .unwrap();
    let backend = Backend {
        stores: local.backend.stores.clone(),
        keys: local.backend.keys.clone(),
        queue: local.backend.queue.clone(),
        bus: local.backend.bus.clone(),
        blobs: local.backend.blobs.clone(),
        mailer: local.backend.mailer.clone(),
    };
    DeletionApp::start(backend, dir).await
}

#[tokio::test]
async fn one_person_is_deleted_from_every_workspace() {
    deletion_scenarios::one_person_is_deleted_from_every_workspace(&local().await).await;
}

#[tokio::test]
async fn a_meta_request_reaches_the_pages_and_instagram_accounts_of_the_person() {
    deletion_scenarios::a_meta_request_reaches_the_pages_and_instagram_accounts_of_the_person(
        &local().await,
    )
    .await;
}

#[tokio::test]
async fn deauthorize_revokes_and_stops_publishing() {
    deletion_scenarios::deauthorize_revokes_and_stops_publishing(&local().await).await;
}

#[tokio::test]
async fn export_pages_give_every_record_once() {
    deletion_scenarios::export_pages_give_every_record_once(&local().await).await;
}

#[tokio::test]
async fn a_malformed_export_cursor_is_refused() {
    deletion_scenarios::a_malformed_export_cursor_is_refused(&local().await).await;
}

#[tokio::test]
async fn export_holds_everything_but_secrets() {
    deletion_scenarios::export_holds_everything_but_secrets(&local().await).await;
}

#[tokio::test]
async fn erase_leaves_only_a_tombstone() {
    deletion_scenarios::erase_leaves_only_a_tombstone(&local().await).await;
}

#[tokio::test]
async fn the_audit_log_pages_and_shows_no_token() {
    deletion_scenarios::the_audit_log_pages_and_shows_no_token(&local().await).await;
}

/// A raw body posted to a callback, with the form content type.
async fn post_raw(t: &DeletionApp, path: &str, body: String) -> reqwest::Response {
    t.http
        .post(t.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn form(signed_request: &str) -> String {
    serde_urlencoded::to_string([("signed_request", signed_request)]).unwrap()
}

#[tokio::test]
async fn bad_callbacks_get_a_400_that_names_the_problem_and_change_nothing() {
    let t = local().await;
    let (ws, key) = t.workspace("a").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);
    let post = t.schedule(&key, &[&threads], &in_secs(86_400), false).await;
    let audit_before = t.get_json(&key, "/v1/audit?limit=200").await;

    let valid = threads_request(THREADS_USER);
    let (sig, body) = valid.split_once('.').unwrap();
    let mut wrong_sig = sig.as_bytes().to_vec();
    wrong_sig[0] = if wrong_sig[0] == b'A' { b'B' } else { b'A' };
    let wrong_sig = String::from_utf8(wrong_sig).unwrap();
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String, &str)> = vec![
        ("no field", "other=1".into(), "signed_request_missing"),
        ("empty body", String::new(), "signed_request_missing"),
        (
            "twice",
            format!("{}&{}", form(&valid), form(&valid)),
            "signed_request_repeated",
        ),
        ("one part", form(body), "signed_request_malformed"),
        (
            "bad base64",
            form(&format!("{sig}.{body}*")),
            "signed_request_bad_base64",
        ),
        (
            "padded",
            form(&format!("{sig}=.{body}")),
            "signed_request_bad_base64",
        ),
        (
            "bad JSON",
            form(&sign_raw("{\"algorithm\":", THREADS_APP.1)),
            "signed_request_bad_payload",
        ),
        (
            "wrong algorithm",
            form(&sign(
                &json!({"algorithm": "HMAC-SHA1", "issued_at": now, "user_id": THREADS_USER}),
                THREADS_APP.1,
            )),
            "unsupported_algorithm",
        ),
        (
            "wrong signature",
            form(&format!("{wrong_sig}.{body}")),
            "signature_mismatch",
        ),
        (
            "another app's secret",
            form(&sign(&payload(THREADS_USER), "not-the-threads-secret")),
            "signature_mismatch",
        ),
        (
            "issued far in the future",
            form(&sign(
                &json!({"algorithm": "HMAC-SHA256", "issued_at": now + 3600, "user_id": THREADS_USER}),
                THREADS_APP.1,
            )),
            "issued_in_future",
        ),
        (
            "expired",
            form(&sign(
                &json!({"algorithm": "HMAC-SHA256", "issued_at": now - 7200, "expires": now - 3600, "user_id": THREADS_USER}),
                THREADS_APP.1,
            )),
            "signed_request_expired",
        ),
        (
            "over 8 KB",
            format!("{}&pad={}", form(&valid), "x".repeat(9 * 1024)),
            "body_too_large",
        ),
    ];
    for path in ["/threads/data-deletion", "/threads/deauthorize"] {
        for (what, body, code) in &cases {
            let resp = post_raw(&t, path, body.clone()).await;
            let status = resp.status().as_u16();
            let err: Value = resp.json().await.unwrap();
            assert_eq!(status, 400, "{what} on {path}: {err}");
            assert_eq!(err["error"]["code"], *code, "{what} on {path}: {err}");
            assert!(err["error"]["message"].as_str().unwrap().len() > 10);
        }
    }
    // A body far over the limit is refused before it is read, still as a 4xx.
    let huge = post_raw(&t, "/threads/data-deletion", "x".repeat(400 * 1024)).await;
    assert!(huge.status().is_client_error(), "{}", huge.status());

    // Nothing changed.
    assert_eq!(
        t.stored_account(&ws, &threads).await.status,
        AccountStatus::Active
    );
    assert!(t.has_tokens(&ws, &threads).await);
    assert_eq!(
        t.delivery(&key, &post, &threads).await["status"],
        "scheduled"
    );
    assert_eq!(t.get_json(&key, "/v1/audit?limit=200").await, audit_before);
    assert!(t
        .events()
        .iter()
        .all(|e| e.kind != EventKind::DeletionCompleted));

    // A Meta-signed request is not a Threads request.
    let resp = t
        .callback(
            "/threads/data-deletion",
            &deletion_scenarios::harness::meta_request(THREADS_USER),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(t.has_tokens(&ws, &threads).await);
}

/// Signs a payload given as raw text (for payloads that are not JSON).
fn sign_raw(payload: &str, secret: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let encoded = b64.encode(payload);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(encoded.as_bytes());
    format!("{}.{encoded}", b64.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn the_status_page_of_an_unknown_code_is_a_404_page() {
    let t = local().await;
    for code in [
        "0123456789abcdef0123456789abcdef",
        "short",
        "not-alphanumeric-at-all!",
        "%FF%FE",
    ] {
        let html = t
            .http
            .get(t.url(&format!("/deletion/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(html.status(), 404, "{code}");
        assert!(html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let text = html.text().await.unwrap();
        assert!(text.contains("No such deletion request"), "{text}");
        assert!(text.contains(OPERATOR_CONTACT));
        let json = t
            .http
            .get(t.url(&format!("/deletion/{code}")))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(json.status(), 404);
        assert_eq!(
            json.json::<Value>().await.unwrap()["error"]["code"],
            "not_found"
        );
    }
}

#[tokio::test]
async fn the_privacy_pages_describe_what_is_stored_and_who_to_ask() {
    let t = local().await;
    for (path, says) in [
        ("/privacy", "Access tokens"),
        ("/data-deletion", "confirmation code"),
    ] {
        let resp = t.http.get(t.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{path}: {text}");
        assert!(
            text.contains("Example &lt;Operator&gt; Ltd"),
            "the operator's name, escaped: {text}"
        );
        assert!(!text.contains("<Operator>"));
        assert!(text.contains(OPERATOR_CONTACT));
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_privacy_routes() {
    let t = local().await;
    let doc: Value = t
        .http
        .get(t.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/export",
        "/v1/workspace",
        "/v1/audit",
        "/meta/data-deletion",
        "/meta/deauthorize",
        "/threads/data-deletion",
        "/threads/deauthorize",
        "/deletion/{code}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

/// The export is described as what it is: NDJSON pages of typed records, `limit` and `cursor` in the query, and the
/// next cursor in a header.
#[tokio::test]
async fn the_openapi_document_describes_the_paged_export() {
    let t = local().await;
    let doc: Value = t
        .http
        .get(t.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let export = &doc["paths"]["/v1/export"]["get"];
    let params: Vec<(&str, &str)> = export["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
        .collect();
    assert_eq!(params, [("limit", "query"), ("cursor", "query")]);
    let ok = &export["responses"]["200"];
    assert!(
        ok["content"]["application/x-ndjson"]["schema"].is_object(),
        "{ok}"
    );
    assert!(ok["headers"]["Postora-Next-Cursor"].is_object(), "{ok}");
    let line = doc["components"]["schemas"]["ExportLine"].to_string();
    for kind in ["workspace", "account", "post", "audit"] {
        assert!(line.contains(&format!("[\"{kind}\"]")), "{kind}: {line}");
    }
    assert!(export["responses"]["422"].is_object());
}

/// The data-deletion function serves the deletion router alone; without the app secrets its callbacks answer a
/// 503 that names the variable, never a 500, and its pages still work.
#[tokio::test]
async fn the_deletion_router_alone_refuses_callbacks_it_cannot_verify() {
    let dir = tempfile::tempdir().unwrap();
    let env = postora_test_support::app::test_env(
        "https://postora.example",
        &[("POSTORA_SANDBOX", "off")],
    );
    let local = LocalBackend::open(dir.path(), &env).unwrap();
    let backend = Backend {
        stores: local.backend.stores.clone(),
        keys: local.backend.keys.clone(),
        queue: local.backend.queue.clone(),
        bus: local.backend.bus.clone(),
        blobs: local.backend.blobs.clone(),
        mailer: local.backend.mailer.clone(),
    };
    let app = runtime::build_app(backend, &env, "https://postora.example").unwrap();
    let router = postora::http::deletion_router(Arc::clone(&app));
    let call = |method: &str, path: &str, body: String| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    for (path, variable) in [
        ("/meta/data-deletion", "POSTORA_FACEBOOK_CLIENT_SECRET"),
        ("/meta/deauthorize", "POSTORA_FACEBOOK_CLIENT_SECRET"),
        ("/threads/data-deletion", "POSTORA_THREADS_CLIENT_SECRET"),
        ("/threads/deauthorize", "POSTORA_THREADS_CLIENT_SECRET"),
    ] {
        let resp = router
            .clone()
            .oneshot(call("POST", path, form(&threads_request(THREADS_USER))))
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
            .await
            .unwrap();
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["error"]["code"], "callback_not_configured");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(variable),
            "{err}"
        );
    }
    let privacy = router
        .clone()
        .oneshot(call("GET", "/privacy", String::new()))
        .await
        .unwrap();
    assert_eq!(privacy.status(), 200);
    let api = router
        .oneshot(call("GET", "/v1/accounts", String::new()))
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "the deletion function serves no API");
}

/// The sample events in `events/data-deletion/` (what `cargo lambda invoke` feeds the data-deletion function) get
/// the answers their README promises when they arrive at the time they say they were sent.
#[tokio::test]
async fn the_sample_events_get_the_documented_answers() {
    let dir = tempfile::tempdir().unwrap();
    let env = postora_test_support::app::test_env(
        "https://postora.example",
        &[
            ("POSTORA_SANDBOX", "off"),
            (
                "POSTORA_FACEBOOK_CLIENT_SECRET",
                "postora-sample-meta-app-secret",
            ),
            (
                "POSTORA_THREADS_CLIENT_SECRET",
                "postora-sample-threads-app-secret",
            ),
        ],
    );
    let local = LocalBackend::open(dir.path(), &env).unwrap();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/data-deletion");
    let read = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(samples.join(file)).unwrap()).unwrap()
    };
    // Every sample says it was sent at the same moment; the app's clock is set to it.
    let sent_at = chrono::DateTime::from_timestamp_millis(
        read("meta-data-deletion.json")["requestContext"]["timeEpoch"]
            .as_i64()
            .unwrap(),
    )
    .unwrap();
    let app = Arc::new(postora::app::App::new(postora::app::Deps {
        stores: local.backend.stores.clone(),
        keys: local.backend.keys.clone(),
        queue: local.backend.queue.clone(),
        bus: local.backend.bus.clone(),
        blobs: local.backend.blobs.clone(),
        mailer: local.backend.mailer.clone(),
        clock: Arc::new(postora::ports::ManualClock::new(sent_at)),
        platforms: postora::ports::Platforms::new(),
        settings: postora::config::Settings::from_env(&env, "https://postora.example").unwrap(),
        remote: postora::net::media_fetcher(
            &postora::config::MediaSettings::from_env(&env).unwrap(),
        ),
    }));
    let router = postora::http::deletion_router(app);
    for (file, status) in [
        ("meta-data-deletion.json", 200),
        ("meta-deauthorize.json", 200),
        ("threads-data-deletion.json", 200),
        ("threads-deauthorize.json", 200),
        ("meta-data-deletion-bad-signature.json", 400),
        ("privacy.json", 200),
        ("data-deletion-instructions.json", 200),
        ("deletion-status.json", 404),
    ] {
        let event = read(file);
        let mut request = Request::builder()
            .method(event["requestContext"]["http"]["method"].as_str().unwrap())
            .uri(event["rawPath"].as_str().unwrap());
        for (name, value) in event["headers"].as_object().unwrap() {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
        let body = event["body"].as_str().unwrap_or("").to_owned();
        let resp = router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{file}");
    }
}
