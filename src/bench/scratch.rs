//! The scratch database benchmarks write to.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

/// Drops and recreates the URL's database so every run starts empty.
pub async fn recreate_database(url: &str) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(url)?;
    let name = opts.get_database().unwrap_or("orderflow_bench").to_owned();
    anyhow::ensure!(
        name.starts_with("orderflow_bench"),
        "refusing to drop {name}: benchmark databases must be named orderflow_bench*"
    );
    let mut conn = opts.clone().database("postgres").connect().await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    conn.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    )))
    .await?;
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
        .await?;
    conn.close().await?;
    Ok(())
}

/// The server's `synchronous_commit`, printed with results: it decides
/// whether every commit waits for a WAL flush.
pub async fn synchronous_commit(url: &str) -> anyhow::Result<String> {
    let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
    let value: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(value)
}
