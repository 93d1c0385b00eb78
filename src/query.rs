//! The query side: `orderflow query-api`.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use orderflow::{EventStores, EventsIn, StoreConfig};
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use orderflow_observability::shutdown_signal;
use orderflow_query_api::QueryApiConfig;

use crate::config::{AuthArgs, QueryApiArgs, default_read_database_url, query_api_config};
use crate::event_store_choice::{EventStoreArgs, events_in};

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
    /// Which store holds the events (`EVENT_STORE`, `KURRENTDB_URL`).
    #[command(flatten)]
    pub choice: EventStoreArgs,
    #[arg(long, env = "NATS_URL", hide_env_values = true,
        default_value_t = QueryApiConfig::default().nats_url)]
    pub nats_url: String,
    #[arg(long, env = "SUBJECT_PREFIX", default_value_t = QueryApiConfig::default().subject_prefix)]
    pub subject_prefix: String,
    /// The fulfilment process manager's database, for the console (its
    /// subscriber, dead letters, stuck instances, the payment provider's
    /// breaker). Unset: the console shows the projections only.
    #[arg(long, env = "FULFILMENT_DATABASE_URL", hide_env_values = true)]
    pub fulfilment_database_url: Option<String>,
    /// The console shows a fulfilment instance stuck after this long
    /// without progress, e.g. `5m`.
    #[arg(long, env = "SAGA_STUCK_AFTER", default_value = "5m",
        value_parser = crate::sagas::parse_duration)]
    pub saga_stuck_after: std::time::Duration,
    #[command(flatten)]
    pub rate_limit: crate::rate_limit_args::RateLimitArgs,
    /// Who signs the bearer tokens every operation needs (as the command
    /// API's).
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub ops: crate::ops_server::OpsArgs,
}

pub async fn run(args: QueryApiCommand) -> anyhow::Result<()> {
    let mut config = query_api_config(
        &args.api,
        &args.read_database_url,
        &args.nats_url,
        &args.subject_prefix,
    );
    config.rate_limit = args.rate_limit.config();
    config.persisted = args.api.persisted.config()?;
    config.console.fulfilment_database_url = args.fulfilment_database_url.clone();
    config.console.stuck_after = args.saga_stuck_after;
    // On Postgres the relay publishes its state beside its leader lock, in
    // the events database.
    config.console.relay_database_url = args.database_url.clone();
    // Before binding: a bad JWKS setting stops the start, not a request.
    let verifier = crate::services::verifier(&args.auth).await?;
    let listener = orderflow_query_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    println!("query API     http://{}/graphql", listener.local_addr()?);
    println!("console       http://{}/console", listener.local_addr()?);
    let events = status_store(&args).await?;
    // Its own connection: readiness must not wait behind queries.
    let read_probe = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&args.read_database_url)?;
    crate::ops_server::spawn(
        &args.ops,
        crate::ops_server::postgres_ready(vec![read_probe]),
    )
    .await?;
    orderflow_query_api::serve_on(listener, config, events, verifier, shutdown_signal()).await?;
    Ok(())
}

/// The store `projections { head lag }` asks, whichever it is: on Postgres
/// two connections made on first use (a query replica never writes there),
/// none without `DATABASE_URL`; KurrentDB when it holds the events.
async fn status_store(args: &QueryApiCommand) -> anyhow::Result<Option<Arc<dyn EventStore>>> {
    match events_in(&args.choice)? {
        EventsIn::Postgres => {
            let Some(url) = &args.database_url else {
                return Ok(None);
            };
            let mut config = PgStoreConfig::new(url);
            config.max_connections = 2;
            config.writers = 1;
            Ok(Some(Arc::new(PgEventStore::connect_lazy(config)?)))
        }
        events @ EventsIn::KurrentDb(_) => {
            let config = StoreConfig {
                events,
                postgres: None,
            };
            let stores = EventStores::open(&config)
                .await
                .map_err(crate::services::explain)?;
            Ok(Some(stores.events()))
        }
    }
}
