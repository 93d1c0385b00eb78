//! The group-commit writer under hostile data and concurrent processes:
//! one append never fails because of another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::future::join_all;
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore,
    PgStoreConfig, StoreError, StreamId,
};
use orderflow_testkit::{InsertGate, PgProxy, TestDb};
use uuid::Uuid;

async fn store(db: &TestDb, writers: usize) -> PgEventStore {
    let mut config = PgStoreConfig::new(db.url());
    config.writers = writers;
    PgEventStore::connect(config).await.unwrap()
}

fn request(stream: &str, payload: serde_json::Value) -> AppendRequest {
    AppendRequest::new(
        StreamId::new(stream).unwrap(),
        ExpectedVersion::Any,
        vec![NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Noted".into(),
            schema_version: 1,
            payload,
            metadata: EventMetadata::default(),
        }],
    )
}

async fn stored(store: &PgEventStore, stream: &str) -> usize {
    store
        .read_stream(&StreamId::new(stream).unwrap())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_refused_payload_fails_alone_and_its_batch_commits() {
    let db = TestDb::new().await;
    let store = store(&db, 1).await;
    let mut gate = InsertGate::install(db.url(), "events").await;
    // Hold the writer inside a first batch so the next appends queue up
    // behind it and form one batch together.
    gate.close().await;
    let first = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .append(request("order-first", serde_json::json!({})))
                .await
        }
    });
    gate.wait_for_waiters(1).await;
    let mut appends = Vec::new();
    for i in 0..12 {
        // Postgres refuses U+0000 in jsonb (SQLSTATE 22P05).
        let payload = if i == 7 {
            serde_json::json!({ "reason": "x\u{0}y" })
        } else {
            serde_json::json!({ "i": i })
        };
        let store = store.clone();
        appends.push(tokio::spawn(async move {
            store.append(request(&format!("order-{i}"), payload)).await
        }));
    }
    // Let them all reach the writer's queue.
    tokio::time::sleep(Duration::from_millis(200)).await;
    gate.open().await;
    first.await.unwrap().unwrap();
    for (i, append) in join_all(appends).await.into_iter().enumerate() {
        let result = append.unwrap();
        if i == 7 {
            match result {
                Err(StoreError::Rejected { reason }) => {
                    assert!(reason.contains("SQLSTATE 22P05"), "{reason}");
                }
                other => panic!("the NUL payload should be refused alone, got {other:?}"),
            }
            assert_eq!(stored(&store, "order-7").await, 0);
        } else {
            result.unwrap_or_else(|e| panic!("append {i} failed for its neighbour: {e}"));
            assert_eq!(stored(&store, &format!("order-{i}")).await, 1);
        }
    }
}

/// Two processes (two pools and writer sets) append to the same streams in
/// opposite orders at once, many rounds: the rows are inserted in one
/// canonical order, and a deadlock that still happens is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_appending_in_opposite_orders_never_fail() {
    let db = TestDb::new().await;
    let a = store(&db, 1).await;
    let b = store(&db, 1).await;
    let streams: Vec<String> = (0..16).map(|i| format!("order-{i:02}")).collect();
    let rounds = 200;
    for round in 0..rounds {
        let forward = streams.iter().map(|s| {
            let a = a.clone();
            let s = s.clone();
            async move {
                a.append(request(&s, serde_json::json!({ "round": round })))
                    .await
            }
        });
        let backward = streams.iter().rev().map(|s| {
            let b = b.clone();
            let s = s.clone();
            async move {
                b.append(request(&s, serde_json::json!({ "round": round })))
                    .await
            }
        });
        let (fa, fb) = tokio::join!(
            tokio::spawn(join_all(forward)),
            tokio::spawn(join_all(backward))
        );
        for result in fa.unwrap().into_iter().chain(fb.unwrap()) {
            result.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    for s in &streams {
        assert_eq!(stored(&a, s).await, 2 * rounds);
    }
}

/// A store whose connections go through a proxy that can lose a COMMIT's
/// answer.
async fn store_behind_proxy(db: &TestDb) -> (PgEventStore, PgProxy) {
    let proxy = PgProxy::start("127.0.0.1:5432").await;
    let mut config = PgStoreConfig::new(proxy.url(db.url()));
    config.connect_timeout = Duration::from_secs(1);
    (PgEventStore::connect(config).await.unwrap(), proxy)
}

#[tokio::test]
async fn a_commit_that_lost_its_answer_but_took_effect_is_reported_written() {
    let db = TestDb::new().await;
    let (store, proxy) = store_behind_proxy(&db).await;
    store
        .append(request("order-1", serde_json::json!({ "n": 1 })))
        .await
        .unwrap();
    proxy.cut_after_next_commit();
    let result = store
        .append(request("order-1", serde_json::json!({ "n": 2 })))
        .await
        .expect("the append committed, so it is reported as written");
    assert_eq!(
        proxy.commits_cut(),
        1,
        "the commit's answer was really lost"
    );
    assert_eq!(result.stream_version, 2);
    let events = store
        .read_stream(&StreamId::new("order-1").unwrap())
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].position, result.position);
}

#[tokio::test]
async fn a_commit_whose_outcome_cannot_be_learnt_is_ambiguous_not_unavailable() {
    let db = TestDb::new().await;
    let (store, proxy) = store_behind_proxy(&db).await;
    proxy.cut_after_next_commit_and_go_down();
    let result = store
        .append(request("order-1", serde_json::json!({ "n": 1 })))
        .await;
    assert_eq!(proxy.commits_cut(), 1);
    assert!(
        matches!(result, Err(StoreError::Ambiguous(_))),
        "the commit happened but could not be confirmed: {result:?}"
    );
    proxy.refuse_connections(false);
    assert_eq!(stored(&store, "order-1").await, 1, "it had committed");
}

/// Killed between the insert and the commit: nothing is written, and the
/// store says so (`Unavailable`), for this append only.
#[tokio::test]
async fn a_connection_killed_before_commit_writes_nothing_and_says_so() {
    let db = TestDb::new().await;
    let store = store(&db, 1).await;
    let mut gate = InsertGate::install(db.url(), "events").await;
    gate.close().await;
    let append = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .append(request("order-1", serde_json::json!({})))
                .await
        }
    });
    gate.wait_for_waiters(1).await;
    gate.terminate_waiters().await;
    gate.open().await;
    let result = append.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(stored(&store, "order-1").await, 0);
    store
        .append(request("order-1", serde_json::json!({})))
        .await
        .expect("works again on a new connection");
}

/// A session of the store left idle inside a transaction would hold the
/// cluster-wide watermark back for every reader; Postgres ends it.
#[tokio::test]
async fn the_stores_sessions_may_not_idle_in_a_transaction() {
    let db = TestDb::new().await;
    let mut config = PgStoreConfig::new(db.url());
    config.idle_in_transaction_timeout = Duration::from_millis(300);
    let store = PgEventStore::connect(config).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_idling = sqlx::query("SELECT 1").execute(&mut *tx).await;
    assert!(
        after_idling.is_err(),
        "the idle transaction should have been ended"
    );
    drop(tx);
    store
        .append(request("order-1", serde_json::json!({})))
        .await
        .expect("the store carries on with fresh sessions");
}
