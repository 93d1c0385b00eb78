//! The event store on KurrentDB (formerly EventStoreDB), through the
//! official gRPC client (`kurrentdb` crate). Behind the `kurrentdb` feature.
//!
//! How orderflow maps onto it:
//!
//! - **Streams** keep their names (`order-<uuid>`), after an optional
//!   [`KurrentDbConfig::namespace`] that is empty in production and unique
//!   per test on a shared server.
//! - **Versions**: orderflow's 1-based stream version is KurrentDB's 0-based
//!   revision + 1; `NoStream`/`Exact(0)` → `StreamState::NoStream`,
//!   `Exact(v)` → `StreamRevision(v - 1)`, `Any` → `Any`. A wrong expected
//!   version becomes [`crate::StoreError::WrongExpectedVersion`] with the
//!   stream's actual version, as the Postgres store returns it.
//! - **Event ids** are KurrentDB event ids, so a retried append (same ids,
//!   same expectation) is de-duplicated by the server. Because the server's
//!   de-duplication is best effort for `Any` and absent after a failed
//!   expectation, the store also checks the stream: all ids present → the
//!   original result; some → `EventIdReused`. *Not* detected: the same ids in
//!   another stream (KurrentDB has no index by event id); the Postgres store
//!   rejects that, this one appends them.
//! - **Metadata** (`$correlationId`, `$causationId`, actor, traceparent,
//!   idempotency key, schema version, event type) is the event's custom
//!   metadata JSON; see `metadata.rs`.
//! - **Positions**: `Position(major, minor)` is the full `$all` position
//!   `(commit, prepare)`, never the commit position alone. An append's
//!   result position is read back from its last event.
//! - **read_all** reads `$all` forwards from the checkpoint with a
//!   server-side stream-prefix filter ([`KurrentDbConfig::stream_prefixes`]),
//!   dropping system (`$`) events. `$all` only ever holds committed events,
//!   in commit order, so no watermark is needed. **head** reads `$all`
//!   backwards with the same filter.
//! - **Idempotency keys**: a key stream per key, claimed with optimistic
//!   concurrency before the append; see `idempotency.rs` for the protocol
//!   and what it does not guarantee.
//! - **Relay checkpoints**: a stream per relay outside the prefixes, its
//!   last event the position; see `relay_checkpoint.rs`.
//! - **No group commit**: each append is one gRPC call (plus the read-back);
//!   KurrentDB batches writes internally.
//! - **Failures**: the client reconnects (and finds the leader) by itself;
//!   connection, leader and deadline errors are `StoreError::Unavailable`,
//!   so the relay backs off and resumes from its checkpoint.

mod error;
mod idempotency;
mod metadata;
mod position;
mod relay_checkpoint;
mod store;

use std::time::Duration;

pub use store::KurrentDbStore;

use crate::StoreError;

/// The stream prefixes of orderflow's aggregates (`domain`'s categories).
/// A new category must be added here, or its events are never relayed.
pub const DEFAULT_STREAM_PREFIXES: &[&str] = &["order-", "product-"];

/// How to reach KurrentDB and which of its streams are orderflow's.
#[derive(Debug, Clone)]
pub struct KurrentDbConfig {
    /// A connection string, e.g. `kurrentdb://localhost:2113?tls=false`
    /// (`esdb://`, `kurrent://` and the `+discover` forms work too).
    pub url: String,
    /// Prepended to every stream name on the server. Empty in production;
    /// tests use a unique one each so runs on a shared server don't collide.
    pub namespace: String,
    /// Stream-name prefixes (after the namespace) that `read_all` and `head`
    /// return. None may be empty or start with `$`.
    pub stream_prefixes: Vec<String>,
    /// How long an append with an idempotency key waits for another request
    /// holding the key to finish before failing with `Unavailable`.
    pub idempotency_wait: Duration,
    /// After how long an unfinished idempotency claim is recovered.
    pub claim_lease: Duration,
}

impl KurrentDbConfig {
    pub fn new(url: impl Into<String>) -> KurrentDbConfig {
        KurrentDbConfig {
            url: url.into(),
            namespace: String::new(),
            stream_prefixes: DEFAULT_STREAM_PREFIXES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            idempotency_wait: Duration::from_secs(5),
            claim_lease: Duration::from_secs(30),
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        if self.stream_prefixes.is_empty()
            || self
                .stream_prefixes
                .iter()
                .any(|p| p.is_empty() || p.starts_with('$'))
        {
            return Err(StoreError::Backend(format!(
                "KurrentDB stream prefixes must be non-empty and not system streams: {:?}",
                self.stream_prefixes
            )));
        }
        if self.namespace.starts_with('$') {
            return Err(StoreError::Backend(format!(
                "KurrentDB namespace {:?} would make system streams",
                self.namespace
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_rejects_unfiltered_prefixes() {
        assert!(
            KurrentDbConfig::new("kurrentdb://localhost:2113?tls=false")
                .validate()
                .is_ok()
        );
        for prefixes in [vec![], vec![String::new()], vec!["$ce-".to_owned()]] {
            let mut c = KurrentDbConfig::new("kurrentdb://localhost:2113");
            c.stream_prefixes = prefixes;
            assert!(c.validate().is_err());
        }
    }
}
