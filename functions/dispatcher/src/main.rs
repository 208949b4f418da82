//! The dispatcher on Lambda: an EventBridge schedule calls it every minute; each call moves the deliveries due in
//! the next ~75 s onto the queue, each delayed to its second, and sends again those whose deadline ran out.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use postora::adapters::aws::functions::{app_from_env, UNKNOWN_PUBLIC_URL};

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
            let report = app.dispatch_tick().await?;
            tracing::info!(?report, "dispatcher run");
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
