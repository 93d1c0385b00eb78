use orderflow_event_store::{Position, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("unknown projection {0:?}")]
    UnknownProjection(String),
    #[error("projection {0} has no dead letter to {1}")]
    NothingToResolve(String, &'static str),
    #[error("event at {position} cannot be folded by {projection}: {message}")]
    Poison {
        projection: String,
        position: Position,
        message: String,
    },
    #[error("stored checkpoint of {0} is unreadable: {1}")]
    Checkpoint(String, String),
    #[error("migrating the read database: {0}")]
    Migrate(String),
}

impl ProjectionError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> ProjectionError {
        ProjectionError::Nats(e.to_string())
    }
}

/// Why one event could not be folded (a poison event, not an outage).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FoldError(pub String);
