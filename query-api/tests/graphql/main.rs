//! The query API end to end: commands over REST, then GraphQL over HTTP and
//! WebSocket, against real Postgres and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batching;
mod big_sums;
mod consistency;
mod cost;
mod limits;
mod orders;
mod paging;
mod projection_states;
mod rebuild;
mod reports;
mod schema_file;
mod subscriptions;
mod support;
mod upcast;
mod ws_limits;
