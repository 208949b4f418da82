//! Connecting an account is bound to the person who started it: the callback completes only with the session that
//! started the consent. The same consent completed with no session, with another member's session, with an API key,
//! or after the starter signed out connects nothing; in the starter's own browser it connects.

use postora::domain::{Role, WorkspaceId};
use postora_test_support::app::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::approval::{member, send, Member};

/// Starts connecting a sandbox account as `m`, and consents on the sandbox as `user`: the callback URL the platform
/// sends the browser back to.
async fn consent_as(t: &TestApp, m: &Member, ws: &WorkspaceId, user: &str) -> String {
    let (status, start) = send(t, m, ws, Method::POST, "/v1/accounts/connect/sandbox", None).await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let authorize = format!("{}&user={user}", start["authorize_url"].as_str().unwrap());
    let consent = t.http.get(authorize).send().await.unwrap();
    assert_eq!(consent.status(), 303, "the sandbox approves and redirects");
    consent.headers()["location"].to_str().unwrap().to_owned()
}

async fn connected(t: &TestApp, key: &str) -> Vec<String> {
    let accounts: Value = t.get(key, "/v1/accounts").await.json().await.unwrap();
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["platform_user_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn refused(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = resp.text().await.unwrap();
    assert!(page.contains("started by someone else"), "{page}");
}

fn cookie(m: &Member) -> String {
    format!("postora_session={}", m.token.reveal())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consent_completes_only_in_the_session_that_started_it() {
    let t = spawn_app().await;
    let (ws, key) = t.workspace("bound").await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    let ada = member(&t, &ws, "ada", Role::Admin).await;
    let bob = member(&t, &ws, "bob", Role::Admin).await;

    // Completed with no session at all.
    let callback = consent_as(&t, &ada, &ws, "alice").await;
    refused(t.http.get(&callback).send().await.unwrap()).await;

    // Completed in another member's browser.
    let callback = consent_as(&t, &ada, &ws, "alice").await;
    refused(
        t.http
            .get(&callback)
            .header("cookie", cookie(&bob))
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Completed with the workspace's API key.
    let callback = consent_as(&t, &ada, &ws, "alice").await;
    refused(
        t.http
            .get(&callback)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Completed with the starter's session after it ended.
    let callback = consent_as(&t, &ada, &ws, "alice").await;
    t.app
        .stores
        .people
        .delete_session(&ada.id, &ada.token.hash())
        .await
        .unwrap();
    refused(
        t.http
            .get(&callback)
            .header("cookie", cookie(&ada))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        connected(&t, &key).await.is_empty(),
        "nothing was connected"
    );

    // The starter's own browser connects, once.
    let ada = member(&t, &ws, "ada2", Role::Admin).await;
    let callback = consent_as(&t, &ada, &ws, "alice").await;
    let resp = t
        .http
        .get(&callback)
        .header("cookie", cookie(&ada))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(connected(&t, &key).await, ["sbx-alice"]);
    let again = t
        .http
        .get(&callback)
        .header("cookie", cookie(&ada))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a state is used once"
    );
}
