//! What `orderflow projections status|retry|skip` show and do.

use chrono::{DateTime, Utc};
use orderflow_event_store::{EventStore, Position, StoreError};
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
    /// Committed events not yet applied. Through [`status_with_store`] it is
    /// counted by reading them, up to [`STORE_LAG_LIMIT`]: a longer backlog
    /// shows as that limit.
    pub lag_events: u64,
    /// Age of the oldest event not yet applied (0 when caught up).
    pub lag_seconds: f64,
    /// `running`; `backing off` (a transient error: it tries again at
    /// `next_attempt_at`); `stopped` (on a dead letter, until `retry` or
    /// `skip`); or `not built`.
    pub state: String,
    /// Why it is stopped or backing off.
    pub last_error: Option<String>,
    /// When a projection backing off tries again.
    pub next_attempt_at: Option<DateTime<Utc>>,
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

/// Most events [`status_with_store`] reads to count a projection's lag.
pub const STORE_LAG_LIMIT: usize = 10_000;

/// The same as [`lag`] through the `EventStore` trait alone (any store, e.g.
/// KurrentDB), which cannot count without reading: it reads up to `limit`
/// events after `after`, so the count stops at `limit`. The age is exact
/// (that of the first event after `after`).
pub(crate) async fn lag_via_store(
    store: &dyn EventStore,
    after: Position,
    limit: usize,
) -> Result<(u64, f64), StoreError> {
    let events = store.read_all(after, limit.max(1)).await?;
    let age = events.first().map_or(0.0, |e| {
        (Utc::now() - e.recorded_at).num_microseconds().unwrap_or(0) as f64 / 1e6
    });
    Ok((
        u64::try_from(events.len()).unwrap_or(u64::MAX),
        age.max(0.0),
    ))
}

/// Where status reads the head and the lag.
#[derive(Clone, Copy)]
enum Events<'a> {
    /// The Postgres events database, by SQL: exact counts.
    Pg(&'a PgPool),
    /// Any store through the trait: counts stop at [`STORE_LAG_LIMIT`].
    Store(&'a dyn EventStore),
}

impl Events<'_> {
    async fn head(self) -> Result<Position, ProjectionError> {
        match self {
            Events::Pg(pool) => head(pool).await,
            Events::Store(store) => Ok(store.head().await?),
        }
    }

    async fn lag(self, after: Position) -> Result<(u64, f64), ProjectionError> {
        match self {
            Events::Pg(pool) => Ok(lag(pool, after).await?),
            Events::Store(store) => Ok(lag_via_store(store, after, STORE_LAG_LIMIT).await?),
        }
    }
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
    status_of(Events::Pg(events), read).await
}

/// Status of every projection, reading the head and the lag through the
/// `EventStore` trait: for stores without an events database (KurrentDB).
/// `lag_events` stops at [`STORE_LAG_LIMIT`] (see [`ProjectionStatus`]);
/// with Postgres prefer [`status_with`], which counts by SQL.
pub async fn status_with_store(
    store: &dyn EventStore,
    read: &PgPool,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    status_of(Events::Store(store), read).await
}

async fn status_of(
    events: Events<'_>,
    read: &PgPool,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let head = events.head().await?;
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
        let (lag_events, lag_seconds) = events.lag(position).await?;
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
                Some(c) if c.backoff_error.is_some() => "backing off".into(),
                Some(_) => "running".into(),
            },
            last_error: cp.as_ref().and_then(|c| {
                if c.stopped {
                    c.last_error.clone()
                } else {
                    c.backoff_error.clone().or_else(|| c.last_error.clone())
                }
            }),
            next_attempt_at: cp
                .as_ref()
                .filter(|c| !c.stopped)
                .and_then(|c| c.backoff_until),
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
