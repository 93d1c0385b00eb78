//! The operator console over HTTP against the whole pipeline (real
//! Postgres, NATS, command and query API): sign-in and every refusal,
//! dead letters made by a real fold failing, retry/skip/rebuild through
//! the confirmation forms, the audit log, an order's timeline and the live
//! feed. Its own binary so it builds and runs alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console;
mod support;
