//! HTTP-level tests of the command API against real Postgres, each test
//! with its own database and server on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod auth;
mod commands;
mod concurrency;
mod errors;
mod idempotency;
mod inventory;
mod limits;
mod openapi;
mod openapi_file;
mod webhooks;
