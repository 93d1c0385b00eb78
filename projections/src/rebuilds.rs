//! Rebuilds an operator asked for, recorded in `projection_rebuilds` with
//! their progress, and in the audit log, from the console or the CLI. The
//! rebuild itself is [`rebuild_with`](crate::rebuild_with).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orderflow_event_store::EventStore;
use orderflow_subscriptions::Actor;
use serde::Serialize;
use sqlx::PgPool;

use crate::ProjectorConfig;
use crate::api::rebuild_with;
use crate::error::ProjectionError;
use crate::fold::projection;
use crate::rebuild::select;

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
    actor: &Actor,
) -> Result<i64, ProjectionError> {
    // One projection only: `all` is the CLI's.
    let def = projection(name).ok_or_else(|| ProjectionError::UnknownProjection(name.into()))?;
    let ids = request_rebuilds(read, def.name, actor).await?;
    ids.first()
        .map(|(id, _)| *id)
        .ok_or_else(|| ProjectionError::UnknownProjection(name.into()))
}

/// Records `actor`'s request to rebuild `name_or_all` (a projection, or
/// `all`): one `projection_rebuilds` row and one audit entry per
/// projection, all in one transaction, refused as a whole while a rebuild
/// of any of them still reports. The ids, with their projections.
pub async fn request_rebuilds(
    read: &PgPool,
    name_or_all: &str,
    actor: &Actor,
) -> Result<Vec<(i64, &'static str)>, ProjectionError> {
    let defs = select(name_or_all)?;
    let mut tx = read.begin().await?;
    let mut ids = Vec::with_capacity(defs.len());
    // `defs` come in the fixed order of PROJECTIONS, so two requests take
    // these locks in the same order.
    for def in defs {
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
            "INSERT INTO projection_rebuilds (projection, requested_by) VALUES ($1, $2) \
             RETURNING id",
        )
        .bind(def.name)
        .bind(actor.to_string())
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
        ids.push((id, def.name));
    }
    tx.commit().await?;
    Ok(ids)
}

/// Runs requested rebuild `id` of `name` in the background (the console's
/// way), reporting progress every [`REPORT_EVERY`] and the outcome at the
/// end.
pub async fn run_requested_rebuild(
    store: Arc<dyn EventStore>,
    read: PgPool,
    id: i64,
    name: String,
    config: ProjectorConfig,
) {
    let outcome = run_requested(store, &read, &[id], &name, &config, &mut |_| {}).await;
    match outcome {
        Ok(r) => tracing::info!(projection = %name, events = r.events, "requested rebuild done"),
        Err(e) => tracing::warn!(projection = %name, error = %e, "requested rebuild failed"),
    }
}

/// Runs the rebuild of `name_or_all` that requests `ids` stand for (from
/// [`request_rebuilds`]), writing its progress into their rows every
/// [`REPORT_EVERY`] and the outcome at the end, and calling `progress` as
/// [`rebuild_with`] does.
pub async fn run_requested(
    store: Arc<dyn EventStore>,
    read: &PgPool,
    ids: &[i64],
    name_or_all: &str,
    config: &ProjectorConfig,
    progress: &mut (dyn FnMut(&crate::RebuildProgress) + Send),
) -> Result<crate::RebuildReport, ProjectionError> {
    let ids = ids.to_vec();
    let (tx, mut rx) = tokio::sync::watch::channel((0u64, None::<u64>));
    let reporter_pool = read.clone();
    let reporter_ids = ids.clone();
    let reporter = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let (events, total) = *rx.borrow_and_update();
            let _ = sqlx::query(
                "UPDATE projection_rebuilds SET events = $2, total_events = $3, updated_at = now() \
                 WHERE id = ANY($1) AND state = 'running'",
            )
            .bind(&reporter_ids)
            .bind(i64::try_from(events).unwrap_or(i64::MAX))
            .bind(total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
            .execute(&reporter_pool)
            .await;
            tokio::time::sleep(REPORT_EVERY).await;
        }
    });
    let mut report = |p: &crate::RebuildProgress| {
        let _ = tx.send((p.events, p.total_events));
        progress(p);
    };
    let outcome = rebuild_with(store, read, name_or_all, config, &mut report).await;
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
             updated_at = now(), finished_at = now() WHERE id = ANY($1)",
    )
    .bind(&ids)
    .bind(state)
    .bind(events)
    .bind(error)
    .execute(read)
    .await
    {
        tracing::warn!(error = %e, rebuilds = ?ids, "could not record the rebuild's outcome");
    }
    outcome
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
