//! The conformance suite against real Postgres, one database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use orderflow_event_store::conformance::{Fixture, SideWriter};
use orderflow_event_store::{PgEventStore, PgStoreConfig};
use orderflow_testkit::TestDb;
use sqlx::PgPool;
use uuid::Uuid;

async fn fresh() -> Fixture<PgEventStore> {
    let db = TestDb::new().await;
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .expect("connect to the test database");
    let side_writer = side_writer(store.pool().clone());
    Fixture {
        store: Arc::new(store),
        side_writer: Some(side_writer),
        guard: Box::new(db),
    }
}

/// Raw transactions that take a global position, hold it for a while, and
/// then commit (odd `n`) or roll back (even `n`). A reader that trusted
/// `global_position > checkpoint` would skip the late commits.
fn side_writer(pool: PgPool) -> SideWriter {
    Arc::new(move |n: u64| {
        let pool = pool.clone();
        Box::pin(async move {
            let id = Uuid::now_v7();
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query(
                "INSERT INTO events (stream_id, stream_version, event_id, event_type, \
                                     schema_version, payload, metadata) \
                 VALUES ($1, 1, $2, 'Side', 1, '{}', '{}')",
            )
            .bind(format!("side-{n}"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .expect("side insert");
            tokio::time::sleep(Duration::from_millis(5 + (n * 7) % 40)).await;
            if n % 2 == 1 {
                tx.commit().await.expect("side commit");
                vec![id]
            } else {
                tx.rollback().await.expect("side rollback");
                vec![]
            }
        })
    })
}

orderflow_event_store::conformance_tests!(fresh);
