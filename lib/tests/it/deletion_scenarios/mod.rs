//! What data deletion, deauthorization, export and erase must do, written once and run on each backend
//! (`tests/deletion.rs` on the local one, `tests/aws_deletion.rs` on the AWS adapters).

pub mod harness;

use postora::domain::{AccountStatus, EventKind, PlatformKind};
use serde_json::{json, Value};

use harness::{in_secs, meta_request, threads_request, DeletionApp};
use postora_test_support::export::read_export;
use postora_test_support::fakes::meta::{Family, FB_USER, THREADS_USER};

/// Asserts that none of `secrets` appears in `text`.
fn assert_free_of(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} shows a token: {text}");
    }
}

/// One person connected the same Threads account in two workspaces and asks Threads to delete their data: their
/// tokens go, their pending deliveries are canceled with `data_deletion`, nothing of theirs is published, their
/// profiles are scrubbed, the status page says complete, and asking again gives the same answer.
pub async fn one_person_is_deleted_from_every_workspace(t: &DeletionApp) {
    let (ws_a, key_a) = t.workspace("a").await;
    let (ws_b, key_b) = t.workspace("b").await;
    let threads_a = t.connect(&key_a, PlatformKind::Threads).await.remove(0);
    let threads_b = t.connect(&key_b, PlatformKind::Threads).await.remove(0);
    let pages_a = t.connect(&key_a, PlatformKind::Facebook).await;
    let secrets = vec![
        t.access_token(&ws_a, &threads_a).await,
        t.access_token(&ws_b, &threads_b).await,
    ];
    // Soon: the Threads account and a Page. The Page's delivery still publishes, so the pipeline really runs.
    let soon = t
        .schedule(&key_a, &[&threads_a, &pages_a[0]], &in_secs(8), false)
        .await;
    let later_a = t
        .schedule(&key_a, &[&threads_a], &in_secs(86_400), false)
        .await;
    let later_b = t
        .schedule(&key_b, &[&threads_b], &in_secs(86_400), false)
        .await;

    let request = threads_request(THREADS_USER);
    let resp = t.callback("/threads/data-deletion", &request).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let code = answer["confirmation_code"].as_str().unwrap().to_owned();
    assert!(
        code.len() >= 16 && code.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{code}"
    );
    assert_eq!(answer["url"], t.url(&format!("/deletion/{code}")));

    for (ws, key, acc) in [(&ws_a, &key_a, &threads_a), (&ws_b, &key_b, &threads_b)] {
        assert!(!t.has_tokens(ws, acc).await, "the token item is deleted");
        let row = t.stored_account(ws, acc).await;
        assert_eq!(row.status, AccountStatus::Deleted);
        assert_eq!(
            (
                &row.profile.username,
                &row.profile.display_name,
                &row.profile.picture_url,
                &row.profile.biography
            ),
            (&None, &None, &None, &None),
            "the profile is scrubbed"
        );
        assert_eq!(row.settings, Value::Null);
        assert_eq!(
            t.get(key, &format!("/v1/accounts/{acc}")).await.status(),
            404
        );
    }
    for (key, post, acc) in [
        (&key_a, &soon, &threads_a),
        (&key_a, &later_a, &threads_a),
        (&key_b, &later_b, &threads_b),
    ] {
        let d = t.delivery(key, post, acc).await;
        assert_eq!(d["status"], "canceled", "{d}");
        assert_eq!(d["error"]["code"], "data_deletion", "{d}");
    }

    let page = t.settled(&key_a, &soon, &pages_a[0]).await;
    assert_eq!(page["status"], "published", "{page}");
    assert_eq!(
        t.settled(&key_a, &soon, &threads_a).await["status"],
        "canceled"
    );
    let posts = t.fake.posts();
    assert!(
        posts.iter().all(|p| p.family != Family::Threads),
        "nothing was published to Threads: {posts:?}"
    );
    assert_eq!(posts.len(), 1, "only the Page's post was published");
    assert!(
        t.has_tokens(&ws_a, &pages_a[0]).await,
        "other accounts keep theirs"
    );

    let html = t
        .http
        .get(t.url(&format!("/deletion/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page_text = html.text().await.unwrap();
    assert!(page_text.contains("Status: complete"), "{page_text}");
    assert!(page_text.contains(&code));
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
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["source"], "Threads");
    assert_eq!(status["accounts_deleted"], 2);
    assert_eq!(status["deliveries_canceled"], 3);
    assert!(status["completed_at"].is_string());

    // The same request again, and a fresh one for the same person: the same answer, no error.
    for again in [request.clone(), threads_request(THREADS_USER)] {
        let resp = t.callback("/threads/data-deletion", &again).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap(), answer);
    }

    // The audit log keeps only what happened and when about the deleted account.
    let audit = t.get_json(&key_a, "/v1/audit?limit=200").await;
    let about: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["account_id"] == threads_a.as_str())
        .collect();
    assert!(about.iter().any(|e| e["action"] == "account.deleted"));
    for e in &about {
        if e["action"] != "account.deleted" {
            assert_eq!(e["detail"], json!({"redacted": "data_deletion"}), "{e}");
        }
    }
    assert_free_of(&audit.to_string(), &secrets, "the audit log");

    let events = t.events();
    let done: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::DeletionCompleted)
        .collect();
    let mut workspaces: Vec<_> = done.iter().filter_map(|e| e.workspace_id.clone()).collect();
    workspaces.sort();
    let mut want = vec![ws_a.clone(), ws_b.clone()];
    want.sort();
    assert_eq!(
        workspaces, want,
        "deletion.completed reaches each workspace once"
    );
    assert_free_of(
        &serde_json::to_string(&events).unwrap(),
        &secrets,
        "an event",
    );
}

