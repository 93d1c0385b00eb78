//! The read database: connecting and migrating (the read models' tables,
//! then the subscription runtime's checkpoints and dead letters).

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::ProjectionError;

/// The read models' migrations. Their first two (0001, 0002) also created
/// the runtime's tables, before it had migrations of its own; they stay as
/// applied, and the runtime's own are no-ops on such a database.
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
    // This order: the read models' 0001 creates the runtime's tables
    // unconditionally, the runtime's migration only if missing.
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| ProjectionError::Migrate(e.to_string()))?;
    orderflow_subscriptions::migrate(&pool).await?;
    Ok(pool)
}
