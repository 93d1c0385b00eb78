//! The group-commit writer under hostile data and concurrent processes:
//! one append never fails because of another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::future::join_all;
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore,
    PgStoreConfig, StoreError, StreamId,
};
use orderflow_testkit::TestDb;
use sqlx::{Connection, PgConnection};
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

/// Makes every insert into `events` wait while the test holds an advisory
/// lock, so the test decides when the writer's transaction may go on.
struct Gate {
    conn: PgConnection,
}

const GATE_KEY: i64 = 4242;

impl Gate {
    async fn install(db: &TestDb) -> Gate {
        let mut conn = PgConnection::connect(db.url()).await.unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$; \
             CREATE TRIGGER test_gate BEFORE INSERT ON events \
             FOR EACH ROW EXECUTE FUNCTION test_gate();",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        Gate { conn }
    }

    async fn close(&mut self) {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(GATE_KEY)
            .execute(&mut self.conn)
            .await
            .unwrap();
    }

    async fn open(&mut self) {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(GATE_KEY)
            .execute(&mut self.conn)
            .await
            .unwrap();
    }

    /// Waits until `n` backends are blocked at the gate.
    async fn wait_for_waiters(&mut self, n: i64) {
        for _ in 0..200 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND objid = $1 AND database = (SELECT oid FROM pg_database \
                                                WHERE datname = current_database())",
            )
            .bind(GATE_KEY)
            .fetch_one(&mut self.conn)
            .await
            .unwrap();
            if waiting >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("fewer than {n} writers reached the gate");
    }
}

#[tokio::test]
async fn a_refused_payload_fails_alone_and_its_batch_commits() {
    let db = TestDb::new().await;
    let store = store(&db, 1).await;
    let mut gate = Gate::install(&db).await;
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
