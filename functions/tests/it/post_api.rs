//! The post-api binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with every
//! sample in events/post-api/: each gets an HTTP answer, never a 5xx, and the API key of the samples is honoured.

use std::path::Path;
use std::time::Duration;

use postora::adapters::aws::AwsAdapters;
use postora::domain::workspace::hash_api_key;
use postora::domain::{Workspace, WorkspaceId};
use postora::ports::WorkspaceStore;
use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

/// A workspace whose API key is `key` (the one the sample events carry).
async fn workspace_with_key(adapters: &AwsAdapters, key: &str) {
    let ws = Workspace {
        id: WorkspaceId::generate(),
        name: "samples".into(),
        wrapped_key: vec![1, 2, 3],
        created_at: chrono::Utc::now(),
    };
    adapters
        .store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, &hash_api_key(key)),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_sample_request_gets_an_http_answer() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/post-api")).unwrap();

    // The samples carry one API key; make it a real one.
    let key = events
        .iter()
        .find_map(|s| s.payload["headers"]["authorization"].as_str())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap()
        .to_owned();
    workspace_with_key(&adapters, &key).await;

    let count = events.len();
    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_post-api")),
        "post-api",
        &function_env(&config),
        events,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(answers.len(), count);
    let status = |name: &str| -> u64 {
        let (_, answer) = answers.iter().find(|(n, _)| n == name).unwrap();
        let Answer::Response(r) = answer else {
            panic!("{name} failed: {answer:?}");
        };
        r["statusCode"].as_u64().unwrap()
    };
    for (name, _) in &answers {
        let code = status(name);
        assert!((200..500).contains(&code), "{name} answered {code}");
    }
    assert_eq!(status("health"), 200);
    assert_eq!(status("openapi-document"), 200);
    assert_eq!(status("unauthenticated"), 401);
    assert_eq!(status("list-posts"), 200);
    assert_eq!(status("list-accounts"), 200);
    assert_eq!(status("get-post"), 404);
    assert_eq!(status("export"), 200);
}

/// The public URL an HTTP function builds links on comes from the domain API Gateway says the API was called on,
/// never from the client's `Host` header: a request that lies about its host cannot make Postora send people (and
/// their OAuth codes) elsewhere.
#[tokio::test]
async fn the_public_url_is_the_apis_own_domain_not_the_host_header() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/post-api");
    let mut connect = samples(&dir)
        .unwrap()
        .into_iter()
        .find(|s| s.name == "connect-account")
        .unwrap();
    connect.payload["headers"]["host"] = "evil.example".into();
    let domain = connect.payload["requestContext"]["domainName"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = connect.payload["headers"]["authorization"]
        .as_str()
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap()
        .to_owned();
    workspace_with_key(&adapters, &key).await;
    let mut env = function_env(&config);
    env.push(("POSTORA_THREADS_CLIENT_ID".into(), "threads-app".into()));
    env.push((
        "POSTORA_THREADS_CLIENT_SECRET".into(),
        "threads-secret".into(),
    ));

    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_post-api")),
        "post-api",
        &env,
        vec![connect],
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let Answer::Response(r) = &answers[0].1 else {
        panic!("{answers:?}");
    };
    assert_eq!(r["statusCode"], 200, "{r}");
    let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    let authorize = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    let redirect = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(redirect, format!("https://{domain}/oauth/threads/callback"));
    assert!(!body.to_string().contains("evil.example"));
}
