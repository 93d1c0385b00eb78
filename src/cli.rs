//! Command-line interface: flags, environment fallbacks and dispatch.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::bench;

/// Default URLs work on a machine with Postgres on localhost (trust auth).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/orderflow_events";
pub const DEFAULT_BENCH_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/orderflow_bench";

#[derive(Debug, Parser)]
#[command(name = "orderflow", version, about = "Event-sourced CQRS order system")]
pub struct Cli {
    /// Log filter (tracing syntax); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info,sqlx=warn")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the events database if missing and apply its migrations.
    Migrate(StoreArgs),
    /// Measure the system; each benchmark also runs its baseline.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The events database.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Event store appends (group commit) against plain single-row INSERTs.
    Append(bench::append::AppendArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => migrate(&args.database_url).await,
        Command::Bench(BenchCommand::Append(args)) => bench::append::run(args).await,
    }
}

async fn migrate(url: &str) -> anyhow::Result<()> {
    let created = orderflow_event_store::ensure_database(url)
        .await
        .with_context(|| unreachable_hint(url))?;
    let store = orderflow_event_store::PgEventStore::connect(
        orderflow_event_store::PgStoreConfig::new(url),
    )
    .await
    .with_context(|| unreachable_hint(url))?;
    store.pool().close().await;
    let db = orderflow_event_store::database_name(url)?;
    println!(
        "events database {db}: {}, migrations applied",
        if created { "created" } else { "exists" }
    );
    Ok(())
}

/// What to tell a person whose Postgres is not there.
pub fn unreachable_hint(url: &str) -> String {
    format!(
        "could not use Postgres at {url}. Is it running? Start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
         (or `docker compose up -d postgres`), or point DATABASE_URL at another server"
    )
}
