//! Forgetting expired idempotency keys without blocking appends.

use sqlx::PgPool;

use crate::StoreError;

/// Deletes up to `limit` expired keys, oldest first, in one short
/// transaction. `SKIP LOCKED` passes over a row an append is replacing
/// right now (it is live again once that commits), so the cleanup never
/// waits for a writer; a writer that meets a row this transaction locked
/// waits only for this small delete.
pub(super) async fn delete_expired(pool: &PgPool, limit: usize) -> Result<u64, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE key IN ( \
             SELECT key FROM idempotency_keys WHERE expires_at <= now() \
             ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
    )
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
