use orderflow_event_store::StoreError;

use crate::ports::EffectError;

/// What the process manager's operations fail with.
#[derive(Debug, thiserror::Error)]
pub enum FulfilmentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("fulfilment database: {0}")]
    Database(#[from] sqlx::Error),
    /// A command's receiver is away; the command stays outstanding.
    #[error("effect failed: {0}")]
    Effect(#[from] EffectError),
    /// Stored data that cannot be read (never passes by retrying).
    #[error("unreadable: {0}")]
    Corrupt(String),
    #[error("instance {0} kept changing under this owner")]
    Contention(String),
    #[error("migrating the fulfilment database: {0}")]
    Migrate(String),
    #[error(transparent)]
    Subscription(#[from] orderflow_subscriptions::SubscriptionError),
}
