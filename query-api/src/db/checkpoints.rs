//! The projectors' bookkeeping: checkpoints and open dead letters.

use chrono::{DateTime, Utc};

use super::{DbResult, ReadDb};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckpointRow {
    pub name: String,
    pub version: i32,
    /// A position token.
    pub position: String,
    pub state: String,
    pub last_error: Option<String>,
    /// Set while the owner backs off from a transient error.
    pub backoff_error: Option<String>,
    pub backoff_until: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetterCount {
    pub projection: String,
    pub open: i64,
}

impl ReadDb {
    /// Checkpoints of `names` (all when `None`).
    pub async fn checkpoints(&self, names: Option<&[&str]>) -> DbResult<Vec<CheckpointRow>> {
        self.count();
        let names: Option<Vec<String>> = names.map(|n| n.iter().map(|s| (*s).to_owned()).collect());
        Ok(sqlx::query_as::<_, CheckpointRow>(
            "SELECT name, version, position, state, last_error, backoff_error, backoff_until, \
                    updated_at \
             FROM public.projection_checkpoints \
             WHERE $1::text[] IS NULL OR name = ANY($1)",
        )
        .bind(names)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn open_dead_letters(&self) -> DbResult<Vec<DeadLetterCount>> {
        self.count();
        Ok(sqlx::query_as::<_, DeadLetterCount>(
            "SELECT projection, count(*) AS open FROM public.dead_letters \
             WHERE resolution IS NULL GROUP BY projection",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
