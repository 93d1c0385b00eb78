//! What `orderflow sagas status|show` print, and the gauges behind the
//! same figures.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::{FulfilmentEvent, Phase};
use orderflow_event_store::EventStore;
use orderflow_subscriptions::SubscriberStatus;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::FulfilmentError;
use crate::instance;
use crate::subscriber::NAME;

/// Phases in which an instance still waits for something of its own
/// doing (awaiting payment and paid wait for the customer, not for it).
const ACTIVE: &[&str] = &["reserving", "confirming", "rejecting", "timed_out"];

#[derive(Debug, Clone, Serialize)]
pub struct StuckInstance {
    pub order_id: Uuid,
    pub phase: String,
    pub last_event: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SagaStatus {
    /// Instances per phase (every phase, zero included).
    pub by_phase: Vec<(String, i64)>,
    /// Instances in an active phase with no progress for `stuck_after`.
    pub stuck: Vec<StuckInstance>,
    /// Deadlines not fired yet, and those of them already due.
    pub deadlines_pending: i64,
    pub deadlines_overdue: i64,
    /// The subscriber: position, lag, state, dead letters.
    pub subscriber: Option<SubscriberStatus>,
}

pub async fn status(
    pool: &PgPool,
    store: &Arc<dyn EventStore>,
    stuck_after: Duration,
) -> Result<SagaStatus, FulfilmentError> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT phase, count(*) FROM fulfilment_instances GROUP BY phase")
            .fetch_all(pool)
            .await?;
    let by_phase = Phase::ALL
        .iter()
        .filter(|p| **p != Phase::Idle)
        .map(|p| {
            let n = counts
                .iter()
                .find(|(name, _)| name == p.as_str())
                .map_or(0, |(_, n)| *n);
            (p.as_str().to_owned(), n)
        })
        .collect();
    let stuck = stuck(pool, stuck_after, 100).await?;
    let (deadlines_pending, deadlines_overdue): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE due_at <= now()) \
         FROM fulfilment_deadlines WHERE fired_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    let subscriber = orderflow_subscriptions::status(store.as_ref(), pool, &[(NAME, 1)])
        .await?
        .into_iter()
        .next();
    Ok(SagaStatus {
        by_phase,
        stuck,
        deadlines_pending,
        deadlines_overdue,
        subscriber,
    })
}

async fn stuck(
    pool: &PgPool,
    stuck_after: Duration,
    limit: i64,
) -> Result<Vec<StuckInstance>, FulfilmentError> {
    let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT order_id, phase, last_event, updated_at FROM fulfilment_instances \
         WHERE phase = ANY($1) AND updated_at < now() - make_interval(secs => $2) \
         ORDER BY updated_at LIMIT $3",
    )
    .bind(ACTIVE)
    .bind(stuck_after.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(order_id, phase, last_event, updated_at)| StuckInstance {
            order_id,
            phase,
            last_event,
            updated_at,
        })
        .collect())
}

/// Sets the gauges: instances by phase, stuck instances.
pub async fn export_metrics(pool: &PgPool, stuck_after: Duration) -> Result<(), FulfilmentError> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT phase, count(*) FROM fulfilment_instances GROUP BY phase")
            .fetch_all(pool)
            .await?;
    for phase in Phase::ALL.iter().filter(|p| **p != Phase::Idle) {
        let n = counts
            .iter()
            .find(|(name, _)| name == phase.as_str())
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("orderflow_fulfilment_instances", "phase" => phase.as_str()).set(n as f64);
    }
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM fulfilment_instances \
         WHERE phase = ANY($1) AND updated_at < now() - make_interval(secs => $2)",
    )
    .bind(ACTIVE)
    .bind(stuck_after.as_secs_f64())
    .fetch_one(pool)
    .await?;
    metrics::gauge!("orderflow_fulfilment_stuck_instances").set(n as f64);
    Ok(())
}

/// One step of an instance's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub version: u64,
    pub at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub event_type: String,
    pub payload: serde_json::Value,
}

/// The instance's stream, oldest first (empty: no instance).
pub async fn timeline(
    store: &Arc<dyn EventStore>,
    order: OrderId,
) -> Result<Vec<TimelineEntry>, FulfilmentError> {
    let (_, events) = instance::load(store, order).await?;
    Ok(events
        .into_iter()
        .map(|(r, e): (_, FulfilmentEvent)| TimelineEntry {
            version: r.stream_version,
            at: e.at(),
            recorded_at: r.recorded_at,
            event_type: r.event_type,
            payload: r.payload,
        })
        .collect())
}
