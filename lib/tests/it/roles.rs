//! Roles over real HTTP on the local backend: every `/v1` route in the access table, called by each role as a
//! signed-in member and as an API key, is refused with 403 exactly when the role may not call it; the table covers
//! every route; `docs/roles.md` is the table; a session and a key are never taken for each other; API keys carry a
//! role no caller can raise above their own.

use std::collections::BTreeSet;

use postora::domain::{
    Action, EmailAddress, Membership, Person, PersonId, Role, SessionToken, WorkspaceId,
};
use postora::http::access::{self, Access, ROUTES};
use postora_test_support::app::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A person who verified their address, stored directly (signing up is another subject's).
pub async fn person(t: &TestApp, email: &str, name: &str) -> Person {
    let now = chrono::Utc::now();
    let person = Person {
        id: PersonId::generate(),
        email: EmailAddress::parse(email).unwrap(),
        name: name.to_owned(),
        email_verified_at: Some(now),
        password_hash: "$argon2id$not-used-here".to_owned(),
        password_changed_at: now,
        two_factor: None,
        pending_two_factor: None,
        known_devices: vec![],
        created_at: now,
        version: 1,
    };
    t.app.stores.people.create_person(&person).await.unwrap();
    person
}

pub async fn join(t: &TestApp, ws: &str, person: &Person, role: Role) {
    t.app
        .stores
        .members
        .add_membership(&Membership {
            workspace_id: WorkspaceId::parse(ws).unwrap(),
            person_id: person.id.clone(),
            role,
            joined_at: chrono::Utc::now(),
            version: 1,
        })
        .await
        .unwrap();
}

/// A browser signed in as `person`: its session token, sent as the cookie with the CSRF headers.
pub struct Browser {
    pub token: SessionToken,
}

pub async fn sign_in(t: &TestApp, person: &Person) -> Browser {
    let (token, _) = t
        .app
        .start_session(person, &Default::default())
        .await
        .unwrap();
    Browser { token }
}

impl Browser {
    /// A request with the cookie, `Origin` and `X-CSRF-Token`, acting in `ws` when given.
    pub fn request(
        &self,
        t: &TestApp,
        method: Method,
        path: &str,
        ws: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut r = t
            .http
            .request(method, t.url(path))
            .header("cookie", format!("postora_session={}", self.token.reveal()))
            .header("origin", &t.base_url)
            .header("x-csrf-token", self.token.csrf_token());
        if let Some(ws) = ws {
            r = r.header("postora-workspace", ws);
        }
        r
    }
}

async fn key_of(t: &TestApp, ws: &str, role: Role) -> String {
    let (_, key) = t
        .app
        .add_api_key(&WorkspaceId::parse(ws).unwrap(), None, role)
        .await
        .unwrap();
    key.reveal().to_owned()
}

async fn error_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A concrete path for a route's pattern: every parameter an id that names nothing (so a permitted call changes
/// nothing), and a platform that exists.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{platform}" => "sandbox",
            s if s.starts_with('{') => "nothing",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_refuses_exactly_the_roles_that_may_not_call_it_as_member_and_as_key() {
    let t = spawn_app().await;
    let (ws, _) = t.workspace("walk").await;
    let mut callers = Vec::new();
    for role in Role::ALL {
        let p = person(&t, &format!("{role}@walk.example"), role.as_str()).await;
        join(&t, &ws, &p, role).await;
        let browser = sign_in(&t, &p).await;
        let key = key_of(&t, &ws, role).await;
        callers.push((role, p, browser, key));
    }
    let mut checked = 0;
    for (method, pattern, access) in ROUTES {
        let Access::Member(action) = access else {
            continue;
        };
        let path = concrete(pattern);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for (role, p, browser, key) in &callers {
            let by_session = browser
                .request(&t, method.clone(), &path, Some(&ws))
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap();
            let by_key = t
                .http
                .request(method.clone(), t.url(&path))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap();
            for (how, resp) in [("session", by_session), ("key", by_key)] {
                let (status, body) = error_of(resp).await;
                if role.may(*action) {
                    assert_ne!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{method} {pattern} as {role} by {how} may be called: {body}"
                    );
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{method} {pattern} as {role} by {how} must be refused: {body}"
                    );
                    assert_eq!(body["error"]["code"], "forbidden", "{body}");
                    let message = body["error"]["message"].as_str().unwrap();
                    assert!(
                        message.contains(role.as_str()) && message.contains(action.describe()),
                        "{message}"
                    );
                }
                checked += 1;
            }
            // A member who left (a permitted call) joins again, so the walk goes on with the same people.
            let wsid = WorkspaceId::parse(&ws).unwrap();
            if t.app
                .stores
                .members
                .get_membership(&wsid, &p.id)
                .await
                .unwrap()
                .is_none()
            {
                join(&t, &ws, p, *role).await;
            }
        }
    }
    assert!(checked >= 300, "{checked}");
}

