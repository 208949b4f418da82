//! What Postora's tests share, kept out of the library so that the library's API is what ships:
//!
//! - [`conformance`]: the port conformance suite, one set of behaviours every store, key service and queue adapter
//!   must show, run on the local adapters and (on the emulator) on the AWS ones.
//! - [`accounts`]: an account as Postora stores it after a connection, and publish jobs for adapter tests.
//! - [`app`]: starting Postora for a test on a random port with a fresh data directory, and a client for it.
//! - [`aws`]: the AWS wire-protocol emulator `scripts/test` starts (moto server), and fresh resources on it.
//! - [`lambda`]: a stand-in for the Lambda Runtime API that runs a real function binary on sample events.
//! - [`export`]: reading `GET /v1/export` page by page.
//! - [`platform_suite`]: the platform conformance suite, the same scenarios end to end against every platform
//!   adapter and its peer, on both backends.
//! - [`fakes`]: fake platform servers that follow each platform's documented protocol, over real HTTP.
//! - [`media`]: image and video files made for a test (photos with and without location metadata, headers that
//!   claim too many pixels, MP4 and MOV indexes).
//! - [`faults`]: a sandbox network that outlives crashing Postora nodes, and stores, queues and platforms that
//!   fail on command.
//! - [`logs`]: the log lines of a test binary, captured while a test looks for a token in them.
//! - [`webhook`]: a webhook receiver on a loopback port that fails on command, and the signature check.
//! - [`refresh`]: a token endpoint that counts refreshes and how many are in flight, and accounts due for a refresh.
//!
//! Test code: a failed expectation panics with a message, so `unwrap` and `expect` are the norm here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod accounts;
pub mod app;
pub mod aws;
pub mod conformance;
pub mod export;
pub mod fakes;
pub mod faults;
pub mod lambda;
pub mod logs;
pub mod media;
pub mod platform_suite;
pub mod refresh;
pub mod webhook;
