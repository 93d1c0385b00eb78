//! The query side: `orderflow query-api` and `orderflow bench queries`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orderflow_observability::shutdown_signal;
use orderflow_query_api::{BenchConfig, QueryApiConfig, QueryLimits};

use crate::event_store_choice::EventStoreKind;
use crate::pipeline::DEFAULT_READ_DATABASE_URL;

#[derive(Debug, Clone, Args)]
pub struct QueryApiArgs {
    /// Address the GraphQL API listens on.
    #[arg(long, env = "QUERY_API_ADDR", default_value = "127.0.0.1:8081")]
    pub query_api_addr: SocketAddr,
    /// How long a query sent with X-Orderflow-Position waits, in milliseconds.
    #[arg(long, env = "POSITION_WAIT_MS", default_value_t = 2000)]
    pub position_wait_ms: u64,
    /// Longest one read-database statement may run, in milliseconds
    /// (Postgres statement_timeout); past it the field fails with TIMEOUT.
    #[arg(long, env = "QUERY_STATEMENT_TIMEOUT_MS", default_value_t = 2000)]
    pub statement_timeout_ms: u64,
    /// Most WebSocket connections open at once from one client IP address.
    #[arg(long, env = "QUERY_MAX_WS_PER_CLIENT", default_value_t = 16)]
    pub max_ws_per_client: usize,
    /// Most subscriptions open at once on this process.
    #[arg(long, env = "QUERY_MAX_SUBSCRIPTIONS", default_value_t = 4096)]
    pub max_subscriptions: usize,
}

#[derive(Debug, Clone, Args)]
pub struct QueryApiCommand {
    #[command(flatten)]
    pub api: QueryApiArgs,
    /// The read models (may be a read replica).
    #[arg(long, env = "READ_DATABASE_URL", default_value = DEFAULT_READ_DATABASE_URL)]
    pub read_database_url: String,
    /// The event store, only for the `projections` field's head and lag.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// With `kurrentdb` the Postgres events database holds no events, so
    /// `projections` reports no head or lag rather than false zeros.
    #[arg(long, env = "EVENT_STORE", value_enum, default_value_t = EventStoreKind::Postgres)]
    pub event_store: EventStoreKind,
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[arg(long, env = "SUBJECT_PREFIX", default_value = "orderflow")]
    pub subject_prefix: String,
}

pub fn config(
    api: &QueryApiArgs,
    read_database_url: &str,
    database_url: Option<String>,
    nats_url: &str,
    subject_prefix: &str,
) -> QueryApiConfig {
    QueryApiConfig {
        addr: api.query_api_addr,
        read_database_url: read_database_url.to_owned(),
        events_database_url: database_url,
        nats_url: nats_url.to_owned(),
        subject_prefix: subject_prefix.to_owned(),
        position_wait: Duration::from_millis(api.position_wait_ms),
        limits: QueryLimits {
            statement_timeout: Duration::from_millis(api.statement_timeout_ms),
            max_ws_connections_per_client: api.max_ws_per_client,
            max_subscriptions_total: api.max_subscriptions,
            ..QueryLimits::default()
        },
        ..QueryApiConfig::default()
    }
}

pub async fn run(args: QueryApiCommand) -> anyhow::Result<()> {
    let config = config(
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
    #[arg(long, env = "READ_DATABASE_URL", default_value = DEFAULT_READ_DATABASE_URL)]
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