/// The `/v1` paths the router's sources name in `.route(…)` calls.
fn routed_paths() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, _) in source.match_indices(".route(") {
            let rest = source[i + ".route(".len()..].trim_start();
            if let Some(lit) = rest.strip_prefix('"') {
                let path = &lit[..lit.find('"').unwrap()];
                if path.starts_with("/v1") {
                    out.insert(path.to_owned());
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_table_holds_every_route_of_the_api_and_nothing_else() {
    let t = spawn_app().await;
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    // Every operation the API documents under /v1.
    let doc: Value = t
        .http
        .get(t.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in lib/src/http/access.rs: {missing:?}"
    );
    // Every path the router's sources route.
    let table_paths: BTreeSet<String> = table.iter().map(|(_, p)| p.clone()).collect();
    let unrouted: Vec<_> = routed_paths().difference(&table_paths).cloned().collect();
    assert!(
        unrouted.is_empty(),
        "routes without a row in lib/src/http/access.rs: {unrouted:?}"
    );
    // Every row is a route the router serves: without credentials it asks for them, never the router's 404 or 405.
    for (method, pattern, access) in ROUTES {
        let resp = t
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                t.url(&concrete(pattern)),
            )
            .send()
            .await
            .unwrap();
        let expected = match access {
            Access::Public => continue,
            Access::Member(_) | Access::Person => StatusCode::UNAUTHORIZED,
        };
        assert_eq!(resp.status(), expected, "{method} {pattern}");
    }
}

#[tokio::test]
async fn the_roles_page_is_generated_from_the_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/roles.md");
    let generated = access::document();
    if std::env::var_os("POSTORA_WRITE_ROLES_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/roles.md is not what lib/src/http/access.rs generates: regenerate it with\n  \
         POSTORA_WRITE_ROLES_DOC=1 cargo test -p postora --test it roles::the_roles_page_is_generated_from_the_table"
    );
}

#[tokio::test]
async fn a_session_and_a_key_are_never_taken_for_each_other() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("creds").await;
    let ann = person(&t, "ann@creds.example", "Ann").await;
    join(&t, &ws, &ann, Role::Owner).await;
    let browser = sign_in(&t, &ann).await;

    // Both at once: 400.
    let resp = browser
        .request(&t, Method::GET, "/v1/posts", Some(&ws))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "ambiguous_credentials");

    // A session token sent as a key: 401.
    let resp = t
        .http
        .get(t.url("/v1/posts"))
        .bearer_auth(browser.token.reveal())
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_token_as_key");
    assert!(!body.to_string().contains(browser.token.reveal()));

    // A key on a person's own route: 401.
    let resp = t
        .http
        .get(t.url("/v1/workspaces"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_required");

    // A key where only a person may act (leaving, inviting): 401.
    let resp = t.post_json(&key, "/v1/workspace/leave", &json!({})).await;
    assert_eq!(error_of(resp).await.1["error"]["code"], "session_required");

    // A cookie request that changes something, without Postora's Origin, or without the CSRF token: 403, and nothing
    // changes.
    let cookie = format!("postora_session={}", browser.token.reveal());
    let patch = |origin: Option<&str>, csrf: Option<String>| {
        let mut r = t
            .http
            .patch(t.url("/v1/workspace"))
            .header("cookie", &cookie)
            .header("postora-workspace", &ws)
            .json(&json!({"name": "hijacked"}));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r
    };
    let (status, body) = error_of(
        patch(None, Some(browser.token.csrf_token()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "cross_site_request");
    let (status, body) = error_of(
        patch(
            Some("https://evil.example"),
            Some(browser.token.csrf_token()),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "cross_site_request");
    let (status, body) = error_of(patch(Some(&t.base_url), None).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "csrf_token_invalid");
    let (status, _) = error_of(
        patch(Some(&t.base_url), Some("0".repeat(64)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let name = t
        .get(&key, "/v1/workspace")
        .await
        .json::<Value>()
        .await
        .unwrap()["name"]
        .clone();
    assert_eq!(name, "creds");
    // With both, it goes through.
    let resp = patch(Some(&t.base_url), Some(browser.token.csrf_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // A session without the workspace header, or for a workspace the person is not in: refused.
    let resp = browser
        .request(&t, Method::GET, "/v1/posts", None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(resp).await.1["error"]["code"],
        "workspace_required"
    );
    let (other, _) = t.workspace("other").await;
    let resp = browser
        .request(&t, Method::GET, "/v1/posts", Some(&other))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "not_a_member");
}

#[tokio::test]
async fn api_keys_carry_a_role_no_higher_than_their_makers() {
    let t = spawn_app().await;
    let (ws, owner_key) = t.workspace("keys").await;

    // Without a role a key is an editor's; the listing shows each key's role; the first key is an owner's.
    let resp = t
        .post_json(&owner_key, "/v1/api-keys", &json!({"label": "poster"}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["role"], "editor");
    let editor_key = created["api_key"].as_str().unwrap().to_owned();
    let listed: Value = t
        .get(&owner_key, "/v1/api-keys")
        .await
        .json()
        .await
        .unwrap();
    let roles: Vec<&str> = listed["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["owner", "editor"]);

    // An editor's key posts but manages no keys.
    assert_eq!(
        t.get(&editor_key, "/v1/posts").await.status(),
        StatusCode::OK
    );
    let (status, body) = error_of(
        t.post_json(&editor_key, "/v1/api-keys", &json!({"role": "viewer"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");

    // An admin's key makes admin, editor, viewer and client keys, but no owner's, and revokes no owner's key.
    let created: Value = t
        .post_json(&owner_key, "/v1/api-keys", &json!({"role": "admin"}))
        .await
        .json()
        .await
        .unwrap();
    let admin_key = created["api_key"].as_str().unwrap().to_owned();
    for role in ["admin", "editor", "viewer", "client"] {
        let resp = t
            .post_json(&admin_key, "/v1/api-keys", &json!({"role": role}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{role}");
        assert_eq!(resp.json::<Value>().await.unwrap()["role"], role);
    }
    let before = t
        .get(&owner_key, "/v1/api-keys")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let (status, body) = error_of(
        t.post_json(&admin_key, "/v1/api-keys", &json!({"role": "owner"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "role_not_grantable");
    assert!(body["error"]["message"].as_str().unwrap().contains("owner"));
    let owner_id = before["api_keys"][0]["id"].as_str().unwrap();
    let (status, body) = error_of(
        t.delete(&admin_key, &format!("/v1/api-keys/{owner_id}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "role_not_grantable");
    let after = t
        .get(&owner_key, "/v1/api-keys")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(before, after, "a refused key is neither made nor revoked");

    // An unknown role names the field.
    let resp = t
        .post_json(&owner_key, "/v1/api-keys", &json!({"role": "superuser"}))
        .await;
    assert!(resp.status().is_client_error());
    assert_ne!(resp.status(), StatusCode::FORBIDDEN);

    // A person's key is made in their own role at most: a signed-in admin makes no owner key either.
    let amy = person(&t, "amy@keys.example", "Amy").await;
    join(&t, &ws, &amy, Role::Admin).await;
    let browser = sign_in(&t, &amy).await;
    let resp = browser
        .request(&t, Method::POST, "/v1/api-keys", Some(&ws))
        .json(&json!({"role": "owner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(resp).await.1["error"]["code"],
        "role_not_grantable"
    );
    let resp = browser
        .request(&t, Method::POST, "/v1/api-keys", Some(&ws))
        .json(&json!({"role": "viewer", "label": "dashboard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // The audit log says who made each key.
    let audit: Value = t.get(&owner_key, "/v1/audit").await.json().await.unwrap();
    let made: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.created")
        .collect();
    assert!(
        made.iter().any(|e| e["actor"]["person"] == amy.id.as_str()),
        "{audit}"
    );
    assert!(
        made.iter().any(|e| e["actor"]["key"].is_string()),
        "{audit}"
    );
}

#[test]
fn the_table_names_an_action_for_every_workspace_route() {
    // The owner may call every workspace route: a route only a role outside the table could call would be useless.
    for (_, _, access) in ROUTES {
        if let Access::Member(action) = access {
            assert!(Role::Owner.may(*action));
        }
    }
    assert!(ROUTES
        .iter()
        .any(|(_, _, a)| *a == Access::Member(Action::TransferOwnership)));
}

#[tokio::test]
async fn the_audit_log_says_who_disconnected_an_account() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("audit").await;
    let account = t.connect_sandbox(&key, "alice").await;
    let ann = person(&t, "ann@audit.example", "Ann").await;
    join(&t, &ws, &ann, Role::Admin).await;
    let browser = sign_in(&t, &ann).await;
    let resp = browser
        .request(
            &t,
            Method::DELETE,
            &format!("/v1/accounts/{account}"),
            Some(&ws),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let audit: Value = t.get(&key, "/v1/audit").await.json().await.unwrap();
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account.disconnected")
        .unwrap();
    assert_eq!(entry["actor"]["person"], ann.id.as_str(), "{entry}");
}
