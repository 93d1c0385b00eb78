//! The relay's checkpoint row, read and written on the leader connection.

use sqlx::PgConnection;

use super::RelayError;
use crate::Position;

pub(crate) async fn load(conn: &mut PgConnection, name: &str) -> Result<Position, RelayError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    match stored {
        Some(s) => s
            .parse()
            .map_err(|e| RelayError::Checkpoint(format!("{e}"))),
        None => Ok(Position::START),
    }
}

pub(crate) async fn save(
    conn: &mut PgConnection,
    name: &str,
    position: Position,
) -> Result<(), RelayError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (name, position, updated_at) VALUES ($1, $2, now()) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
    )
    .bind(name)
    .bind(position.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// The relay's checkpoint as stored (for status displays), from any pool.
pub async fn relay_checkpoint(
    pool: &sqlx::PgPool,
    relay_name: &str,
) -> Result<Option<Position>, RelayError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
            .bind(relay_name)
            .fetch_optional(pool)
            .await?;
    stored
        .map(|s| {
            s.parse()
                .map_err(|e| RelayError::Checkpoint(format!("{e}")))
        })
        .transpose()
}
