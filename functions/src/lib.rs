//! What every Postora Lambda function does, in one place: log as JSON lines, build the app on the AWS adapters once
//! per cold start, and hand each event to the library. Each binary in `src/bin/` picks one of these and is a few
//! lines long. The library itself never depends on the Lambda runtime crates; this crate is the only one that does.

use std::future::Future;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use lambda_runtime::{service_fn, LambdaEvent};
use postora::app::App;
use postora::runtime::aws::{
    app_from_env, function_env, ColdStart, Publisher, SqsBatch, UNKNOWN_PUBLIC_URL,
};
pub use postora::runtime::secrets::Function;
use tokio::sync::OnceCell;
use tower::ServiceExt;

pub use lambda_runtime::Error;

/// Logs as JSON lines for CloudWatch (which stamps the time itself).
pub fn init_tracing() {
    use tracing_subscriber::prelude::*;
    let filter = postora::logging::filter(std::env::var("RUST_LOG").ok().as_deref());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .without_time()
                .with_filter(filter),
        )
        .init();
}

/// The function's cold start: its environment, with the secrets it reads fetched from Secrets Manager
/// ([`Function::secrets`]). A secret that cannot be read is logged (by name) and ends the cold start.
async fn cold_start(function: Function) -> Result<ColdStart, Error> {
    function_env(function).await.map_err(|e| {
        tracing::error!(function = function.binary(), error = %e, "cold start failed");
        e.into()
    })
}

/// Serves one of the library's routers to API Gateway HTTP events. The function's secrets are read at cold start;
/// the app is built on the first request, so that the API's own domain (from the request context API Gateway fills
/// in, never the client's `Host` header) can stand in for the public URL until `POSTORA_PUBLIC_URL` is set.
pub async fn serve_http(
    function: Function,
    router: fn(Arc<App>) -> axum::Router,
) -> Result<(), Error> {
    init_tracing();
    let start = cold_start(function).await?;
    let start = &start;
    let routes: OnceCell<axum::Router> = OnceCell::new();
    let routes = &routes;
    lambda_http::run(lambda_http::service_fn(
        move |request: lambda_http::Request| async move {
            let routes = routes
                .get_or_try_init(|| async {
                    let domain = match request.request_context_ref() {
                        Some(RequestContext::ApiGatewayV2(context)) => context.domain_name.clone(),
                        _ => None,
                    };
                    let app =
                        app_from_env(start, &public_url_from_domain(domain.as_deref())).await?;
                    Ok::<_, Error>(router(app))
                })
                .await?;
            let mut request = request;
            if let Some(ip) = source_ip(&request) {
                request
                    .extensions_mut()
                    .insert(postora::http::people::ClientAddress(ip));
            }
            Ok::<_, Error>(routes.clone().oneshot(request).await?)
        },
    ))
    .await
}

/// The client's address as API Gateway saw the connection (`requestContext.http.sourceIp`), never a header the
/// client wrote: what the sign-in limits count per address.
fn source_ip(request: &lambda_http::Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    }
}

/// The origin an HTTP function answers at, from the domain API Gateway says the API was called on.
pub fn public_url_from_domain(domain: Option<&str>) -> String {
    let valid = |h: &&str| {
        !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    };
    match domain.filter(valid) {
        Some(h) => format!("https://{h}"),
        None => UNKNOWN_PUBLIC_URL.to_owned(),
    }
}

/// Runs a scheduled function: the app is built at cold start, and every EventBridge event runs `run` once and
/// answers its report.
pub async fn run_scheduled<F, Fut, R>(
    function: Function,
    name: &'static str,
    run: F,
) -> Result<(), Error>
where
    F: Fn(Arc<App>) -> Fut,
    Fut: Future<Output = postora::error::Result<R>>,
    R: serde::Serialize + std::fmt::Debug,
{
    init_tracing();
    let start = cold_start(function).await?;
    let app = app_from_env(&start, UNKNOWN_PUBLIC_URL).await?;
    let (app, run) = (&app, &run);
    lambda_runtime::run(service_fn(
        move |_tick: LambdaEvent<serde_json::Value>| async move {
            let report = run(app.clone()).await?;
            tracing::info!(?report, "{name}");
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}

/// Runs the publisher: SQS batches of delivery messages, answered with the ones that must come back
/// (`ReportBatchItemFailures`). Every attempt records its outcome before the invocation's deadline.
pub async fn run_publisher() -> Result<(), Error> {
    init_tracing();
    let start = cold_start(Function::Publisher).await?;
    let publisher = Publisher::from_env(&start).await?;
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsBatch>| async move {
        let ends = invocation_deadline(&event.context);
        Ok::<_, Error>(publisher.handle(event.payload, ends).await)
    }))
    .await
}

/// When Lambda will stop the invocation, as the Runtime API told it; `None` if it named no plausible time.
pub fn invocation_deadline(
    context: &lambda_runtime::Context,
) -> Option<chrono::DateTime<chrono::Utc>> {
    i64::try_from(context.deadline)
        .ok()
        .filter(|ms| *ms > 0)
        .and_then(chrono::DateTime::from_timestamp_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invocation_deadline_is_the_runtime_apis_milliseconds() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 1_800_000_000_123;
        assert_eq!(
            invocation_deadline(&context).map(|t| t.timestamp_millis()),
            Some(1_800_000_000_123)
        );
        for absurd in [0, u64::MAX] {
            context.deadline = absurd;
            assert_eq!(invocation_deadline(&context), None);
        }
    }

    #[test]
    fn the_public_url_comes_from_a_plausible_domain_only() {
        assert_eq!(
            public_url_from_domain(Some("abc.execute-api.eu-west-1.amazonaws.com")),
            "https://abc.execute-api.eu-west-1.amazonaws.com"
        );
        assert_eq!(public_url_from_domain(None), UNKNOWN_PUBLIC_URL);
        assert_eq!(
            public_url_from_domain(Some("evil.example/path")),
            UNKNOWN_PUBLIC_URL
        );
    }
}
