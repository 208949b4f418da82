//! Meta's data-deletion and deauthorize callbacks on Lambda, with the deletion status page and the privacy pages:
//! API Gateway HTTP events for `/meta/*`, `/threads/*`, `/deletion/*`, `/privacy` and `/data-deletion`, served by the
//! library's deletion router. The app is built on the first request of a cold start, so that the request's host can
//! stand in for the public URL (the status page links it answers with) until `POSTORA_PUBLIC_URL` is set. The
//! callbacks' app secrets come from the environment, read once then.

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
                Ok::<_, Error>(postora::http::deletion_router(app))
            })
            .await?;
        Ok::<_, Error>(router.clone().oneshot(request).await?)
    }))
    .await
}
