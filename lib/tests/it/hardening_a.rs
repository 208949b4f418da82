//! Hardening, on the local backend: Meta's callbacks have an age limit and never act on a grant given after they
//! were issued; every page carries a strict Content-Security-Policy and the other security headers; a cancel that
//! keeps meeting concurrent changes says so with a 409.

use crate::deletion_scenarios;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use deletion_scenarios::harness::{in_secs, sign, DeletionApp};
use postora::domain::{AccountStatus, EventKind, PlatformKind};
use postora::runtime::{local::LocalBackend, Backend};
use postora_test_support::fakes::meta::{FACEBOOK_APP, FB_USER, THREADS_APP, THREADS_USER};
use postora_test_support::faults::{
    Failure, Node, NodeOptions, PlatformServer, StoreFaults, Write,
};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
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

/// A callback payload for `user_id` issued at `issued_at` (Unix seconds), as Meta signs it.
fn issued(user_id: &str, issued_at: i64, secret: &str) -> String {
    sign(
        &json!({"algorithm": "HMAC-SHA256", "expires": 0, "issued_at": issued_at, "user_id": user_id}),
        secret,
    )
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Waits until the clock is in a later whole second than `secs`: Meta's `issued_at` counts whole seconds.
async fn next_second_after(secs: i64) {
    while now_secs() <= secs {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Meta's signed requests

/// A deauthorize captured on its way and replayed after the person connected their account again does nothing to the
/// new grant; neither does a data-deletion request issued before the reconnect. One issued after it still acts.
#[tokio::test]
async fn a_replayed_deauthorize_after_a_reconnect_leaves_the_new_grant_alone() {
    let t = local().await;
    let (ws, key) = t.workspace("replay").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);

    // The person removes Postora at Threads; the callback is captured by someone on the way.
    let captured_at = now_secs();
    let captured = issued(THREADS_USER, captured_at, THREADS_APP.1);
    let (status, done) = answer(t.callback("/threads/deauthorize", &captured).await).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["accounts_revoked"], 1, "{done}");
    assert_eq!(
        t.stored_account(&ws, &threads).await.status,
        AccountStatus::Revoked
    );
    assert!(!t.has_tokens(&ws, &threads).await);

    // Later the person connects the account again and schedules a post.
    next_second_after(captured_at).await;
    assert!(
        t.connect(&key, PlatformKind::Threads).await.is_empty(),
        "a reconnect keeps the account id"
    );
    let reconnected = t.stored_account(&ws, &threads).await;
    assert_eq!(reconnected.status, AccountStatus::Active);
    assert!(reconnected.connected_since().timestamp() > captured_at);
    let post = t.schedule(&key, &[&threads], &in_secs(86_400), false).await;
    let audit_before = t.get_json(&key, "/v1/audit?limit=200").await;

    // The captured deauthorize is replayed, within the hour: it is about the old grant, so nothing changes.
    let (status, replayed) = answer(t.callback("/threads/deauthorize", &captured).await).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["accounts_revoked"], 0, "{replayed}");
    assert_eq!(replayed["deliveries_canceled"], 0, "{replayed}");
    // So is a data-deletion request issued at the same time as the captured one.
    let old_deletion = issued(THREADS_USER, captured_at, THREADS_APP.1);
    let (status, deletion) =
        answer(t.callback("/threads/data-deletion", &old_deletion).await).await;
    assert_eq!(status, 200, "{deletion}");

    let account = t.stored_account(&ws, &threads).await;
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(
        account.profile, reconnected.profile,
        "the profile is not scrubbed"
    );
    assert!(t.has_tokens(&ws, &threads).await, "the new tokens stay");
    assert_eq!(
        t.delivery(&key, &post, &threads).await["status"],
        "scheduled"
    );
    assert_eq!(
        t.get_json(&key, "/v1/audit?limit=200").await,
        audit_before,
        "nothing happened to the workspace"
    );

    // A deauthorize issued after the reconnect is about the new grant, and acts.
    let fresh = issued(THREADS_USER, now_secs(), THREADS_APP.1);
    let (status, done) = answer(t.callback("/threads/deauthorize", &fresh).await).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["accounts_revoked"], 1, "{done}");
    assert_eq!(done["deliveries_canceled"], 1, "{done}");
    assert!(!t.has_tokens(&ws, &threads).await);
}

