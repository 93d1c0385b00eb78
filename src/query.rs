//! The query side: `orderflow query-api`.

use anyhow::Context;
use clap::Args;
use orderflow_observability::shutdown_signal;
use orderflow_query_api::QueryApiConfig;

use crate::config::{QueryApiArgs, default_read_database_url, query_api_config};
use crate::event_store_choice::EventStoreKind;

#[derive(Debug, Clone, Args)]
pub struct QueryApiCommand {
    #[command(flatten)]
    pub api: QueryApiArgs,
    /// The read models (may be a read replica).
    #[arg(long, env = "READ_DATABASE_URL", hide_env_values = true,
        default_value_t = default_read_database_url())]
    pub read_database_url: String,
    /// The event store, only for the `projections` field's head and lag.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// With `kurrentdb` the Postgres events database holds no events, so
    /// `projections` reports no head or lag rather than false zeros.
    #[arg(long, env = "EVENT_STORE", value_enum, default_value_t = EventStoreKind::Postgres)]
    pub event_store: EventStoreKind,
    #[arg(long, env = "NATS_URL", hide_env_values = true,
        default_value_t = QueryApiConfig::default().nats_url)]
    pub nats_url: String,
    #[arg(long, env = "SUBJECT_PREFIX", default_value_t = QueryApiConfig::default().subject_prefix)]
    pub subject_prefix: String,
    #[command(flatten)]
    pub rate_limit: crate::rate_limit_args::RateLimitArgs,
}

pub async fn run(args: QueryApiCommand) -> anyhow::Result<()> {
    let mut config = query_api_config(
        &args.api,
        &args.read_database_url,
        args.database_url
            .clone()
            .filter(|_| args.event_store == EventStoreKind::Postgres),
        &args.nats_url,
        &args.subject_prefix,
    );
    config.rate_limit = args.rate_limit.config();
    config.persisted = args.api.persisted.config()?;
    let listener = orderflow_query_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    println!("query API     http://{}/graphql", listener.local_addr()?);
    orderflow_query_api::serve_on(listener, config, shutdown_signal()).await?;
    Ok(())
}
