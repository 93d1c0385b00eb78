//! How a relay connects, names things and paces itself.

use std::time::Duration;

use orderflow_wire::subjects;

/// Settings of one relay. `Default` works against NATS and Postgres on
/// localhost.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub nats_url: String,
    /// JetStream stream that receives every event.
    pub stream_name: String,
    /// First subject token: events go to `<prefix>.events.<category>.<EventType>`.
    pub subject_prefix: String,
    /// How long JetStream keeps a message (zero = forever). The store stays
    /// the source of truth; consumers that fall further behind read it.
    pub max_age: Duration,
    /// Copies of the stream in a NATS cluster (1 on a single server). `None`
    /// creates a new stream with one and leaves an existing stream's as
    /// they are; an existing stream's replicas are never lowered.
    pub stream_replicas: Option<usize>,
    /// JetStream de-duplication window for `Nats-Msg-Id`; covers re-publishes
    /// after a failover or a lost ack.
    pub duplicate_window: Duration,
    /// Most events read and published per round.
    pub batch_size: usize,
    /// Sleep between reads when there was nothing new.
    pub poll_interval: Duration,
    /// How often a standby tries to take the leader lock.
    pub standby_interval: Duration,
    /// Names the checkpoint row and the advisory lock: relays with the same
    /// name elect one leader among them.
    pub relay_name: String,
    /// Longest wait between retries while NATS or Postgres is down.
    pub max_backoff: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            nats_url: "nats://127.0.0.1:4222".into(),
            stream_name: subjects::DEFAULT_EVENTS_STREAM.into(),
            subject_prefix: subjects::DEFAULT_PREFIX.into(),
            max_age: Duration::from_secs(7 * 24 * 3600),
            stream_replicas: None,
            duplicate_window: Duration::from_secs(120),
            batch_size: 500,
            poll_interval: Duration::from_millis(5),
            standby_interval: Duration::from_secs(1),
            relay_name: "default".into(),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RelayConfig {
    /// Subjects the stream captures.
    pub fn stream_subjects(&self) -> String {
        subjects::all_events(&self.subject_prefix)
    }
}
