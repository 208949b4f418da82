//! The token refresher on Lambda: a daily EventBridge schedule calls it to refresh every token that would expire
//! before the next run and a day more, so one missed run costs nothing. The run pages through the accounts with
//! bounded concurrency and stops starting refreshes before the function's timeout; what it leaves, the next run
//! picks up first. The same run then sweeps the media library: items no post used, uploads never completed, and
//! media kept past the retention setting.

use postora::app::refresh::{RefreshRun, LAMBDA_RUN_BUDGET, LAMBDA_STOP_MARGIN};

/// Tokens expiring within this window are refreshed: two daily runs.
const WINDOW_HOURS: i64 = 48;

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::run_scheduled(
        postora_functions::Function::TokenRefresher,
        "token refresh run",
        |app| async move {
            let run = RefreshRun::new(chrono::Duration::hours(WINDOW_HOURS))
                .within(LAMBDA_RUN_BUDGET, LAMBDA_STOP_MARGIN);
            let tokens = app.refresh_run(run).await?;
            let media = app.sweep_media().await?;
            Ok(serde_json::json!({ "tokens": tokens, "media": media }))
        },
    )
    .await
}
