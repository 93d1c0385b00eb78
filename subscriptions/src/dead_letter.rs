//! Dead letters: events a subscriber could not handle after its retries,
//! and the operator's two ways out (retry it, or skip it).

use orderflow_event_store::{Position, RecordedEvent};
use sqlx::{PgConnection, PgPool, Row};

use crate::checkpoint::{self, Expected};
use crate::error::SubscriptionError;
use crate::metrics;
use crate::operator::Actor;

/// Records a poison event and stops the subscriber, in one transaction,
/// if the checkpoint is still `expected`; `Ok(false)` (nothing written)
/// when it moved on.
pub(crate) async fn record(
    pool: &PgPool,
    subscriber: &str,
    expected: Expected,
    event: &RecordedEvent,
    error: &str,
    attempts: u32,
) -> Result<bool, SubscriptionError> {
    let mut tx = pool.begin().await?;
    match checkpoint::lock(&mut tx, subscriber).await? {
        Some(cp) if expected.matches(&cp) => {}
        _ => return Ok(false),
    }
    sqlx::query(
        "INSERT INTO public.dead_letters (projection, position, event_id, stream_id, event_type, \
             schema_version, payload, error, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(subscriber)
    .bind(event.position.to_string())
    .bind(event.event_id)
    .bind(event.stream_id.as_str())
    .bind(&event.event_type)
    .bind(i32::try_from(event.schema_version).unwrap_or(i32::MAX))
    .bind(&event.payload)
    .bind(error)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE public.projection_checkpoints \
         SET state = 'stopped', last_error = $2, backoff_error = NULL, backoff_until = NULL, \
             updated_at = now() WHERE name = $1",
    )
    .bind(subscriber)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Dead letters of `subscriber` not yet retried or skipped.
pub async fn open_count(conn: &mut PgConnection, subscriber: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM public.dead_letters WHERE projection = $1 AND resolution IS NULL",
    )
    .bind(subscriber)
    .fetch_one(conn)
    .await
}

/// Resumes a stopped subscriber at its dead-lettered event, which is tried
/// again (and dead-lettered again if it still fails); `actor`'s act is
/// recorded in the audit log in the same transaction.
pub async fn retry(
    pool: &PgPool,
    subscriber: &str,
    actor: &Actor,
) -> Result<(), SubscriptionError> {
    resolve(pool, subscriber, false, actor).await
}

/// Resumes a stopped subscriber after its dead-lettered event, which it
/// never handles; recorded like [`retry`].
pub async fn skip(pool: &PgPool, subscriber: &str, actor: &Actor) -> Result<(), SubscriptionError> {
    resolve(pool, subscriber, true, actor).await
}

async fn resolve(
    pool: &PgPool,
    name: &str,
    skip: bool,
    actor: &Actor,
) -> Result<(), SubscriptionError> {
    let verb = if skip { "skip" } else { "retry" };
    let mut tx = pool.begin().await?;
    let cp = checkpoint::lock(&mut tx, name)
        .await?
        .ok_or(SubscriptionError::NothingToResolve(name.into(), verb))?;
    let letter = sqlx::query(
        "SELECT id, position FROM public.dead_letters \
         WHERE projection = $1 AND resolution IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    if !cp.stopped && letter.is_none() {
        return Err(SubscriptionError::NothingToResolve(name.into(), verb));
    }
    let mut position = cp.position;
    if skip {
        let Some(letter) = &letter else {
            return Err(SubscriptionError::NothingToResolve(name.into(), verb));
        };
        let p: String = letter.try_get("position")?;
        let p: Position = p
            .parse()
            .map_err(|e| SubscriptionError::Checkpoint(name.into(), format!("{e}")))?;
        position = position.max(p);
    }
    sqlx::query(
        "UPDATE public.dead_letters SET resolution = $2, resolved_at = now() \
         WHERE projection = $1 AND resolution IS NULL",
    )
    .bind(name)
    .bind(if skip { "skipped" } else { "retried" })
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE public.projection_checkpoints SET state = 'running', last_error = NULL, \
             position = $2, generation = generation + 1, updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(position.to_string())
    .execute(&mut *tx)
    .await?;
    let detail = match &letter {
        Some(l) => format!("dead letter at {}", l.try_get::<String, _>("position")?),
        None => "no open dead letter".to_owned(),
    };
    crate::operator::record_action(&mut tx, actor, verb, name, &detail).await?;
    tx.commit().await?;
    metrics::stopped(name, false);
    Ok(())
}
