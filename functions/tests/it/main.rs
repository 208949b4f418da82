//! Each function binary, run as Lambda runs it (against a stand-in for the Runtime API) on the AWS emulator, with
//! the sample events in `events/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod data_deletion;
mod dispatcher;
mod oauth_callback;
mod post_api;
mod publisher;
mod token_refresher;
