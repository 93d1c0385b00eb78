//! The read side's processes: the relay (store → NATS), the projector
//! (NATS/store → read models) and the operator's `projections` commands.

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use orderflow::{EventsIn, PipelineConfig, Services};
use orderflow_observability::shutdown_signal;
use orderflow_projections::{
    RebuildProgress, STORE_LAG_LIMIT, connect_read_db, request_rebuilds, run_requested,
};
use orderflow_subscriptions::Actor;

use crate::audit::ActorArgs;
use crate::cli::unreachable_hint;
use crate::config::{ProjectorArgs, RelayArgs, projector_config, relay_config};
use crate::event_store_choice::open_events;
use crate::ops_server::{self, OpsArgs};
use crate::services::{self, store_config};

/// `orderflow relay`: a relay and, optionally, its metrics endpoint.
#[derive(Debug, Clone, Args)]
pub struct RelayCommand {
    #[command(flatten)]
    pub relay: RelayArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

/// `orderflow projector`: a projector and, optionally, its metrics endpoint.
#[derive(Debug, Clone, Args)]
pub struct ProjectorCommand {
    #[command(flatten)]
    pub projector: ProjectorArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Name, version, position, head, lag, state and last error of each.
    Status {
        #[command(flatten)]
        args: ProjectorArgs,
        #[arg(long)]
        json: bool,
    },
    /// Resume a stopped projection, trying its dead-lettered event again
    /// (recorded in the audit log).
    Retry {
        name: String,
        #[command(flatten)]
        who: ActorArgs,
        #[command(flatten)]
        args: ProjectorArgs,
    },
    /// Resume a stopped projection past its dead-lettered event (recorded
    /// in the audit log).
    Skip {
        name: String,
        #[command(flatten)]
        who: ActorArgs,
        #[command(flatten)]
        args: ProjectorArgs,
    },
    /// Rebuild from position zero into fresh tables, then swap them in
    /// (recorded in the audit log, its progress shown on the console).
    Rebuild {
        /// A projection name; or use --all.
        name: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        who: ActorArgs,
        #[command(flatten)]
        args: ProjectorArgs,
    },
}

pub async fn relay(command: RelayCommand) -> anyhow::Result<()> {
    let args = command.relay;
    // Before the relay records anything (its leader gauge is set once, on
    // election): samples sent earlier would be lost.
    if command.ops.metrics_addr.is_some() {
        orderflow_observability::prometheus_handle();
    }
    let running = services::start(PipelineConfig {
        store: store_config(&args.store)?,
        services: Services {
            relay: Some(relay_config(&args)),
            ..Services::default()
        },
    })
    .await?;
    let pool = running
        .stores()
        .postgres()
        .context("the relay runs without its Postgres database")?
        .pool()
        .clone();
    ops_server::spawn(&command.ops, ops_server::postgres_ready(vec![pool])).await?;
    println!(
        "relay: {} → {}",
        args.nats.events_stream, args.nats.nats_url
    );
    running.run_until(shutdown_signal()).await?;
    Ok(())
}

pub async fn projector(command: ProjectorCommand) -> anyhow::Result<()> {
    let args = command.projector;
    // Its own connection: readiness must not wait behind projection work.
    let read_probe = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&args.read_database_url)?;
    ops_server::spawn(&command.ops, ops_server::postgres_ready(vec![read_probe])).await?;
    let mut store = store_config(&args.store)?;
    // On another store the projector needs no Postgres events database.
    if store.events != EventsIn::Postgres {
        store.postgres = None;
    }
    let running = services::start(PipelineConfig {
        store,
        services: Services {
            projector: Some(projector_config(&args)),
            ..Services::default()
        },
    })
    .await?;
    println!(
        "projector: read models in {}",
        crate::cli::redact(&args.read_database_url)
    );
    running.run_until(shutdown_signal()).await?;
    Ok(())
}

