//! How far a store's readable log trails its commits.

use std::time::Duration;

/// What [`EventStore::watermark`](crate::EventStore::watermark) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watermark {
    /// How long the oldest transaction still open has held readers back
    /// (zero when none does). `None` for a store without a watermark: one
    /// whose log only ever holds committed events in commit order
    /// (KurrentDB, the in-memory store).
    pub age: Option<Duration>,
}
