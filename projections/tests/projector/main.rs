//! The projector against real Postgres and NATS. Each test has its own
//! events and read databases, JetStream stream and subject prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod catch_up;
mod live;
mod money;
mod outage;
mod poison;
mod rebuild_tx;
mod upcast;
