//! The token refresher on Lambda: a daily EventBridge schedule calls it to refresh every token that would expire
//! before the next run and a day more, so one missed run costs nothing.

/// Tokens expiring within this window are refreshed: two daily runs.
const WINDOW_HOURS: i64 = 48;

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::run_scheduled(
        postora_functions::Function::TokenRefresher,
        "token refresh run",
        |app| async move {
            app.refresh_expiring(chrono::Duration::hours(WINDOW_HOURS))
                .await
        },
    )
    .await
}
