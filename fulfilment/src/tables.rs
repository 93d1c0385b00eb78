//! The process manager's tables, folded from the `fulfilment-*` streams in
//! the runtime's batch transaction, so they commit with its checkpoint.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::{FulfilmentEvent, FulfilmentState, evolve};
use sqlx::PgConnection;
use uuid::Uuid;

/// One instance event of a batch: its order, its version in the
/// instance's stream, and the event.
pub type InstanceEvent = (OrderId, u64, FulfilmentEvent);

/// A row of `fulfilment_instances` as the fold leaves it.
struct Row {
    state: FulfilmentState,
    version: u64,
    last_event: &'static str,
    /// When the last event folded in this batch happened; `None`: nothing
    /// changed the row.
    changed_at: Option<DateTime<Utc>>,
}

/// Folds a batch's instance events (in store order) into the tables: one
/// read of the rows they touch, the folding in memory, one write of the
/// rows and one of the deadlines, whatever the batch's size. Row by row
/// cost two round trips an event inside the batch transaction, which
/// holds back every reader of the log while it is open.
pub async fn fold_batch(
    tx: &mut PgConnection,
    events: &[InstanceEvent],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut orders: Vec<Uuid> = events.iter().map(|(o, _, _)| *o.as_uuid()).collect();
    orders.sort_unstable();
    orders.dedup();
    let stored: Vec<(Uuid, serde_json::Value, i64)> = sqlx::query_as(
        "SELECT order_id, state, version FROM fulfilment_instances \
         WHERE order_id = ANY($1) ORDER BY order_id FOR UPDATE",
    )
    .bind(&orders)
    .fetch_all(&mut *tx)
    .await?;
    let mut rows: HashMap<Uuid, Row> = HashMap::with_capacity(orders.len());
    for (order, json, version) in stored {
        let state = serde_json::from_value::<FulfilmentState>(json)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let version = u64::try_from(version).unwrap_or(0);
        let last_event = "";
        rows.insert(
            order,
            Row {
                state,
                version,
                last_event,
                changed_at: None,
            },
        );
    }
    let mut deadlines: Vec<(Uuid, Uuid, &'static str, DateTime<Utc>)> = Vec::new();
    for (order, stream_version, event) in events {
        let row = rows.entry(*order.as_uuid()).or_insert_with(|| Row {
            state: FulfilmentState::default(),
            version: 0,
            last_event: "",
            changed_at: None,
        });
        // The runtime hands each event once past the checkpoint; this only
        // guards the row against a stream read out of order.
        if row.version >= *stream_version {
            continue;
        }
        row.state = evolve(std::mem::take(&mut row.state), event);
        row.version = *stream_version;
        row.last_event = event.event_type();
        row.changed_at = Some(event.at());
        match event {
            FulfilmentEvent::PaymentDeadlineSet {
                deadline_id,
                due_at,
                ..
            } => deadlines.push((*deadline_id, *order.as_uuid(), "payment", *due_at)),
            FulfilmentEvent::RefundRetryScheduled {
                deadline_id,
                due_at,
                ..
            } => deadlines.push((*deadline_id, *order.as_uuid(), "refund_retry", *due_at)),
            _ => {}
        }
    }
    write_rows(tx, rows).await?;
    insert_deadlines(tx, deadlines).await
}

async fn write_rows(tx: &mut PgConnection, rows: HashMap<Uuid, Row>) -> Result<(), sqlx::Error> {
    let (mut ids, mut phases, mut states, mut lasts, mut versions, mut ats) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (order, row) in rows {
        let Some(at) = row.changed_at else { continue };
        ids.push(order);
        phases.push(row.state.phase.as_str());
        states
            .push(serde_json::to_value(&row.state).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
        lasts.push(row.last_event);
        versions.push(i64::try_from(row.version).unwrap_or(i64::MAX));
        ats.push(at);
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO fulfilment_instances (order_id, phase, state, last_event, version, updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::bigint[], \
                              $6::timestamptz[]) \
         ON CONFLICT (order_id) DO UPDATE SET phase = EXCLUDED.phase, state = EXCLUDED.state, \
           last_event = EXCLUDED.last_event, version = EXCLUDED.version, \
           updated_at = EXCLUDED.updated_at",
    )
    .bind(ids)
    .bind(phases)
    .bind(states)
    .bind(lasts)
    .bind(versions)
    .bind(ats)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_deadlines(
    tx: &mut PgConnection,
    deadlines: Vec<(Uuid, Uuid, &'static str, DateTime<Utc>)>,
) -> Result<(), sqlx::Error> {
    if deadlines.is_empty() {
        return Ok(());
    }
    let (mut ids, mut orders, mut kinds, mut dues) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, order, kind, due_at) in deadlines {
        ids.push(id);
        orders.push(order);
        kinds.push(kind);
        dues.push(due_at);
    }
    sqlx::query(
        "INSERT INTO fulfilment_deadlines (deadline_id, order_id, kind, due_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) \
         ON CONFLICT (deadline_id) DO NOTHING",
    )
    .bind(ids)
    .bind(orders)
    .bind(kinds)
    .bind(dues)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
