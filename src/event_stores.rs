//! Opening the event store a pipeline runs on: Postgres, or KurrentDB with a
//! Postgres database beside it for the relay's checkpoint and leader lock.

use std::fmt;
use std::sync::Arc;

use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use sqlx::PgPool;

use crate::assembly::PipelineError;

/// Where the events are appended and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsIn {
    /// The `events` table of the Postgres events database.
    Postgres,
    /// KurrentDB at this connection string (needs the `kurrentdb` feature).
    KurrentDb(String),
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub events: EventsIn,
    /// The Postgres events database, created and migrated if missing. With
    /// KurrentDB it holds only the relay's checkpoint and lock; `None` opens
    /// none (a projector on KurrentDB needs none).
    pub postgres: Option<PgStoreConfig>,
}

impl StoreConfig {
    /// Events in Postgres at `url`, with the store's default pool.
    pub fn postgres(url: &str) -> StoreConfig {
        StoreConfig {
            events: EventsIn::Postgres,
            postgres: Some(PgStoreConfig::new(url)),
        }
    }
}

/// The opened store: what the services append to and read, and the Postgres
/// events database when there is one.
#[derive(Clone)]
pub struct EventStores {
    events: Arc<dyn EventStore>,
    postgres: Option<PgEventStore>,
    events_in_postgres: bool,
}

impl fmt::Debug for EventStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStores")
            .field("events_in_postgres", &self.events_in_postgres)
            .field("postgres", &self.postgres.is_some())
            .finish_non_exhaustive()
    }
}

impl EventStores {
    pub async fn open(config: &StoreConfig) -> Result<EventStores, PipelineError> {
        let postgres = match &config.postgres {
            Some(pg) => Some(open_postgres(pg).await?),
            None => None,
        };
        match &config.events {
            EventsIn::Postgres => {
                let store = postgres.ok_or(PipelineError::NoEventsDatabase)?;
                Ok(EventStores::on_postgres(store))
            }
            EventsIn::KurrentDb(url) => Ok(EventStores {
                events: open_kurrentdb(url).await?,
                postgres,
                events_in_postgres: false,
            }),
        }
    }

    /// An already connected Postgres store (tests, benchmarks).
    pub fn on_postgres(store: PgEventStore) -> EventStores {
        EventStores {
            events: Arc::new(store.clone()),
            postgres: Some(store),
            events_in_postgres: true,
        }
    }

    /// What the command API appends to and the relay and projector read.
    pub fn events(&self) -> Arc<dyn EventStore> {
        Arc::clone(&self.events)
    }

    /// The Postgres events database, if opened.
    pub fn postgres(&self) -> Option<&PgEventStore> {
        self.postgres.as_ref()
    }

    /// The pool on the `events` table, only when the events live there: the
    /// projector gets a store of its own on the same database.
    pub fn events_pool(&self) -> Option<&PgPool> {
        self.postgres
            .as_ref()
            .filter(|_| self.events_in_postgres)
            .map(PgEventStore::pool)
    }

    /// Closes the Postgres pool (the other stores hold no pooled sessions).
    pub async fn close(&self) {
        if let Some(pg) = &self.postgres {
            pg.pool().close().await;
        }
    }
}

async fn open_postgres(config: &PgStoreConfig) -> Result<PgEventStore, PipelineError> {
    let unreachable = |source| PipelineError::Postgres {
        url: config.url.clone(),
        source,
    };
    let created = orderflow_event_store::ensure_database(&config.url)
        .await
        .map_err(unreachable)?;
    if created {
        tracing::info!(
            database = orderflow_event_store::database_name(&config.url).unwrap_or_default(),
            "created the events database"
        );
    }
    PgEventStore::connect(config.clone())
        .await
        .map_err(unreachable)
}

#[cfg(feature = "kurrentdb")]
async fn open_kurrentdb(url: &str) -> Result<Arc<dyn EventStore>, PipelineError> {
    use orderflow_event_store::{KurrentDbConfig, KurrentDbStore};

    let failed = |source| PipelineError::KurrentDb {
        url: url.to_owned(),
        source,
    };
    let store = KurrentDbStore::connect(KurrentDbConfig::new(url)).map_err(failed)?;
    store.ping().await.map_err(failed)?;
    tracing::info!("events are stored in KurrentDB");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "kurrentdb"))]
async fn open_kurrentdb(_: &str) -> Result<Arc<dyn EventStore>, PipelineError> {
    Err(PipelineError::NoKurrentDbSupport)
}
