//! Starting services: one per process (`orderflow command-api`) or all in
//! one (`orderflow up`).

use std::sync::Arc;

use anyhow::Context;
use orderflow_command_api::CommandApiConfig;
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use orderflow_observability::shutdown_signal;

use crate::cli::{CommandApiArgs, StoreArgs, UpArgs, redact, unreachable_hint};

/// Creates the events database if needed, migrates it and connects.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<PgEventStore> {
    let url = &args.database_url;
    let created = orderflow_event_store::ensure_database(url)
        .await
        .with_context(|| unreachable_hint(url))?;
    if created {
        tracing::info!(url = %redact(url), "created the events database");
    }
    let mut config = PgStoreConfig::new(url);
    config.max_connections = args.database_max_connections.max(2);
    config.writers = args.store_writers.max(1);
    PgEventStore::connect(config)
        .await
        .with_context(|| unreachable_hint(url))
}

pub async fn migrate(args: &StoreArgs) -> anyhow::Result<()> {
    let store = open_store(args).await?;
    store.pool().close().await;
    println!(
        "events database {} is migrated",
        orderflow_event_store::database_name(&args.database_url)?
    );
    Ok(())
}

fn command_api_config(args: &CommandApiArgs) -> CommandApiConfig {
    CommandApiConfig {
        addr: args.command_api_addr,
        body_limit: args.body_limit,
    }
}

pub async fn command_api(args: CommandApiArgs) -> anyhow::Result<()> {
    let store: Arc<dyn EventStore> = Arc::new(open_store(&args.store).await?);
    let config = command_api_config(&args);
    let listener = orderflow_command_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    println!("command API   http://{}", listener.local_addr()?);
    orderflow_command_api::serve_on(listener, store, config, shutdown_signal()).await?;
    Ok(())
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let store: Arc<dyn EventStore> = Arc::new(open_store(&args.command_api.store).await?);
    let config = command_api_config(&args.command_api);
    let listener = orderflow_command_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    println!("orderflow is up");
    println!("  command API   http://{addr}   (OpenAPI: http://{addr}/openapi.json)");
    println!("  metrics       http://{addr}/metrics");
    println!(
        "  events DB     {}",
        redact(&args.command_api.store.database_url)
    );
    println!("Ctrl-C or SIGTERM stops it.");
    orderflow_command_api::serve_on(listener, store, config, shutdown_signal()).await?;
    Ok(())
}

pub async fn probe(url: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(url)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}
