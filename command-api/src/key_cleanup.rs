//! The background task that forgets expired idempotency keys. Expiry does
//! not wait for it (the store ignores expired keys); it keeps the store's
//! key table small, a bounded batch at a time so it never holds up writes.
//! Every replica runs one; their batches skip each other's rows.

use std::sync::Arc;
use std::time::Duration;

use orderflow_event_store::EventStore;
use tokio::task::JoinHandle;

/// Keys deleted per store call: one short transaction each.
pub const CLEANUP_BATCH: usize = 500;

/// Batches in one round at most, so a huge backlog is worked off over
/// several intervals instead of in one long burst.
const MAX_BATCHES_PER_ROUND: usize = 100;

/// Starts the loop: one round every `every` (the first one right away).
/// Stop it by aborting the handle.
pub fn spawn(store: Arc<dyn EventStore>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            round(store.as_ref()).await;
        }
    })
}

/// Deletes expired keys batch by batch until a batch comes back short.
/// Returns how many it deleted.
pub async fn round(store: &dyn EventStore) -> u64 {
    let mut total = 0;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        match store.delete_expired_idempotency(CLEANUP_BATCH).await {
            Ok(removed) => {
                metrics::counter!("orderflow_idempotency_keys_expired_total").increment(removed);
                total += removed;
                if removed < CLEANUP_BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                // The next round tries again; expired keys are ignored anyway.
                tracing::warn!(error = %e, "could not delete expired idempotency keys");
                break;
            }
        }
    }
    if total > 0 {
        tracing::debug!(total, "deleted expired idempotency keys");
    }
    total
}
