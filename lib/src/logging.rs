//! How Postora's processes filter their logs, in one place for the CLI and the Lambda functions.
//!
//! The AWS SDK and the HTTP stack under it print request and response bodies at DEBUG and TRACE, and those bodies
//! hold sealed tokens and wrapped data keys (and, for Secrets Manager, the secrets read at cold start). Their targets
//! stay at INFO at most, whatever the operator's filter asks of the rest, so turning logging up to TRACE to chase a
//! problem never writes ciphertext to a log.
//!
//! The filter takes `target=level` directives separated by commas, and a bare level for everything else (for example
//! `debug,postora::app=trace`): the part of `RUST_LOG`'s syntax that names targets, without span and field filters,
//! which would link a regular-expression engine into every Lambda binary for no use.

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};

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

/// The log filter: `spec` (INFO for everything when absent or unreadable), with each of [`CAPPED_TARGETS`] at INFO
/// at most.
pub fn filter(spec: Option<&str>) -> Targets {
    let mut filter = spec
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    for target in CAPPED_TARGETS {
        if filter.would_enable(target, &Level::DEBUG) {
            filter = filter.with_target(*target, LevelFilter::INFO);
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
            Some("hyper::proto=trace,info"),
            None,
            Some("not a filter[=="),
        ] {
            let filter = filter(spec);
            for target in CAPPED_TARGETS {
                assert!(
                    !filter.would_enable(target, &Level::DEBUG),
                    "{spec:?}: {target}"
                );
                assert!(
                    !filter.would_enable(&format!("{target}::inner"), &Level::DEBUG),
                    "{spec:?}: {target}::inner"
                );
            }
        }
    }

    #[test]
    fn the_rest_follows_the_filter() {
        let f = filter(Some("warn,postora::app=trace,rustls=off"));
        assert!(f.would_enable("postora::app::publish", &Level::TRACE));
        assert!(!f.would_enable("postora::http", &Level::INFO));
        assert!(f.would_enable("postora::http", &Level::WARN));
        assert!(
            !f.would_enable("rustls", &Level::ERROR),
            "a quieter choice is kept"
        );
        let default = filter(None);
        assert!(default.would_enable("postora", &Level::INFO));
        assert!(!default.would_enable("postora", &Level::DEBUG));
    }
}
