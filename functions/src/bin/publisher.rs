//! The publisher on Lambda: the SQS event source hands it batches of delivery messages; it publishes them at once and
//! answers with the ones that must come back (ReportBatchItemFailures), so a malformed message fails only itself.

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::run_publisher().await
}
