//! What an operator reads and does beyond `status`: dead letters listed
//! and in detail, retry and skip recorded in the audit log
//! (`operator_actions`) in the act's own transaction, and that log.
//! Console and CLI both record through [`record_action`], naming an
//! [`Actor`] and where they came from.

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

/// Where an operator acted from, as `operator_actions.via` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The query API's console, as a signed-in operator.
    Console,
    /// The `orderflow` command line.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Console => "console",
            Via::Cli => "cli",
        }
    }
}

/// Who performs an act, and from where: every retry, skip and requested
/// rebuild names one, and the audit log records both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    name: String,
    via: Via,
}

impl Actor {
    /// A signed-in console operator (the token's subject, and client).
    pub fn console(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            via: Via::Console,
        }
    }

    /// Someone at the command line (`--actor`, or the shell user at the
    /// host).
    pub fn cli(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            via: Via::Cli,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn via(&self) -> Via {
        self.via
    }
}

/// The console's operator by name, anyone else marked by where they came
/// from (`cli:ada@ops-1`).
impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.via {
            Via::Console => f.write_str(&self.name),
            via => write!(f, "{}:{}", via.as_str(), self.name),
        }
    }
}

/// One act of an operator.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OperatorAction {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `console` or `cli`.
    pub via: String,
    pub action: String,
    pub subscriber: String,
    pub detail: String,
}

/// Records an act, in the caller's transaction (so the act and its record
/// commit together or not at all).
pub async fn record_action(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    subscriber: &str,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO public.operator_actions (actor, via, action, subscriber, detail) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor.name())
    .bind(actor.via().as_str())
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
        "SELECT id, at, actor, via, action, subscriber, detail FROM public.operator_actions \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_says_where_it_came_from_unless_it_is_the_console() {
        assert_eq!(Actor::console("ops-ada").to_string(), "ops-ada");
        assert_eq!(Actor::cli("ada@ops-1").to_string(), "cli:ada@ops-1");
        assert_eq!(Actor::cli("ada@ops-1").via().as_str(), "cli");
        assert_eq!(Actor::console("x").via().as_str(), "console");
    }
}
