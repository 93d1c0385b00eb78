//! The query side: `orderflow query-api` and `orderflow bench queries`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orderflow_observability::shutdown_signal;
use orderflow_query_api::{BenchConfig, QueryApiConfig};

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
}

pub async fn run(args: QueryApiCommand) -> anyhow::Result<()> {
    let config = query_api_config(
        &args.api,
        &args.read_database_url,
        args.database_url
            .clone()
            .filter(|_| args.event_store == EventStoreKind::Postgres),
        &args.nats_url,
        &args.subject_prefix,
    );
    let listener = orderflow_query_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    println!("query API     http://{}/graphql", listener.local_addr()?);
    orderflow_query_api::serve_on(listener, config, shutdown_signal()).await?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Requests in flight, for GraphQL and for the SQL baseline.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds per phase (by id, list; each over GraphQL and SQL).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
    /// A seeded read model (`orderflow seed`, or `bench rebuild`'s `<db>_read`).
    #[arg(long, env = "READ_DATABASE_URL", hide_env_values = true,
        default_value_t = default_read_database_url())]
    pub read_database_url: String,
    /// A running query API's /graphql URL; by default one is started here.
    #[arg(long)]
    pub endpoint: Option<String>,
}

pub async fn bench(args: QueriesArgs) -> anyhow::Result<()> {
    let report = orderflow_query_api::bench_queries(&BenchConfig {
        endpoint: args.endpoint.clone(),
        read_database_url: args.read_database_url.clone(),
        concurrency: args.concurrency,
        phase: Duration::from_secs(args.seconds.max(1)),
        ..BenchConfig::default()
    })
    .await?;
    println!("{report}");
    if args.json {
        println!("{}", report.to_json());
    }
    Ok(())
}
