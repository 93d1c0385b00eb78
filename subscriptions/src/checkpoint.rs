//! The checkpoint row of each subscriber: where it got to, which version
//! built its effects, whether it runs, and why it backs off. Every write to
//! a subscriber's effects happens under this row's lock (see [`lock`]),
//! which serialises the owner, rebuild swaps and operator commands.
//!
//! The tables are named with `public.` because rebuilds run with a
//! search_path pointing at their own schema.

use orderflow_event_store::Position;
use sqlx::{PgConnection, PgPool, Row};

use crate::error::SubscriptionError;

/// A subscriber's checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub version: i32,
    pub position: Position,
    /// Bumped whenever the position or the effects change outside the
    /// owner's loop (skip, retry, rebuild swap).
    pub generation: i64,
    pub stopped: bool,
    pub last_error: Option<String>,
    /// The transient error the owner is backing off from, and when it
    /// tries again (both `None` unless backing off).
    pub backoff_error: Option<String>,
    pub backoff_until: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str = "version, position, generation, state, last_error, backoff_error, \
                       backoff_until, updated_at";

fn to_checkpoint(name: &str, row: &sqlx::postgres::PgRow) -> Result<Checkpoint, SubscriptionError> {
    let position: String = row.try_get("position")?;
    let state: String = row.try_get("state")?;
    Ok(Checkpoint {
        version: row.try_get("version")?,
        position: position
            .parse()
            .map_err(|e| SubscriptionError::Checkpoint(name.to_owned(), format!("{e}")))?,
        generation: row.try_get("generation")?,
        stopped: state == "stopped",
        last_error: row.try_get("last_error")?,
        backoff_error: row.try_get("backoff_error")?,
        backoff_until: row.try_get("backoff_until")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The checkpoint of `name` (`None`: never started).
pub async fn load(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Checkpoint>, SubscriptionError> {
    select(conn, name, "").await
}

/// Same, locking the row until the transaction ends.
pub async fn lock(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Checkpoint>, SubscriptionError> {
    select(conn, name, " FOR UPDATE").await
}

async fn select(
    conn: &mut PgConnection,
    name: &str,
    suffix: &'static str,
) -> Result<Option<Checkpoint>, SubscriptionError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM public.projection_checkpoints WHERE name = $1{suffix}"
    )))
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.map(|r| to_checkpoint(name, &r)).transpose()
}

/// Locks the checkpoint of `name`, creating it (at `version`, position
/// zero) if missing: for a rebuild swap, which must hold the lock before it
/// moves tables.
pub async fn claim(
    conn: &mut PgConnection,
    name: &str,
    version: i32,
) -> Result<Checkpoint, SubscriptionError> {
    sqlx::query(
        "INSERT INTO public.projection_checkpoints (name, version, position) \
         VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(version)
    .bind(Position::START.to_string())
    .execute(&mut *conn)
    .await?;
    lock(conn, name)
        .await?
        .ok_or_else(|| SubscriptionError::Checkpoint(name.into(), "missing after insert".into()))
}

/// Starts `name` over under `version` at `position`: running, no error,
/// a new generation (so a running owner drops what it cached). The
/// "start from zero under a new version" hook's last step, in the
/// transaction that installs the new effects.
pub async fn restart(
    conn: &mut PgConnection,
    name: &str,
    version: i32,
    position: Position,
) -> Result<(), SubscriptionError> {
    sqlx::query(
        "INSERT INTO public.projection_checkpoints (name, version, position) \
         VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET version = $2, position = $3, \
             generation = projection_checkpoints.generation + 1, state = 'running', \
             last_error = NULL, updated_at = now()",
    )
    .bind(name)
    .bind(version)
    .bind(position.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks the checkpoint of `name` as [`lock`] does and moves its position
/// to `to`, in one statement; returns the row as it was before (`None`:
/// no such row). The caller checks it and rolls back if it is not what it
/// expected, so a batch's transaction needs one round trip for its
/// checkpoint instead of a lock and an update.
pub(crate) async fn advance(
    conn: &mut PgConnection,
    name: &str,
    to: Position,
) -> Result<Option<Checkpoint>, SubscriptionError> {
    // Built once: every batch of every subscriber runs it.
    static ADVANCE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let prior_columns = COLUMNS
            .split(',')
            .map(|c| format!("prior.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WITH prior AS (SELECT {COLUMNS} FROM public.projection_checkpoints \
                            WHERE name = $1 FOR UPDATE) \
             UPDATE public.projection_checkpoints c SET position = $2, updated_at = now() \
             FROM prior WHERE c.name = $1 \
             RETURNING {prior_columns}"
        )
    });
    let row = sqlx::query(sqlx::AssertSqlSafe(ADVANCE.as_str()))
        .bind(name)
        .bind(to.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| to_checkpoint(name, &r)).transpose()
}

/// What a writer believes the checkpoint is: every write checks it under
/// the row lock, so an owner that lost its lease (a zombie) writes nothing
/// once another owner, a skip or a rebuild moved on.
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

/// Says that the owner of `name` backs off from `error` until `until`
/// (`None` clears it: the subscriber moves again).
pub(crate) async fn set_backoff(
    pool: &PgPool,
    name: &str,
    backoff: Option<(&str, chrono::DateTime<chrono::Utc>)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE public.projection_checkpoints SET backoff_error = $2, backoff_until = $3 \
         WHERE name = $1",
    )
    .bind(name)
    .bind(backoff.map(|(e, _)| e))
    .bind(backoff.map(|(_, t)| t))
    .execute(pool)
    .await?;
    Ok(())
}
