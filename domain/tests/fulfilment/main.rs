//! The fulfilment decision: given instance events, when an input, then
//! events and commands (`rules`), and invariants under duplicated and
//! reordered inputs (`props`).

// Tests may unwrap: a panic is exactly how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec;
mod props;
mod rules;
mod support;
