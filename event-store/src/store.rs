use async_trait::async_trait;

use crate::{
    AppendRequest, AppendResult, IdempotencyRecord, Position, RecordedEvent, StoreError, StreamId,
};

/// The event store every other part of orderflow talks to.
///
/// Implementations: [`crate::PgEventStore`] (the default),
/// [`crate::InMemoryStore`] (tests of the layers above), and KurrentDB. All of
/// them pass the same conformance suite (`conformance` feature).
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends the request's events to its stream atomically, if the stream
    /// is at the expected version. Re-appending the same event ids to the
    /// same stream is a no-op that returns the original result.
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError>;

    /// All events of one stream in version order (empty if it does not exist).
    async fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events after `after`, in the store's commit-safe order:
    /// an event is returned only once no event before it can still appear, so
    /// a reader that checkpoints the last position it saw never skips one.
    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last event `read_all` can return now
    /// ([`Position::START`] when there is none).
    async fn head(&self) -> Result<Position, StoreError>;

    /// The response remembered under an idempotency key, if any.
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
}
