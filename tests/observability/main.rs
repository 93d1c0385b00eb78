//! End-to-end observability checks: the whole pipeline (command API, relay,
//! projector, query API) on fresh databases and a unique NATS prefix, then
//! what `/metrics` shows and what one command's trace looks like.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod metrics;
#[path = "../support/mod.rs"]
mod support;
mod trace;
