//! Behaviour of the order decider through the crate's public API.

// Tests may unwrap: a panic is exactly how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod codec;
mod limits;
mod matrix;
mod props;
mod rules;
mod stored;
mod upcast;