/// The same for the Pages a person connected through Facebook Login: Meta's callbacks name the person, and a deletion
/// request issued before they connected the Pages again leaves the Pages connected.
#[tokio::test]
async fn a_meta_deletion_issued_before_the_pages_were_connected_again_leaves_them_alone() {
    let t = local().await;
    let (ws, key) = t.workspace("pages").await;
    let pages = t.connect(&key, PlatformKind::Facebook).await;
    assert!(!pages.is_empty());
    let issued_at = now_secs();
    let deletion = issued(FB_USER, issued_at, FACEBOOK_APP.1);
    next_second_after(issued_at).await;
    assert!(t.connect(&key, PlatformKind::Facebook).await.is_empty());

    let (status, answer_body) = answer(t.callback("/meta/data-deletion", &deletion).await).await;
    assert_eq!(status, 200, "{answer_body}");
    for page in &pages {
        assert_eq!(
            t.stored_account(&ws, page).await.status,
            AccountStatus::Active
        );
        assert!(t.has_tokens(&ws, page).await);
    }
    let code = answer_body["confirmation_code"].as_str().unwrap();
    let status: Value = t
        .http
        .get(t.url(&format!("/deletion/{code}")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["accounts_deleted"], 0, "{status}");
}

/// A callback issued more than an hour ago, or more than five minutes ahead, is a 400 that names the problem, on
/// every callback route, and changes nothing.
#[tokio::test]
async fn an_old_or_future_issued_at_is_refused_with_a_400_and_changes_nothing() {
    let t = local().await;
    let (ws, key) = t.workspace("stale").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);
    let pages = t.connect(&key, PlatformKind::Facebook).await;
    let post = t.schedule(&key, &[&threads], &in_secs(86_400), false).await;
    let audit_before = t.get_json(&key, "/v1/audit?limit=200").await;

    let now = now_secs();
    let cases = [
        (now - 3_700, "signed_request_too_old"),
        (now - 30 * 86_400, "signed_request_too_old"),
        (0, "signed_request_too_old"),
        (now + 3_600, "issued_in_future"),
        (now + 365 * 86_400, "issued_in_future"),
    ];
    for (path, user, secret) in [
        ("/threads/deauthorize", THREADS_USER, THREADS_APP.1),
        ("/threads/data-deletion", THREADS_USER, THREADS_APP.1),
        ("/meta/deauthorize", FB_USER, FACEBOOK_APP.1),
        ("/meta/data-deletion", FB_USER, FACEBOOK_APP.1),
    ] {
        for (issued_at, code) in cases {
            let (status, err) =
                answer(t.callback(path, &issued(user, issued_at, secret)).await).await;
            assert_eq!(status, 400, "{path} issued at {issued_at}: {err}");
            assert_eq!(err["error"]["code"], code, "{path}: {err}");
            assert_eq!(err["error"]["field"], "signed_request", "{err}");
            assert!(
                err["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("issued_at"),
                "the message names the field: {err}"
            );
        }
    }

    assert_eq!(
        t.stored_account(&ws, &threads).await.status,
        AccountStatus::Active
    );
    assert!(t.has_tokens(&ws, &threads).await);
    for page in &pages {
        assert_eq!(
            t.stored_account(&ws, page).await.status,
            AccountStatus::Active
        );
        assert!(t.has_tokens(&ws, page).await);
    }
    assert_eq!(
        t.delivery(&key, &post, &threads).await["status"],
        "scheduled"
    );
    assert_eq!(t.get_json(&key, "/v1/audit?limit=200").await, audit_before);
    assert!(t
        .events()
        .iter()
        .all(|e| e.kind != EventKind::DeletionCompleted));
}

// ---------------------------------------------------------------------------------------------------------------
// Security headers

/// The hashes a Content-Security-Policy allows for styles.
fn allowed_style_hashes(csp: &str) -> Vec<String> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("style-src "))
        .map(|sources| {
            sources
                .split_whitespace()
                .filter_map(|s| s.strip_prefix("'sha256-"))
                .map(|s| s.trim_end_matches('\'').to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts the security headers every answer carries, and for a page that it holds no script, no inline `style=`
/// attribute, and only `<style>` elements the policy allows by hash.
fn assert_secured(what: &str, headers: &HeaderMap, body: &str) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_owned()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert!(
        ["no-referrer", "strict-origin-when-cross-origin"]
            .contains(&get("referrer-policy").as_str()),
        "{what}"
    );
    let csp = get("content-security-policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'none'"), "{what}: {csp}");
    assert!(
        directives.contains(&"frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    assert!(directives.contains(&"base-uri 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-"), "{what}: {csp}");
    assert!(
        !csp.contains("script-src"),
        "{what}: scripts stay at 'none': {csp}"
    );

    let is_html = get("content-type").starts_with("text/html");
    if !is_html {
        return;
    }
    let lower = body.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "{what}: {body}");
    assert!(!lower.contains(" style="), "{what}: {body}");
    let allowed = allowed_style_hashes(&csp);
    let mut styles = 0;
    for part in body.split("<style>").skip(1) {
        let style = part.split("</style>").next().unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
        assert!(
            allowed.contains(&hash),
            "{what}: the page's style is not allowed by {csp}"
        );
        styles += 1;
    }
    assert!(styles > 0, "{what}: the pages are styled");
}

/// Starts connecting `platform`; returns the authorize URL.
async fn start_connect(t: &DeletionApp, key: &str, platform: &str) -> url::Url {
    let start: Value = t
        .http
        .post(t.url(&format!("/v1/accounts/connect/{platform}")))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap()
}

async fn fetch(req: reqwest::RequestBuilder) -> (u16, HeaderMap, String) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

/// Every HTML route, in success and failure, and the JSON ones too.
#[tokio::test]
async fn every_page_sends_a_strict_policy_nosniff_a_referrer_policy_and_frame_denial() {
    let t = local().await;
    let (_, key) = t.workspace("pages").await;
    let http = &t.http;

    // A deletion request, so that its status page exists.
    let deletion = issued(THREADS_USER, now_secs(), THREADS_APP.1);
    let (status, accepted) = answer(t.callback("/threads/data-deletion", &deletion).await).await;
    assert_eq!(status, 200);
    let code = accepted["confirmation_code"].as_str().unwrap().to_owned();

    let mut seen = Vec::new();
    for (what, path, want) in [
        ("privacy policy", "/privacy".to_owned(), 200),
        ("deletion instructions", "/data-deletion".to_owned(), 200),
        ("deletion status", format!("/deletion/{code}"), 200),
        (
            "unknown deletion status",
            "/deletion/0123456789abcdef0123456789abcdef".to_owned(),
            404,
        ),
        (
            "OAuth callback with a bad state",
            "/oauth/threads/callback?state=nope&code=x".to_owned(),
            400,
        ),
        (
            "OAuth callback refused by the person",
            "/oauth/threads/callback?state=nope&error=access_denied".to_owned(),
            400,
        ),
        (
            "OAuth callback of an unknown platform",
            "/oauth/nowhere/callback".to_owned(),
            404,
        ),
    ] {
        let (status, headers, body) = fetch(http.get(t.url(&path))).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{what}"
        );
        assert_secured(what, &headers, &body);
        seen.push(what);
    }
    let (status, headers, body) = fetch(
        http.post(t.url("/oauth/facebook/choose"))
            .form(&[("choice", "unknown")]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_secured("a choice with an unknown token", &headers, &body);

    // The pages of a real connection: Threads' success page, and Facebook's choice page and its result.
    let callback = t
        .fake
        .consent(&start_connect(&t, &key, "threads").await)
        .await;
    let (status, headers, body) = fetch(http.get(callback)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Account connected"), "{body}");
    assert_secured("the connected page", &headers, &body);

    let callback = t
        .fake
        .consent(&start_connect(&t, &key, "facebook").await)
        .await;
    let (status, headers, body) = fetch(http.get(callback)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("name=\"choice\""), "{body}");
    assert_secured("the choice page", &headers, &body);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.split(';').any(|d| d.trim() == "form-action 'self'"),
        "the choice form may post only to Postora: {csp}"
    );
    let at = body.find("name=\"choice\" value=\"").unwrap();
    let token = body[at + 21..].split('"').next().unwrap().to_owned();
    let (status, headers, body) = fetch(
        http.post(t.url("/oauth/facebook/choose"))
            .form(&[("choice", token.as_str()), ("account", "0")]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_secured("the page after the choice", &headers, &body);

    // JSON answers carry them too.
    for path in ["/healthz", "/openapi.json", "/v1/nothing-here"] {
        let (_, headers, body) = fetch(http.get(t.url(path))).await;
        assert_secured(path, &headers, &body);
    }
    let (_, headers, body) = fetch(
        http.get(t.url(&format!("/deletion/{code}")))
            .header("accept", "application/json"),
    )
    .await;
    assert_secured("the deletion status as JSON", &headers, &body);
    assert_eq!(seen.len(), 7);
}

/// The routers the Lambda functions serve get the same headers.
#[tokio::test]
async fn the_lambda_routers_send_the_headers_too() {
    let t = local().await;
    for (what, router, path) in [
        (
            "data-deletion function",
            postora::http::deletion_router(t.app.clone()),
            "/privacy",
        ),
        (
            "oauth-callback function",
            postora::http::oauth_router(t.app.clone()),
            "/oauth/threads/callback?state=nope",
        ),
        (
            "post-api function",
            postora::http::api_router(t.app.clone()),
            "/healthz",
        ),
    ] {
        let resp = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in resp.headers() {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_secured(what, &headers, &String::from_utf8_lossy(&body));
    }
}

/// The sandbox's consent page, served by `postora serve`, is a page like the others.
#[tokio::test]
async fn the_sandbox_pages_send_the_headers_too() {
    let app = postora_test_support::app::spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/sandbox/oauth/authorize", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap();
    assert_secured("the sandbox consent page", &headers, &body);
}

// ---------------------------------------------------------------------------------------------------------------
// Canceling a post

/// A delivery that changes under every one of the cancel's rounds is not given up on in silence: the answer is a 409
/// that says what happened. Asking again, once the changes stop, cancels it.
#[tokio::test]
async fn a_cancel_that_keeps_conflicting_answers_409() {
    let dir = tempfile::tempdir().unwrap();
    let platform = PlatformServer::start(dir.path(), postora::sandbox::Idempotency::Dedupe).await;
    let faults = StoreFaults::new();
    let node = Node::start(
        dir.path(),
        &platform,
        NodeOptions {
            idle: true,
            store_faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .await;
    let (ws, key) = node.workspace().await;
    let account = node.connect(&key, PlatformKind::Sandbox, "alice").await;
    let post = node
        .post_with(
            &key,
            json!({"text": "later", "scheduled_at": in_secs(86_400)}),
            &[&account],
        )
        .await;
    let http = reqwest::Client::new();
    let cancel = || async {
        let resp = http
            .delete(node.url(&format!("/v1/posts/{post}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        answer(resp).await
    };

    // Every round of the cancel loses its write to a concurrent change.
    faults.fail(
        Write::Other,
        Failure::Conflict,
        u32::try_from(postora::app::posts::CANCEL_ROUNDS).unwrap(),
    );
    let (status, err) = cancel().await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "cancel_conflict", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancel again"),
        "{err}"
    );
    assert_eq!(
        faults.injected().len(),
        postora::app::posts::CANCEL_ROUNDS,
        "one conflict per round"
    );
    let stored = node.deliveries(&ws, std::slice::from_ref(&post)).await;
    assert_eq!(stored[0].status.as_str(), "scheduled");

    // The changes stop: the same request cancels it.
    let (status, canceled) = cancel().await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(
        canceled["deliveries"][0]["status"], "canceled",
        "{canceled}"
    );
}
