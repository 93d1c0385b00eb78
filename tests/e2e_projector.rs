//! The projector (and the relay feeding it) end to end on events appended
//! straight to the store, against real Postgres and NATS, each test on its
//! own databases, stream and subject prefix (see `support`, the one harness
//! shared with `e2e`).
//!
//! A binary of its own, not a module of `e2e`: several of these tests hold
//! transactions open on purpose (side writers, rebuild chunks, commits out of
//! position order), and the store's watermark is cluster-wide, so run beside
//! the GraphQL suite they would stall its read-your-writes waits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "projector/mod.rs"]
mod projector;
mod support;
