//! The wire contract between orderflow's publishers and consumers, in one
//! place: what the relay puts on NATS and the projectors read back
//! ([`subjects`], [`headers`]), the change notices the projectors send the
//! query API ([`notices`]), and the position token clients carry between
//! the two HTTP APIs ([`Position`], [`http`]). The AsyncAPI document
//! (`schemas/asyncapi.yaml`) is generated from these constants.
//!
//! No I/O and no heavy dependencies, so every side can use it.

pub mod headers;
pub mod http;
pub mod notices;
mod position;
pub mod subjects;

pub use position::{ParsePositionError, Position};
