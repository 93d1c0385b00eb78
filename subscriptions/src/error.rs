use orderflow_event_store::{Position, StoreError};

/// What the runtime's operations fail with.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("subscriber database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("subscriber {0} has no dead letter to {1}")]
    NothingToResolve(String, &'static str),
    #[error("event at {position} cannot be handled by {subscriber}: {message}")]
    Poison {
        subscriber: String,
        position: Position,
        message: String,
    },
    #[error("stored checkpoint of {0} is unreadable: {1}")]
    Checkpoint(String, String),
    #[error("migrating the subscriber database: {0}")]
    Migrate(String),
    /// A subscriber's own failure that is expected to pass (see
    /// [`HandleError::Transient`]).
    #[error("{0}")]
    Transient(String),
}

impl SubscriptionError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> SubscriptionError {
        SubscriptionError::Nats(e.to_string())
    }
}

/// Why [`Subscriber::handle`](crate::Subscriber::handle) failed. The runtime
/// rolls the transaction back either way; what it does next depends on the
/// kind.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Event `index` of the slice given to `handle` can never be handled
    /// (bad data). The events before it are committed, it is retried with
    /// backoff, then dead-lettered and the subscriber stops.
    #[error("event {index} of the batch: {message}")]
    Poison { index: usize, message: String },
    /// A database error in the transaction. Poison when it will repeat (see
    /// [`is_poison`]): the runtime then finds the event by handling the
    /// batch one event at a time. Transient otherwise: back off, try again.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else that should pass (e.g. the event store refusing a
    /// process manager's command while it is away): back off, try again.
    #[error("{0}")]
    Transient(String),
}

/// Whether `e` will fail the same way on every retry of the same events:
/// bad data (SQLSTATE class 22) or a violated constraint (class 23), or
/// stored state that cannot be decoded. Anything else (connection loss,
/// serialization failure, deadlock, timeouts) is transient.
pub fn is_poison(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
        _ => false,
    }
}
