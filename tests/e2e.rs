//! The system end to end against real Postgres and NATS, each test on its
//! own databases, JetStream stream and subject prefix (see `support`):
//! `graphql` runs the whole pipeline and reads through the query API;
//! `projector` appends to the store and runs the relay and projector alone;
//! `rate_limits` serves each API alone behind a tight limit.
//! One binary, so the suite links once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod graphql;
mod projector;
mod rate_limits;
mod support;
