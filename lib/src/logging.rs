//! How Postora's processes filter their logs, in one place for the CLI and the Lambda functions.
//!
//! The AWS SDK and the HTTP stack under it print request and response bodies at DEBUG and TRACE, and those bodies
//! hold sealed tokens and wrapped data keys (and, for Secrets Manager, the secrets read at cold start). Their targets stay at INFO whatever the operator's filter asks of the
//! rest, so turning logging up to TRACE to chase a problem never writes ciphertext to a log.

/// The filter when none is given.
const DEFAULT_FILTER: &str = "info";

/// Targets that never log below INFO.
pub const CAPPED_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sdk_dynamodb",
    "aws_sdk_kms",
    "aws_sdk_sqs",
    "aws_sdk_eventbridge",
    "aws_sdk_secretsmanager",
    "aws_config",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "reqwest",
];

/// The log filter: `spec` (`RUST_LOG` syntax; INFO when absent or unreadable), with [`CAPPED_TARGETS`] at INFO.
pub fn filter(spec: Option<&str>) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(spec.unwrap_or(DEFAULT_FILTER))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    for target in CAPPED_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_cannot_log_bodies_whatever_the_filter_asks() {
        for spec in [
            Some("trace"),
            Some("aws_smithy_runtime=trace,trace"),
            None,
            Some("not a filter["),
        ] {
            let filter = filter(spec).to_string();
            for target in CAPPED_TARGETS {
                assert!(filter.contains(&format!("{target}=info")), "{filter}");
            }
        }
    }
}
