//! The read database: connecting, migrating, checkpoints and dead letters.
//! Bookkeeping tables are always named with `public.` because rebuilds run
//! with a search_path pointing at their own schema.

use std::str::FromStr;
use std::time::Duration;

use orderflow_event_store::{Position, RecordedEvent};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row};

use crate::error::ProjectionError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Postgres ends a session of ours left idle inside a transaction this long
/// (a stuck task, a bug). Its xid would hold back the store's watermark,
/// which is cluster-wide, stalling the relay and every reader. Nothing here
/// legitimately idles in a transaction for more than a store read.
pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

/// Creates the read database if needed, connects and migrates it. Its
/// sessions get [`IDLE_IN_TRANSACTION_TIMEOUT`].
pub async fn connect_read_db(url: &str, max_connections: u32) -> Result<PgPool, ProjectionError> {
    orderflow_event_store::ensure_database(url).await?;
    let options = PgConnectOptions::from_str(url)?.options([(
        "idle_in_transaction_session_timeout",
        IDLE_IN_TRANSACTION_TIMEOUT,
    )]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| ProjectionError::Migrate(e.to_string()))?;
    Ok(pool)
}

/// A projection's checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub version: i32,
    pub position: Position,
    pub generation: i64,
    pub stopped: bool,
    pub last_error: Option<String>,
    /// The transient error the owner is backing off from, and when it
    /// tries again (both `None` unless backing off).
    pub backoff_error: Option<String>,
    pub backoff_until: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn to_checkpoint(name: &str, row: &sqlx::postgres::PgRow) -> Result<Checkpoint, ProjectionError> {
    let position: String = row.try_get("position")?;
    let state: String = row.try_get("state")?;
    Ok(Checkpoint {
        version: row.try_get("version")?,
        position: position
            .parse()
            .map_err(|e| ProjectionError::Checkpoint(name.to_owned(), format!("{e}")))?,
        generation: row.try_get("generation")?,
        stopped: state == "stopped",
        last_error: row.try_get("last_error")?,
        backoff_error: row.try_get("backoff_error")?,
        backoff_until: row.try_get("backoff_until")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn load_checkpoint(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Checkpoint>, ProjectionError> {
    let row = sqlx::query(
        "SELECT version, position, generation, state, last_error, backoff_error, backoff_until, \
             updated_at \
         FROM public.projection_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.map(|r| to_checkpoint(name, &r)).transpose()
}

/// Same, locking the row until the transaction ends: every write to a
/// projection's tables happens under this lock, which serialises the
/// projector, rebuild swaps and operator commands.
pub(crate) async fn lock_checkpoint(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Checkpoint>, ProjectionError> {
    let row = sqlx::query(
        "SELECT version, position, generation, state, last_error, backoff_error, backoff_until, \
             updated_at \
         FROM public.projection_checkpoints WHERE name = $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.map(|r| to_checkpoint(name, &r)).transpose()
}

pub(crate) async fn save_position(
    conn: &mut PgConnection,
    name: &str,
    position: Position,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE public.projection_checkpoints SET position = $2, updated_at = now() \
         WHERE name = $1",
    )
    .bind(name)
    .bind(position.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// What a writer believes the checkpoint is: every write to a projection
/// checks it under the row lock, so an owner that lost its lock (a zombie)
/// writes nothing once another owner, a skip or a rebuild moved on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected {
    pub version: i32,
    pub position: Position,
    pub generation: i64,
}

impl Expected {
    pub fn matches(&self, cp: &Checkpoint) -> bool {
        cp.position == self.position
            && cp.generation == self.generation
            && cp.version == self.version
            && !cp.stopped
    }
}

/// Records a poison event and stops the projection, in one transaction,
/// if the checkpoint is still `expected`; `Ok(false)` (nothing written)
/// when it moved on.
pub(crate) async fn dead_letter(
    pool: &PgPool,
    projection: &str,
    expected: Expected,
    event: &RecordedEvent,
    error: &str,
    attempts: u32,
) -> Result<bool, ProjectionError> {
    let mut tx = pool.begin().await?;
    match lock_checkpoint(&mut tx, projection).await? {
        Some(cp) if expected.matches(&cp) => {}
        _ => return Ok(false),
    }
    sqlx::query(
        "INSERT INTO public.dead_letters (projection, position, event_id, stream_id, event_type, \
             schema_version, payload, error, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(projection)
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
    .bind(projection)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Says that the owner of `projection` backs off from `error` until
/// `until` (`None` clears it: the projection moves again).
pub(crate) async fn set_backoff(
    pool: &PgPool,
    projection: &str,
    backoff: Option<(&str, chrono::DateTime<chrono::Utc>)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE public.projection_checkpoints SET backoff_error = $2, backoff_until = $3 \
         WHERE name = $1",
    )
    .bind(projection)
    .bind(backoff.map(|(e, _)| e))
    .bind(backoff.map(|(_, t)| t))
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether `e` will fail the same way on every retry of the same events:
/// bad data (SQLSTATE class 22) or a violated constraint (class 23), or
/// stored state that cannot be decoded. Anything else (connection loss,
/// serialization failure, deadlock, timeouts) is transient.
pub(crate) fn is_poison(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
        _ => false,
    }
}
