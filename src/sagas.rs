//! The fulfilment process manager's commands: `orderflow fulfilment` (run
//! it alone) and `orderflow sagas status|show|retry|skip` (operate it;
//! retry and skip are recorded in the audit log of its database).

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use orderflow::{EventsIn, FulfilmentService, PipelineConfig, Services};
use orderflow_domain::OrderId;
use orderflow_fulfilment::FulfilmentConfig;
use orderflow_observability::shutdown_signal;
use orderflow_subscriptions::RuntimeConfig;

use crate::audit::ActorArgs;
use crate::config::{NatsArgs, StoreArgs};
use crate::event_store_choice::open_events;
use crate::ops_server::{self, OpsArgs};
use crate::services::{self, store_config};

/// The process manager's own settings (shared by `up` and `fulfilment`).
#[derive(Debug, Clone, Args)]
pub struct FulfilmentArgs {
    /// Its database: checkpoint, dead letters, instances, deadlines
    /// (created if missing).
    #[arg(long, env = "FULFILMENT_DATABASE_URL", hide_env_values = true,
        default_value_t = FulfilmentConfig::default().database_url)]
    pub fulfilment_database_url: String,
    /// How long a confirmed order may stay unpaid before it is cancelled
    /// (`payment_timeout`), e.g. `30m`, `90s`, `2h`.
    #[arg(long, env = "PAYMENT_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub payment_timeout: Duration,
    /// An instance without progress this long in a phase of its own doing
    /// (reserving, confirming, rejecting, timed out) is reported stuck.
    #[arg(long, env = "SAGA_STUCK_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub saga_stuck_after: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct FulfilmentCommand {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub fulfilment: FulfilmentArgs,
    /// The provider refunds go to (`PAYMENT_PROVIDER_URL`, its secret,
    /// timeouts, breaker); without one they wait.
    #[command(flatten)]
    pub payments: crate::payment_args::PaymentArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

#[derive(Debug, Subcommand)]
pub enum SagasCommand {
    /// Instances by phase, stuck instances, deadlines, the subscriber's
    /// position, lag and dead letters.
    Status {
        #[command(flatten)]
        args: SagasArgs,
        #[arg(long)]
        json: bool,
    },
    /// The timeline of one order's instance.
    Show {
        order: OrderId,
        #[command(flatten)]
        args: SagasArgs,
        #[arg(long)]
        json: bool,
    },
    /// Resume the stopped process manager, trying its dead-lettered event
    /// again (recorded in the audit log).
    Retry {
        #[command(flatten)]
        who: ActorArgs,
        #[command(flatten)]
        args: SagasArgs,
    },
    /// Resume the stopped process manager past its dead-lettered event
    /// (recorded in the audit log).
    Skip {
        #[command(flatten)]
        who: ActorArgs,
        #[command(flatten)]
        args: SagasArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SagasArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub fulfilment: FulfilmentArgs,
}

/// A duration setting (`30m`, `90s`, `2h`, `500ms`), parsed like every
/// other duration of the CLI.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text).map(Into::into)
}

/// The process manager's configuration from its arguments.
pub fn fulfilment_config(args: &FulfilmentArgs, nats: &NatsArgs) -> FulfilmentConfig {
    let defaults = FulfilmentConfig::default();
    FulfilmentConfig {
        database_url: args.fulfilment_database_url.clone(),
        payment_timeout: args.payment_timeout,
        stuck_after: args.saga_stuck_after,
        runtime: RuntimeConfig {
            nats_url: nats.nats_url.clone(),
            stream_name: nats.events_stream.clone(),
            ..defaults.runtime.clone()
        },
        ..defaults
    }
}

