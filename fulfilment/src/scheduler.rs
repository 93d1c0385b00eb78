//! Fires due deadlines: polls `fulfilment_deadlines` and feeds each due
//! row to its instance as `DeadlineFired`. A row is marked fired only
//! after its instance handled it, so after a crash it fires again (the
//! instance's deterministic ids make that a no-op). Two schedulers (two
//! processes) may fire the same row; the instance ignores the second.

use std::time::Duration;

use chrono::{DateTime, Utc};
use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::Input;
use sqlx::PgPool;
use uuid::Uuid;

use crate::driver::Driver;
use crate::error::FulfilmentError;

/// Most deadlines fired per poll.
const BATCH: i64 = 100;

/// Fires the deadlines due now; how many fired.
pub async fn fire_due(pool: &PgPool, driver: &Driver) -> Result<usize, FulfilmentError> {
    // No row locks: a transaction holding an xid would hold back the
    // event store's watermark while the instance acts.
    let due: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT deadline_id, order_id, due_at FROM fulfilment_deadlines \
         WHERE fired_at IS NULL AND due_at <= now() ORDER BY due_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    for (deadline_id, order, due_at) in &due {
        let now = Utc::now();
        let lag = (now - *due_at).to_std().unwrap_or(Duration::ZERO);
        metrics::histogram!("orderflow_fulfilment_deadline_lag_seconds").record(lag.as_secs_f64());
        let input = Input::DeadlineFired {
            deadline_id: *deadline_id,
            at: now,
        };
        driver
            .handle(OrderId::new(*order), &deadline_id.to_string(), &input)
            .await?;
        sqlx::query("UPDATE fulfilment_deadlines SET fired_at = now() WHERE deadline_id = $1")
            .bind(deadline_id)
            .execute(pool)
            .await?;
        metrics::counter!("orderflow_fulfilment_deadlines_fired_total").increment(1);
    }
    Ok(due.len())
}

/// Fires due deadlines every `interval` until `stop` resolves; failures
/// are logged and tried again next round.
pub async fn run(
    pool: PgPool,
    driver: Driver,
    interval: Duration,
    stuck_after: Duration,
    stop: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(stop);
    loop {
        match fire_due(&pool, &driver).await {
            Ok(n) if n > 0 => tracing::debug!(fired = n, "deadlines fired"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "firing deadlines failed; trying again"),
        }
        if let Err(e) = crate::status::export_metrics(&pool, stuck_after).await {
            tracing::debug!(error = %e, "fulfilment metrics not updated");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
