//! The oauth-callback binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with every
//! sample in events/oauth-callback/: a callback whose state was never issued is refused with a page, and a connect
//! without a valid API key with a 401, never a 5xx; and connecting builds its links on the API's own domain.

use std::path::Path;
use std::time::Duration;

use postora::adapters::aws::AwsAdapters;
use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

#[tokio::test]
async fn callbacks_with_unknown_states_and_connects_without_a_key_are_refused_politely() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/oauth-callback")).unwrap();
    let count = events.len();
    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_oauth-callback")),
        "oauth-callback",
        &function_env(&config),
        events,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(answers.len(), count);
    for (name, answer) in answers {
        let Answer::Response(r) = answer else {
            panic!("{name} failed: {answer:?}");
        };
        let code = r["statusCode"].as_u64().unwrap();
        assert!((400..500).contains(&code), "{name} answered {code}: {r}");
    }
}

/// The public URL an HTTP function builds links on comes from the domain API Gateway says the API was called on,
/// never from the client's `Host` header: a request that lies about its host cannot make Postora send people (and
/// their OAuth codes) elsewhere.
#[tokio::test]
async fn the_public_url_is_the_apis_own_domain_not_the_host_header() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let adapters = AwsAdapters::connect(&sdk, &config, None).await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/oauth-callback");
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
    crate::post_api::workspace_with_key(&adapters, &key).await;
    let mut env = function_env(&config);
    env.push(("POSTORA_THREADS_CLIENT_ID".into(), "threads-app".into()));
    env.push((
        "POSTORA_THREADS_CLIENT_SECRET".into(),
        "threads-secret".into(),
    ));

    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_oauth-callback")),
        "oauth-callback",
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
