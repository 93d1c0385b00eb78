use async_trait::async_trait;

use crate::{
    AppendRequest, AppendResult, AppendSignal, IdempotencyRecord, Position, RawEvent,
    RecordedEvent, StoreError, StreamId, Watermark,
};

/// Events per read when a default method below pages through `read_all`.
const PAGE: usize = 1000;

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

    /// The response remembered under an idempotency key, if any and not
    /// expired (see [`IdempotencyClaim::ttl`](crate::IdempotencyClaim::ttl)).
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Forgets up to `limit` expired idempotency keys and returns how many
    /// it removed; callers repeat while it returns `limit`. It never waits
    /// for an append, nor makes one wait: keys an append is replacing are
    /// left for the next round. Expiry does not depend on this running
    /// (lookups ignore expired keys); it only keeps the table small.
    async fn delete_expired_idempotency(&self, limit: usize) -> Result<u64, StoreError>;

    /// [`read_all`](EventStore::read_all) as [`RawEvent`]s, for bulk readers
    /// (rebuilds): same order, same watermark, same positions. The default
    /// converts `read_all`'s events; Postgres reads lean rows instead
    /// (about half the work per event).
    async fn read_all_raw(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let events = self.read_all(after, limit).await?;
        Ok(events.into_iter().map(RawEvent::from).collect())
    }

    /// Positions that cut the events after `after`, up to and including
    /// `until`, into consecutive ranges of about `events_per_range` events,
    /// so a bulk reader (a rebuild) can read several ranges at once with
    /// [`read_range_raw`](EventStore::read_range_raw). Ascending, each
    /// strictly between `after` and `until`: any such cut is correct, the
    /// sizes are a hint. The default cuts nothing (one range, read in order).
    async fn split_range(
        &self,
        after: Position,
        until: Position,
        events_per_range: usize,
    ) -> Result<Vec<Position>, StoreError> {
        let _ = (after, until, events_per_range);
        Ok(Vec::new())
    }

    /// Up to `limit` of the events after `after` and at or before `until`,
    /// as [`read_all_raw`](EventStore::read_all_raw) returns them. With
    /// `until` at most [`head`](EventStore::head) the range is final, so
    /// ranges can be read at once, in any order. The default cuts
    /// `read_all_raw`'s page at `until`.
    async fn read_range_raw(
        &self,
        after: Position,
        until: Position,
        limit: usize,
    ) -> Result<Vec<RawEvent>, StoreError> {
        if until <= after {
            return Ok(Vec::new());
        }
        let mut raw = self.read_all_raw(after, limit).await?;
        raw.truncate(raw.partition_point(|e| e.position <= until));
        Ok(raw)
    }

    /// How many events `read_all` would return after `after` now (the lag
    /// of a reader whose checkpoint is `after`), counting at most `limit`.
    /// A store without a count index counts by reading, so callers bound
    /// the work with `limit`; `u64::MAX` asks for the exact number. The
    /// default pages through `read_all`.
    async fn count_after(&self, after: Position, limit: u64) -> Result<u64, StoreError> {
        let mut counted = 0u64;
        let mut from = after;
        while counted < limit {
            let want = usize::try_from(limit - counted)
                .unwrap_or(usize::MAX)
                .min(PAGE);
            let page = self.read_all(from, want).await?;
            counted += page.len() as u64;
            match page.last() {
                Some(last) if page.len() == want => from = last.position,
                _ => break,
            }
        }
        Ok(counted)
    }

    /// How far the readable log trails the commits (see [`Watermark`]). The
    /// default is a store without a watermark.
    async fn watermark(&self) -> Result<Watermark, StoreError> {
        Ok(Watermark::default())
    }

    /// What a reader of the log waits on between reads that found nothing
    /// (see [`AppendSignal`]). Must be called inside a Tokio runtime. The
    /// default cannot tell when appends commit: waiting is polling.
    fn append_signal(&self) -> AppendSignal {
        AppendSignal::polling()
    }

    /// The position a relay named `name` last saved (`None`: never saved).
    async fn relay_checkpoint(&self, name: &str) -> Result<Option<Position>, StoreError>;

    /// Records that relay `name` has published everything up to `position`.
    /// The store keeps what it is given, even an older position: the relay
    /// only ever saves a position JetStream acknowledged, and re-publishing
    /// from an older one is de-duplicated downstream.
    async fn save_relay_checkpoint(&self, name: &str, position: Position)
    -> Result<(), StoreError>;
}