/// A Meta app deletion names the person who logged in with Facebook: the Pages and Instagram accounts they
/// connected, in every workspace, are deleted; their Threads account (another app) is not.
pub async fn a_meta_request_reaches_the_pages_and_instagram_accounts_of_the_person(
    t: &DeletionApp,
) {
    let (ws_a, key_a) = t.workspace("a").await;
    let (ws_b, key_b) = t.workspace("b").await;
    let pages_a = t.connect(&key_a, PlatformKind::Facebook).await;
    let instagram_a = t.connect(&key_a, PlatformKind::Instagram).await;
    let pages_b = t.connect(&key_b, PlatformKind::Facebook).await;
    let threads_a = t.connect(&key_a, PlatformKind::Threads).await.remove(0);
    assert_eq!((pages_a.len(), instagram_a.len(), pages_b.len()), (2, 1, 2));
    let photo = t
        .schedule(
            &key_a,
            &[&instagram_a[0], &pages_a[0]],
            &in_secs(86_400),
            true,
        )
        .await;

    let resp = t
        .callback("/meta/data-deletion", &meta_request(FB_USER))
        .await;
    assert_eq!(resp.status(), 200);
    let code = resp.json::<Value>().await.unwrap()["confirmation_code"]
        .as_str()
        .unwrap()
        .to_owned();

    for (ws, acc) in pages_a
        .iter()
        .chain(&instagram_a)
        .map(|a| (&ws_a, a))
        .chain(pages_b.iter().map(|a| (&ws_b, a)))
    {
        assert_eq!(
            t.stored_account(ws, acc).await.status,
            AccountStatus::Deleted
        );
        assert!(!t.has_tokens(ws, acc).await);
    }
    for acc in [&instagram_a[0], &pages_a[0]] {
        let d = t.delivery(&key_a, &photo, acc).await;
        assert_eq!(
            (d["status"].as_str(), d["error"]["code"].as_str()),
            (Some("canceled"), Some("data_deletion"))
        );
    }
    assert_eq!(
        t.stored_account(&ws_a, &threads_a).await.status,
        AccountStatus::Active
    );
    assert!(
        t.has_tokens(&ws_a, &threads_a).await,
        "Threads is another app"
    );
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
    assert_eq!(
        (
            status["status"].as_str(),
            status["accounts_deleted"].as_u64(),
            status["source"].as_str()
        ),
        (Some("completed"), Some(5), Some("Facebook or Instagram"))
    );
    assert_eq!(t.fake.post_count(), 0);
}

