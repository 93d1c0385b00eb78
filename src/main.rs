//! The `orderflow` command: parses the command line and hands over to the
//! library code that does the work.

mod bench;
mod cli;
mod event_store_choice;
mod ops_server;
mod pipeline;
mod query;
mod rest_client;
mod schemas;
mod seed;
mod services;
mod telemetry;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let _telemetry = telemetry::init(cli.command.service_name(), &cli.log, cli.log_format.into());
    cli::run(cli).await
}
