//! `projections`: how far each read model has got.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use orderflow_projections::PROJECTIONS;

use super::scalars::Long;
use crate::services::Services;

/// One projection's progress.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProjectionInfo {
    pub name: String,
    /// The version the running code builds.
    pub version: i32,
    /// The version its tables were built with (null: never built).
    pub built_version: Option<i32>,
    /// Position token of the last event applied.
    pub position: Option<String>,
    /// The event store's last readable position. Null unless the service
    /// was given the event store's URL.
    pub head: Option<String>,
    /// Events not yet applied (null like `head`).
    pub lag: Option<Long>,
    /// Age of the oldest event not yet applied, 0 when caught up (null
    /// like `head`).
    pub lag_seconds: Option<f64>,
    /// `running`, `backing off` (a transient error; it tries again at
    /// `nextAttemptAt`), `stopped` (on a dead letter, until retried or
    /// skipped) or `not built`.
    pub state: String,
    /// Why it is stopped or backing off.
    pub last_error: Option<String>,
    /// When a projection backing off tries again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Dead letters not yet retried or skipped.
    pub dead_letters: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub async fn projections(s: &Services) -> async_graphql::Result<Vec<ProjectionInfo>> {
    if let Some(events) = &s.events {
        match orderflow_projections::status_with_store(events.as_ref(), s.db.pool()).await {
            Ok(list) => {
                return Ok(list
                    .into_iter()
                    .map(|p| ProjectionInfo {
                        name: p.name,
                        version: p.version,
                        built_version: p.built_version,
                        position: p.position.map(|p| p.to_string()),
                        head: Some(p.head.to_string()),
                        lag: Some(Long(i64::try_from(p.lag_events).unwrap_or(i64::MAX))),
                        lag_seconds: Some(p.lag_seconds),
                        state: p.state,
                        last_error: p.last_error,
                        next_attempt_at: p.next_attempt_at,
                        dead_letters: count(p.dead_letters),
                        updated_at: p.updated_at,
                    })
                    .collect());
            }
            // The store is optional here: answer what the read side knows.
            Err(e) => tracing::warn!(error = %e, "projection status without the event store"),
        }
    }
    let checkpoints = s.db.checkpoints(None).await?;
    let dead = s.db.open_dead_letters().await?;
    Ok(PROJECTIONS
        .iter()
        .map(|def| {
            let cp = checkpoints.iter().find(|c| c.name == def.name);
            ProjectionInfo {
                name: def.name.to_owned(),
                version: def.version,
                built_version: cp.map(|c| c.version),
                position: cp.map(|c| c.position.clone()),
                head: None,
                lag: None,
                lag_seconds: None,
                // As `projections status` words it (see ProjectionStatus).
                state: match cp {
                    None => "not built".to_owned(),
                    Some(c) if c.state != "stopped" && c.backoff_error.is_some() => {
                        "backing off".to_owned()
                    }
                    Some(c) => c.state.clone(),
                },
                last_error: cp.and_then(|c| {
                    if c.state == "stopped" {
                        c.last_error.clone()
                    } else {
                        c.backoff_error.clone().or_else(|| c.last_error.clone())
                    }
                }),
                next_attempt_at: cp
                    .filter(|c| c.state != "stopped")
                    .and_then(|c| c.backoff_until),
                dead_letters: dead
                    .iter()
                    .find(|d| d.projection == def.name)
                    .map_or(0, |d| count(d.open)),
                updated_at: cp.map(|c| c.updated_at),
            }
        })
        .collect())
}
