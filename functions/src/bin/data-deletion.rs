//! Meta's data-deletion and deauthorize callbacks on Lambda, with the deletion status page and the privacy pages:
//! API Gateway HTTP events for `/meta/*`, `/threads/*`, `/deletion/*`, `/privacy` and `/data-deletion`.

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::serve_http(
        postora_functions::Function::DataDeletion,
        postora::http::deletion_router,
    )
    .await
}
