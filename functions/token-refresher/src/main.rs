//! The token refresher on Lambda: a daily EventBridge schedule calls it to refresh every token that would expire
//! before the next run and a day more, so one missed run costs nothing.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use postora::adapters::aws::functions::{app_from_env, UNKNOWN_PUBLIC_URL};

/// Tokens expiring within this window are refreshed: two daily runs.
const WINDOW_HOURS: i64 = 48;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let app = app_from_env(UNKNOWN_PUBLIC_URL).await?;
    run(service_fn(|_tick: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let report = app
                .refresh_expiring(chrono::Duration::hours(WINDOW_HOURS))
                .await?;
            tracing::info!(?report, "token refresh run");
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
