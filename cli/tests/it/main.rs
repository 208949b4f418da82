//! The `postora` binary as an operator runs it: `serve` on a data directory (killed with SIGKILL at random moments),
//! the dead-letter commands on both backends, and everything with `--backend aws` on the AWS emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_backend;
mod dlq;
mod keys;
mod serve;
