//! The OAuth callback on Lambda: API Gateway HTTP events for `/oauth/*`, served by the library's axum router. The
//! app is built on the first request of a cold start, so that the request's host can stand in for the public URL (and
//! so the redirect URI) until `POSTORA_PUBLIC_URL` is set.

use lambda_http::{run, service_fn, Error, Request};
use postora::adapters::aws::functions::{app_from_env, public_url_from_host};
use tokio::sync::OnceCell;
use tower::ServiceExt;

static ROUTER: OnceCell<axum::Router> = OnceCell::const_new();

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    run(service_fn(|request: Request| async move {
        let router = ROUTER
            .get_or_try_init(|| async {
                let host = request.headers().get("host").and_then(|h| h.to_str().ok());
                let app = app_from_env(&public_url_from_host(host)).await?;
                Ok::<_, Error>(postora::http::oauth_router(app))
            })
            .await?;
        Ok::<_, Error>(router.clone().oneshot(request).await?)
    }))
    .await
}
