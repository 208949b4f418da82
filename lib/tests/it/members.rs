//! Workspaces shared by people, over real HTTP on the local backend: a person's workspaces and settings, members and
//! their roles, the last owner, transferring ownership, and invitations mailed (to the outbox), accepted once, by the
//! address invited.

use postora::domain::{Person, Role};
use postora_test_support::app::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::roles::{join, person, sign_in, Browser};

async fn call(
    t: &TestApp,
    who: &Browser,
    method: Method,
    path: &str,
    ws: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = who.request(t, method, path, ws);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The token of the newest invitation mailed to `to`, read from the outbox.
fn invitation_token(t: &TestApp, to: &str) -> String {
    invitation_mail(t, to).0
}

/// The token and the text of the newest invitation mailed to `to`.
fn invitation_mail(t: &TestApp, to: &str) -> (String, String) {
    let dir = t.data_dir.path().join("outbox");
    let mut mails: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    mails.sort();
    for mail in mails.iter().rev() {
        let text = std::fs::read_to_string(mail).unwrap();
        if text.starts_with(&format!("To: {to}\n")) {
            let at = text.find("/invitations/accept?token=").unwrap();
            let rest = &text[at + "/invitations/accept?token=".len()..];
            let token = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            return (token, text);
        }
    }
    panic!("no invitation mailed to {to}");
}

async fn owner_of_new_workspace(t: &TestApp, email: &str) -> (Person, Browser, String) {
    let p = person(t, email, "Olive").await;
    let b = sign_in(t, &p).await;
    let (status, created) = call(
        t,
        &b,
        Method::POST,
        "/v1/workspaces",
        None,
        Some(json!({"name": "Agency"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["role"], "owner");
    let ws = created["id"].as_str().unwrap().to_owned();
    (p, b, ws)
}

#[tokio::test]
async fn a_person_creates_workspaces_lists_them_and_owners_set_them_up() {
    let t = spawn_app().await;
    let (_, olive, ws) = owner_of_new_workspace(&t, "olive@agency.example").await;
    let (status, listed) = call(&t, &olive, Method::GET, "/v1/workspaces", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["workspaces"][0]["id"], ws.as_str());
    assert_eq!(listed["workspaces"][0]["name"], "Agency");
    assert_eq!(listed["workspaces"][0]["role"], "owner");

    // Settings: a time zone must be an IANA name; a bad patch changes nothing.
    let (status, body) = call(
        &t,
        &olive,
        Method::PATCH,
        "/v1/workspace",
        Some(&ws),
        Some(json!({"time_zone": "Mars/Olympus", "approval_required": true})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "time_zone");
    let (_, now) = call(&t, &olive, Method::GET, "/v1/workspace", Some(&ws), None).await;
    assert_eq!(now["settings"]["time_zone"], "UTC");
    assert_eq!(now["settings"]["approval_required"], false);
    let (status, body) = call(
        &t,
        &olive,
        Method::PATCH,
        "/v1/workspace",
        Some(&ws),
        Some(
            json!({"name": "Agency & Co", "time_zone": "Europe/Paris", "approval_required": true}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Agency & Co");
    assert_eq!(body["settings"]["time_zone"], "Europe/Paris");
    assert_eq!(body["settings"]["approval_required"], true);
    assert_eq!(body["settings"]["two_factor_required"], false);

    // A client sees the settings (the calendar's time zone) in their own role, and changes nothing.
    let carl = person(&t, "carl@client.example", "Carl").await;
    join(&t, &ws, &carl, Role::Client).await;
    let carl = sign_in(&t, &carl).await;
    let (status, seen) = call(&t, &carl, Method::GET, "/v1/workspace", Some(&ws), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["role"], "client");
    assert_eq!(seen["settings"]["time_zone"], "Europe/Paris");
    let (status, _) = call(
        &t,
        &carl,
        Method::PATCH,
        "/v1/workspace",
        Some(&ws),
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An unverified person creates no workspace.
    let mut new = person(&t, "new@agency.example", "New").await;
    new.email_verified_at = None;
    new.version = 2;
    t.app.stores.people.update_person(&new, 1).await.unwrap();
    let new = sign_in(&t, &new).await;
    let (status, body) = call(
        &t,
        &new,
        Method::POST,
        "/v1/workspaces",
        None,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "email_not_verified");

    // The audit log says who changed the settings.
    let (_, audit) = call(&t, &olive, Method::GET, "/v1/audit", Some(&ws), None).await;
    let updated = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "workspace.updated")
        .unwrap();
    assert!(updated["actor"]["person"].is_string(), "{updated}");
}

#[tokio::test]
async fn members_are_listed_changed_and_removed_and_the_last_owner_stays() {
    let t = spawn_app().await;
    let (olive_p, olive, ws) = owner_of_new_workspace(&t, "olive@members.example").await;
    let adam_p = person(&t, "adam@members.example", "Adam").await;
    join(&t, &ws, &adam_p, Role::Admin).await;
    let adam = sign_in(&t, &adam_p).await;
    let eve_p = person(&t, "eve@members.example", "Eve").await;
    join(&t, &ws, &eve_p, Role::Editor).await;
    let eve = sign_in(&t, &eve_p).await;

    // Listed with names and addresses, oldest first.
    let (status, list) = call(&t, &eve, Method::GET, "/v1/members", Some(&ws), None).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<(String, String, String)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "Olive".into(),
                "olive@members.example".into(),
                "owner".into()
            ),
            ("Adam".into(), "adam@members.example".into(), "admin".into()),
            ("Eve".into(), "eve@members.example".into(), "editor".into()),
        ]
    );

    // An admin does not touch an owner, nor makes one.
    let olive_path = format!("/v1/members/{}", olive_p.id);
    let eve_path = format!("/v1/members/{}", eve_p.id);
    let (status, body) = call(
        &t,
        &adam,
        Method::PATCH,
        &olive_path,
        Some(&ws),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "owner_untouchable");
    let (status, body) = call(&t, &adam, Method::DELETE, &olive_path, Some(&ws), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "owner_untouchable");
    let (status, body) = call(
        &t,
        &adam,
        Method::PATCH,
        &eve_path,
        Some(&ws),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "role_not_grantable");
    // An editor changes nobody.
    let (status, body) = call(
        &t,
        &eve,
        Method::PATCH,
        &eve_path,
        Some(&ws),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    // An admin makes the editor a client.
    let (status, body) = call(
        &t,
        &adam,
        Method::PATCH,
        &eve_path,
        Some(&ws),
        Some(json!({"role": "client"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "client");
    let (status, _) = call(&t, &eve, Method::GET, "/v1/members", Some(&ws), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a client does not list members"
    );
    // An unknown member: 404 naming the field.
    let (status, body) = call(
        &t,
        &adam,
        Method::DELETE,
        "/v1/members/per_nobody",
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["field"], "person_id");

    // The last owner cannot be demoted, removed, or leave.
    let (status, body) = call(
        &t,
        &olive,
        Method::PATCH,
        &olive_path,
        Some(&ws),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "last_owner");
    let (status, body) = call(&t, &olive, Method::DELETE, &olive_path, Some(&ws), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "last_owner");
    let (status, body) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/workspace/leave",
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "last_owner");

    // Only an owner transfers; to a member only; afterwards the old owner is an admin and may leave.
    let transfer = json!({"person_id": adam_p.id});
    let (status, _) = call(
        &t,
        &adam,
        Method::POST,
        "/v1/workspace/transfer",
        Some(&ws),
        Some(transfer.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/workspace/transfer",
        Some(&ws),
        Some(json!({"person_id": "per_nobody"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "person_id");
    let (status, body) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/workspace/transfer",
        Some(&ws),
        Some(transfer),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["owner"]["person_id"], adam_p.id.as_str());
    assert_eq!(body["owner"]["role"], "owner");
    assert_eq!(body["previous_owner"]["role"], "admin");
    let (_, me) = call(&t, &olive, Method::GET, "/v1/workspace", Some(&ws), None).await;
    assert_eq!(me["role"], "admin");
    // Now an admin, Olive cannot touch the new owner.
    let adam_path = format!("/v1/members/{}", adam_p.id);
    let (status, _) = call(&t, &olive, Method::DELETE, &adam_path, Some(&ws), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/workspace/leave",
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&t, &olive, Method::GET, "/v1/workspace", Some(&ws), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "not_a_member");
    // The owner removes the client.
    let (status, _) = call(&t, &adam, Method::DELETE, &eve_path, Some(&ws), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = call(&t, &adam, Method::GET, "/v1/members", Some(&ws), None).await;
    assert_eq!(list["members"].as_array().unwrap().len(), 1);

    // Each change is in the audit log, with who made it.
    let (_, audit) = call(&t, &adam, Method::GET, "/v1/audit", Some(&ws), None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "member.role_changed",
        "workspace.ownership_transferred",
        "member.left",
        "member.removed",
    ] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"].is_object() || e["action"] == "workspace.created"));
}

#[tokio::test]
async fn an_invitation_is_accepted_once_by_the_address_invited() {
    let t = spawn_app().await;
    let (_, olive, ws) = owner_of_new_workspace(&t, "olive@invite.example").await;
    let adam_p = person(&t, "adam@invite.example", "Adam").await;
    join(&t, &ws, &adam_p, Role::Admin).await;
    let adam = sign_in(&t, &adam_p).await;

    // An admin invites to no role above their own; a bad address names the field; nothing is sent or kept.
    let (status, body) = call(
        &t,
        &adam,
        Method::POST,
        "/v1/invitations",
        Some(&ws),
        Some(json!({"email": "boss@invite.example", "role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "role_not_grantable");
    assert!(body["error"]["message"].as_str().unwrap().contains("owner"));
    let (status, body) = call(
        &t,
        &adam,
        Method::POST,
        "/v1/invitations",
        Some(&ws),
        Some(json!({"email": "not an address", "role": "editor"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "email");
    let (_, open) = call(&t, &adam, Method::GET, "/v1/invitations", Some(&ws), None).await;
    assert_eq!(open["invitations"].as_array().unwrap().len(), 0);

    // The admin invites a client; the mail holds the link; the listing never does.
    let (status, invited) = call(
        &t,
        &adam,
        Method::POST,
        "/v1/invitations",
        Some(&ws),
        Some(json!({"email": "Carla@Client.example", "role": "client"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited["role"], "client");
    let (token, mail) = invitation_mail(&t, "Carla@client.example");
    assert_eq!(token.len(), 64);
    assert!(
        mail.contains("Adam") && mail.contains("Agency") && mail.contains("client"),
        "the mail names the inviter, the workspace and the role"
    );
    let (_, open) = call(&t, &olive, Method::GET, "/v1/invitations", Some(&ws), None).await;
    assert_eq!(open["invitations"].as_array().unwrap().len(), 1);
    assert!(!open.to_string().contains(&token));

    // Someone else, signed in with another address, cannot use it; a forged token is refused.
    let mallory = person(&t, "mallory@else.example", "Mallory").await;
    let mallory = sign_in(&t, &mallory).await;
    let accept = |token: &str| json!({ "token": token });
    let (status, body) = call(
        &t,
        &mallory,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "invitation_for_another_address");
    let (status, body) = call(
        &t,
        &mallory,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&"0".repeat(64))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "token");

    // A second invitation to the same person, sent before she joins.
    call(
        &t,
        &olive,
        Method::POST,
        "/v1/invitations",
        Some(&ws),
        Some(json!({"email": "carla@client.example", "role": "viewer"})),
    )
    .await;
    let again = invitation_token(&t, "carla@client.example");

    // The invited person must have verified their address first.
    let mut carla_p = person(&t, "carla@client.example", "Carla").await;
    carla_p.email_verified_at = None;
    carla_p.version = 2;
    t.app
        .stores
        .people
        .update_person(&carla_p, 1)
        .await
        .unwrap();
    let carla = sign_in(&t, &carla_p).await;
    let (status, body) = call(
        &t,
        &carla,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "email_not_verified");

    // Verified, the invited person (the address compared case folded) joins as a client, once.
    carla_p.email_verified_at = Some(chrono::Utc::now());
    carla_p.version = 3;
    t.app
        .stores
        .people
        .update_person(&carla_p, 2)
        .await
        .unwrap();
    let carla = sign_in(&t, &carla_p).await;
    let (status, body) = call(
        &t,
        &carla,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "client");
    assert_eq!(body["workspace_id"], ws.as_str());
    let (status, _) = call(&t, &carla, Method::GET, "/v1/posts", Some(&ws), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &t,
        &carla,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "single use");
    assert_eq!(body["error"]["field"], "token");

    // Inviting a member again is a conflict, whatever the case of the address.
    let (status, body) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/invitations",
        Some(&ws),
        Some(json!({"email": "CARLA@client.example", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "already_a_member");

    // Accepting an invitation sent before she joined: joining twice is a conflict.
    let (status, body) = call(
        &t,
        &carla,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&again)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "already_a_member");

    // A withdrawn invitation's link stops working.
    let (_, inv) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/invitations",
        Some(&ws),
        Some(json!({"email": "vic@viewer.example", "role": "viewer"})),
    )
    .await;
    let withdrawn = invitation_token(&t, "vic@viewer.example");
    let id = inv["id"].as_str().unwrap();
    let (status, _) = call(
        &t,
        &olive,
        Method::DELETE,
        &format!("/v1/invitations/{id}"),
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &t,
        &olive,
        Method::DELETE,
        &format!("/v1/invitations/{id}"),
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let vic = person(&t, "vic@viewer.example", "Vic").await;
    let vic = sign_in(&t, &vic).await;
    let (status, _) = call(
        &t,
        &vic,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&withdrawn)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // An expired invitation is refused like a used one, and joins nobody.
    let now = chrono::Utc::now();
    t.app
        .stores
        .members
        .put_invitation(&postora::domain::Invitation {
            id: postora::domain::InvitationId::generate(),
            token_hash: postora::domain::people::hash_token(&"e".repeat(64)),
            workspace_id: postora::domain::WorkspaceId::parse(&ws).unwrap(),
            email: postora::domain::EmailAddress::parse("vic@viewer.example").unwrap(),
            role: Role::Viewer,
            invited_by: carla_p.id.clone(),
            created_at: now - chrono::Duration::days(8),
            expires_at: now - chrono::Duration::days(1),
        })
        .await
        .unwrap();
    let (status, body) = call(
        &t,
        &vic,
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(accept(&"e".repeat(64))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "token");
    let (status, _) = call(&t, &vic, Method::GET, "/v1/posts", Some(&ws), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The audit log says who invited and who joined, and never holds a link's token.
    let (_, audit) = call(&t, &olive, Method::GET, "/v1/audit", Some(&ws), None).await;
    let joined = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.joined")
        .unwrap();
    assert_eq!(joined["actor"]["person"], carla_p.id.as_str());
    let created = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "invitation.created")
        .count();
    assert_eq!(created, 3);
    assert!(!audit.to_string().contains(&token));

    // Joining is an event too.
    let events = t.local.bus.recent(100).await.unwrap();
    let joined: Vec<_> = events
        .iter()
        .filter(|e| e.kind == postora::domain::EventKind::MemberJoined)
        .collect();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].detail["person_id"], carla_p.id.as_str());
    assert_eq!(joined[0].detail["role"], "client");
}

#[tokio::test]
async fn with_two_owners_one_may_step_down_and_the_other_then_stays() {
    let t = spawn_app().await;
    let (olive_p, olive, ws) = owner_of_new_workspace(&t, "olive@two.example").await;
    let otto_p = person(&t, "otto@two.example", "Otto").await;
    join(&t, &ws, &otto_p, Role::Admin).await;
    let otto = sign_in(&t, &otto_p).await;
    // An owner makes another owner.
    let otto_path = format!("/v1/members/{}", otto_p.id);
    let (status, body) = call(
        &t,
        &olive,
        Method::PATCH,
        &otto_path,
        Some(&ws),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Otto demotes Olive to editor: there is still an owner.
    let olive_path = format!("/v1/members/{}", olive_p.id);
    let (status, body) = call(
        &t,
        &otto,
        Method::PATCH,
        &olive_path,
        Some(&ws),
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Make her owner again, and she leaves; Otto, the last owner, cannot.
    call(
        &t,
        &otto,
        Method::PATCH,
        &olive_path,
        Some(&ws),
        Some(json!({"role": "owner"})),
    )
    .await;
    let (status, body) = call(
        &t,
        &olive,
        Method::POST,
        "/v1/workspace/leave",
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "owner");
    let (status, body) = call(
        &t,
        &otto,
        Method::POST,
        "/v1/workspace/leave",
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "last_owner");
    let (_, list) = call(&t, &otto, Method::GET, "/v1/members", Some(&ws), None).await;
    let roles: Vec<&str> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["owner"]);

    // Each change was an event: two role changes (Otto up, Olive down), Olive back up, and her leaving.
    let events = t.local.bus.recent(100).await.unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| k.starts_with("member."))
        .collect();
    assert_eq!(
        kinds,
        vec![
            "member.role_changed",
            "member.role_changed",
            "member.role_changed",
            "member.removed"
        ]
    );
    assert_eq!(events.last().unwrap().detail["left"], true);
}
