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
pub(crate) async fn workspace_with_key(adapters: &AwsAdapters, key: &str) {
    let ws = Workspace {
        id: WorkspaceId::generate(),
        name: "samples".into(),
        wrapped_key: vec![1, 2, 3],
        created_at: chrono::Utc::now(),
        settings: Default::default(),
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
