//! The library's integration tests, in one binary so the shared test support compiles once:
//!
//! - the port conformance suite on the local adapters and, on the AWS emulator, on the AWS ones, the media ports
//!   included (objects, their links followed over HTTP, multipart uploads, media records);
//! - media storage beyond it: the local link routes' refusals and limits, S3 objects' tags and the media bucket;
//! - the HTTP contract, end to end over a real `postora serve`-like process, and the OpenAPI document against it;
//! - the Meta platform adapters against the fake Meta, and the Facebook Page choice;
//! - Meta's data-deletion callbacks and the deletion scenarios on both backends;
//! - the token lifecycle on both backends, with every place a token must never appear, and no ciphertext in a TRACE
//!   log on the AWS backend;
//! - API keys listed, labelled and revoked over HTTP on both backends, and the token refresher paging through many
//!   accounts with bounded concurrency and a deadline;
//! - faults: crashes, store and queue failures and platform faults, counted from the platform's side;
//! - the SAM template against the table definition in code, and secrets per function on the emulator;
//! - the token vault's data-key cache on the embedded backend;
//! - webhooks on the embedded backend: retries with backoff, the failed list, a restart in between;
//! - the guarded fetcher for addresses people supply, against servers on this machine;
//! - people on DynamoDB: the session check in one request, time to live and no index on secret-holding items;
//! - people's accounts over HTTP (sign-up to deletion, every bad input, the limits, no secret in a log) on the local
//!   backend, and end to end on DynamoDB and KMS;
//! - mail through SES on the emulator.
//!
//! The AWS tests need the emulator `scripts/test` starts (`AWS_ENDPOINT_URL`); without it they fail, saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod api_document;
mod api_keys;
mod approval;
mod aws_accounts;
mod aws_adapters;
mod aws_conformance;
mod aws_deletion;
mod aws_faults;
mod aws_logs;
mod aws_people;
mod aws_secrets;
mod aws_template;
mod bluesky;
mod connect_binding;
mod deletion;
mod deletion_scenarios;
mod facebook_pages;
mod faults;
mod hardening_a;
mod hardening_b;
mod linkedin;
mod local_conformance;
mod mastodon;
mod media;
mod media_storage;
mod members;
mod meta_platforms;
mod people;
mod platform_suite;
mod refresh;
mod roles;
mod sandbox;
mod ses_mail;
mod smtp_mail;
mod ssrf;
mod threads_of_posts;
mod tiktok;
mod tokens;
mod vault;
mod webhooks;
mod x;
mod youtube;
