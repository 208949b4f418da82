//! Hardening, on the local backend: Meta's callbacks have an age limit and never act on a grant given after they
//! were issued.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deletion_scenarios;
mod support;

use std::time::Duration;

use deletion_scenarios::harness::{in_secs, sign, DeletionApp};
use postora::domain::{AccountStatus, EventKind, PlatformKind};
use postora::runtime::{Backend, LocalBackend};
use serde_json::{json, Value};
use support::fake_meta::{FACEBOOK_APP, FB_USER, THREADS_APP, THREADS_USER};

async fn local() -> DeletionApp {
    let dir = tempfile::tempdir().unwrap();
    let local =
        LocalBackend::open(dir.path(), &support::test_env("http://127.0.0.1:1", &[])).unwrap();
    let backend = Backend {
        stores: local.backend.stores.clone(),
        keys: local.backend.keys.clone(),
        queue: local.backend.queue.clone(),
        bus: local.backend.bus.clone(),
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
    let post = t.schedule(&key, &[&threads], &in_secs(86_400), None).await;
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
    let post = t.schedule(&key, &[&threads], &in_secs(86_400), None).await;
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
