//! Catching up from the store: the source of truth, read through the
//! `EventStore` trait (so any store works), used on start, after a gap in
//! the live feed, and while NATS is away.

use orderflow_event_store::{EventStore, Position, RecordedEvent, StoreError};

/// The next at most `batch` events after `after`, and whether they reach
/// what the store can return now (a short read: the live feed can take over).
pub(crate) async fn next(
    store: &dyn EventStore,
    after: Position,
    batch: usize,
) -> Result<(Vec<RecordedEvent>, bool), StoreError> {
    let batch = batch.max(1);
    let events = store.read_all(after, batch).await?;
    let caught_up = events.len() < batch;
    Ok((events, caught_up))
}