/// `orderflow fulfilment`: the process manager alone. Run any number: one
/// owns the subscriber at a time, the others stand by.
pub async fn run(command: FulfilmentCommand) -> anyhow::Result<()> {
    orderflow_observability::prometheus_handle();
    // Test builds only (the `failpoints` feature): crash points for the
    // crash tests; an ordinary build arms nothing.
    let armed = orderflow_fulfilment::failpoints::arm_from_env();
    if !armed.is_empty() {
        tracing::warn!(?armed, "failpoints armed: this process aborts at them");
    }
    let config = fulfilment_config(&command.fulfilment, &command.nats);
    let probe = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&config.database_url)?;
    ops_server::spawn(&command.ops, ops_server::postgres_ready(vec![probe])).await?;
    let mut store = store_config(&command.store)?;
    if store.events != EventsIn::Postgres {
        store.postgres = None;
    }
    let running = services::start(PipelineConfig {
        store,
        services: Services {
            fulfilment: Some(
                FulfilmentService::with_provider(
                    config.clone(),
                    command.payments.config().provider,
                )
                .context("the payment provider's client")?,
            ),
            ..Services::default()
        },
    })
    .await?;
    println!(
        "fulfilment: instances in {}, payment timeout {:?}",
        crate::cli::redact(&config.database_url),
        config.payment_timeout
    );
    running.run_until(shutdown_signal()).await?;
    Ok(())
}

pub async fn sagas(command: SagasCommand) -> anyhow::Result<()> {
    match command {
        SagasCommand::Status { args, json } => status(&args, json).await,
        SagasCommand::Show { order, args, json } => show(&args, order, json).await,
        SagasCommand::Retry { who, args } => {
            let actor = who.actor()?;
            let pool =
                orderflow_fulfilment::connect(&args.fulfilment.fulfilment_database_url).await?;
            orderflow_subscriptions::retry(&pool, orderflow_fulfilment::NAME, &actor).await?;
            println!("fulfilment: resumed by {actor}; its dead-lettered event will be tried again");
            Ok(())
        }
        SagasCommand::Skip { who, args } => {
            let actor = who.actor()?;
            let pool =
                orderflow_fulfilment::connect(&args.fulfilment.fulfilment_database_url).await?;
            orderflow_subscriptions::skip(&pool, orderflow_fulfilment::NAME, &actor).await?;
            println!("fulfilment: resumed by {actor} past its dead-lettered event");
            Ok(())
        }
    }
}

async fn status(args: &SagasArgs, json: bool) -> anyhow::Result<()> {
    let store = open_events(&args.store).await?;
    let pool = orderflow_fulfilment::connect(&args.fulfilment.fulfilment_database_url).await?;
    let status = orderflow_fulfilment::status(&pool, &store, args.fulfilment.saga_stuck_after)
        .await
        .context("reading the fulfilment status")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!("instances by phase:");
    for (phase, n) in &status.by_phase {
        println!("  {phase:<17} {n}");
    }
    println!(
        "deadlines: {} pending, {} overdue",
        status.deadlines_pending, status.deadlines_overdue
    );
    println!(
        "stuck (no progress for {:?}): {}",
        args.fulfilment.saga_stuck_after,
        status.stuck.len()
    );
    for s in &status.stuck {
        println!(
            "  {}  {:<12} last {} at {}",
            s.order_id, s.phase, s.last_event, s.updated_at
        );
    }
    match &status.subscriber {
        Some(sub) => println!(
            "subscriber: {} at {:?} (head {}), lag {} events, {} dead letter(s){}",
            sub.state,
            sub.position,
            sub.head,
            sub.lag_events,
            sub.dead_letters,
            sub.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        ),
        None => println!("subscriber: not started"),
    }
    crate::audit::print_recent(&pool).await?;
    Ok(())
}

async fn show(args: &SagasArgs, order: OrderId, json: bool) -> anyhow::Result<()> {
    let store = open_events(&args.store).await?;
    let timeline = orderflow_fulfilment::timeline(&store, order).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&timeline)?);
        return Ok(());
    }
    anyhow::ensure!(
        !timeline.is_empty(),
        "order {order} has no fulfilment instance"
    );
    for entry in &timeline {
        println!(
            "{:>3}  {}  {:<32} {}",
            entry.version, entry.at, entry.event_type, entry.payload
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "m", "45", "0s", "-1s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
