//! The relay against real Postgres and NATS. Each test has its own database,
//! JetStream stream and subject prefix, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, Context};
use orderflow_event_store::pg_admin::{self, UncheckedEvent};
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore,
    PgStoreConfig, Position, RecordedEvent, StreamId,
};
use orderflow_relay::{RelayConfig, headers, run_relay};
use orderflow_testkit::{PrivateNats, TestDb, free_port};
use sqlx::Connection;
use tokio::sync::oneshot;
use uuid::Uuid;

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn config() -> RelayConfig {
    let id = Uuid::now_v7().simple().to_string();
    RelayConfig {
        nats_url: nats_url(),
        stream_name: format!("TEST_{id}"),
        subject_prefix: format!("t{id}"),
        max_age: Duration::from_secs(600),
        standby_interval: Duration::from_millis(200),
        batch_size: 64,
        ..RelayConfig::default()
    }
}

async fn js() -> Context {
    jetstream::new(async_nats::connect(nats_url()).await.expect("NATS"))
}

struct Relay {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    fn start(store: &PgEventStore, config: &RelayConfig) -> Relay {
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run_relay(
            Arc::new(store.clone()) as Arc<dyn EventStore>,
            store.pool().clone(),
            config.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Relay {
            stop: Some(stop),
            task: tokio::spawn(async move {
                task.await.unwrap().unwrap();
            }),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

async fn append(store: &PgEventStore, stream: &str, n: usize) {
    let events = (0..n)
        .map(|i| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "ItemAdded".into(),
            schema_version: 1,
            payload: serde_json::json!({ "i": i }),
            metadata: EventMetadata {
                correlation_id: Some(format!("corr-{stream}")),
                traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
                ..EventMetadata::default()
            },
        })
        .collect();
    store
        .append(AppendRequest::new(
            StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            events,
        ))
        .await
        .unwrap();
}

async fn all_events(store: &PgEventStore) -> Vec<RecordedEvent> {
    let mut out = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all(after, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        out.extend(batch);
    }
    out
}

/// Every message in the stream, once `expected` have arrived (or panics).
async fn stream_messages(
    js: &Context,
    config: &RelayConfig,
    expected: u64,
) -> Vec<jetstream::message::StreamMessage> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stream = loop {
        if let Ok(mut s) = js.get_stream(&config.stream_name).await {
            let n = s.info().await.unwrap().state.messages;
            if n >= expected {
                break s;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream never reached {expected} messages"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Settle: a short wait to catch anything published beyond `expected`.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut s = stream;
    let last = s.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        out.push(s.get_raw_message(seq).await.unwrap());
    }
    out
}

fn header<'a>(m: &'a jetstream::message::StreamMessage, name: &str) -> Option<&'a str> {
    m.headers.get(name).map(|v| v.as_str())
}

fn positions(msgs: &[jetstream::message::StreamMessage]) -> Vec<Position> {
    msgs.iter()
        .map(|m| header(m, headers::POSITION).unwrap().parse().unwrap())
        .collect()
}

async fn cleanup(js: &Context, config: &RelayConfig) {
    let _ = js.delete_stream(&config.stream_name).await;
}

async fn connect(db: &TestDb) -> PgEventStore {
    PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap()
}

#[tokio::test]
async fn publishes_every_event_in_store_order_with_headers() {
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = config();
    let js = js().await;
    for s in 0..5 {
        append(&store, &format!("order-{s}"), 20).await;
    }
    append(&store, "product-sku1", 3).await;
    let relay = Relay::start(&store, &config);
    // More while it runs.
    for s in 0..5 {
        append(&store, &format!("order-{s}"), 10).await;
    }
    let msgs = stream_messages(&js, &config, 153).await;
    relay.stop().await;

    let stored = all_events(&store).await;
    assert_eq!(msgs.len(), stored.len());
    assert_eq!(
        positions(&msgs),
        stored.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    let mut prev = Position::START;
    for (m, e) in msgs.iter().zip(&stored) {
        let id = e.event_id.to_string();
        assert_eq!(
            m.subject.as_str(),
            format!(
                "{}.events.{}.ItemAdded",
                config.subject_prefix,
                e.stream_id.category()
            )
        );
        assert_eq!(header(m, "Nats-Msg-Id"), Some(id.as_str()));
        assert_eq!(header(m, "ce-id"), Some(id.as_str()));
        assert_eq!(header(m, "ce-specversion"), Some("1.0"));
        assert_eq!(header(m, "ce-type"), Some("ItemAdded"));
        assert_eq!(header(m, "ce-subject"), Some(e.stream_id.as_str()));
        let source = format!("orderflow/{}", e.stream_id.category());
        assert_eq!(header(m, "ce-source"), Some(source.as_str()));
        let time: chrono::DateTime<chrono::Utc> = header(m, "ce-time").unwrap().parse().unwrap();
        assert_eq!(time, e.recorded_at);
        let version = e.stream_version.to_string();
        assert_eq!(header(m, headers::STREAM_VERSION), Some(version.as_str()));
        assert_eq!(header(m, headers::SCHEMA_VERSION), Some("1"));
        let corr = format!("corr-{}", e.stream_id);
        assert_eq!(header(m, headers::CORRELATION_ID), Some(corr.as_str()));
        assert!(header(m, "traceparent").unwrap().starts_with("00-0af7"));
        let prev_s = prev.to_string();
        assert_eq!(header(m, headers::PREV_POSITION), Some(prev_s.as_str()));
        prev = e.position;
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(body, e.payload);
    }
    cleanup(&js, &config).await;
}

/// Every message published on the relay's subjects, duplicates included:
/// a plain NATS subscriber sees each publish, also those JetStream then
/// drops as duplicates (or refuses).
struct PublishTap {
    positions: Arc<std::sync::Mutex<Vec<Position>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PublishTap {
    async fn start(config: &RelayConfig) -> PublishTap {
        let client = async_nats::connect(nats_url()).await.unwrap();
        let mut sub = client.subscribe(config.stream_subjects()).await.unwrap();
        client.flush().await.unwrap();
        let positions = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let positions = positions.clone();
            async move {
                let _client = client;
                while let Some(m) = futures::StreamExt::next(&mut sub).await {
                    let p = m.headers.as_ref().and_then(|h| h.get(headers::POSITION));
                    positions
                        .lock()
                        .unwrap()
                        .push(p.unwrap().as_str().parse().unwrap());
                }
            }
        });
        PublishTap { positions, task }
    }

    fn seen(&self) -> Vec<Position> {
        self.positions.lock().unwrap().clone()
    }
}

impl Drop for PublishTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Publishes `n` events to `order-a` through a relay, stops it, and returns
/// its checkpoint (the last event's position).
async fn relay_first_events(store: &PgEventStore, config: &RelayConfig, js: &Context) -> Position {
    append(store, "order-a", 30).await;
    let relay = Relay::start(store, config);
    stream_messages(js, config, 30).await;
    relay.stop().await;
    let cp = store
        .relay_checkpoint(&config.relay_name)
        .await
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(cp, all_events(store).await.last().unwrap().position);
    cp
}

#[tokio::test]
async fn restart_resumes_from_checkpoint_and_republishes_nothing() {
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = config();
    let js = js().await;
    let checkpoint = relay_first_events(&store, &config, &js).await;

    let tap = PublishTap::start(&config).await;
    append(&store, "order-b", 30).await;
    let relay = Relay::start(&store, &config);
    let msgs = stream_messages(&js, &config, 60).await;
    relay.stop().await;
    let stored = all_events(&store).await;
    assert_eq!(
        positions(&msgs),
        stored.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    // Not even attempted again: only the 30 new events were published.
    let new: Vec<Position> = stored
        .iter()
        .map(|e| e.position)
        .filter(|p| *p > checkpoint)
        .collect();
    assert_eq!(
        tap.seen(),
        new,
        "the restarted relay resumed from its checkpoint"
    );
    cleanup(&js, &config).await;
}

#[tokio::test]
async fn a_replay_from_zero_is_deduplicated() {
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = config();
    let js = js().await;
    let checkpoint = relay_first_events(&store, &config, &js).await;

    // Forget the checkpoint: everything is published again.
    pg_admin::forget_relay_checkpoints(&store).await.unwrap();
    let tap = PublishTap::start(&config).await;
    append(&store, "order-b", 30).await;
    let relay = Relay::start(&store, &config);
    let msgs = stream_messages(&js, &config, 60).await;
    relay.stop().await;
    let stored = all_events(&store).await;
    let old: Vec<Position> = stored
        .iter()
        .map(|e| e.position)
        .filter(|p| *p <= checkpoint)
        .collect();
    let seen = tap.seen();
    assert_eq!(
        &seen[..old.len()],
        &old[..],
        "the relay really replayed the first events"
    );
    // ...and JetStream dropped them: each event once, in store order.
    assert_eq!(
        positions(&msgs),
        stored.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    cleanup(&js, &config).await;
}

/// The pid holding this database's relay lock.
async fn leader_pid(store: &PgEventStore) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
    )
    .fetch_optional(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn standby_takes_over_when_the_leader_connection_dies() {
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = config();
    let js = js().await;
    let a = Relay::start(&store, &config);
    let b = Relay::start(&store, &config);
    append(&store, "order-x", 40).await;
    stream_messages(&js, &config, 40).await;

    let first = leader_pid(&store).await.expect("a leader holds the lock");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                append(&store, &format!("order-w{}", i % 4), 5).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(first)
        .execute(store.pool())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(pid) = leader_pid(&store).await
            && pid != first
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no takeover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.await.unwrap();
    let msgs = stream_messages(&js, &config, 240).await;
    a.stop().await;
    b.stop().await;
    let stored = all_events(&store).await;
    assert_eq!(
        positions(&msgs),
        stored.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    cleanup(&js, &config).await;
}

/// Raw transactions that take positions early and commit late (odd) or roll
/// back (even), while the relay runs: nothing may be skipped.
#[tokio::test]
async fn concurrent_writers_with_rollbacks_skip_nothing() {
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = config();
    let js = js().await;
    let relay = Relay::start(&store, &config);
    let mut tasks = Vec::new();
    for n in 0..40u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let side = UncheckedEvent {
                stream_id: StreamId::new(format!("side-{n}")).unwrap(),
                stream_version: 1,
                event: NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: "Side".into(),
                    schema_version: 1,
                    payload: serde_json::json!({}),
                    metadata: EventMetadata::default(),
                },
            };
            let open = pg_admin::begin_insert(&store, &[side]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5 + (n * 13) % 60)).await;
            if n % 2 == 1 {
                open.commit().await.unwrap();
            } else {
                open.rollback().await.unwrap();
            }
        }));
    }
    for i in 0..20 {
        append(&store, &format!("order-c{i}"), 2).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let msgs = stream_messages(&js, &config, 60).await;
    relay.stop().await;
    let stored = all_events(&store).await;
    assert_eq!(stored.len(), 60);
    assert_eq!(
        positions(&msgs),
        stored.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    cleanup(&js, &config).await;
}

/// NATS goes away while the relay has a batch in flight, several times: the
/// events whose acknowledgement was lost are published again, and never
/// after later ones. The stream holds every event once, in store order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarts_mid_batch_keep_the_stream_in_store_order() {
    let dir = std::env::temp_dir().join(format!("orderflow-relay-nats-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut nats = PrivateNats::start(free_port(), &dir);
    nats.wait_ready().await;
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = RelayConfig {
        nats_url: nats.url(),
        batch_size: 500,
        max_backoff: Duration::from_millis(200),
        ..config()
    };
    for s in 0..120 {
        append(&store, &format!("order-{s}"), 100).await;
    }
    let total = 12_000u64;
    let relay = Relay::start(&store, &config);
    for outage in 1..=3u64 {
        // Wait until the relay is mid-way, then cut NATS under it.
        let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = js.get_stream(&config.stream_name).await
                && s.info().await.unwrap().state.messages >= outage * total / 4
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "relay stalled");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (port, dir) = nats.stop();
        nats = PrivateNats::start(port, &dir);
        nats.wait_ready().await;
    }
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let msgs = stream_messages(&js, &config, total).await;
    relay.stop().await;
    let stored = all_events(&store).await;
    let published = positions(&msgs);
    assert!(
        published.windows(2).all(|w| w[0] < w[1]),
        "the stream's positions go backwards or repeat"
    );
    assert_eq!(
        published,
        stored.iter().map(|e| e.position).collect::<Vec<_>>(),
        "the stream holds every event once, with no gap"
    );
    nats.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The leader exports how long the oldest open transaction has held the
/// watermark back (`orderflow_store_watermark_age_seconds`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_age_is_exported_while_a_transaction_holds_it_back() {
    let metrics = orderflow_observability::prometheus_handle();
    let db = TestDb::new().await;
    let store = connect(&db).await;
    let config = config();
    let relay = Relay::start(&store, &config);
    // A transaction outside the store, holding an xid and idling.
    let mut side = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let mut tx = side.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();
    // The leader measures once a second: by now its last measurement saw
    // this transaction at least half a second old. (Held briefly: it holds
    // back every reader of the cluster meanwhile.)
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let text = metrics.render();
    relay.stop().await;
    tx.rollback().await.unwrap();
    let age: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("orderflow_store_watermark_age_seconds "))
        .unwrap_or_else(|| panic!("no watermark age gauge in:\n{text}"))
        .trim()
        .parse()
        .unwrap();
    assert!(age >= 0.5, "the gauge says {age} s");
}
