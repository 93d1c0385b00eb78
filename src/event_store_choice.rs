//! Which event store the services append to and the relay tails:
//! `EVENT_STORE=postgres` (default) or `EVENT_STORE=kurrentdb` with
//! `KURRENTDB_URL`. The events database (`DATABASE_URL`) is opened either
//! way: it holds the relay's leader lock (its checkpoint is the chosen
//! store's). The projector and
//! `orderflow projections` read the chosen store too (see
//! [`open_non_postgres_store`]).

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use orderflow::{EventStores, EventsIn, StoreConfig};
use orderflow_event_store::EventStore;

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

/// The store the projector and `orderflow projections` read, when it is not
/// Postgres. `None` for Postgres: `orderflow_projections` opens that itself
/// from `DATABASE_URL` and reads its events table directly (faster rebuilds,
/// exact lag counts). Other stores need no Postgres events database there.
pub async fn open_non_postgres_store(
    args: &EventStoreArgs,
) -> anyhow::Result<Option<Arc<dyn EventStore>>> {
    let events = events_in(args)?;
    if events == EventsIn::Postgres {
        return Ok(None);
    }
    let config = StoreConfig {
        events,
        postgres: None,
    };
    let stores = EventStores::open(&config)
        .await
        .map_err(crate::services::explain)?;
    Ok(Some(stores.events()))
}
