//! How a projector connects and paces itself.

use std::time::Duration;

use orderflow_subscriptions::RuntimeConfig;

/// Settings shared by `run_projector_with`, `rebuild_with`, `retry`, `skip`
/// (the event store is handed to them, whichever it is).
/// `Default` works with Postgres and NATS on localhost. The runtime's part
/// is handed over by [`ProjectorConfig::runtime`].
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
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
    /// Events per store read during a rebuild (and about the size of the
    /// ranges the store is cut into for reading).
    pub rebuild_batch_size: usize,
    /// Ranges a rebuild reads (and decodes) at once.
    pub rebuild_read_parallel: usize,
    /// A rebuild keeps everything it folded in memory and writes it (with
    /// COPY) at the end; past this many events it writes what it has and
    /// goes on with (slower) upserts, which bounds its memory.
    pub rebuild_flush_events: usize,
    /// Most rows a rebuild writes per transaction (COPY chunks), and the
    /// events it folds between writes once the first is done. Every
    /// transaction holding an xid holds back the store's watermark, which
    /// is cluster-wide: small chunks keep the relay and readers moving.
    pub rebuild_chunk_rows: usize,
    // The runtime's pacing, documented on `RuntimeConfig`'s fields of
    // the same names.
    pub poll_interval: Duration,
    pub idle_check: Duration,
    pub standby_interval: Duration,
    pub max_attempts: u32,
    pub retry_backoff: Duration,
    pub async_commit: bool,
    /// Largest cached per-order state before the cache is dropped.
    pub max_cached_orders: usize,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        let runtime = RuntimeConfig::default();
        ProjectorConfig {
            read_database_url: "postgres://postgres@127.0.0.1:5432/orderflow_read".into(),
            nats_url: runtime.nats_url,
            stream_name: runtime.stream_name,
            subject_prefix: "orderflow".into(),
            projections: None,
            batch_size: runtime.batch_size,
            rebuild_batch_size: 5000,
            rebuild_read_parallel: 4,
            rebuild_flush_events: 2_000_000,
            rebuild_chunk_rows: 20_000,
            poll_interval: runtime.poll_interval,
            idle_check: runtime.idle_check,
            standby_interval: runtime.standby_interval,
            max_attempts: runtime.max_attempts,
            retry_backoff: runtime.retry_backoff,
            max_cached_orders: 200_000,
            async_commit: runtime.async_commit,
        }
    }
}

impl ProjectorConfig {
    /// What the subscription runtime needs of these settings.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            nats_url: self.nats_url.clone(),
            stream_name: self.stream_name.clone(),
            batch_size: self.batch_size,
            poll_interval: self.poll_interval,
            idle_check: self.idle_check,
            standby_interval: self.standby_interval,
            max_attempts: self.max_attempts,
            retry_backoff: self.retry_backoff,
            async_commit: self.async_commit,
        }
    }
}
