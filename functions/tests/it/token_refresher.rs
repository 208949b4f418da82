//! The token-refresher binary, run as Lambda runs it (against a stub of the Runtime API) on the emulator, with
//! events/token-refresher/.

use std::path::Path;
use std::time::Duration;

use postora_test_support::aws::{emulator, fresh_resources, function_env};
use postora_test_support::lambda::{invoke_binary, samples, Answer};

#[tokio::test]
async fn a_daily_run_reports_what_it_refreshed() {
    let sdk = emulator().await;
    let (config, _) = fresh_resources(&sdk).await.unwrap();
    let events =
        samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/token-refresher")).unwrap();
    let count = events.len();
    let answers = invoke_binary(
        Path::new(env!("CARGO_BIN_EXE_token-refresher")),
        "token-refresher",
        &function_env(&config),
        events,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(answers.len(), count);
    for (name, answer) in answers {
        let Answer::Response(report) = answer else {
            panic!("{name} failed: {answer:?}");
        };
        assert_eq!(report["tokens"]["examined"], 0, "{name}: {report}");
        assert_eq!(
            report["media"]["unattached_removed"], 0,
            "{name}: the run swept the media library too: {report}"
        );
    }
}
