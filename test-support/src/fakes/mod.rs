//! Fake platform servers. Each keeps its state in a plain value and answers requests from it (`serve(world,
//! request)`), reachable over real HTTP on a loopback port, so the real adapters run against it unchanged.

pub mod linkedin;
pub mod mastodon;
pub mod meta;
pub mod x;
