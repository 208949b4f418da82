//! Threads of posts and per-target options through the API: what a thread may be, where it may go, and options
//! checked for the target's platform when the post is written.

use std::sync::Arc;

use postora_test_support::fakes::meta::FakeMeta;
use postora_test_support::fakes::x::FakeX;
use postora_test_support::platform_suite::sandbox::SandboxPeer;
use postora_test_support::platform_suite::{Backend, PlatformPeer, Stage};
use serde_json::{json, Value};

async fn refused(stage: &Stage, body: &Value) -> Value {
    let resp = stage.postora.post_json(&stage.key, "/v1/posts", body).await;
    let status = resp.status();
    let error: Value = resp.json().await.unwrap();
    assert_eq!(status, 422, "{error}");
    error["error"].clone()
}

fn fields(error: &Value) -> Vec<String> {
    error["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_thread_is_checked_part_by_part_and_refused_whole() {
    let stage = Stage::start(SandboxPeer::start(), Backend::Local).await;
    let account = stage.connect("ada").await;
    let target = json!([{ "account_id": account }]);
    // Both ways of giving content at once.
    let error = refused(
        &stage,
        &json!({"text": "hi", "parts": [{"text": "a"}, {"text": "b"}], "targets": target}),
    )
    .await;
    assert_eq!(fields(&error), ["parts"]);
    // Too many parts.
    let many: Vec<Value> = (0..26)
        .map(|i| json!({ "text": format!("part {i}") }))
        .collect();
    let error = refused(&stage, &json!({"parts": many, "targets": target})).await;
    assert_eq!(fields(&error), ["parts"]);
    // Limits apply per part, and the refusal names the part and the target.
    let error = refused(
        &stage,
        &json!({"parts": [{"text": "fine"}, {"text": "x".repeat(501)}], "targets": target}),
    )
    .await;
    assert_eq!(fields(&error), ["parts[1].text"]);
    assert_eq!(error["details"][0]["target"], account.as_str());
    // A part's media is named by its part.
    let error = refused(
        &stage,
        &json!({"parts": [{"text": "a"}, {"text": "b", "media": [{"media_id": "med_nope"}]}], "targets": target}),
    )
    .await;
    assert_eq!(fields(&error), ["parts[1].media[0].media_id"]);
    let posts: Value = stage
        .postora
        .get(&stage.key, "/v1/posts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(posts["posts"], json!([]), "nothing refused was stored");

    // A thread is shown with its parts, and edited as a whole while it is scheduled.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let post = stage
        .postora
        .create_post(
            &stage.key,
            &json!({"parts": [{"text": "one"}, {"text": "two"}], "targets": target, "scheduled_at": later}),
        )
        .await;
    assert_eq!(post["text"], "one");
    assert_eq!(post["parts"][1]["text"], "two");
    let id = post["id"].as_str().unwrap();
    let resp = stage
        .postora
        .http
        .patch(stage.postora.url(&format!("/v1/posts/{id}")))
        .bearer_auth(&stage.key)
        .json(&json!({"text": "one, edited"}))
        .send()
        .await
        .unwrap();
    let edited: Value = resp.json().await.unwrap();
    assert_eq!(edited["parts"][0]["text"], "one, edited", "{edited}");
    assert_eq!(edited["parts"][1]["text"], "two", "the other parts stay");
    let resp = stage
        .postora
        .http
        .patch(stage.postora.url(&format!("/v1/posts/{id}")))
        .bearer_auth(&stage.key)
        .json(&json!({"parts": [{"text": "just one"}]}))
        .send()
        .await
        .unwrap();
    let single: Value = resp.json().await.unwrap();
    assert_eq!(single["text"], "just one");
    assert!(
        single.get("parts").is_none(),
        "a thread of one part is a post: {single}"
    );
}

#[tokio::test]
async fn a_platform_without_threads_refuses_a_thread_for_its_target() {
    let meta = FakeMeta::start().await;
    let mut env = meta.instagram_env();
    env.push(("POSTORA_SANDBOX".into(), "on".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let postora = postora_test_support::app::spawn_app_with(&pairs).await;
    let (_, key) = postora.workspace("mixed").await;
    let sandbox = postora.connect_sandbox(&key, "ada").await;
    let start: Value = postora
        .post_json(&key, "/v1/accounts/connect/instagram", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let back = meta
        .consent(&url::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap())
        .await;
    assert_eq!(
        postora
            .http
            .get(back.as_str())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let accounts: Value = postora
        .get(&key, "/v1/accounts")
        .await
        .json()
        .await
        .unwrap();
    let instagram = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == "instagram")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = postora
        .post_json(
            &key,
            "/v1/posts",
            &json!({
                "parts": [{"text": "one"}, {"text": "two"}],
                "targets": [{"account_id": sandbox}, {"account_id": instagram}],
            }),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let error: Value = resp.json().await.unwrap();
    let details = error["error"]["details"].as_array().unwrap();
    assert_eq!(
        details.len(),
        1,
        "only the Instagram target is refused: {error}"
    );
    assert_eq!(details[0]["field"], "targets[1].account_id");
    assert_eq!(details[0]["target"], instagram.as_str());
    assert_eq!(details[0]["rule"], "threads");
}

#[tokio::test]
async fn options_are_checked_for_the_targets_platform_and_reach_it() {
    let x: Arc<dyn PlatformPeer> = Arc::new(FakeX::start().await);
    let stage = Stage::start(x.clone(), Backend::Local).await;
    let account = stage.connect("ada").await;
    let with = |options: Value| json!({"text": "who may answer", "targets": [{"account_id": account, "options": options}]});
    let error = refused(
        &stage,
        &with(json!({"reply_settings": "everyone_but_bots"})),
    )
    .await;
    assert_eq!(fields(&error), ["targets[0].options"]);
    assert_eq!(error["details"][0]["rule"], "options");
    let error = refused(&stage, &with(json!({"visibility": "unlisted"}))).await;
    assert!(
        error["message"].as_str().unwrap().contains("visibility"),
        "{error}"
    );

    let created = stage
        .postora
        .create_post(&stage.key, &with(json!({"reply_settings": "following"})))
        .await;
    assert_eq!(
        created["deliveries"][0]["options"],
        json!({"reply_settings": "following"})
    );
    let delivery = stage.settled(created["id"].as_str().unwrap()).await;
    assert_eq!(delivery["status"], "published", "{delivery}");
    assert_eq!(x.posts("ada").await.len(), 1);
}

#[tokio::test]
async fn a_platform_without_options_refuses_them() {
    let stage = Stage::start(SandboxPeer::start(), Backend::Local).await;
    let account = stage.connect("ada").await;
    let error = refused(
        &stage,
        &json!({"text": "hi", "targets": [{"account_id": account, "options": {"visibility": "public"}}]}),
    )
    .await;
    assert_eq!(fields(&error), ["targets[0].options"]);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("takes no options"),
        "{error}"
    );
}
