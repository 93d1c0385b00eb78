//! The process manager's tables, folded from the `fulfilment-*` streams in
//! the runtime's batch transaction, so they commit with its checkpoint.

use chrono::{DateTime, Utc};
use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::{FulfilmentEvent, FulfilmentState, evolve};
use sqlx::PgConnection;
use uuid::Uuid;

/// Folds one instance event (the `stream_version`th of its stream).
pub async fn fold_event(
    tx: &mut PgConnection,
    order: OrderId,
    stream_version: u64,
    event: &FulfilmentEvent,
) -> Result<(), sqlx::Error> {
    let row: Option<(serde_json::Value, i64)> = sqlx::query_as(
        "SELECT state, version FROM fulfilment_instances WHERE order_id = $1 FOR UPDATE",
    )
    .bind(order.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let (state, version) = match row {
        Some((json, version)) => (
            serde_json::from_value::<FulfilmentState>(json)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            version,
        ),
        None => (FulfilmentState::default(), 0),
    };
    // The runtime hands each event once past the checkpoint; this only
    // guards the row against a stream read out of order.
    if u64::try_from(version).unwrap_or(0) >= stream_version {
        return Ok(());
    }
    let state = evolve(state, event);
    let state_json = serde_json::to_value(&state).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO fulfilment_instances (order_id, phase, state, last_event, version, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (order_id) DO UPDATE SET phase = EXCLUDED.phase, state = EXCLUDED.state, \
           last_event = EXCLUDED.last_event, version = EXCLUDED.version, \
           updated_at = EXCLUDED.updated_at",
    )
    .bind(order.as_uuid())
    .bind(state.phase.as_str())
    .bind(state_json)
    .bind(event.event_type())
    .bind(i64::try_from(stream_version).unwrap_or(i64::MAX))
    .bind(event.at())
    .execute(&mut *tx)
    .await?;
    match event {
        FulfilmentEvent::PaymentDeadlineSet {
            deadline_id,
            due_at,
            ..
        } => insert_deadline(tx, *deadline_id, order, "payment", *due_at).await,
        FulfilmentEvent::RefundRetryScheduled {
            deadline_id,
            due_at,
            ..
        } => insert_deadline(tx, *deadline_id, order, "refund_retry", *due_at).await,
        _ => Ok(()),
    }
}

async fn insert_deadline(
    tx: &mut PgConnection,
    id: Uuid,
    order: OrderId,
    kind: &str,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO fulfilment_deadlines (deadline_id, order_id, kind, due_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (deadline_id) DO NOTHING",
    )
    .bind(id)
    .bind(order.as_uuid())
    .bind(kind)
    .bind(due_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
