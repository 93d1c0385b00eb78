//! The operator console over HTTP against the whole pipeline (real
//! Postgres, NATS, command and query API): sign-in and every refusal,
//! dead letters made by a real fold failing, retry/skip/rebuild through
//! the confirmation forms, the audit log (and the CLI's acts in it), an
//! order's timeline, the live feed, and the process manager's stuck
//! instances and dead letters. Its own binary so it builds and runs alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console;
mod support;
