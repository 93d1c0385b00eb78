//! Test support shared by the crates' integration tests.
//!
//! Every test that needs Postgres gets its own, freshly created database so
//! tests can run in parallel against one real server without seeing each
//! other's rows. The database is dropped when the [`TestDb`] goes out of scope.
//!
//! With the `browser` feature, `browser` drives headless Chromium for tests
//! of the pages the services serve.

#[cfg(feature = "browser")]
pub mod browser;
mod fake_payment_provider;
mod insert_gate;
mod jwks_server;
mod nats_cluster;
mod pg_proxy;
mod private_nats;

pub use fake_payment_provider::{FakePaymentProvider, ProviderBehaviour, RequestCheck};
pub use insert_gate::InsertGate;
pub use jwks_server::JwksServer;
pub use nats_cluster::NatsCluster;
pub use pg_proxy::PgProxy;
pub use private_nats::{PrivateNats, free_port};

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// Where the test databases are created. Override with `TEST_DATABASE_URL`
/// (it must point at a database the user may connect to, usually `postgres`).
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A throw-away Postgres database, dropped (with `FORCE`) on drop.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates an empty database named `orderflow_test_<random>`.
    ///
    /// Panics when Postgres is unreachable: a test cannot do anything useful
    /// without it, and the panic message says what was tried.
    pub async fn new() -> TestDb {
        let admin = admin_url();
        let name = format!("orderflow_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Postgres at {admin}: {e}"));
        // The name is generated above from a UUID, never from input.
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let url = replace_database(&admin, &name);
        TestDb { name, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        // Drop runs outside of any runtime guarantee (a test may already be
        // tearing its runtime down), so the cleanup gets its own thread and
        // runtime. Failures only leave a stray database behind.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let fut = async {
                    let mut conn = PgConnection::connect(&admin).await.ok()?;
                    conn.execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Every row of each table as JSON text, sorted: two databases hold the
/// same rows exactly when their dumps are equal (the rebuild comparisons).
pub async fn dump_tables<'a>(
    pool: &sqlx::PgPool,
    tables: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, Vec<String>>, sqlx::Error> {
    let mut out = BTreeMap::new();
    for table in tables {
        // Table names come from the code (projection definitions), not input.
        let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT r FROM (SELECT row_to_json(t)::text AS r FROM public.{table} t) x ORDER BY r"
        )))
        .fetch_all(pool)
        .await?;
        out.insert(table.to_owned(), rows);
    }
    Ok(out)
}

/// Replaces the database name (the path) of a `postgres://` URL.
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // The path starts at the first '/' after "scheme://authority".
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_start..]
        .find('/')
        .map(|i| authority_start + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_path_only() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
