//! How the query API connects, and the limits it puts on every request.

use std::net::SocketAddr;
use std::time::Duration;

use orderflow_auth::RateLimitConfig;
use orderflow_projections::ProjectorConfig;

use crate::persisted::PersistedConfig;

/// Settings of one query API process. `Default` works with Postgres and
/// NATS on localhost.
#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    /// Where to listen (default `127.0.0.1:8081`).
    pub addr: SocketAddr,
    /// The read models (`READ_DATABASE_URL`); may be a read replica. Never
    /// created or migrated from here.
    pub read_database_url: String,
    /// Whether the `projections` field's `head` and `lag` ask the event
    /// store (handed to [`crate::QueryApi::connect`] through its trait, so
    /// any store): the read database does not know how far the store has
    /// got. Off, or without a store, those fields are null.
    pub store_status: bool,
    /// Change notices from the projectors (read-your-writes, subscriptions).
    pub nats_url: String,
    /// Subject prefix shared with the projectors: notices arrive on
    /// `<prefix>.changes.…`.
    pub subject_prefix: String,
    /// Longest a query sent with `X-Orderflow-Position` waits for the read
    /// models to reach that position before answering stale.
    pub position_wait: Duration,
    /// Read database connections.
    pub max_connections: u32,
    pub limits: QueryLimits,
    /// Per subject / client IP; on by default.
    pub rate_limit: RateLimitConfig,
    /// APQ cache and the optional trusted-document manifest.
    pub persisted: PersistedConfig,
    /// The operator console at `/console`.
    pub console: ConsoleConfig,
}

/// What the operator console reads beyond the read database.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The fulfilment process manager's database
    /// (`FULFILMENT_DATABASE_URL`): its subscriber, dead letters, stuck
    /// instances and the payment provider's breaker state. `None`: the
    /// console shows the projections only.
    pub fulfilment_database_url: Option<String>,
    /// An instance in an active phase without progress for this long is
    /// shown stuck (`SAGA_STUCK_AFTER`).
    pub stuck_after: Duration,
    /// The relay whose checkpoint and status the console shows.
    pub relay_name: String,
    /// The database of the relay's leader lock (the events database on
    /// Postgres, `DATABASE_URL`), where each relay process publishes its
    /// state. `None`: the console shows the relay's checkpoint only.
    pub relay_database_url: Option<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            fulfilment_database_url: None,
            stuck_after: Duration::from_secs(5 * 60),
            relay_name: "default".into(),
            relay_database_url: None,
        }
    }
}

impl Default for QueryApiConfig {
    fn default() -> Self {
        let projector = ProjectorConfig::default();
        QueryApiConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            // It reads what the projector writes and hears what it announces.
            read_database_url: projector.read_database_url,
            store_status: true,
            nats_url: projector.nats_url,
            subject_prefix: projector.subject_prefix,
            position_wait: Duration::from_secs(2),
            max_connections: 16,
            limits: QueryLimits::default(),
            rate_limit: RateLimitConfig::default(),
            persisted: PersistedConfig::default(),
            console: ConsoleConfig::default(),
        }
    }
}

/// What one request may ask for. Everything here is checked before a
/// resolver runs, except the timeout.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Deepest field nesting (introspection not counted).
    pub max_depth: usize,
    /// Most field selections once fragments are expanded; every alias
    /// counts. Stops "huge alias" and fragment-bomb queries early.
    pub max_fields: usize,
    /// Largest complexity, sized by database work: a field costs 1, lists
    /// multiply their children by their page size, day ranges by their
    /// days, and a field that may read a whole read model (`totalCount`,
    /// a sort on `updatedAt` or `total`, all-time `topProducts`) costs
    /// 1000 (see `schema/cost.rs`).
    pub max_complexity: usize,
    /// Most `topProducts`, `salesByDay` and `totalCount` selections in one
    /// document (aliases and fragments expanded), checked before anything
    /// runs: each is a statement that may be slow.
    pub max_expensive_fields: usize,
    /// Largest `first` / `last`.
    pub max_page_size: usize,
    /// Largest query text, in bytes.
    pub max_query_bytes: usize,
    /// Largest HTTP body (query plus variables, or a whole batch).
    pub max_body_bytes: usize,
    /// Most operations in one batched HTTP request.
    pub max_batch: usize,
    /// Longest one operation may run, waiting included.
    pub request_timeout: Duration,
    /// Longest one read-database statement may run (Postgres
    /// `statement_timeout` on every connection of the read pool, lock
    /// waits included); past it the field fails with `TIMEOUT`. Keeps a
    /// costly statement from holding a connection after its request gave
    /// up.
    pub statement_timeout: Duration,
    /// Most concurrent subscriptions on one WebSocket.
    pub max_subscriptions_per_connection: usize,
    /// Most subscriptions open at once on this process, all connections
    /// together; past it a new one fails with `LIMIT_EXCEEDED`.
    pub max_subscriptions_total: usize,
    /// Most WebSocket connections open at once from one client IP address;
    /// past it the upgrade is refused with HTTP 429 and `LIMIT_EXCEEDED`.
    pub max_ws_connections_per_client: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_depth: 12,
            max_fields: 1000,
            max_complexity: 10_000,
            max_expensive_fields: 4,
            max_page_size: 100,
            max_query_bytes: 16 * 1024,
            max_body_bytes: 256 * 1024,
            max_batch: 10,
            request_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(2),
            max_subscriptions_per_connection: 32,
            max_subscriptions_total: 4096,
            max_ws_connections_per_client: 16,
        }
    }
}
