//! The platform adapters, one module per platform behind the [`Platform`](crate::ports::Platform) port, and what
//! they share: the HTTP client with its timeouts and error mapping, and the OAuth 2.0 client.

pub mod bluesky;
pub mod http;
pub mod linkedin;
pub mod mastodon;
pub mod meta;
pub mod oauth;
pub mod polling;
pub mod tiktok;
pub mod x;
pub mod youtube;
