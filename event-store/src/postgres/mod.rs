//! The Postgres event store: one `events` table, appends coalesced by group
//! commit, reads below the transaction watermark.

mod admin;
mod in_doubt;
mod key_expiry;
mod listen;
pub mod pg_admin;
mod read;
mod relay_checkpoint;
mod write;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};

pub use admin::{database_name, ensure_database, migrate};
use write::Pending;

use crate::append_signal::Commits;
use crate::{
    AppendRequest, AppendResult, AppendSignal, EventStore, IdempotencyRecord, Position, RawEvent,
    RecordedEvent, StoreError, StreamId, Watermark,
};

/// How the Postgres store connects and batches.
#[derive(Debug, Clone)]
pub struct PgStoreConfig {
    pub url: String,
    /// Pool size; writers take one connection each while committing.
    pub max_connections: u32,
    /// Group-commit writers. Streams are assigned to writers by hash, so one
    /// stream's appends are always committed in arrival order by one writer.
    pub writers: usize,
    /// Most appends one transaction takes.
    pub max_batch: usize,
    pub connect_timeout: Duration,
    /// `idle_in_transaction_session_timeout` of the store's sessions. The
    /// store never idles inside a transaction, but a session that does
    /// (a stuck process, a hung client) holds the cluster-wide watermark
    /// back for the relay, every projector and read-your-writes; Postgres
    /// ends it after this long. Zero leaves the server's setting.
    pub idle_in_transaction_timeout: Duration,
}

impl PgStoreConfig {
    /// The events database on a local Postgres with trust authentication.
    pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/orderflow_events";
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
    pub const DEFAULT_WRITERS: usize = 2;

    pub fn new(url: impl Into<String>) -> Self {
        PgStoreConfig {
            url: url.into(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            writers: Self::DEFAULT_WRITERS,
            max_batch: 512,
            connect_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(10),
        }
    }
}

fn connect_options(config: &PgStoreConfig) -> Result<PgConnectOptions, StoreError> {
    let mut options = PgConnectOptions::from_str(&config.url)?;
    if !config.idle_in_transaction_timeout.is_zero() {
        options = options.options([(
            "idle_in_transaction_session_timeout",
            format!("{}ms", config.idle_in_transaction_timeout.as_millis()),
        )]);
    }
    Ok(options)
}

fn pool_options(config: &PgStoreConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.connect_timeout)
}

/// The default store. Cheap to clone; all clones share the pool and writers.
#[derive(Debug, Clone)]
pub struct PgEventStore {
    pool: PgPool,
    writers: Vec<mpsc::Sender<Pending>>,
    commits: Commits,
    /// Whether the `LISTEN` task runs (started by the first `append_signal`).
    listening: Arc<Once>,
}

impl PgEventStore {
    /// Connects, applies the schema migrations and starts the writers.
    /// The database must exist (see [`ensure_database`]).
    pub async fn connect(config: PgStoreConfig) -> Result<PgEventStore, StoreError> {
        let pool = pool_options(&config)
            .connect_with(connect_options(&config)?)
            .await?;
        migrate(&pool).await?;
        Ok(Self::with_pool(pool, &config))
    }

    /// Connects on first use and migrates nothing: for a reader that must
    /// start while the database is away (the query API's `projections`
    /// field) and leaves the schema to the writers. Must run inside a Tokio
    /// runtime.
    pub fn connect_lazy(config: PgStoreConfig) -> Result<PgEventStore, StoreError> {
        let pool = pool_options(&config).connect_lazy_with(connect_options(&config)?);
        Ok(Self::with_pool(pool, &config))
    }

    /// Uses an existing, migrated pool (its connect options stay as they
    /// are: `idle_in_transaction_timeout` is not applied). Must run inside a
    /// Tokio runtime.
    pub fn with_pool(pool: PgPool, config: &PgStoreConfig) -> PgEventStore {
        let commits = Commits::new();
        let writers = (0..config.writers.max(1))
            .map(|_| write::spawn_writer(pool.clone(), config.max_batch.max(1), commits.clone()))
            .collect();
        PgEventStore {
            pool,
            writers,
            commits,
            listening: Arc::new(Once::new()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn writer_for(&self, stream: &StreamId) -> &mpsc::Sender<Pending> {
        let mut h = DefaultHasher::new();
        stream.hash(&mut h);
        // `writers` has at least one element (see `with_pool`).
        &self.writers[(h.finish() % self.writers.len() as u64) as usize]
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let (reply, rx) = oneshot::channel();
        let writer = self.writer_for(&request.stream_id);
        writer
            .send(Pending { request, reply })
            .await
            .map_err(|_| StoreError::Unavailable("event store writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("event store writer stopped".into()))?
    }

    async fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_stream(&self.pool, stream).await
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_all(&self.pool, after, limit).await
    }

    async fn head(&self) -> Result<Position, StoreError> {
        read::head(&self.pool).await
    }

    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        read::find_idempotency(&self.pool, key).await
    }

    async fn delete_expired_idempotency(&self, limit: usize) -> Result<u64, StoreError> {
        key_expiry::delete_expired(&self.pool, limit).await
    }

    async fn read_all_raw(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RawEvent>, StoreError> {
        read::read_all_raw(&self.pool, after, limit).await
    }

    async fn split_range(
        &self,
        after: Position,
        until: Position,
        events_per_range: usize,
    ) -> Result<Vec<Position>, StoreError> {
        read::split_range(&self.pool, after, until, events_per_range).await
    }

    async fn read_range_raw(
        &self,
        after: Position,
        until: Position,
        limit: usize,
    ) -> Result<Vec<RawEvent>, StoreError> {
        read::read_range_raw(&self.pool, after, until, limit).await
    }

    async fn count_after(&self, after: Position, limit: u64) -> Result<u64, StoreError> {
        read::count_after(&self.pool, after, limit).await
    }

    /// The age of the oldest transaction in the cluster holding an xid: it
    /// holds every reader of every database on the cluster back.
    async fn watermark(&self) -> Result<Watermark, StoreError> {
        Ok(Watermark {
            age: Some(read::watermark_age(&self.pool).await?),
        })
    }

    /// Woken by this process's writers at once, and by other processes'
    /// through `LISTEN` (a task started on the first call).
    fn append_signal(&self) -> AppendSignal {
        self.listening.call_once(|| {
            let (pool, commits) = (self.pool.clone(), self.commits.downgrade());
            tokio::spawn(async move { listen::run(&pool, commits).await });
        });
        self.commits.signal()
    }

    async fn relay_checkpoint(&self, name: &str) -> Result<Option<Position>, StoreError> {
        relay_checkpoint::load(&self.pool, name).await
    }

    async fn save_relay_checkpoint(
        &self,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        relay_checkpoint::save(&self.pool, name, position).await
    }
}
