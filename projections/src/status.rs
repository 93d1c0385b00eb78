//! What `orderflow projections status|retry|skip` show and do.

use chrono::{DateTime, Utc};
use orderflow_event_store::Position;
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::db;
use crate::error::ProjectionError;
use crate::fold::{PROJECTIONS, projection};

#[derive(Debug, Clone, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    /// The version in this build's code.
    pub version: i32,
    /// The version its tables were built with (`None`: never built).
    pub built_version: Option<i32>,
    pub position: Option<Position>,
    /// The store's last readable position.
    pub head: Position,
    pub lag_events: u64,
    /// Age of the oldest event not yet applied (0 when caught up).
    pub lag_seconds: f64,
    /// `running`, `stopped`, or `not built`.
    pub state: String,
    pub last_error: Option<String>,
    pub dead_letters: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// How far `after` is behind the head of the store.
pub(crate) async fn lag(events: &PgPool, after: Position) -> Result<(u64, f64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*) AS n, \
                COALESCE(EXTRACT(EPOCH FROM now() - min(recorded_at)), 0)::float8 AS age \
         FROM events \
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())",
    )
    .bind(after.major().to_string())
    .bind(i64::try_from(after.minor()).unwrap_or(i64::MAX))
    .fetch_one(events)
    .await?;
    let n: i64 = row.try_get("n")?;
    let age: f64 = row.try_get("age")?;
    Ok((u64::try_from(n).unwrap_or(0), age.max(0.0)))
}

async fn head(events: &PgPool) -> Result<Position, ProjectionError> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS txid, global_position FROM events \
         WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_optional(events)
    .await?;
    let Some(row) = row else {
        return Ok(Position::START);
    };
    let txid: String = row.try_get("txid")?;
    let gp: i64 = row.try_get("global_position")?;
    Ok(Position::new(
        txid.parse().unwrap_or(0),
        u64::try_from(gp).unwrap_or(0),
    ))
}

/// Status of every projection, given pools on the events and read databases.
pub async fn status_with(
    events: &PgPool,
    read: &PgPool,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let head = head(events).await?;
    let mut out = Vec::new();
    let mut conn = read.acquire().await?;
    for def in PROJECTIONS {
        let cp = db::load_checkpoint(&mut conn, def.name).await?;
        let dead: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM public.dead_letters WHERE projection = $1 AND resolution IS NULL",
        )
        .bind(def.name)
        .fetch_one(&mut *conn)
        .await?;
        let position = cp.as_ref().map(|c| c.position).unwrap_or(Position::START);
        let (lag_events, lag_seconds) = lag(events, position).await?;
        out.push(ProjectionStatus {
            name: def.name.to_owned(),
            version: def.version,
            built_version: cp.as_ref().map(|c| c.version),
            position: cp.as_ref().map(|c| c.position),
            head,
            lag_events,
            lag_seconds,
            state: match &cp {
                None => "not built".into(),
                Some(c) if c.stopped => "stopped".into(),
                Some(_) => "running".into(),
            },
            last_error: cp.as_ref().and_then(|c| c.last_error.clone()),
            dead_letters: dead,
            updated_at: cp.as_ref().map(|c| c.updated_at),
        });
    }
    Ok(out)
}

/// Resumes a stopped projection at its dead-lettered event, which is tried
/// again (and dead-lettered again if it still fails).
pub async fn retry_with(read: &PgPool, name: &str) -> Result<(), ProjectionError> {
    resolve(read, name, false).await
}

/// Resumes a stopped projection after its dead-lettered event, which it
/// never applies.
pub async fn skip_with(read: &PgPool, name: &str) -> Result<(), ProjectionError> {
    resolve(read, name, true).await
}

async fn resolve(read: &PgPool, name: &str, skip: bool) -> Result<(), ProjectionError> {
    let def = projection(name).ok_or_else(|| ProjectionError::UnknownProjection(name.into()))?;
    let verb = if skip { "skip" } else { "retry" };
    let mut tx = read.begin().await?;
    let cp = db::lock_checkpoint(&mut tx, def.name)
        .await?
        .ok_or(ProjectionError::NothingToResolve(name.into(), verb))?;
    let letter = sqlx::query(
        "SELECT id, position FROM public.dead_letters \
         WHERE projection = $1 AND resolution IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(def.name)
    .fetch_optional(&mut *tx)
    .await?;
    if !cp.stopped && letter.is_none() {
        return Err(ProjectionError::NothingToResolve(name.into(), verb));
    }
    let mut position = cp.position;
    if skip {
        let Some(letter) = &letter else {
            return Err(ProjectionError::NothingToResolve(name.into(), verb));
        };
        let p: String = letter.try_get("position")?;
        let p: Position = p
            .parse()
            .map_err(|e| ProjectionError::Checkpoint(name.into(), format!("{e}")))?;
        position = position.max(p);
    }
    sqlx::query(
        "UPDATE public.dead_letters SET resolution = $2, resolved_at = now() \
         WHERE projection = $1 AND resolution IS NULL",
    )
    .bind(def.name)
    .bind(if skip { "skipped" } else { "retried" })
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE public.projection_checkpoints SET state = 'running', last_error = NULL, \
             position = $2, generation = generation + 1, updated_at = now() WHERE name = $1",
    )
    .bind(def.name)
    .bind(position.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::gauge!("orderflow_projection_stopped", "projection" => def.name).set(0.0);
    Ok(())
}
