//! The relay: tails the event store in commit-safe order and publishes each
//! event to NATS JetStream, in order, exactly once per de-duplication window.
//!
//! One relay per store leads (a Postgres advisory lock elects it); the others
//! stand by. The checkpoint moves only after JetStream acked, so a crash
//! re-publishes at most the unacknowledged tail, which `Nats-Msg-Id`
//! de-duplicates.

mod config;
mod error;
mod message;
mod publisher;
mod status;
mod stream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orderflow_subscriptions::Lease;
use sqlx::PgPool;

pub use config::RelayConfig;
pub use error::RelayError;
pub use message::{event_body, event_headers, event_subject};
/// The header names, re-exported from the wire contract.
pub use orderflow_wire::headers;
pub use status::{PUBLISH_EVERY, RelayInstanceStatus, migrate, relay_statuses};
pub use stream::{ensure_stream, updated_stream};

use orderflow_event_store::EventStore;

/// Runs a relay until `shutdown` resolves: stands by until it wins the
/// leader lock, then publishes. Transient failures (NATS down, Postgres
/// restarting, lost lock) are retried with backoff, never returned.
///
/// The checkpoint is kept by `store` (under `config.relay_name`).
/// `lock_pool` points at the Postgres database whose advisory lock elects
/// the leader; the lock takes one dedicated connection made with the
/// pool's options. What the relay is doing is published into
/// `relay_status` in that database (see [`relay_statuses`]).
pub async fn run_relay(
    store: Arc<dyn EventStore>,
    lock_pool: PgPool,
    config: RelayConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RelayError> {
    // At zero from the start: an alert on its rate sees "none yet".
    metrics::counter!("orderflow_relay_errors_total").increment(0);
    let shared = status::Shared::default();
    let publisher = tokio::spawn(status::publish(
        lock_pool.clone(),
        config.relay_name.clone(),
        shared.clone(),
    ));
    let result = tokio::select! {
        () = shutdown => {
            metrics::gauge!("orderflow_relay_leader").set(0.0);
            Ok(())
        }
        r = relay_loop(store, lock_pool, config, shared) => r,
    };
    publisher.abort();
    result
}

async fn relay_loop(
    store: Arc<dyn EventStore>,
    pool: PgPool,
    config: RelayConfig,
    shared: status::Shared,
) -> Result<(), RelayError> {
    let options = (*pool.connect_options()).clone();
    let lock_name = format!("orderflow-relay:{}", config.relay_name);
    loop {
        metrics::gauge!("orderflow_relay_leader").set(0.0);
        shared.set("standing by", "");
        let mut lease = Lease::acquire(&options, &lock_name, config.standby_interval).await;
        tracing::info!(relay = %config.relay_name, "relay is leader");
        shared.set("leading", "");
        metrics::gauge!("orderflow_relay_leader").set(1.0);
        let mut backoff = Duration::from_millis(50);
        loop {
            let started = std::time::Instant::now();
            let result = match publisher::connect(&config).await {
                Ok(js) => {
                    shared.set("leading", "");
                    publisher::lead(&store, lease.connection(), &js, &config).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                // A setting that cannot be applied: stop loudly (the
                // process exits with it) rather than back off forever.
                Err(e @ RelayError::StreamConfig(_)) => {
                    tracing::error!(relay = %config.relay_name, error = %e, "relay stops");
                    return Err(e);
                }
                Err(RelayError::LostLeadership | RelayError::Database(_)) => {
                    tracing::warn!(relay = %config.relay_name, "relay lost its lock connection; standing by");
                    break;
                }
                Err(e) => {
                    if started.elapsed() > Duration::from_secs(30) {
                        backoff = Duration::from_millis(50);
                    }
                    metrics::counter!("orderflow_relay_errors_total").increment(1);
                    tracing::warn!(error = %e, ?backoff, "relay backing off");
                    shared.set("backing off", e.to_string());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                    // Still the leader? Only if the lease's connection lives.
                    if !lease.is_held().await {
                        break;
                    }
                }
            }
        }
    }
}
