//! Which event store the services append to and the relay tails:
//! `EVENT_STORE=postgres` (default) or `EVENT_STORE=kurrentdb` with
//! `KURRENTDB_URL`. The events database (`DATABASE_URL`) is opened either
//! way: it holds the relay's leader lock (its checkpoint is the chosen
//! store's). The projector and
//! `orderflow projections` read the chosen store too (see [`open_events`]).

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use orderflow::{EventStores, EventsIn, StoreConfig};
use orderflow_event_store::EventStore;

use crate::config::{StoreArgs, pg_store_config};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventStoreKind {
    Postgres,
    Kurrentdb,
}

#[derive(Debug, Clone, Args)]
pub struct EventStoreArgs {
    /// Where events are stored: `postgres` or `kurrentdb` (needs a binary
    /// built with `--features kurrentdb`).
    #[arg(long, env = "EVENT_STORE", value_enum, default_value_t = EventStoreKind::Postgres)]
    pub event_store: EventStoreKind,
    /// KurrentDB connection string for `EVENT_STORE=kurrentdb`, e.g.
    /// `kurrentdb://localhost:2113?tls=false` (`esdb://…` works too).
    #[arg(long, env = "KURRENTDB_URL", hide_env_values = true)]
    pub kurrentdb_url: Option<String>,
}

/// Where the events live, as the pipeline library takes it.
pub fn events_in(args: &EventStoreArgs) -> anyhow::Result<EventsIn> {
    match args.event_store {
        EventStoreKind::Postgres => Ok(EventsIn::Postgres),
        EventStoreKind::Kurrentdb => {
            let url = args.kurrentdb_url.clone().context(
                "EVENT_STORE=kurrentdb needs KURRENTDB_URL (e.g. kurrentdb://localhost:2113?tls=false)",
            )?;
            Ok(EventsIn::KurrentDb(url))
        }
    }
}

/// The store `orderflow projections` reads, whichever it is, through the
/// `EventStore` trait: Postgres from `DATABASE_URL`, or KurrentDB (then no
/// Postgres events database is opened: these commands need none).
pub async fn open_events(args: &StoreArgs) -> anyhow::Result<Arc<dyn EventStore>> {
    let events = events_in(&args.choice)?;
    let postgres = (events == EventsIn::Postgres).then(|| pg_store_config(args));
    let stores = EventStores::open(&StoreConfig { events, postgres })
        .await
        .map_err(crate::services::explain)?;
    Ok(stores.events())
}
