//! The conformance suite against real Postgres, one database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use orderflow_event_store::conformance::{Fixture, SideWriter};
use orderflow_event_store::pg_admin::{self, UncheckedEvent};
use orderflow_event_store::{
    EventMetadata, EventStore, NewEvent, PgEventStore, PgStoreConfig, Position, StreamId,
};
use orderflow_testkit::TestDb;
use uuid::Uuid;

async fn fresh() -> Fixture<PgEventStore> {
    let db = TestDb::new().await;
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .expect("connect to the test database");
    let side_writer = side_writer(store.clone());
    Fixture {
        store: Arc::new(store),
        side_writer: Some(side_writer),
        guard: Box::new(db),
    }
}

/// Raw transactions that take a global position, hold it for a while, and
/// then commit (odd `n`) or roll back (even `n`). A reader that trusted
/// `global_position > checkpoint` would skip the late commits.
fn side_writer(store: PgEventStore) -> SideWriter {
    Arc::new(move |n: u64| {
        let store = store.clone();
        Box::pin(async move {
            let side = unchecked(&format!("side-{n}"), 1);
            let id = side.event.event_id;
            let open = pg_admin::begin_insert(&store, &[side])
                .await
                .expect("side insert");
            tokio::time::sleep(Duration::from_millis(5 + (n * 7) % 40)).await;
            if n % 2 == 1 {
                open.commit().await.expect("side commit");
                vec![id]
            } else {
                open.rollback().await.expect("side rollback");
                vec![]
            }
        })
    })
}

orderflow_event_store::conformance_tests!(fresh);

/// A commit in another process wakes a reader here (`LISTEN`/`NOTIFY`):
/// two stores on one database stand for two processes. The listener starts
/// in the background on the first `append_signal`, so an append before it
/// listens goes unannounced; some of twenty must wake the reader long
/// before its limit, which a polling store never does.
#[tokio::test]
async fn a_commit_in_another_process_wakes_the_reader() {
    let db = TestDb::new().await;
    let writer = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    let reader = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    let mut signal = reader.append_signal();
    let limit = Duration::from_secs(1);
    let mut waits = Vec::new();
    for n in 0..20 {
        let append = writer.append(orderflow_event_store::AppendRequest::new(
            StreamId::new(format!("wake-{n}")).unwrap(),
            orderflow_event_store::ExpectedVersion::Any,
            vec![unchecked("wake-0", 1).event],
        ));
        let (appended, waited) = tokio::join!(append, async {
            let started = std::time::Instant::now();
            signal.wait(limit).await;
            started.elapsed()
        });
        appended.unwrap();
        waits.push(waited);
        if waited < limit / 4 {
            return;
        }
    }
    panic!("no commit of the other store woke the reader: {waits:?}");
}

fn unchecked(stream: &str, version: u64) -> UncheckedEvent {
    UncheckedEvent {
        stream_id: StreamId::new(stream).unwrap(),
        stream_version: version,
        event: NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Side".into(),
            schema_version: 1,
            payload: serde_json::json!({}),
            metadata: EventMetadata::default(),
        },
    }
}

/// The Postgres watermark: a transaction that took positions and idles
/// holds readers back, and `watermark()` says for how long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_age_covers_a_transaction_holding_it_back() {
    let db = TestDb::new().await;
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    let open = pg_admin::begin_insert(&store, &[unchecked("side-1", 1)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let age = store.watermark().await.unwrap().age.unwrap();
    assert!(age >= Duration::from_millis(500), "age {age:?}");
    let held = open.positions()[0];
    assert!(store.head().await.unwrap() < held);
    open.commit().await.unwrap();
    orderflow_event_store::conformance::settle(&store, held).await;
}

/// The bench and test helpers: one transaction for many streams, exact
/// counts, last versions, forgetting relay checkpoints.
#[tokio::test]
async fn admin_helpers_write_and_count_around_the_append_path() {
    let db = TestDb::new().await;
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    let rows = vec![
        unchecked("order-a", 1),
        unchecked("order-b", 1),
        unchecked("order-a", 2),
    ];
    let positions = pg_admin::insert(&store, &rows).await.unwrap();
    assert_eq!(positions.len(), 3);
    // One transaction: one transaction id for all three.
    assert!(positions.iter().all(|p| p.major() == positions[0].major()));
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(pg_admin::count_events(&store, None).await.unwrap(), 3);
    let a = StreamId::new("order-a").unwrap();
    assert_eq!(pg_admin::count_events(&store, Some(&a)).await.unwrap(), 2);
    let versions = pg_admin::last_versions(&store).await.unwrap();
    assert_eq!(versions.get(&a), Some(&2));
    assert_eq!(versions.len(), 2);

    let mut keyed = unchecked("order-c", 1);
    keyed.event.metadata.idempotency_key = Some("k-1".into());
    pg_admin::insert(&store, &[keyed]).await.unwrap();
    assert_eq!(
        pg_admin::streams_with_idempotency_key(&store, "k-1")
            .await
            .unwrap(),
        vec![StreamId::new("order-c").unwrap()]
    );

    store
        .save_relay_checkpoint("r", positions[2])
        .await
        .unwrap();
    assert_eq!(pg_admin::forget_relay_checkpoints(&store).await.unwrap(), 1);
    assert_eq!(store.relay_checkpoint("r").await.unwrap(), None);
    // A rolled-back open insert leaves nothing.
    let open = pg_admin::begin_insert(&store, &[unchecked("order-d", 1)])
        .await
        .unwrap();
    open.rollback().await.unwrap();
    assert_eq!(pg_admin::count_events(&store, None).await.unwrap(), 4);
}

/// Postgres cuts a range into parts of about the size asked (by probing
/// evenly spaced global positions), in commit order and inside the range.
#[tokio::test]
async fn postgres_splits_ranges_of_about_the_size_asked() {
    let db = TestDb::new().await;
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    // A transaction that takes its positions first and commits last.
    let early = pg_admin::begin_insert(
        &store,
        &[unchecked("side-early", 1), unchecked("side-early", 2)],
    )
    .await
    .unwrap();
    let mut last = Position::START;
    for n in 0..20u64 {
        let rows: Vec<_> = (1..=10)
            .map(|v| unchecked(&format!("side-{n}"), v))
            .collect();
        last = last.max(
            *pg_admin::insert(&store, &rows)
                .await
                .unwrap()
                .last()
                .unwrap(),
        );
    }
    early.commit().await.unwrap();
    // Other tests' transactions hold the cluster-wide watermark now and
    // then: wait until all of ours are readable.
    let head = orderflow_event_store::conformance::settle(&store, last).await;
    let all = store.read_all_raw(Position::START, 1000).await.unwrap();
    assert_eq!(all.len(), 202);
    let head = head.min(last);
    assert_eq!(all.last().map(|e| e.position), Some(head));

    let cuts = store.split_range(Position::START, head, 20).await.unwrap();
    assert!((5..=11).contains(&cuts.len()), "{} cuts", cuts.len());
    assert!(cuts.windows(2).all(|w| w[0] < w[1]));
    assert!(cuts.iter().all(|c| Position::START < *c && *c < head));
    // Inside a smaller range only.
    let (from, to) = (all[49].position, all[149].position);
    let inner = store.split_range(from, to, 20).await.unwrap();
    assert!(!inner.is_empty());
    assert!(inner.iter().all(|c| from < *c && *c < to), "{inner:?}");
    // Ranges too small to cut are one range.
    assert!(store.split_range(from, to, 1000).await.unwrap().is_empty());
    assert!(store.split_range(to, from, 20).await.unwrap().is_empty());
}
