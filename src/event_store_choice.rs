//! Which event store the services append to and the relay tails:
//! `EVENT_STORE=postgres` (default) or `EVENT_STORE=kurrentdb` with
//! `KURRENTDB_URL`. The events database (`DATABASE_URL`) is opened either
//! way: it holds the relay's checkpoint and leader lock. The projector and
//! `orderflow projections` read the chosen store too (see
//! [`open_non_postgres_store`]).

use std::sync::Arc;

use clap::{Args, ValueEnum};
use orderflow_event_store::{EventStore, PgEventStore};

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

/// The store the command API and the relay use.
pub async fn open_event_store(
    args: &EventStoreArgs,
    postgres: &PgEventStore,
) -> anyhow::Result<Arc<dyn EventStore>> {
    match args.event_store {
        EventStoreKind::Postgres => Ok(Arc::new(postgres.clone())),
        EventStoreKind::Kurrentdb => kurrentdb(args).await,
    }
}

/// The store the projector and `orderflow projections` read, when it is not
/// Postgres. `None` for Postgres: `orderflow_projections` opens that itself
/// from `DATABASE_URL` and reads its events table directly (faster rebuilds,
/// exact lag counts). Other stores need no Postgres events database there.
pub async fn open_non_postgres_store(
    args: &EventStoreArgs,
) -> anyhow::Result<Option<Arc<dyn EventStore>>> {
    match args.event_store {
        EventStoreKind::Postgres => Ok(None),
        EventStoreKind::Kurrentdb => kurrentdb(args).await.map(Some),
    }
}

#[cfg(feature = "kurrentdb")]
async fn kurrentdb(args: &EventStoreArgs) -> anyhow::Result<Arc<dyn EventStore>> {
    use anyhow::Context;
    use orderflow_event_store::{KurrentDbConfig, KurrentDbStore};

    let url = args.kurrentdb_url.as_deref().context(
        "EVENT_STORE=kurrentdb needs KURRENTDB_URL (e.g. kurrentdb://localhost:2113?tls=false)",
    )?;
    let store = KurrentDbStore::connect(KurrentDbConfig::new(url))?;
    store
        .ping()
        .await
        .with_context(|| format!("KurrentDB at {} does not answer", crate::cli::redact(url)))?;
    tracing::info!(url = %crate::cli::redact(url), "events are stored in KurrentDB");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "kurrentdb"))]
async fn kurrentdb(_: &EventStoreArgs) -> anyhow::Result<Arc<dyn EventStore>> {
    anyhow::bail!(
        "EVENT_STORE=kurrentdb, but this orderflow binary was built without KurrentDB support \
         (build it with `cargo build --features kurrentdb`)"
    )
}
