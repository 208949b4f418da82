//! The publisher on Lambda: the SQS event source hands it batches of delivery messages; it publishes them at once and
//! answers with the ones that must come back (ReportBatchItemFailures), so a malformed message fails only itself.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use postora::adapters::aws::functions::{Publisher, SqsBatch};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let publisher = std::sync::Arc::new(Publisher::from_env().await?);
    run(service_fn(|event: LambdaEvent<SqsBatch>| {
        let publisher = publisher.clone();
        async move { Ok::<_, Error>(publisher.handle(event.payload).await) }
    }))
    .await
}
