//! Publishes what only this process knows, the payment provider's circuit
//! breaker, into `component_status` every few seconds, so the console (in
//! another process) shows it along with its age.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::FulfilmentError;
use crate::ports::RefundPort;

/// The row naming the payment provider's breaker.
pub const PAYMENT_PROVIDER: &str = "payment_provider";

/// How often [`publish`] writes.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// One reported fact.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ComponentStatus {
    pub component: String,
    /// For the payment provider: `closed`, `open`, `half_open`, or
    /// `not configured`.
    pub state: String,
    pub detail: String,
    /// Host and process id of the reporter.
    pub reported_by: String,
    pub reported_at: DateTime<Utc>,
}

fn reporter() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    format!("{host}/{}", std::process::id())
}

/// Upserts the breaker's state now and every [`PUBLISH_EVERY`] until
/// `shutdown`. A failed write is logged and tried at the next tick: the
/// row's age then says the facts are stale.
pub async fn publish(
    pool: PgPool,
    refunds: Arc<dyn RefundPort>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let by = reporter();
    let work = async {
        let mut tick = tokio::time::interval(PUBLISH_EVERY);
        loop {
            tick.tick().await;
            let (state, detail) = match refunds.breaker_state() {
                Some(state) => (state, ""),
                None => ("not configured", "no PAYMENT_PROVIDER_URL: refunds wait"),
            };
            if let Err(e) = upsert(&pool, PAYMENT_PROVIDER, state, detail, &by).await {
                tracing::warn!(error = %e, "cannot publish the payment provider's state");
            }
        }
    };
    tokio::select! {
        () = shutdown => {}
        () = work => {}
    }
}

async fn upsert(
    pool: &PgPool,
    component: &str,
    state: &str,
    detail: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO component_status (component, state, detail, reported_by, reported_at) \
         VALUES ($1, $2, $3, $4, now()) \
         ON CONFLICT (component) DO UPDATE SET state = $2, detail = $3, reported_by = $4, \
             reported_at = now()",
    )
    .bind(component)
    .bind(state)
    .bind(detail)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every reported fact.
pub async fn component_statuses(pool: &PgPool) -> Result<Vec<ComponentStatus>, FulfilmentError> {
    Ok(sqlx::query_as::<_, ComponentStatus>(
        "SELECT component, state, detail, reported_by, reported_at FROM component_status \
         ORDER BY component",
    )
    .fetch_all(pool)
    .await?)
}
