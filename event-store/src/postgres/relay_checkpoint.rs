//! The `relay_checkpoints` table: where each relay got to.

use sqlx::PgPool;

use super::read::corrupt;
use crate::{Position, StoreError};

pub(super) async fn load(pool: &PgPool, name: &str) -> Result<Option<Position>, StoreError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    stored.map(|s| s.parse().map_err(corrupt)).transpose()
}

/// Without waiting for the WAL flush (`synchronous_commit` off for this
/// statement's transaction only): a checkpoint lost in a database crash
/// only makes the relay publish again what JetStream then de-duplicates.
pub(super) async fn save(pool: &PgPool, name: &str, position: Position) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (name, position, updated_at) \
         SELECT $1, $2, now() FROM (SELECT set_config('synchronous_commit', 'off', true)) AS s \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
    )
    .bind(name)
    .bind(position.to_string())
    .execute(pool)
    .await?;
    Ok(())
}
