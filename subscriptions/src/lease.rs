//! One owner at a time across processes: a Postgres session advisory lock
//! held on a dedicated connection.
//!
//! Postgres frees a session lock only when its session ends, so the lease
//! lasts exactly as long as that connection: a crashed or partitioned owner
//! loses it when Postgres notices the session is gone, and a standby takes
//! over on its next try. A standby keeps one connection and asks again on
//! it every interval (no reconnect per attempt), reconnecting only when
//! that connection fails.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// A held lease. Dropping it (or losing its connection) releases it.
///
/// ```no_run
/// # async fn lead(options: sqlx::postgres::PgConnectOptions) {
/// use std::time::Duration;
/// use orderflow_subscriptions::Lease;
///
/// let mut lease = Lease::acquire(&options, "orderflow-relay:main", Duration::from_secs(1)).await;
/// while lease.is_held().await {
///     // Lead; write what only the owner may write on `lease.connection()`.
/// #   break;
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Lease {
    conn: PgConnection,
    name: String,
}

impl Lease {
    /// Waits until this process holds the lease `name`, then returns it.
    /// Retries forever; cancel by dropping the future.
    pub async fn acquire(options: &PgConnectOptions, name: &str, interval: Duration) -> Lease {
        let mut standby: Option<PgConnection> = None;
        loop {
            if standby.is_none() {
                match options.connect().await {
                    Ok(conn) => standby = Some(conn),
                    Err(e) => {
                        tracing::warn!(lease = name, error = %e, "standby cannot reach Postgres")
                    }
                }
            }
            if let Some(mut conn) = standby.take() {
                match try_lock(&mut conn, name).await {
                    Ok(true) => {
                        return Lease {
                            conn,
                            name: name.to_owned(),
                        };
                    }
                    Ok(false) => standby = Some(conn),
                    // A broken connection: the next round makes a new one.
                    Err(e) => {
                        tracing::debug!(lease = name, error = %e, "standby connection failed")
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// One attempt on `conn`: the lease if the lock was free.
    pub async fn try_acquire(
        mut conn: PgConnection,
        name: &str,
    ) -> Result<Result<Lease, PgConnection>, sqlx::Error> {
        Ok(if try_lock(&mut conn, name).await? {
            Ok(Lease {
                conn,
                name: name.to_owned(),
            })
        } else {
            Err(conn)
        })
    }

    /// Whether this process still holds the lease: its connection answers.
    /// `false` means another process may own it by now; stop acting on it.
    pub async fn is_held(&mut self) -> bool {
        self.conn.ping().await.is_ok()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connection holding the lock. A write made on it fails if the
    /// lease is lost, so nothing is written by a process that lost it.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Gives the lease up now (instead of when dropped).
    pub async fn release(self) {
        let _ = self.conn.close().await;
    }
}

/// `pg_try_advisory_lock` on a 64-bit key derived from the name by Postgres
/// itself, so every process agrees on it whatever its build.
async fn try_lock(conn: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(name)
        .fetch_one(conn)
        .await
}
