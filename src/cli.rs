//! Command-line interface: flags, environment fallbacks and dispatch.

use clap::{Args, Parser, Subcommand};

use crate::config::{CommandApiArgs, QueryApiArgs, StoreArgs, default_read_database_url};
use crate::{bench, pipeline, query, sagas, schemas, seed, services, token};

#[derive(Debug, Parser)]
#[command(name = "orderflow", version, about = "Event-sourced CQRS order system")]
pub struct Cli {
    /// Log filter (tracing syntax); RUST_LOG overrides it.
    #[arg(long, global = true, env = "LOG", default_value = "info,sqlx=warn")]
    pub log: String,

    /// Log lines as `text` or `json` (one object per line, with the
    /// correlation id as a field).
    #[arg(long, global = true, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormatArg,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormatArg> for orderflow_observability::LogFormat {
    fn from(f: LogFormatArg) -> Self {
        match f {
            LogFormatArg::Text => orderflow_observability::LogFormat::Text,
            LogFormatArg::Json => orderflow_observability::LogFormat::Json,
        }
    }
}

impl Command {
    /// `service.name` of exported spans when `OTEL_SERVICE_NAME` is unset.
    pub fn service_name(&self) -> &'static str {
        match self {
            Command::Up(_) => "orderflow",
            Command::CommandApi(_) => "orderflow-command-api",
            Command::QueryApi(_) => "orderflow-query-api",
            Command::Relay(_) => "orderflow-relay",
            Command::Projector(_) => "orderflow-projector",
            Command::Projections(_) => "orderflow-projections",
            Command::Migrate(_) => "orderflow-migrate",
            Command::Seed(_) => "orderflow-seed",
            Command::Probe { .. } => "orderflow-probe",
            Command::Schemas(_) => "orderflow-schemas",
            Command::Bench(_) => "orderflow-bench",
            Command::Token(_) => "orderflow-token",
            Command::Fulfilment(_) => "orderflow-fulfilment",
            Command::Sagas(_) => "orderflow-sagas",
        }
    }
}

// `CommandApi` names the service, not a kind of command.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the databases if missing, migrate, and run every service in
    /// this one process.
    Up(UpArgs),
    /// Run the REST command API alone.
    CommandApi(CommandApiArgs),
    /// Run the GraphQL query API alone.
    QueryApi(query::QueryApiCommand),
    /// Publish the event store's events, in order, to NATS JetStream.
    Relay(pipeline::RelayCommand),
    /// Keep the read models current (live from NATS, or from the store).
    Projector(pipeline::ProjectorCommand),
    /// Inspect and operate projections.
    #[command(subcommand)]
    Projections(pipeline::ProjectionsCommand),
    /// Run the fulfilment process manager (saga) alone.
    Fulfilment(sagas::FulfilmentCommand),
    /// Inspect and operate the fulfilment process manager.
    #[command(subcommand)]
    Sagas(sagas::SagasCommand),
    /// Create the events database if missing and apply its migrations.
    Migrate(StoreArgs),
    /// Create realistic demo orders through the REST API.
    Seed(seed::SeedArgs),
    /// Exit 0 when a URL answers 2xx: the containers' health check (the
    /// image has no curl).
    Probe { url: String },
    /// The event schema registry in `schemas/`.
    #[command(subcommand)]
    Schemas(SchemasCommand),
    /// Measure the system; each benchmark also runs its baseline.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a development bearer token signed with the local development
    /// key (created if missing).
    Token(token::TokenArgs),
}

#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Write the schema versions the code has and the registry lacks, and
    /// regenerate asyncapi.yaml. Never rewrites a committed version.
    Export(SchemasArgs),
    /// Fail when the registry and the code disagree (run in CI).
    Check(SchemasArgs),
}

#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// The registry folder.
    #[arg(long, default_value = "schemas")]
    pub dir: std::path::PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub command_api: CommandApiArgs,
    /// The read models' database (created if missing).
    #[arg(long, env = "READ_DATABASE_URL", hide_env_values = true,
        default_value_t = default_read_database_url())]
    pub read_database_url: String,
    #[command(flatten)]
    pub query_api: QueryApiArgs,
    #[command(flatten)]
    pub fulfilment: sagas::FulfilmentArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Event store appends (group commit) against plain single-row INSERTs.
    Append(bench::append::AppendArgs),
    /// The whole HTTP command path against plain single-row INSERTs.
    Commands(bench::commands::CommandsArgs),
    /// Time from a command's response to its row in the `orders` read model.
    Lag(bench::lag::LagArgs),
    /// Rebuilding every read model against a set-based SQL baseline.
    Rebuild(bench::rebuild::RebuildArgs),
    /// GraphQL reads against the same SQL through sqlx.
    Queries(bench::queries::QueriesArgs),
    /// Submit → confirmed through the fulfilment saga against a direct
    /// staff confirm.
    Checkout(bench::checkout::CheckoutArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => services::up(args).await,
        Command::CommandApi(args) => services::command_api(args).await,
        Command::QueryApi(args) => query::run(args).await,
        Command::Relay(args) => pipeline::relay(args).await,
        Command::Projector(args) => pipeline::projector(args).await,
        Command::Projections(command) => pipeline::projections(command).await,
        Command::Migrate(args) => services::migrate(&args).await,
        Command::Seed(args) => seed::run(args).await,
        Command::Probe { url } => services::probe(&url).await,
        Command::Schemas(SchemasCommand::Export(args)) => schemas::export(&args.dir),
        Command::Schemas(SchemasCommand::Check(args)) => schemas::check(&args.dir),
        Command::Bench(BenchCommand::Append(args)) => bench::append::run(args).await,
        Command::Bench(BenchCommand::Commands(args)) => bench::commands::run(args).await,
        Command::Bench(BenchCommand::Lag(args)) => bench::lag::run(args).await,
        Command::Bench(BenchCommand::Rebuild(args)) => bench::rebuild::run(args).await,
        Command::Bench(BenchCommand::Queries(args)) => bench::queries::run(args).await,
        Command::Bench(BenchCommand::Checkout(args)) => bench::checkout::run(args).await,
        Command::Token(args) => token::run(args),
        Command::Fulfilment(args) => sagas::run(args).await,
        Command::Sagas(command) => sagas::sagas(command).await,
    }
}

/// What to tell a person whose Postgres is not there.
pub fn unreachable_hint(url: &str) -> String {
    format!(
        "could not use Postgres at {}. Is it running? Start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
         (or `docker compose up -d postgres`), or point DATABASE_URL at another server",
        redact(url)
    )
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
