use crate::{ExpectedVersion, IdempotencyRecord, StreamId};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved since the writer read it.
    #[error("stream {stream} is at version {actual}, expected {expected:?}")]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        actual: u64,
    },

    /// Some, but not all, of an append's event ids exist already, or they
    /// exist in another stream: this is not a retry of an earlier append.
    #[error("event {event_id} was already appended with different content or stream")]
    EventIdReused { event_id: uuid::Uuid },

    /// The idempotency key was used before; the first response is attached.
    #[error("idempotency key {:?} was used before", .0.key)]
    IdempotencyKeyUsed(Box<IdempotencyRecord>),

    #[error("an append needs at least one event")]
    EmptyAppend,

    /// The store could not be reached or the connection broke. Nothing can be
    /// assumed about an append that fails this way, which is why appends are
    /// idempotent by event id.
    #[error("event store unavailable: {0}")]
    Unavailable(String),

    /// The connection broke while the batch's COMMIT was in flight and the
    /// store could not find out afterwards whether it took effect: the
    /// append may or may not be stored. Retrying with the same event ids
    /// (or idempotency key) is safe and settles it.
    #[error("event store outcome unknown: {0}")]
    Ambiguous(String),

    /// Postgres refused this append's own data (a `\u0000` in a JSON
    /// string, a value out of range): retrying cannot help, and no other
    /// append of its batch was affected.
    #[error("event store refused the append: {reason}")]
    Rejected { reason: String },

    #[error("event store error: {0}")]
    Backend(String),

    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(e.to_string())
            }
            // Connection failures (08), server shutting down or terminating
            // us (57P), too many connections (53300), or a database closed
            // to connections (55000).
            E::Database(ref db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "55000"
                }) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Backend(other.to_string()),
        }
    }
}
