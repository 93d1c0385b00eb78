//! Leader election: the relay that holds a Postgres session advisory lock
//! publishes; the others poll for it. The lock lives on one dedicated
//! connection, so when that process or connection dies Postgres frees it and
//! a standby takes over on its next try.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};

/// Blocks until this process holds the lock named `lock_name`, then returns
/// the connection that holds it. Retries forever; cancel by dropping.
pub(crate) async fn acquire(
    options: &PgConnectOptions,
    lock_name: &str,
    interval: Duration,
) -> PgConnection {
    loop {
        match try_acquire(options, lock_name).await {
            Ok(Some(conn)) => return conn,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "relay standby cannot reach Postgres"),
        }
        tokio::time::sleep(interval).await;
    }
}

async fn try_acquire(
    options: &PgConnectOptions,
    lock_name: &str,
) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = options.connect().await?;
    if try_lock(&mut conn, lock_name).await? {
        Ok(Some(conn))
    } else {
        Ok(None)
    }
}

/// `pg_try_advisory_lock` on a 64-bit key derived from the name by Postgres
/// itself, so every process agrees on it whatever its build.
pub(crate) async fn try_lock(
    conn: &mut PgConnection,
    lock_name: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(lock_name)
        .fetch_one(conn)
        .await
}
