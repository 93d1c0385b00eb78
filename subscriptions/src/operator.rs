//! What an operator reads and does beyond `status`: dead letters listed
//! and in detail, retry and skip recorded in the audit log
//! (`operator_actions`) in the act's own transaction, and that log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::SubscriptionError;

/// Most payload characters a dead letter's detail carries: a huge payload
/// stays in the database rather than in a page.
pub const PAYLOAD_SHOWN: i32 = 8 * 1024;

/// One row of a dead-letter list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadLetterRow {
    pub id: i64,
    pub subscriber: String,
    pub position: String,
    pub stream_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// `retried` or `skipped`; `None` while open.
    pub resolution: Option<String>,
}

/// One dead letter in full (payload cut at [`PAYLOAD_SHOWN`] characters).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub subscriber: String,
    pub position: String,
    pub event_id: uuid::Uuid,
    pub stream_id: String,
    pub event_type: String,
    pub schema_version: i32,
    /// The payload's JSON text, at most [`PAYLOAD_SHOWN`] characters.
    pub payload: String,
    /// The whole payload's length in characters.
    pub payload_chars: i32,
    pub error: String,
    pub attempts: i32,
    /// When this event was first and last dead-lettered by this subscriber
    /// (a retry that fails again records it once more).
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    /// Attempts over all of those records.
    pub total_attempts: i64,
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// `limit` dead letters from `offset`, newest first, of `subscriber` (or
/// all), open ones only unless `all`; and how many there are in total.
pub async fn dead_letters(
    pool: &PgPool,
    subscriber: Option<&str>,
    all: bool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DeadLetterRow>, i64), SubscriptionError> {
    let rows = sqlx::query_as::<_, DeadLetterRow>(
        "SELECT id, projection AS subscriber, position, stream_id, event_type, error, attempts, \
             created_at, resolution FROM public.dead_letters \
         WHERE ($1::text IS NULL OR projection = $1) AND ($2 OR resolution IS NULL) \
         ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(subscriber)
    .bind(all)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM public.dead_letters \
         WHERE ($1::text IS NULL OR projection = $1) AND ($2 OR resolution IS NULL)",
    )
    .bind(subscriber)
    .bind(all)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// Dead letter `id` in full, `None` when there is none.
pub async fn dead_letter(pool: &PgPool, id: i64) -> Result<Option<DeadLetter>, SubscriptionError> {
    Ok(sqlx::query_as::<_, DeadLetter>(
        "SELECT d.id, d.projection AS subscriber, d.position, d.event_id, d.stream_id, \
             d.event_type, d.schema_version, left(d.payload::text, $2) AS payload, \
             length(d.payload::text) AS payload_chars, d.error, d.attempts, \
             s.first_failed_at, s.last_failed_at, s.total_attempts, d.resolution, d.resolved_at \
         FROM public.dead_letters d, LATERAL ( \
             SELECT min(created_at) AS first_failed_at, max(created_at) AS last_failed_at, \
                    sum(attempts)::bigint AS total_attempts \
             FROM public.dead_letters o \
             WHERE o.projection = d.projection AND o.event_id = d.event_id) s \
         WHERE d.id = $1",
    )
    .bind(id)
    .bind(PAYLOAD_SHOWN)
    .fetch_optional(pool)
    .await?)
}

/// One act of an operator.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OperatorAction {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subscriber: String,
    pub detail: String,
}

/// Records an act, in the caller's transaction.
pub async fn record_action(
    conn: &mut PgConnection,
    actor: &str,
    action: &str,
    subscriber: &str,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO public.operator_actions (actor, action, subscriber, detail) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(actor)
    .bind(action)
    .bind(subscriber)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The latest `limit` acts, newest first.
pub async fn recent_actions(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<OperatorAction>, SubscriptionError> {
    Ok(sqlx::query_as::<_, OperatorAction>(
        "SELECT id, at, actor, action, subscriber, detail FROM public.operator_actions \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
