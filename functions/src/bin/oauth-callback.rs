//! The OAuth callback on Lambda: API Gateway HTTP events for `/oauth/*`.

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::serve_http(
        postora_functions::Function::OAuthCallback,
        postora::http::oauth_router,
    )
    .await
}
