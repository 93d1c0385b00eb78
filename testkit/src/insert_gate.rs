//! Holds writers inside their transaction: a trigger makes every insert into
//! a table wait while the test holds an advisory lock, so the test decides
//! when (and whether) the writer's transaction may go on, and can kill the
//! writer's backend between its insert and its commit.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The advisory lock key the trigger waits on (per database, so parallel
/// tests on other databases do not share it).
const KEY: i64 = 4242;

/// A gate on inserts into one table of one test database.
#[derive(Debug)]
pub struct InsertGate {
    conn: PgConnection,
}

impl InsertGate {
    /// Installs the trigger on `table` (a name from the test, never input).
    /// The gate starts open.
    pub async fn install(database_url: &str, table: &str) -> InsertGate {
        let mut conn = PgConnection::connect(database_url)
            .await
            .unwrap_or_else(|e| panic!("connect for the insert gate: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE FUNCTION test_insert_gate() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock_shared({KEY}); RETURN NEW; END $$; \
             CREATE TRIGGER test_insert_gate BEFORE INSERT ON {table} \
             FOR EACH ROW EXECUTE FUNCTION test_insert_gate();"
        )))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("install the insert gate: {e}"));
        InsertGate { conn }
    }

    /// From now on inserts wait (inside their transaction, before any row).
    pub async fn close(&mut self) {
        self.exec("SELECT pg_advisory_lock($1)").await;
    }

    pub async fn open(&mut self) {
        self.exec("SELECT pg_advisory_unlock($1)").await;
    }

    /// Waits (up to 5 s, else panics) until `n` backends wait at the gate.
    pub async fn wait_for_waiters(&mut self, n: i64) {
        for _ in 0..200 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND objid = $1 AND database = (SELECT oid FROM pg_database \
                                                WHERE datname = current_database())",
            )
            .bind(KEY)
            .fetch_one(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("count the gate's waiters: {e}"));
            if waiting >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("fewer than {n} writers reached the insert gate");
    }

    /// Terminates the backends waiting at the gate: their transactions die
    /// before they inserted anything or sent COMMIT.
    pub async fn terminate_waiters(&mut self) {
        self.exec(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
             AND NOT granted AND objid = $1 AND database = (SELECT oid FROM pg_database \
                                                            WHERE datname = current_database())",
        )
        .await;
    }

    async fn exec(&mut self, sql: &'static str) {
        sqlx::query(sql)
            .bind(KEY)
            .execute(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}
