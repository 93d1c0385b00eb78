use orderflow_event_store::{Position, StoreError};
use orderflow_subscriptions::SubscriptionError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error("unknown projection {0:?}")]
    UnknownProjection(String),
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

/// A rebuild run by the runtime's start-version hook reports in the
/// runtime's terms.
impl From<ProjectionError> for SubscriptionError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Database(e) => SubscriptionError::Database(e),
            ProjectionError::Store(e) => SubscriptionError::Store(e),
            ProjectionError::Subscription(e) => e,
            ProjectionError::Poison {
                projection,
                position,
                message,
            } => SubscriptionError::Poison {
                subscriber: projection,
                position,
                message,
            },
            ProjectionError::Checkpoint(name, message) => {
                SubscriptionError::Checkpoint(name, message)
            }
            ProjectionError::Migrate(m) => SubscriptionError::Migrate(m),
            e @ ProjectionError::UnknownProjection(_) => {
                SubscriptionError::Transient(e.to_string())
            }
        }
    }
}

/// Why one event could not be folded (a poison event, not an outage).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FoldError(pub String);
