//! Catching up straight from the store (no NATS), restarts, and concurrent
//! writers with rolled-back transactions.

use std::time::Duration;

use orderflow_event_store::pg_admin::{self, UncheckedEvent};
use orderflow_event_store::{EventMetadata, NewEvent, PgEventStore, StreamId};
use orderflow_projections::ProjectorConfig;
use uuid::Uuid;

use crate::support::{Env, Workload, assert_same, dump, rebuilt};

/// Transactions that insert an order's OrderCreated, hold it, then commit
/// (odd) or roll back (even), overlapping the projector's reads.
fn side_writers(store: PgEventStore, n: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        for i in 0..n {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 11 % 200)).await;
                let id = Uuid::now_v7();
                let event = UncheckedEvent {
                    stream_id: StreamId::new(format!("order-{id}")).unwrap(),
                    stream_version: 1,
                    event: NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: "OrderCreated".into(),
                        schema_version: 1,
                        payload: serde_json::json!({
                            "order_id": id, "customer_id": "side-customer", "currency": "EUR",
                            "at": "2025-03-02T10:00:00Z"
                        }),
                        metadata: EventMetadata::default(),
                    },
                };
                let open = pg_admin::begin_insert(&store, &[event]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5 + (i * 17) % 80)).await;
                if i % 2 == 1 {
                    open.commit().await.unwrap();
                } else {
                    open.rollback().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
}

#[tokio::test]
async fn catch_up_from_the_store_equals_rebuild_and_skips_nothing() {
    let env = Env::small_batches().await;
    let offline = ProjectorConfig {
        // Nothing listens there: the projector must work from the store.
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(7);
    work.run(&env.store, 800, 150).await;
    let projector = env.start_projector_with(offline).await;
    let side = side_writers(env.store.clone(), 60);
    work.run(&env.store, 1500, 250).await;
    side.await.unwrap();
    let head = orderflow_event_store::EventStore::head(&env.store)
        .await
        .unwrap();
    env.wait_for(work.last.max(head), &[]).await;
    let live = dump(&env.read).await;
    projector.stop().await;
    let side_orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = 'side-customer'")
            .fetch_one(&env.read)
            .await
            .unwrap();
    assert_eq!(side_orders, 30, "every committed late writer is projected");
    assert!(live["orders"].len() > 200);
    assert_same(&live, &rebuilt(&env).await);
}

#[tokio::test]
async fn restart_resumes_without_loss_or_double_effect() {
    let env = Env::small_batches().await;
    let offline = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(11);
    let projector = env.start_projector_with(offline.clone()).await;
    work.run(&env.store, 1000, 200).await;
    // Stopped wherever it is, possibly mid-batch.
    projector.stop().await;
    work.run(&env.store, 1000, 300).await;
    let projector = env.start_projector_with(offline).await;
    env.wait_for(work.last, &[]).await;
    let live = dump(&env.read).await;
    projector.stop().await;
    assert_same(&live, &rebuilt(&env).await);
}

#[tokio::test]
async fn a_changed_version_rebuilds_on_start() {
    let env = Env::small_batches().await;
    let offline = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(13);
    work.run(&env.store, 600, 100).await;
    let projector = env.start_projector_with(offline).await;
    env.wait_for(work.last, &[]).await;
    let before = dump(&env.read).await;
    // As if the code's version had moved past the tables': the running
    // projector notices and rebuilds (the damage below must vanish).
    sqlx::query("DELETE FROM orders")
        .execute(&env.read)
        .await
        .unwrap();
    sqlx::query("UPDATE projection_checkpoints SET version = 0 WHERE name = 'orders'")
        .execute(&env.read)
        .await
        .unwrap();
    let current = orderflow_projections::projection("orders").unwrap().version;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (version, n): (i32, i64) = sqlx::query_as(
            "SELECT (SELECT version FROM projection_checkpoints WHERE name = 'orders'), \
                    (SELECT count(*) FROM orders)",
        )
        .fetch_one(&env.read)
        .await
        .unwrap();
        if version == current && n > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no rebuild");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    projector.stop().await;
    assert_same(&before, &dump(&env.read).await);
}
