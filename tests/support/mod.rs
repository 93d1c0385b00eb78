//! The one test harness of the end-to-end tests.
//!
//! - [`Env`]: a test's own events and read databases, Postgres store,
//!   JetStream stream and subject prefix; starts any part of the pipeline
//!   on them through `orderflow::Pipeline`, as `orderflow up` does.
//! - [`Stack`]: an `Env` with the whole pipeline running (command API,
//!   relay, projector, query API), and REST/GraphQL clients for it.
//! - [`workload`]: orders decided by the domain and appended straight to
//!   the store; [`read_models`]: table dumps and rebuilds to compare.
//! - [`process`]: `orderflow` subcommands as real processes.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

mod env;
pub mod process;
pub mod read_models;
mod stack;
pub mod workload;

pub use env::{Env, Running, nats_url};
pub use process::Service;
pub use read_models::{assert_same, dump, rebuilt};
pub use stack::{Gql, Rest, Stack, Step, path_to};
pub use workload::{Workload, append, append_raw, wait_visible};
