//! How the runtime connects and paces its subscribers.

use std::time::Duration;

/// Settings shared by every subscriber a [`Runtime`](crate::Runtime) runs.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub nats_url: String,
    /// The relay's JetStream stream.
    pub stream_name: String,
    /// Most events handled per transaction.
    pub batch_size: usize,
    /// Store polling interval while no live feed is available.
    pub poll_interval: Duration,
    /// How long live consumption waits for a message before checking the
    /// store directly (covers a stopped relay).
    pub idle_check: Duration,
    /// How often a standby asks for a subscriber's lease.
    pub standby_interval: Duration,
    /// Attempts at a failing event before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay of a failing event; doubles per attempt.
    pub retry_backoff: Duration,
    /// Commit batches without waiting for the WAL flush. A database crash
    /// can then lose the last batches, effects and checkpoint together,
    /// which are handled again from the store.
    pub async_commit: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            nats_url: "nats://127.0.0.1:4222".into(),
            stream_name: "ORDERFLOW_EVENTS".into(),
            batch_size: 1000,
            poll_interval: Duration::from_millis(20),
            idle_check: Duration::from_millis(500),
            standby_interval: Duration::from_secs(1),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(100),
            async_commit: true,
        }
    }
}
