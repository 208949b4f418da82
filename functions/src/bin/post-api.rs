//! The public API on Lambda: API Gateway HTTP events for `/v1/*`, `/healthz` and `/openapi.json`.

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::serve_http(
        postora_functions::Function::PostApi,
        postora::http::api_router,
    )
    .await
}
