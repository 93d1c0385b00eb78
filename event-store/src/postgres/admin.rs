//! Creating and migrating the events database.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Executor, PgPool};

use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the store's schema migrations (idempotent).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(format!("migrating the events database: {e}")))
}

/// The database a URL points at.
pub fn database_name(url: &str) -> Result<String, StoreError> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("bad database URL: {e}")))?;
    Ok(opts.get_database().unwrap_or("postgres").to_owned())
}

/// Creates the URL's database if it does not exist, connecting to the
/// server's `postgres` database to do so. Returns whether it created it.
pub async fn ensure_database(url: &str) -> Result<bool, StoreError> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("bad database URL: {e}")))?;
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    let mut conn = opts.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if exists {
        return Ok(false);
    }
    // Identifiers cannot be bound as parameters; quoting doubles any '"'.
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match conn
        .execute(AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
        .await
    {
        Ok(_) => Ok(true),
        // Another process created it between our check and our CREATE.
        Err(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("42P04" | "23505")) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
