//! Starting services: one per process (`orderflow command-api`) or all in
//! one (`orderflow up`).

use anyhow::Context;
use orderflow_event_store::PgEventStore;
use orderflow_observability::shutdown_signal;

use std::future::Future;

use orderflow_event_store::relay::run_relay;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cli::{UpArgs, redact, unreachable_hint};
use crate::config::{
    CommandApiArgs, ProjectorArgs, RelayArgs, StoreArgs, command_api_config,
    default_retention_hours, pg_store_config, projector_config, query_api_config, relay_config,
};
use crate::event_store_choice::{EventStoreKind, open_event_store};
use crate::pipeline;

/// Creates the events database if needed, migrates it and connects.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<PgEventStore> {
    let url = &args.database_url;
    let created = orderflow_event_store::ensure_database(url)
        .await
        .with_context(|| unreachable_hint(url))?;
    if created {
        tracing::info!(url = %redact(url), "created the events database");
    }
    PgEventStore::connect(pg_store_config(args))
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

/// A shutdown that many tasks can wait on: SIGTERM/Ctrl-C flips it once.
fn shared_shutdown() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    rx
}

fn stopped(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

fn relay_args(args: &CommandApiArgs) -> RelayArgs {
    RelayArgs {
        store: args.store.clone(),
        nats: args.nats.clone(),
        retention_hours: default_retention_hours(),
    }
}

/// The command API, and (unless `--no-relay`) a relay candidate beside it:
/// the advisory lock keeps exactly one relay active however many run.
pub async fn command_api(args: CommandApiArgs) -> anyhow::Result<()> {
    // Before anything records: samples sent earlier would be lost.
    orderflow_observability::prometheus_handle();
    let store = open_store(&args.store).await?;
    let events = open_event_store(&args.store.choice, &store).await?;
    let config = command_api_config(&args);
    let listener = orderflow_command_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    println!("command API   http://{}", listener.local_addr()?);
    let shutdown = shared_shutdown();
    let mut tasks = JoinSet::new();
    if !args.no_relay {
        let pool = store.pool().clone();
        let relay_store = events.clone();
        let relay_config = relay_config(&relay_args(&args));
        let stop = stopped(&shutdown);
        tasks.spawn(async move {
            run_relay(relay_store, pool, relay_config, stop)
                .await
                .context("relay")
        });
    }
    let stop = stopped(&shutdown);
    tasks.spawn(async move {
        orderflow_command_api::serve_on(listener, events, config, stop)
            .await
            .context("command API")
    });
    join_all(tasks).await
}

/// Waits for every task; the first failure stops the process.
async fn join_all(mut tasks: JoinSet<anyhow::Result<()>>) -> anyhow::Result<()> {
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    // Before anything records: samples sent earlier would be lost.
    orderflow_observability::prometheus_handle();
    let api = &args.command_api;
    let store = open_store(&api.store).await?;
    let events = open_event_store(&api.store.choice, &store).await?;
    let config = command_api_config(api);
    let listener = orderflow_command_api::bind(&config)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let projector_args = ProjectorArgs {
        store: api.store.clone(),
        nats: api.nats.clone(),
        read_database_url: args.read_database_url.clone(),
        projections: None,
    };
    let shutdown = shared_shutdown();
    let mut tasks = JoinSet::new();

    let (pool, relay_store) = (store.pool().clone(), events.clone());
    let relay_config = relay_config(&relay_args(api));
    let stop = stopped(&shutdown);
    tasks.spawn(async move {
        run_relay(relay_store, pool, relay_config, stop)
            .await
            .context("relay")
    });

    let projector_config = projector_config(&projector_args);
    // With Postgres the projector opens its own pool on the events database
    // (for its SQL fast paths); any other store it reads through the trait.
    let on_postgres = api.store.choice.event_store == EventStoreKind::Postgres;
    let projector_store = (!on_postgres).then(|| events.clone());
    let stop = stopped(&shutdown);
    tasks.spawn(async move {
        match projector_store {
            None => orderflow_projections::run_projector(projector_config, stop)
                .await
                .context("projector"),
            Some(store) => pipeline::run_projector_on(store, projector_config, stop)
                .await
                .context("projector"),
        }
    });

    let stop = stopped(&shutdown);
    tasks.spawn(async move {
        orderflow_command_api::serve_on(listener, events, config, stop)
            .await
            .context("command API")
    });

    // The read database must exist before the query API connects to it.
    orderflow_event_store::ensure_database(&args.read_database_url)
        .await
        .with_context(|| unreachable_hint(&args.read_database_url))?;
    let query_config = query_api_config(
        &args.query_api,
        &args.read_database_url,
        // The GraphQL `projections` head and lag come from the Postgres
        // events table; on another store they stay null, not a false 0.
        on_postgres.then(|| api.store.database_url.clone()),
        &api.nats.nats_url,
        &api.nats.subject_prefix,
    );
    let query_listener = orderflow_query_api::bind(&query_config)
        .await
        .with_context(|| format!("cannot listen on {}", query_config.addr))?;
    let query_addr = query_listener.local_addr()?;
    let stop = stopped(&shutdown);
    tasks.spawn(async move {
        orderflow_query_api::serve_on(query_listener, query_config, stop)
            .await
            .context("query API")
    });

    println!("orderflow is up");
    println!(
        "  command API   http://{addr}   (OpenAPI: http://{addr}/openapi.json, metrics: /metrics)"
    );
    println!("  query API     http://{query_addr}/graphql   (GraphiQL in a browser)");
    println!(
        "  relay         events → NATS {} stream {}",
        api.nats.nats_url, api.nats.events_stream
    );
    println!(
        "  projector     read models in {}",
        redact(&args.read_database_url)
    );
    println!("  events DB     {}", redact(&api.store.database_url));
    println!("Ctrl-C or SIGTERM stops it.");
    join_all(tasks).await
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
