//! The read database as the query side sees it: a pool, the statements it
//! runs (all read-only), and a count of them so tests can check that
//! batching keeps the number of statements per request constant.

mod checkpoints;
mod customers;
mod items;
mod orders;
mod sales;
mod stock;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use checkpoints::{CheckpointRow, DeadLetterCount};
pub use customers::{CustomerStatsRow, LifetimeValueRow};
pub use items::ItemRow;
pub use orders::{AddressRow, KeyValue, Keyset, OrderFilter, OrderRow, PageQuery, SortKey};
pub use sales::{DailySalesRow, ProductRanking, ProductSalesRow, TopProductsQuery};
pub use stock::StockRow;

use crate::error::DbError;

/// A read-only handle on the read models; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadDb {
    pool: PgPool,
    statements: Arc<AtomicU64>,
}

impl ReadDb {
    /// A lazily connecting pool: the service starts (and `/readyz` says
    /// why it is not ready) while the database is away. Every statement is
    /// cut off by Postgres after `statement_timeout`: a request that times
    /// out drops its future, but Postgres would go on running the
    /// statement it had sent.
    pub fn connect_lazy(
        url: &str,
        max_connections: u32,
        statement_timeout: Duration,
    ) -> Result<ReadDb, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?
            .application_name("orderflow-query-api")
            .options([(
                "statement_timeout",
                format!("{}ms", statement_timeout.as_millis().max(1)),
            )]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings every connection it hands out by default: a second
            // round trip per statement. A dead connection shows up as one
            // failed statement instead, after which sqlx drops it.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(ReadDb::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> ReadDb {
        ReadDb {
            pool,
            statements: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Statements run through this handle (and its clones) so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("orderflow_query_db_statements_total").increment(1);
    }

    /// Reachable, and the read model has been created by a projector.
    pub async fn ready(&self) -> Result<(), String> {
        let built: Option<bool> =
            sqlx::query_scalar("SELECT to_regclass('public.orders') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| format!("read database: {e}"))?;
        if built == Some(true) {
            Ok(())
        } else {
            Err("read database has no read models yet (no projector has run)".into())
        }
    }
}

type DbResult<T> = Result<T, DbError>;
