//! The system end to end against real Postgres and NATS, each test on its
//! own databases, JetStream stream and subject prefix (see `support`):
//! `graphql` runs the whole pipeline and reads through the query API;
//! `inventory` follows stock from REST into its read model;
//! `rate_limits` serves each API alone behind a tight limit; `browser`
//! opens GraphiQL and the API reference in headless Chromium. The projector
//! suite shares the harness but is its own binary (`e2e_projector`, which
//! says why).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod graphql;
mod inventory;
mod rate_limits;
mod support;
