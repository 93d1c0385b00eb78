use orderflow_event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// On the leader lock's connection.
    #[error("relay database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("lost the relay leader lock")]
    LostLeadership,
    #[error("migrating the relay's status table: {0}")]
    Migrate(String),
    /// The stream's settings cannot be made what the configuration asks
    /// (NATS or the relay refused them); retrying would not help.
    #[error("JetStream stream settings: {0}")]
    StreamConfig(String),
}

impl RelayError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> RelayError {
        RelayError::Nats(e.to_string())
    }
}
