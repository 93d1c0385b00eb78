//! How a projector connects and paces itself.

use std::time::Duration;

/// Settings shared by `run_projector`, `rebuild`, `status`, `retry`, `skip`.
/// `Default` works with Postgres and NATS on localhost.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The event store (`DATABASE_URL`).
    pub events_database_url: String,
    /// Where the read models live (`READ_DATABASE_URL`); created if missing.
    pub read_database_url: String,
    pub nats_url: String,
    /// The relay's JetStream stream.
    pub stream_name: String,
    /// Subject prefix shared with the relay; change notices go to
    /// `<prefix>.changes.…`.
    pub subject_prefix: String,
    /// Projections this process runs (all when `None`).
    pub projections: Option<Vec<String>>,
    /// Most events folded per transaction when catching up from the store.
    pub batch_size: usize,
    /// Events per store read during a rebuild.
    pub rebuild_batch_size: usize,
    /// A rebuild keeps everything it folded in memory and writes it (with
    /// COPY) at the end; past this many events it writes what it has and
    /// goes on with (slower) upserts, which bounds its memory.
    pub rebuild_flush_events: usize,
    /// Most rows a rebuild writes per transaction (COPY chunks), and the
    /// events it folds between writes once the first is done. Every
    /// transaction holding an xid holds back the store's watermark, which
    /// is cluster-wide: small chunks keep the relay and readers moving.
    pub rebuild_chunk_rows: usize,
    /// Store polling interval while no live feed is available.
    pub poll_interval: Duration,
    /// How long live consumption waits for a message before checking the
    /// store directly (covers a stopped relay).
    pub idle_check: Duration,
    /// How often a projection not owned here tries to take it over.
    pub standby_interval: Duration,
    /// Attempts at a failing event before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub retry_backoff: Duration,
    /// Commit projection batches without waiting for the WAL flush. A
    /// database crash can then lose the last batches, rows and checkpoint
    /// together, which the projector re-applies from the store; in exchange
    /// each batch commits about a disk flush sooner.
    pub async_commit: bool,
    /// Largest cached per-order state before the cache is dropped.
    pub max_cached_orders: usize,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        ProjectorConfig {
            events_database_url: "postgres://postgres@127.0.0.1:5432/orderflow_events".into(),
            read_database_url: "postgres://postgres@127.0.0.1:5432/orderflow_read".into(),
            nats_url: "nats://127.0.0.1:4222".into(),
            stream_name: "ORDERFLOW_EVENTS".into(),
            subject_prefix: "orderflow".into(),
            projections: None,
            batch_size: 1000,
            rebuild_batch_size: 5000,
            rebuild_flush_events: 2_000_000,
            rebuild_chunk_rows: 20_000,
            poll_interval: Duration::from_millis(20),
            idle_check: Duration::from_millis(500),
            standby_interval: Duration::from_secs(1),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(100),
            max_cached_orders: 200_000,
            async_commit: true,
        }
    }
}

impl ProjectorConfig {
    /// Durable JetStream consumer of one projection.
    pub fn consumer_name(&self, projection: &str) -> String {
        format!(
            "{}_projection_{projection}",
            self.subject_prefix.replace('.', "_")
        )
    }
}
