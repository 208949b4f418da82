//! Postora: write a post once, schedule it for many social accounts, and have it published at the second it is due,
//! exactly once, with every token sealed.
//!
//! The library holds everything but the entrypoints: the domain rules, the ports the use cases need, their AWS and
//! local adapters, the platform adapters, and the HTTP routers. The `postora` CLI and the Lambda functions are thin
//! wrappers around it.

pub mod adapters;
pub mod app;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod media;
pub mod net;
pub mod platforms;
pub mod ports;
pub mod runtime;
#[cfg(feature = "embedded")]
pub mod sandbox;
