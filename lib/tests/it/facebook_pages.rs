//! Connecting Facebook Pages through Postora's own API: the person chooses which of their Pages to connect, and each
//! chosen Page becomes an account with its own Page token.

use std::time::Duration;

use postora_test_support::fakes::meta::{FakeMeta, FACEBOOK_APP, FB_USER, PAGE_BAKERY, PAGE_BOOKS};
use serde_json::{json, Value};

async fn spawn_with_facebook(fake: &FakeMeta) -> postora_test_support::app::TestApp {
    let origin = fake.origin().as_str().trim_end_matches('/').to_owned();
    postora_test_support::app::spawn_app_with(&[
        ("POSTORA_FACEBOOK_CLIENT_ID", FACEBOOK_APP.0),
        ("POSTORA_FACEBOOK_CLIENT_SECRET", FACEBOOK_APP.1),
        ("POSTORA_FACEBOOK_AUTH_URL", &origin),
        ("POSTORA_FACEBOOK_API_URL", &origin),
    ])
    .await
}

/// Starts a Facebook connect and follows the consent back to Postora; returns the choice page's HTML.
async fn consent(t: &postora_test_support::app::TestApp, key: &str, fake: &FakeMeta) -> String {
    let start: Value = t
        .post_json(key, "/v1/accounts/connect/facebook", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let authorize = url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    let back = fake.consent(&authorize).await;
    let page = t.http.get(back.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

fn choice_token(html: &str) -> String {
    let at = html
        .find("name=\"choice\" value=\"")
        .expect("the page carries a choice token")
        + 21;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_person_chooses_which_pages_to_connect_and_each_publishes_with_its_own_token() {
    let fake = FakeMeta::start().await;
    let t = spawn_with_facebook(&fake).await;
    let (_, key) = t.workspace("shop").await;
    let html = consent(&t, &key, &fake).await;
    assert!(
        html.contains("Choose what Postora may publish to"),
        "{html}"
    );
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    assert_eq!(
        accounts["accounts"],
        json!([]),
        "nothing is stored before the person chooses"
    );

    // Find which option is the bakery page, and choose only it.
    let options: Vec<&str> = html.split("name=\"account\" value=\"").skip(1).collect();
    assert_eq!(
        options.len(),
        2,
        "the two Pages the person may post on are offered: {html}"
    );
    let token = choice_token(&html);
    let chosen = t
        .http
        .post(t.url("/oauth/facebook/choose"))
        .form(&[("choice", token.as_str()), ("account", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 200, "{}", chosen.text().await.unwrap());
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    let listed = accounts["accounts"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "only the chosen Page is connected");
    let page_id = listed[0]["platform_user_id"].as_str().unwrap().to_owned();
    assert!(page_id == PAGE_BAKERY || page_id == PAGE_BOOKS);

    // The choice is used once.
    let again = t
        .http
        .post(t.url("/oauth/facebook/choose"))
        .form(&[("choice", token.as_str()), ("account", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 1);

    // The Page publishes as itself.
    let account = listed[0]["id"].as_str().unwrap();
    let created = t
        .create_post(
            &key,
            &json!({"text": "Open on Sunday", "targets": [{"account_id": account}]}),
        )
        .await;
    let post = t
        .wait_settled(
            &key,
            created["id"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(post["deliveries"][0]["status"], "published", "{post}");
    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].owner, page_id);

    // The person behind the Page is who Meta's deletion callback names.
    let found = t
        .app
        .stores
        .accounts
        .accounts_by_platform_user(postora::domain::PlatformKind::Facebook, FB_USER)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn choosing_nothing_or_a_forged_token_connects_nothing() {
    let fake = FakeMeta::start().await;
    let t = spawn_with_facebook(&fake).await;
    let (_, key) = t.workspace("shop").await;
    let html = consent(&t, &key, &fake).await;
    let token = choice_token(&html);
    let forged = t
        .http
        .post(t.url("/oauth/facebook/choose"))
        .form(&[("choice", "forged"), ("account", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let wrong_platform = t
        .http
        .post(t.url("/oauth/threads/choose"))
        .form(&[("choice", token.as_str()), ("account", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_platform.status(), 400);
    // The wrong-platform attempt consumed the choice; a new consent gives a new one, and choosing nothing stores nothing.
    let html = consent(&t, &key, &fake).await;
    let token = choice_token(&html);
    let none = t
        .http
        .post(t.url("/oauth/facebook/choose"))
        .form(&[("choice", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 400);
    assert!(none.text().await.unwrap().contains("no account was chosen"));
    let accounts: Value = t.get(&key, "/v1/accounts").await.json().await.unwrap();
    assert_eq!(accounts["accounts"], json!([]));
    // A choice token is not an OAuth state.
    let as_state = t
        .http
        .get(t.url(&format!("/oauth/facebook/callback?state={token}&code=x")))
        .send()
        .await
        .unwrap();
    assert_eq!(as_state.status(), 400);
}
