//! What an operator sees of a subscriber: where it is, how far behind the
//! store, and whether it runs, backs off or stopped.

use chrono::{DateTime, Utc};
use orderflow_event_store::{EventStore, Position, StoreError};
use serde::Serialize;
use sqlx::PgPool;

use crate::checkpoint;
use crate::dead_letter;
use crate::error::SubscriptionError;

#[derive(Debug, Clone, Serialize)]
pub struct SubscriberStatus {
    pub name: String,
    /// The version in this build's code.
    pub version: i32,
    /// The version its effects were built with (`None`: never started).
    pub built_version: Option<i32>,
    pub position: Option<Position>,
    /// The store's last readable position.
    pub head: Position,
    /// Committed events not yet handled, counted up to [`STATUS_LAG_LIMIT`]:
    /// a longer backlog shows as that limit.
    pub lag_events: u64,
    /// Age of the oldest event not yet handled (0 when caught up).
    pub lag_seconds: f64,
    /// `running`; `backing off` (a transient error: it tries again at
    /// `next_attempt_at`); `stopped` (on a dead letter, until `retry` or
    /// `skip`); or `not built`.
    pub state: String,
    /// Why it is stopped or backing off.
    pub last_error: Option<String>,
    /// When a subscriber backing off tries again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub dead_letters: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Most events [`status`] counts for a subscriber's lag.
pub const STATUS_LAG_LIMIT: u64 = 10_000;

/// How far `after` is behind the store, through its trait: the events
/// after it (counted up to `limit`; Postgres counts rows, other stores may
/// read them, hence the bound) and the age of the first of them.
pub async fn lag(
    store: &dyn EventStore,
    after: Position,
    limit: u64,
) -> Result<(u64, f64), StoreError> {
    let count = store.count_after(after, limit).await?;
    if count == 0 {
        return Ok((0, 0.0));
    }
    let first = store.read_all(after, 1).await?;
    let age = first.first().map_or(0.0, |e| {
        (Utc::now() - e.recorded_at).num_microseconds().unwrap_or(0) as f64 / 1e6
    });
    Ok((count, age.max(0.0)))
}

/// The status of each `(name, version)`, whose checkpoints live in `pool`.
pub async fn status(
    store: &dyn EventStore,
    pool: &PgPool,
    subscribers: &[(&str, i32)],
) -> Result<Vec<SubscriberStatus>, SubscriptionError> {
    let head = store.head().await?;
    let mut out = Vec::with_capacity(subscribers.len());
    let mut conn = pool.acquire().await?;
    for &(name, version) in subscribers {
        let cp = checkpoint::load(&mut conn, name).await?;
        let dead = dead_letter::open_count(&mut conn, name).await?;
        let position = cp.as_ref().map(|c| c.position).unwrap_or(Position::START);
        let (lag_events, lag_seconds) = lag(store, position, STATUS_LAG_LIMIT).await?;
        out.push(SubscriberStatus {
            name: name.to_owned(),
            version,
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
