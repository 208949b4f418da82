//! Approval of posts over HTTP, with members signed in by session: in a workspace that requires approval, an
//! editor's post waits as `pending_approval` and is not published when due; a client rejects it with a comment (it
//! stays held), the editor's change asks again, and approving publishes it. Owners' posts skip approval, an editor
//! cannot approve, and an editor's change to an approved post sends it back.

use std::time::Duration;

use chrono::Utc;
use postora::app::sessions::ClientInfo;
use postora::domain::{
    EmailAddress, Membership, Person, PersonId, Role, SessionToken, WorkspaceId,
};
use postora_test_support::app::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A member signed in: their session token, sent as the browser would.
pub(crate) struct Member {
    pub(crate) id: PersonId,
    pub(crate) token: SessionToken,
}

pub(crate) async fn member(t: &TestApp, ws: &WorkspaceId, name: &str, role: Role) -> Member {
    let now = Utc::now();
    let person = Person {
        id: PersonId::generate(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        name: name.to_owned(),
        email_verified_at: Some(now),
        password_hash: "not used: the session is started directly".to_owned(),
        password_changed_at: now,
        two_factor: None,
        pending_two_factor: None,
        known_devices: Vec::new(),
        created_at: now,
        version: 1,
    };
    t.app.stores.people.create_person(&person).await.unwrap();
    t.app
        .stores
        .members
        .add_membership(&Membership {
            workspace_id: ws.clone(),
            person_id: person.id.clone(),
            role,
            joined_at: now,
            version: 1,
        })
        .await
        .unwrap();
    let (token, _) = t
        .app
        .start_session(&person, &ClientInfo::default())
        .await
        .unwrap();
    Member {
        id: person.id,
        token,
    }
}

/// A request from a member's browser: the session cookie, the workspace, Postora's own origin and the CSRF token.
pub(crate) async fn send(
    t: &TestApp,
    m: &Member,
    ws: &WorkspaceId,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = t
        .http
        .request(method, t.url(path))
        .header("cookie", format!("postora_session={}", m.token.reveal()))
        .header("postora-workspace", ws.as_str())
        .header("origin", &t.base_url)
        .header("x-csrf-token", m.token.csrf_token());
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn statuses(post: &Value) -> Vec<String> {
    post["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect()
}

async fn require_approval(t: &TestApp, ws: &WorkspaceId) {
    let mut w = t
        .app
        .stores
        .workspaces
        .get_workspace(ws)
        .await
        .unwrap()
        .unwrap();
    w.settings.approval_required = true;
    t.app.stores.workspaces.update_workspace(&w).await.unwrap();
}

async fn published_texts(t: &TestApp) -> Vec<String> {
    t.sandbox_posts()
        .await
        .iter()
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editors_post_waits_for_approval_and_is_published_only_once_approved() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("agency").await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    let account = t.connect_sandbox(&key, "bakery").await;
    require_approval(&t, &ws).await;
    let editor = member(&t, &ws, "eddie", Role::Editor).await;
    let client = member(&t, &ws, "clara", Role::Client).await;

    // Created by an editor, due now: it waits.
    let (status, post) = send(
        &t,
        &editor,
        &ws,
        Method::POST,
        "/v1/posts",
        Some(json!({"text": "Sourdough is back", "targets": [{"account_id": account}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(statuses(&post), ["pending_approval"]);
    assert_eq!(post["approval"]["state"], "pending");
    assert_eq!(post["approval"]["requested_by"]["kind"], "person");
    assert_eq!(post["approval"]["requested_by"]["id"], editor.id.as_str());

    // Due, and the dispatcher runs: nothing is queued or published.
    t.app.dispatch_tick().await.unwrap();
    let (_, post) = send(
        &t,
        &client,
        &ws,
        Method::GET,
        &format!("/v1/posts/{id}"),
        None,
    )
    .await;
    assert_eq!(statuses(&post), ["pending_approval"]);
    assert!(published_texts(&t).await.is_empty());
    let (_, listed) = send(
        &t,
        &client,
        &ws,
        Method::GET,
        "/v1/posts?status=pending_approval",
        None,
    )
    .await;
    assert_eq!(listed["posts"][0]["id"], id.as_str(), "{listed}");

    // An editor cannot approve, and a rejection needs a comment.
    let (status, body) = send(
        &t,
        &editor,
        &ws,
        Method::POST,
        &format!("/v1/posts/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for comment in [json!(""), json!("x".repeat(2001))] {
        let (status, body) = send(
            &t,
            &client,
            &ws,
            Method::POST,
            &format!("/v1/posts/{id}/reject"),
            Some(json!({"comment": comment})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "comment");
    }

    // The client rejects it: it stays held, and shows why.
    let (status, post) = send(
        &t,
        &client,
        &ws,
        Method::POST,
        &format!("/v1/posts/{id}/reject"),
        Some(json!({"comment": "Say which days, please"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(post["approval"]["state"], "rejected");
    assert_eq!(post["approval"]["comment"], "Say which days, please");
    assert_eq!(post["approval"]["rejected_by"]["id"], client.id.as_str());
    assert_eq!(statuses(&post), ["pending_approval"]);
    t.app.dispatch_tick().await.unwrap();
    assert!(published_texts(&t).await.is_empty());
    let (status, body) = send(
        &t,
        &client,
        &ws,
        Method::POST,
        &format!("/v1/posts/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a rejected post is not approved until it is changed: {body}"
    );
    assert_eq!(body["error"]["code"], "not_pending_approval");

    // The editor changes it: a new request.
    let (status, post) = send(
        &t,
        &editor,
        &ws,
        Method::PATCH,
        &format!("/v1/posts/{id}"),
        Some(json!({"text": "Sourdough is back, Tuesday to Saturday"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(post["approval"]["state"], "pending");
    assert!(post["approval"].get("comment").is_none());
    assert_eq!(statuses(&post), ["pending_approval"]);

    // The client approves it: published at once, since its time has passed.
    let (status, post) = send(
        &t,
        &client,
        &ws,
        Method::POST,
        &format!("/v1/posts/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(post["approval"]["state"], "approved");
    assert_eq!(post["approval"]["approved_by"]["id"], client.id.as_str());
    let settled = t.wait_settled(&key, &id, Duration::from_secs(20)).await;
    assert_eq!(statuses(&settled), ["published"]);
    assert_eq!(
        published_texts(&t).await,
        ["Sourdough is back, Tuesday to Saturday"]
    );

    // The audit log and the events say who asked and who decided.
    let audit: Value = t
        .get(&key, "/v1/audit?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["post_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["post.approval_requested", "post.rejected", "post.approved"] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "post.approval_requested")
            .count(),
        2,
        "created and changed: {actions:?}"
    );
    let events = t.local.bus.recent(100).await.unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e.detail["post_id"] == id.as_str())
        .map(|e| e.kind.as_str())
        .collect();
    for kind in ["post.approval_requested", "post.rejected", "post.approved"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let rejected = events
        .iter()
        .find(|e| e.kind.as_str() == "post.rejected")
        .unwrap();
    assert_eq!(rejected.detail["comment"], "Say which days, please");
    assert_eq!(rejected.detail["by"], format!("person:{}", client.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn owners_skip_approval_and_an_editors_change_sends_an_approved_post_back() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("agency").await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    let account = t.connect_sandbox(&key, "florist").await;
    require_approval(&t, &ws).await;
    let editor = member(&t, &ws, "eddie", Role::Editor).await;
    let admin = member(&t, &ws, "ada", Role::Admin).await;
    let later = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();

    // The owner's key and an admin post without approval.
    let by_key = t
        .create_post(&key, &json!({"text": "from the key", "targets": [{"account_id": account}], "scheduled_at": later}))
        .await;
    assert_eq!(statuses(&by_key), ["scheduled"]);
    assert!(by_key.get("approval").is_none(), "{by_key}");
    let (status, by_admin) = send(
        &t,
        &admin,
        &ws,
        Method::POST,
        "/v1/posts",
        Some(json!({"text": "from the admin", "targets": [{"account_id": account}], "scheduled_at": later})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{by_admin}");
    assert_eq!(statuses(&by_admin), ["scheduled"]);

    // An owner cannot approve a post that never waited.
    let resp = t
        .post_json(
            &key,
            &format!("/v1/posts/{}/approve", by_key["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // An editor's post, approved by the owner's API key, is scheduled for its time.
    let (_, post) = send(
        &t,
        &editor,
        &ws,
        Method::POST,
        "/v1/posts",
        Some(
            json!({"text": "Tulips", "targets": [{"account_id": account}], "scheduled_at": later}),
        ),
    )
    .await;
    let id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(statuses(&post), ["pending_approval"]);
    let resp = t
        .post_json(&key, &format!("/v1/posts/{id}/approve"), &json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let post: Value = resp.json().await.unwrap();
    assert_eq!(statuses(&post), ["scheduled"]);
    assert_eq!(post["approval"]["approved_by"]["kind"], "api_key");

    // An admin's change keeps it approved; the editor's sends it back.
    let (_, post) = send(
        &t,
        &admin,
        &ws,
        Method::PATCH,
        &format!("/v1/posts/{id}"),
        Some(json!({"text": "Tulips!"})),
    )
    .await;
    assert_eq!(post["approval"]["state"], "approved", "{post}");
    assert_eq!(statuses(&post), ["scheduled"]);
    let (status, post) = send(
        &t,
        &editor,
        &ws,
        Method::PATCH,
        &format!("/v1/posts/{id}"),
        Some(json!({"text": "Tulips and roses"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(post["approval"]["state"], "pending");
    assert_eq!(statuses(&post), ["pending_approval"]);

    // Held deliveries are canceled with the post.
    let (status, post) = send(
        &t,
        &admin,
        &ws,
        Method::DELETE,
        &format!("/v1/posts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(statuses(&post), ["canceled"]);
}
