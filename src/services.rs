//! Starting services: one per process (`orderflow command-api`) or all in
//! one (`orderflow up`), each through [`orderflow::Pipeline`].

use std::sync::Arc;

use anyhow::Context;
use orderflow::{
    CommandApiService, Pipeline, PipelineConfig, PipelineError, QueryApiService, Services,
    StoreConfig,
};
use orderflow_auth::Verifier;
use orderflow_observability::shutdown_signal;

use crate::cli::{UpArgs, redact, unreachable_hint};
use crate::config::{
    AuthArgs, CommandApiArgs, ProjectorArgs, RelayArgs, StoreArgs, auth_settings,
    command_api_config, pg_store_config, projector_config, query_api_config, relay_config,
};
use crate::event_store_choice::events_in;
use crate::ops_server;

/// The store as `args` name it: the Postgres events database always (it
/// holds the relay's checkpoint and lock even when events are elsewhere).
pub fn store_config(args: &StoreArgs) -> anyhow::Result<StoreConfig> {
    Ok(StoreConfig {
        events: events_in(&args.choice)?,
        postgres: Some(pg_store_config(args)),
    })
}

/// The pipeline's error, with how to start Postgres when it is missing.
pub fn explain(e: PipelineError) -> anyhow::Error {
    let hint = e.unreachable_postgres().map(unreachable_hint);
    let e = anyhow::Error::new(e);
    match hint {
        Some(hint) => e.context(hint),
        None => e,
    }
}

pub async fn start(config: PipelineConfig) -> anyhow::Result<Pipeline> {
    Pipeline::start(config).await.map_err(explain)
}

pub async fn migrate(args: &StoreArgs) -> anyhow::Result<()> {
    let config = StoreConfig {
        events: orderflow::EventsIn::Postgres,
        ..store_config(args)?
    };
    orderflow::EventStores::open(&config)
        .await
        .map_err(explain)?
        .close()
        .await;
    println!(
        "events database {} is migrated",
        orderflow_event_store::database_name(&args.database_url)?
    );
    Ok(())
}

/// The command API as `args` configure it, with the verifier of its
/// bearer tokens (in development mode, announced by the verifier itself,
/// when no JWKS is configured).
async fn command_api_service(args: &CommandApiArgs) -> anyhow::Result<CommandApiService> {
    Ok(CommandApiService {
        config: command_api_config(args),
        verifier: verifier(&args.auth).await?,
    })
}

/// The verifier `args` configure, for either API.
pub async fn verifier(args: &AuthArgs) -> anyhow::Result<Arc<Verifier>> {
    let auth = auth_settings(args).resolve().context("auth settings")?;
    let verifier = Verifier::new(auth).await.context("auth keys")?;
    Ok(Arc::new(verifier))
}

fn relay_args(args: &CommandApiArgs) -> RelayArgs {
    RelayArgs {
        store: args.store.clone(),
        nats: args.nats.clone(),
        stream: args.stream.clone(),
    }
}

/// The command API, and (unless `--no-relay`) a relay candidate beside it:
/// the advisory lock keeps exactly one relay active however many run.
pub async fn command_api(args: CommandApiArgs) -> anyhow::Result<()> {
    // Before anything records: samples sent earlier would be lost.
    orderflow_observability::prometheus_handle();
    let running = start(PipelineConfig {
        store: store_config(&args.store)?,
        services: Services {
            command_api: Some(command_api_service(&args).await?),
            relay: (!args.no_relay).then(|| relay_config(&relay_args(&args))),
            ..Services::default()
        },
    })
    .await?;
    if let Some(addr) = running.command_api_addr() {
        println!("command API   http://{addr}");
    }
    let ready = ops_server::store_ready(running.stores().events());
    ops_server::spawn(&args.ops, ready).await?;
    running.run_until(shutdown_signal()).await?;
    Ok(())
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    // Before anything records: samples sent earlier would be lost.
    orderflow_observability::prometheus_handle();
    let api = &args.command_api;
    let projector_args = ProjectorArgs {
        store: api.store.clone(),
        nats: api.nats.clone(),
        read_database_url: args.read_database_url.clone(),
        projections: None,
    };
    let mut query_config = query_api_config(
        &args.query_api,
        &args.read_database_url,
        &api.nats.nats_url,
        &api.nats.subject_prefix,
    );
    query_config.rate_limit = api.rate_limit.config();
    query_config.persisted = args.query_api.persisted.config()?;
    // The console shows the process manager this `up` runs.
    query_config.console.fulfilment_database_url =
        Some(args.fulfilment.fulfilment_database_url.clone());
    query_config.console.stuck_after = args.fulfilment.saga_stuck_after;
    // Where the relay this `up` runs publishes its state.
    query_config.console.relay_database_url = Some(api.store.database_url.clone());
    let command_api = command_api_service(api).await?;
    let dev_mode = command_api.verifier.is_development();
    let running = start(PipelineConfig {
        store: store_config(&api.store)?,
        services: Services {
            relay: Some(relay_config(&relay_args(api))),
            projector: Some(projector_config(&projector_args)),
            // One verifier for both APIs: one key cache, one announcement.
            query_api: Some(QueryApiService {
                config: query_config,
                verifier: Arc::clone(&command_api.verifier),
            }),
            command_api: Some(command_api),
            fulfilment: Some(
                orderflow::FulfilmentService::with_provider(
                    crate::sagas::fulfilment_config(&args.fulfilment, &api.nats),
                    api.payments.config().provider,
                )
                .context("the payment provider's client")?,
            ),
        },
    })
    .await?;
    let addr = running
        .command_api_addr()
        .context("the command API did not start")?;
    let query_addr = running
        .query_api_addr()
        .context("the query API did not start")?;

    ops_server::spawn(&api.ops, ops_server::store_ready(running.stores().events())).await?;
    println!("orderflow is up");
    println!(
        "  command API   http://{addr}   (OpenAPI: http://{addr}/openapi.json, /metrics for operators)"
    );
    println!("  query API     http://{query_addr}/graphql   (GraphiQL in a browser)");
    println!("  console       http://{query_addr}/console   (operators: sign in with a token)");
    println!(
        "  relay         events → NATS {} stream {}",
        api.nats.nats_url, api.nats.events_stream
    );
    println!(
        "  projector     read models in {}",
        redact(&args.read_database_url)
    );
    println!(
        "  fulfilment    saga instances in {}, payment timeout {:?}",
        redact(&args.fulfilment.fulfilment_database_url),
        args.fulfilment.payment_timeout
    );
    println!("  events DB     {}", redact(&api.store.database_url));
    if dev_mode {
        println!(
            "  auth          DEVELOPMENT MODE (key {}): every API call needs a token;",
            api.auth.auth_dev_key_file.display()
        );
        println!("                TOKEN=$(orderflow token --role customer --sub customer-42)");
        println!("                curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/orders/…");
        println!(
            "                (the query API too: the same header on http://{query_addr}/graphql)"
        );
    }
    println!("Ctrl-C or SIGTERM stops it.");
    running.run_until(shutdown_signal()).await?;
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