pub async fn projections(command: ProjectionsCommand) -> anyhow::Result<()> {
    // `retry` and `skip` only touch the read database, whatever the store.
    match command {
        ProjectionsCommand::Status { args, json } => status(&args, json).await,
        ProjectionsCommand::Retry { name, who, args } => {
            let actor = who.actor()?;
            orderflow_projections::retry(&projector_config(&args), &name, &actor).await?;
            println!("{name}: resumed by {actor}; its dead-lettered event will be tried again");
            Ok(())
        }
        ProjectionsCommand::Skip { name, who, args } => {
            let actor = who.actor()?;
            orderflow_projections::skip(&projector_config(&args), &name, &actor).await?;
            println!("{name}: resumed by {actor} past its dead-lettered event");
            Ok(())
        }
        ProjectionsCommand::Rebuild {
            name,
            all,
            json,
            who,
            args,
        } => {
            let target = match (name, all) {
                (_, true) => "all".to_owned(),
                (Some(n), false) => n,
                (None, false) => anyhow::bail!("name a projection, or use --all"),
            };
            rebuild(&args, &target, json, &who.actor()?).await
        }
    }
}

async fn status(args: &ProjectorArgs, json: bool) -> anyhow::Result<()> {
    let config = projector_config(args);
    let store = open_events(&args.store).await?;
    let read = connect_read_db(&config.read_database_url, 2)
        .await
        .with_context(|| unreachable_hint(&config.read_database_url))?;
    // Lag counts stop at STORE_LAG_LIMIT (any store).
    let statuses = orderflow_projections::status_with_store(&*store, &read).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(());
    }
    println!(
        "{:<16} {:>7} {:>18} {:>18} {:>10} {:>9}  {:<11} {:>4}  last error",
        "projection", "version", "position", "head", "lag", "lag s", "state", "dead"
    );
    for s in statuses {
        // A projection backing off says when it tries again.
        let next = s
            .next_attempt_at
            .map(|t| format!(" (next attempt {})", t.format("%H:%M:%S%.3fZ")))
            .unwrap_or_default();
        println!(
            "{:<16} {:>7} {:>18} {:>18} {:>10} {:>9.1}  {:<11} {:>4}  {}{next}",
            s.name,
            s.version,
            s.position
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            s.head.to_string(),
            if s.lag_events >= STORE_LAG_LIMIT {
                format!("{}+", s.lag_events)
            } else {
                s.lag_events.to_string()
            },
            s.lag_seconds,
            s.state,
            s.dead_letters,
            s.last_error.unwrap_or_default(),
        );
    }
    println!();
    crate::audit::print_recent(&read).await?;
    Ok(())
}

async fn rebuild(
    args: &ProjectorArgs,
    target: &str,
    json: bool,
    actor: &Actor,
) -> anyhow::Result<()> {
    let config = projector_config(args);
    let store = open_events(&args.store).await?;
    let bar = ProgressBar::new(0);
    // The total is counted beside the rebuild; until it is known the bar
    // shows the count alone.
    let template = "rebuild [{bar:30}] {pos}/{len} events  {msg}  eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut progress = |p: &RebuildProgress| {
        if let Some(total) = p.total_events {
            bar.set_length(total);
        }
        bar.set_position(p.events);
        bar.set_message(format!("{:.0} events/s", p.events_per_sec));
    };
    // As many read connections as the projector uses for a rebuild.
    let read = connect_read_db(&config.read_database_url, 8)
        .await
        .with_context(|| unreachable_hint(&config.read_database_url))?;
    // Recorded like the console's: in `projection_rebuilds` (the console
    // shows its progress) and the audit log, refused while another runs.
    let ids: Vec<i64> = request_rebuilds(&read, target, actor)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let report = run_requested(store, &read, &ids, target, &config, &mut progress).await?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "rebuilt {} from {} events in {:.1} s ({:.0} events/s), now at {}",
            report.projections.join(", "),
            report.events,
            report.seconds,
            report.events_per_sec,
            report.position
        );
        if let Some(stop) = report.stopped_before {
            println!("stopped before a poison event: {stop}");
        }
    }
    Ok(())
}
