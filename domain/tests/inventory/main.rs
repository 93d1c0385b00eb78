//! Behaviour of the inventory decider (one sku's stock) through the
//! crate's public API.

// Tests may unwrap: a panic is exactly how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod codec;
mod props;
mod rules;