/// Removing Postora at Threads revokes the person's accounts in every workspace: tokens deleted, pending deliveries
/// canceled, nothing published; the profile stays so the workspace sees what to reconnect.
pub async fn deauthorize_revokes_and_stops_publishing(t: &DeletionApp) {
    let (ws_a, key_a) = t.workspace("a").await;
    let (ws_b, key_b) = t.workspace("b").await;
    let threads_a = t.connect(&key_a, PlatformKind::Threads).await.remove(0);
    let threads_b = t.connect(&key_b, PlatformKind::Threads).await.remove(0);
    let soon = t.schedule(&key_a, &[&threads_a], &in_secs(8), false).await;
    let later = t
        .schedule(&key_b, &[&threads_b], &in_secs(86_400), false)
        .await;

    let resp = t
        .callback("/threads/deauthorize", &threads_request(THREADS_USER))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"accounts_revoked": 2, "deliveries_canceled": 2})
    );
    for (ws, key, acc, post) in [
        (&ws_a, &key_a, &threads_a, &soon),
        (&ws_b, &key_b, &threads_b, &later),
    ] {
        assert!(!t.has_tokens(ws, acc).await);
        let shown = t.get_json(key, &format!("/v1/accounts/{acc}")).await;
        assert_eq!(shown["status"], "revoked");
        assert!(shown["username"].is_string(), "the profile stays: {shown}");
        let d = t.settled(key, post, acc).await;
        assert_eq!(
            (d["status"].as_str(), d["error"]["code"].as_str()),
            (Some("canceled"), Some("deauthorized"))
        );
    }
    // A revoked account takes no new posts.
    let resp = t
        .http
        .post(t.url("/v1/posts"))
        .bearer_auth(&key_a)
        .json(&json!({"text": "again", "targets": [{"account_id": threads_a.as_str()}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    // Again: nothing more to do, and no error.
    let again = t
        .callback("/threads/deauthorize", &threads_request(THREADS_USER))
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["accounts_revoked"], 0);
    assert_eq!(t.fake.post_count(), 0, "nothing was published");
}

/// The export holds the workspace's accounts, posts, deliveries and audit log, and no token, ciphertext or key.
pub async fn export_holds_everything_but_secrets(t: &DeletionApp) {
    let (ws, key) = t.workspace("export").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);
    let pages = t.connect(&key, PlatformKind::Facebook).await;
    let post = t
        .schedule(&key, &[&threads, &pages[0]], &in_secs(86_400), false)
        .await;
    let read = read_export(&t.http, &t.base_url, &key, None).await;
    assert!(read.first_headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let text = read.text.clone();
    let export: Value = read.assembled();
    assert_eq!(export["workspace_id"], ws.as_str());
    assert_eq!(export["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(export["posts"][0]["id"], post.as_str());
    assert_eq!(
        export["posts"][0]["deliveries"].as_array().unwrap().len(),
        2
    );
    assert!(export["audit"].as_array().unwrap().len() >= 4, "{export}");

    let mut secrets = Vec::new();
    for acc in pages.iter().chain([&threads]) {
        secrets.push(t.access_token(&ws, acc).await);
        let sealed = t
            .app
            .stores
            .accounts
            .get_tokens(&ws, acc)
            .await
            .unwrap()
            .unwrap();
        secrets.push(hex::encode(&sealed.ciphertext));
        secrets.push(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &sealed.ciphertext,
        ));
    }
    let wrapped = t
        .app
        .stores
        .workspaces
        .get_workspace(&ws)
        .await
        .unwrap()
        .unwrap()
        .wrapped_key;
    secrets.push(hex::encode(&wrapped));
    secrets.push(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &wrapped,
    ));
    assert_free_of(&text, &secrets, "the export");
    for word in ["ciphertext", "wrapped_key", "access_token", "refresh_token"] {
        assert!(!text.contains(word), "the export mentions {word}");
    }
}

/// An export larger than one page, read page by page, gives the workspace once and first, then every account,
/// post and audit entry exactly once, in the order the one-page export gives them; small pages change nothing but
/// the number of pages, and no page holds more records than asked.
pub async fn export_pages_give_every_record_once(t: &DeletionApp) {
    let (ws, key) = t.workspace("paged").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);
    let pages = t.connect(&key, PlatformKind::Facebook).await;
    let mut posts = Vec::new();
    for i in 0..7 {
        let target = if i % 2 == 0 { &threads } else { &pages[0] };
        posts.push(
            t.schedule(&key, &[target], &in_secs(86_400 + i), false)
                .await,
        );
    }
    let whole = read_export(&t.http, &t.base_url, &key, Some(200)).await;
    assert_eq!(whole.pages, 1);
    for limit in [1, 2, 3, 5] {
        let paged = read_export(&t.http, &t.base_url, &key, Some(limit)).await;
        // The same records in the same order; only the time of the export differs.
        let same = |lines: &[Value]| -> Vec<Value> {
            let mut lines = lines.to_vec();
            lines[0].as_object_mut().unwrap().remove("exported_at");
            lines
        };
        assert!(
            same(&paged.lines) == same(&whole.lines),
            "pages of {limit} give the same records as one page"
        );
        assert!(paged.pages >= whole.lines.len().div_ceil(limit), "{limit}");
        assert!(
            paged.pages <= whole.lines.len().div_ceil(limit) + 1,
            "{limit}"
        );
    }
    // Each record once: the workspace first, every account, every post, every audit entry.
    let types: Vec<&str> = whole
        .lines
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "workspace");
    assert_eq!(whole.lines[0]["workspace_id"], ws.as_str());
    assert_eq!(types.iter().filter(|t| **t == "workspace").count(), 1);
    let ids = |kind: &str| -> Vec<String> {
        whole
            .lines
            .iter()
            .filter(|l| l["type"] == kind)
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut account_ids = ids("account");
    account_ids.sort();
    let mut expected: Vec<String> = pages
        .iter()
        .chain([&threads])
        .map(|a| a.as_str().to_owned())
        .collect();
    expected.sort();
    assert_eq!(account_ids, expected);
    let mut post_ids = ids("post");
    post_ids.sort();
    posts.sort();
    assert_eq!(post_ids, posts);
    let audit_ids = ids("audit");
    let audit_log = t.get_json(&key, "/v1/audit?limit=200").await;
    let mut logged: Vec<String> = audit_log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(audit_ids.len() >= 9, "{audit_ids:?}");
    assert_eq!(audit_ids, logged, "the audit log, newest first");
    logged.dedup();
    assert_eq!(logged.len(), audit_ids.len());
    // The order of parts: accounts, then posts, then audit entries.
    let first = |kind: &str| types.iter().position(|t| *t == kind).unwrap();
    let last = |kind: &str| types.iter().rposition(|t| *t == kind).unwrap();
    assert!(last("account") < first("post") && last("post") < first("audit"));
}

/// A cursor the API did not give, or a limit out of range, is a 422 naming the field; nothing is exported.
pub async fn a_malformed_export_cursor_is_refused(t: &DeletionApp) {
    let (_ws, key) = t.workspace("cursor").await;
    for cursor in [
        "nonsense",
        "%00",
        "eyJwIjoicG9zdHMiLCJjIjoiZ2FyYmFnZSJ9",
        "eyJwIjoiYWNjb3VudHMiLCJjIjoieCJ9",
        "eyJwIjoiZWxzZXdoZXJlIn0",
    ] {
        let resp = t.get(&key, &format!("/v1/export?cursor={cursor}")).await;
        assert_eq!(resp.status(), 422, "{cursor}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "cursor", "{cursor}: {body}");
    }
    for limit in ["0", "201", "x"] {
        let resp = t.get(&key, &format!("/v1/export?limit={limit}")).await;
        assert_eq!(resp.status(), 422, "{limit}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "limit");
    }
}

/// Erasing a workspace removes everything of it, leaves one tombstone in its audit log, stops its key, publishes
/// nothing it had scheduled, and leaves other workspaces alone.
pub async fn erase_leaves_only_a_tombstone(t: &DeletionApp) {
    let (ws, key) = t.workspace("doomed").await;
    let (other_ws, other_key) = t.workspace("other").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);
    let pages = t.connect(&key, PlatformKind::Facebook).await;
    let kept = t.connect(&other_key, PlatformKind::Threads).await.remove(0);
    t.schedule(&key, &[&threads, &pages[0]], &in_secs(5), false)
        .await;
    let other_post = t
        .schedule(&other_key, &[&kept], &in_secs(86_400), false)
        .await;

    let refused = t
        .http
        .delete(t.url("/v1/workspace"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["field"],
        "confirm"
    );
    assert!(
        t.has_tokens(&ws, &threads).await,
        "a refused erase changes nothing"
    );

    let resp = t
        .http
        .delete(t.url(&format!("/v1/workspace?confirm={ws}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let erased: Value = resp.json().await.unwrap();
    assert_eq!(erased["workspace_id"], ws.as_str());
    assert_eq!(erased["accounts_disconnected"], 3);

    assert_eq!(t.get(&key, "/v1/accounts").await.status(), 401);
    let stores = &t.app.stores;
    assert!(stores
        .workspaces
        .get_workspace(&ws)
        .await
        .unwrap()
        .is_none());
    assert!(stores.accounts.list_accounts(&ws).await.unwrap().is_empty());
    for acc in pages.iter().chain([&threads]) {
        assert!(stores
            .accounts
            .get_tokens(&ws, acc)
            .await
            .unwrap()
            .is_none());
    }
    let posts = stores
        .posts
        .list_posts(&ws, &Default::default(), 50, None)
        .await
        .unwrap();
    assert!(posts.items.is_empty());
    let audit = stores
        .records
        .list_audit(&ws, 50, None)
        .await
        .unwrap()
        .items;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (
            audit[0].action.as_str(),
            &audit[0].detail,
            &audit[0].account_id
        ),
        ("workspace.erased", &json!({}), &None)
    );

    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(
        t.fake.post_count(),
        0,
        "nothing scheduled by the erased workspace was published"
    );
    assert!(t.has_tokens(&other_ws, &kept).await);
    assert_eq!(
        t.delivery(&other_key, &other_post, &kept).await["status"],
        "scheduled"
    );
}

/// The audit log pages newest first with a cursor, covers connects and posts, and never shows a token.
pub async fn the_audit_log_pages_and_shows_no_token(t: &DeletionApp) {
    let (ws, key) = t.workspace("audited").await;
    let threads = t.connect(&key, PlatformKind::Threads).await.remove(0);
    for _ in 0..3 {
        t.schedule(&key, &[&threads], &in_secs(86_400), false).await;
    }
    let secret = t.access_token(&ws, &threads).await;
    let mut seen: Vec<Value> = Vec::new();
    let mut path = "/v1/audit?limit=2".to_owned();
    loop {
        let page = t.get_json(&key, &path).await;
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        seen.extend(entries.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/audit?limit=2&cursor={c}"),
            None => break,
        }
    }
    let actions: Vec<&str> = seen.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "post.created",
            "post.created",
            "post.created",
            "account.connected",
            "workspace.created"
        ],
        "newest first, nothing twice, nothing missing"
    );
    let ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
    assert_free_of(
        &serde_json::to_string(&seen).unwrap(),
        &[secret],
        "the audit log",
    );

    for (query, field) in [
        ("cursor=not%20a%20cursor%20!", "cursor"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("colour=blue", "colour"),
    ] {
        let resp = t.get(&key, &format!("/v1/audit?{query}")).await;
        assert_eq!(resp.status(), 422, "{query}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"]["field"],
            field,
            "{query}"
        );
    }
}
