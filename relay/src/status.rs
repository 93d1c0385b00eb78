//! What a relay process is doing, published for the operator console:
//! the relay loop sets the state in memory, and [`publish`] upserts it into
//! `relay_status` (in the leader-lock database) every [`PUBLISH_EVERY`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::RelayError;

/// How often [`publish`] writes.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(5);
/// Rows of processes silent this long are deleted (a stopped replica).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The relay loop's state, shared with its publisher.
#[derive(Debug, Clone)]
pub(crate) struct Shared(Arc<Mutex<(&'static str, String, DateTime<Utc>)>>);

impl Default for Shared {
    fn default() -> Self {
        Shared(Arc::new(Mutex::new((
            "starting",
            String::new(),
            Utc::now(),
        ))))
    }
}

impl Shared {
    /// `standing by`, `leading`, `backing off` (with the error).
    pub fn set(&self, state: &'static str, detail: impl Into<String>) {
        if let Ok(mut s) = self.0.lock() {
            if s.0 != state {
                s.2 = Utc::now();
            }
            s.0 = state;
            s.1 = detail.into();
        }
    }

    fn get(&self) -> (&'static str, String, DateTime<Utc>) {
        self.0
            .lock()
            .map(|s| s.clone())
            .unwrap_or(("unknown", String::new(), Utc::now()))
    }
}

/// One relay process as it last reported.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RelayInstanceStatus {
    pub relay_name: String,
    pub instance: String,
    /// `leading`, `standing by`, `backing off` or `starting`.
    pub state: String,
    /// The error a relay backing off got.
    pub detail: String,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
}

/// Creates `relay_status` if missing (its own migration history).
pub async fn migrate(pool: &PgPool) -> Result<(), RelayError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_relay_migrations");
    migrator
        .run(pool)
        .await
        .map_err(|e| RelayError::Migrate(e.to_string()))
}

fn instance() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    format!("{host}/{}", std::process::id())
}

/// Upserts `shared` now and every [`PUBLISH_EVERY`], until the relay
/// aborts it; a failed write is logged and tried again at the next tick
/// (the row's age then shows the relay as silent).
pub(crate) async fn publish(pool: PgPool, relay_name: String, shared: Shared) {
    let me = instance();
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    let mut migrated = false;
    loop {
        tick.tick().await;
        if !migrated {
            // The database may be away at start; try at every tick.
            match migrate(&pool).await {
                Ok(()) => migrated = true,
                Err(e) => {
                    tracing::warn!(error = %e, "relay status table unavailable");
                    continue;
                }
            }
        }
        let (state, detail, since) = shared.get();
        let written = sqlx::query(
            "INSERT INTO relay_status (relay_name, instance, state, detail, since, reported_at) \
             VALUES ($1, $2, $3, $4, $5, now()) \
             ON CONFLICT (relay_name, instance) DO UPDATE \
             SET state = $3, detail = $4, since = $5, reported_at = now()",
        )
        .bind(&relay_name)
        .bind(&me)
        .bind(state)
        .bind(&detail)
        .bind(since)
        .execute(&pool)
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot publish the relay's state");
            continue;
        }
        let _ = sqlx::query(
            "DELETE FROM relay_status WHERE relay_name = $1 \
             AND reported_at < now() - make_interval(secs => $2)",
        )
        .bind(&relay_name)
        .bind(FORGET_AFTER.as_secs_f64())
        .execute(&pool)
        .await;
    }
}

/// Every process of relay `relay_name` that reported, most recent first.
/// Empty when none ever did (or the table does not exist yet).
pub async fn relay_statuses(
    pool: &PgPool,
    relay_name: &str,
) -> Result<Vec<RelayInstanceStatus>, RelayError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('relay_status') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as::<_, RelayInstanceStatus>(
        "SELECT relay_name, instance, state, detail, since, reported_at FROM relay_status \
         WHERE relay_name = $1 ORDER BY reported_at DESC",
    )
    .bind(relay_name)
    .fetch_all(pool)
    .await?)
}
