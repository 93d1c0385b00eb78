//! The `orderflow` command: parses the command line and hands over to the
//! library code that does the work.

mod audit;
mod bench;
mod cli;
mod config;
mod event_store_choice;
mod ops_server;
mod payment_args;
mod persisted_args;
mod pipeline;
mod query;
mod rate_limit_args;
mod rest_client;
mod sagas;
mod schemas;
mod seed;
mod services;
mod telemetry;
mod token;

use clap::Parser;

// Services allocate many small, short-lived buffers per request (JSON,
// GraphQL documents); mimalloc measured faster than the system allocator
// for the query API on this machine (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orderflow::install_crypto_provider();
    let cli = cli::Cli::parse();
    let _telemetry = telemetry::init(cli.command.service_name(), &cli.log, cli.log_format.into());
    cli::run(cli).await
}
