//! The query API end to end: commands over REST, then GraphQL over HTTP and
//! WebSocket.

mod access;
mod batching;
mod big_sums;
mod consistency;
mod cost;
mod limits;
mod orders;
mod paging;
mod persisted_queries;
mod projection_states;
mod rebuild;
mod reports;
mod stock;
mod subscriptions;
mod upcast;
mod ws_limits;
