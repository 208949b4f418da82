//! The oauth-callback binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with every
//! sample in events/oauth-callback/: a callback whose state was never issued is refused with a page, not a 5xx.

use std::path::Path;
use std::time::Duration;

use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

#[tokio::test]
async fn callbacks_with_unknown_states_are_refused_politely() {
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
