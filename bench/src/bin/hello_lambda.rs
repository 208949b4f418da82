//! The smallest Lambda function: it answers every event with `{}`. The cold-start benchmark runs it beside
//! Postora's functions, built with the same profile, as the floor a Rust function on this runtime starts at.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(serde_json::json!({}))
    }))
    .await
}
