//! Rebuilds an operator asked for, recorded in `projection_rebuilds` with
//! their progress, and in the audit log. The rebuild itself is
//! [`rebuild_with`](crate::rebuild_with), the CLI's code path.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orderflow_event_store::EventStore;
use serde::Serialize;
use sqlx::PgPool;

use crate::ProjectorConfig;
use crate::api::rebuild_with;
use crate::error::ProjectionError;
use crate::fold::projection;

/// How often a running rebuild writes its progress.
pub const REPORT_EVERY: Duration = Duration::from_millis(500);

/// A running rebuild that has not reported for this long is presumed dead
/// (its process ended); another may then be asked for.
pub const SILENT_AFTER: Duration = Duration::from_secs(30);

/// One requested rebuild and how far it got.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RebuildRecord {
    pub id: i64,
    pub projection: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub events: i64,
    pub total_events: Option<i64>,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Records `actor`'s request to rebuild `name` (and the audit entry, in
/// one transaction); refused while a rebuild of it still reports.
pub async fn request_rebuild(
    read: &PgPool,
    name: &str,
    actor: &str,
) -> Result<i64, ProjectionError> {
    let def = projection(name).ok_or_else(|| ProjectionError::UnknownProjection(name.into()))?;
    let mut tx = read.begin().await?;
    // Serializes requests for one projection.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("orderflow-rebuild-request:{}", def.name))
        .execute(&mut *tx)
        .await?;
    let running: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM projection_rebuilds WHERE projection = $1 AND state = 'running' \
           AND updated_at > now() - make_interval(secs => $2) LIMIT 1",
    )
    .bind(def.name)
    .bind(SILENT_AFTER.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    if running.is_some() {
        return Err(ProjectionError::Checkpoint(
            def.name.into(),
            "a rebuild of this projection is running".into(),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO projection_rebuilds (projection, requested_by) VALUES ($1, $2) RETURNING id",
    )
    .bind(def.name)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    orderflow_subscriptions::operator::record_action(
        &mut tx,
        actor,
        "rebuild",
        def.name,
        &format!("rebuild #{id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Runs requested rebuild `id` of `name`, reporting progress every
/// [`REPORT_EVERY`] and the outcome at the end.
pub async fn run_requested_rebuild(
    store: Arc<dyn EventStore>,
    read: PgPool,
    id: i64,
    name: String,
    config: ProjectorConfig,
) {
    let (tx, mut rx) = tokio::sync::watch::channel((0u64, None::<u64>));
    let reporter_pool = read.clone();
    let reporter = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let (events, total) = *rx.borrow_and_update();
            let _ = sqlx::query(
                "UPDATE projection_rebuilds SET events = $2, total_events = $3, updated_at = now() \
                 WHERE id = $1 AND state = 'running'",
            )
            .bind(id)
            .bind(i64::try_from(events).unwrap_or(i64::MAX))
            .bind(total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
            .execute(&reporter_pool)
            .await;
            tokio::time::sleep(REPORT_EVERY).await;
        }
    });
    let mut progress = |p: &crate::RebuildProgress| {
        let _ = tx.send((p.events, p.total_events));
    };
    let outcome = rebuild_with(store, &read, &name, &config, &mut progress).await;
    drop(tx);
    let _ = reporter.await;
    let (state, events, error) = match &outcome {
        Ok(report) => (
            "done",
            i64::try_from(report.events).unwrap_or(i64::MAX),
            report
                .stopped_before
                .clone()
                .map(|m| format!("stopped before {m}")),
        ),
        Err(e) => ("failed", 0, Some(e.to_string())),
    };
    if let Err(e) = sqlx::query(
        "UPDATE projection_rebuilds SET state = $2, events = greatest(events, $3), error = $4, \
             updated_at = now(), finished_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(events)
    .bind(error)
    .execute(&read)
    .await
    {
        tracing::warn!(error = %e, rebuild = id, "could not record the rebuild's outcome");
    }
    match outcome {
        Ok(r) => tracing::info!(projection = %name, events = r.events, "requested rebuild done"),
        Err(e) => tracing::warn!(projection = %name, error = %e, "requested rebuild failed"),
    }
}

/// The latest rebuild of each projection that had one.
pub async fn latest_rebuilds(read: &PgPool) -> Result<Vec<RebuildRecord>, ProjectionError> {
    Ok(sqlx::query_as::<_, RebuildRecord>(
        "SELECT DISTINCT ON (projection) id, projection, requested_by, requested_at, state, \
             events, total_events, error, updated_at, finished_at \
         FROM projection_rebuilds ORDER BY projection, id DESC",
    )
    .fetch_all(read)
    .await?)
}
