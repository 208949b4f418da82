//! The `postora` binary as an operator runs it: `serve` on a data directory (killed with SIGKILL at random moments),
//! the dead-letter commands on both backends, everything with `--backend aws` on the AWS emulator, and webhook
//! deliveries kept across a restart and listed when they failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_backend;
mod dlq;
mod keys;
mod serve;
mod webhooks;
