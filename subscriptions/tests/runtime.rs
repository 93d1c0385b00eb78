//! The runtime against real Postgres: the lease, the checkpoint committing
//! with the effects, and subscribers that are not read models. NATS is
//! left out (no relay runs): every subscriber catches up from the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore,
    PgStoreConfig, Position, RecordedEvent, StreamId,
};
use orderflow_subscriptions::{
    HandleError, Lease, Prepared, Runtime, RuntimeConfig, Subscriber, checkpoint, status,
};
use orderflow_testkit::TestDb;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;
use uuid::Uuid;

fn config() -> RuntimeConfig {
    RuntimeConfig {
        batch_size: 7,
        poll_interval: Duration::from_millis(10),
        standby_interval: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(5),
        ..RuntimeConfig::default()
    }
}

struct Env {
    _events_db: TestDb,
    _effects_db: TestDb,
    store: PgEventStore,
    pool: PgPool,
}

impl Env {
    async fn new() -> Env {
        let events_db = TestDb::new().await;
        let effects_db = TestDb::new().await;
        let store = PgEventStore::connect(PgStoreConfig::new(events_db.url()))
            .await
            .unwrap();
        let pool = PgPool::connect(effects_db.url()).await.unwrap();
        orderflow_subscriptions::migrate(&pool).await.unwrap();
        Env {
            _events_db: events_db,
            _effects_db: effects_db,
            store,
            pool,
        }
    }

    fn store(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    /// Appends `n` events to streams `src-…`; the last position.
    async fn append_sources(&self, n: usize) -> Position {
        let mut last = Position::START;
        for i in 0..n {
            let stream = StreamId::new(format!("src-{}", i % 3)).unwrap();
            let event = NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "Happened".into(),
                schema_version: 1,
                payload: serde_json::json!({ "i": i }),
                metadata: EventMetadata::default(),
            };
            let done = self
                .store
                .append(AppendRequest::new(
                    stream,
                    ExpectedVersion::Any,
                    vec![event],
                ))
                .await
                .unwrap();
            last = done.position;
        }
        last
    }

    fn start(&self, subscribers: Vec<Box<dyn Subscriber>>) -> oneshot::Sender<()> {
        let (stop, rx) = oneshot::channel::<()>();
        let runtime = Runtime::new(self.store(), self.pool.clone(), None, config());
        tokio::spawn(async move {
            runtime
                .run(subscribers, async {
                    let _ = rx.await;
                })
                .await;
        });
        stop
    }

    /// Waits until subscriber `name` (version 1) has stopped; its status.
    async fn wait_until_stopped(&self, name: &str) -> orderflow_subscriptions::SubscriberStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = status(&self.store, &self.pool, &[(name, 1)]).await.unwrap();
            if s[0].state == "stopped" {
                return s.into_iter().next().unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "{s:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until subscriber `name` is at `target` or beyond.
    async fn wait_for(&self, name: &str, target: Position) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut conn = self.pool.acquire().await.unwrap();
            let cp = checkpoint::load(&mut conn, name).await.unwrap();
            if cp.as_ref().is_some_and(|c| c.position >= target) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                // What else holds the database: an open transaction of a
                // stopped owner would hold the store's watermark back.
                let sessions: Vec<(String, Option<String>, String)> = sqlx::query_as(
                    "SELECT coalesce(state, ''), xact_start::text, left(query, 120) \
                     FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .fetch_all(&mut *conn)
                .await
                .unwrap_or_default();
                panic!("{name} never reached {target}: {cp:?}; sessions: {sessions:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Connections the database has from `application`.
async fn connections(pool: &PgPool, application: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(application)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_lease_has_one_owner_and_a_standby_takes_over_on_one_connection() {
    let db = TestDb::new().await;
    let pool = PgPool::connect(db.url()).await.unwrap();
    let app = |who: &str| format!("lease-test-{who}-{}", Uuid::now_v7().simple());
    let (a, b) = (app("a"), app("b"));
    let options = |name: &str| {
        PgConnectOptions::from_str(db.url())
            .unwrap()
            .application_name(name)
    };
    let name = format!("test-lease:{}", Uuid::now_v7());
    let interval = Duration::from_millis(20);

    let mut first = Lease::acquire(&options(&a), &name, interval).await;
    assert!(first.is_held().await);
    assert_eq!(first.name(), name);

    // The standby waits, asking again every interval on one connection.
    let standby = {
        let (options, name) = (options(&b), name.clone());
        tokio::spawn(async move { Lease::acquire(&options, &name, interval).await })
    };
    tokio::time::sleep(interval * 15).await;
    assert!(!standby.is_finished(), "two owners at once");
    assert_eq!(connections(&pool, &b).await, 1);

    // Once the owner lets go, the standby owns it.
    first.release().await;
    let mut second = tokio::time::timeout(Duration::from_secs(5), standby)
        .await
        .expect("the standby never took over")
        .unwrap();
    assert!(second.is_held().await);
    assert_eq!(connections(&pool, &a).await, 0);

    // And the first process, asking again, stands by.
    let again = {
        let (options, name) = (options(&a), name.clone());
        tokio::spawn(async move { Lease::acquire(&options, &name, interval).await })
    };
    tokio::time::sleep(interval * 10).await;
    assert!(!again.is_finished(), "two owners at once");
    again.abort();

    // A write on the lease's connection is the owner's: it fails once the
    // lease is gone.
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(second.connection())
        .await
        .unwrap();
    assert_eq!(one, 1);
}

/// A test subscriber's start-version hook: its own table, created with its
/// version 1, which starts at zero.
async fn start_with_table(
    pool: &PgPool,
    ddl: &'static str,
    name: &str,
) -> Result<(), orderflow_subscriptions::SubscriptionError> {
    let mut tx = pool.begin().await?;
    sqlx::query(ddl).execute(&mut *tx).await?;
    checkpoint::restart(&mut tx, name, 1, Position::START).await?;
    tx.commit().await?;
    Ok(())
}

/// A subscriber that is not a read model: it keeps a ledger of its own
/// (one row per event, in the runtime's transaction) and, like a process
/// manager, issues a command per event: an append to the store with a
/// deterministic event id. The first time it sees event `fail_at` it
/// fails after both effects, as a crash between them and the commit would.
struct Ledger {
    store: Arc<dyn EventStore>,
    fail_at: Option<usize>,
    failed: Arc<AtomicBool>,
}

/// The id of the command `source` causes: the same on every delivery.
fn command_id(source: Uuid) -> Uuid {
    Uuid::from_u128(source.as_u128() ^ 0x5a5a_5a5a_5a5a_5a5a_5a5a_5a5a_5a5a_5a5a)
}

#[async_trait]
impl Subscriber for Ledger {
    fn name(&self) -> &'static str {
        "ledger"
    }

    fn version(&self) -> i32 {
        1
    }

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        for e in events {
            if e.stream_id.category() != "src" {
                continue;
            }
            sqlx::query("INSERT INTO ledger (event_id, position) VALUES ($1, $2)")
                .bind(e.event_id)
                .bind(e.position.to_string())
                .execute(&mut *tx)
                .await?;
            let command = NewEvent {
                event_id: command_id(e.event_id),
                event_type: "Mirrored".into(),
                schema_version: 1,
                payload: serde_json::json!({ "of": e.event_id }),
                metadata: EventMetadata::default(),
            };
            let stream = StreamId::new(format!("mirror-{}", e.event_id.simple())).unwrap();
            self.store
                .append(AppendRequest::new(
                    stream,
                    ExpectedVersion::Any,
                    vec![command],
                ))
                .await
                .map_err(|err| HandleError::Transient(err.to_string()))?;
            let i = e.payload["i"].as_u64().unwrap_or(0) as usize;
            if self.fail_at == Some(i) && !self.failed.swap(true, Ordering::SeqCst) {
                return Err(HandleError::Transient("crashed before commit".into()));
            }
        }
        Ok(())
    }

    fn reset(&mut self) {}

    /// Its table is its own: created with its first version.
    async fn start_version(
        &mut self,
        pool: &PgPool,
    ) -> Result<(), orderflow_subscriptions::SubscriptionError> {
        start_with_table(
            pool,
            "CREATE TABLE IF NOT EXISTS ledger (event_id uuid NOT NULL, position text NOT NULL)",
            self.name(),
        )
        .await
    }
}

#[tokio::test]
async fn effects_commit_with_the_checkpoint_and_commands_happen_once() {
    let env = Env::new().await;
    let last = env.append_sources(40).await;
    let failed = Arc::new(AtomicBool::new(false));
    let stop = env.start(vec![Box::new(Ledger {
        store: env.store(),
        fail_at: Some(17),
        failed: Arc::clone(&failed),
    })]);
    env.wait_for("ledger", last).await;

    // Status speaks of it like of any projection; it also moves past the
    // commands it appended itself (which it ignores) to the head.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(&env.store, &env.pool, &[("ledger", 1)])
            .await
            .unwrap();
        assert_eq!(s[0].state, "running", "{s:?}");
        assert_eq!(s[0].dead_letters, 0);
        if s[0].position == Some(s[0].head) && s[0].lag_events == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    assert!(failed.load(Ordering::SeqCst), "never failed");

    // The failed batch's ledger rows rolled back with its checkpoint: one
    // row per event, none twice.
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM ledger")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (40, 40));
    // The batch was delivered again, so its commands were issued again,
    // with the same ids: the store kept each once.
    for id in ids {
        let stream = StreamId::new(format!("mirror-{}", id.simple())).unwrap();
        let events = env.store.read_stream(&stream).await.unwrap();
        assert_eq!(events.len(), 1, "{stream}");
        assert_eq!(events[0].event_id, command_id(id));
    }
}

/// Runs `insert` once per event with the event's `i`.
async fn insert_each(
    tx: &mut PgConnection,
    insert: &'static str,
    events: &[RecordedEvent],
) -> Result<(), HandleError> {
    for e in events {
        sqlx::query(insert)
            .bind(e.payload["i"].as_i64())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// A subscriber whose every row breaks a constraint of its own table: the
/// runtime's classification makes that poison (class 23), dead-letters the
/// event, stops, and `skip` moves past it.
struct Strict;

#[async_trait]
impl Subscriber for Strict {
    fn name(&self) -> &'static str {
        "strict"
    }

    fn version(&self) -> i32 {
        1
    }

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        insert_each(tx, "INSERT INTO strict (i) VALUES ($1)", events).await
    }

    fn reset(&mut self) {}

    async fn start_version(
        &mut self,
        pool: &PgPool,
    ) -> Result<(), orderflow_subscriptions::SubscriptionError> {
        start_with_table(
            pool,
            "CREATE TABLE IF NOT EXISTS strict (i bigint NOT NULL CHECK (i <> 5))",
            self.name(),
        )
        .await
    }
}

#[tokio::test]
async fn a_constraint_violation_is_dead_lettered_and_skip_resumes() {
    let env = Env::new().await;
    let last = env.append_sources(12).await;
    let stop = env.start(vec![Box::new(Strict)]);
    let stopped = env.wait_until_stopped("strict").await;
    assert_eq!(stopped.dead_letters, 1);
    assert!(
        stopped.last_error.as_deref().unwrap().contains("check"),
        "{stopped:?}"
    );
    // Events 0..=4 applied, 5 is the dead letter.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM strict")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 5);

    let actor = orderflow_subscriptions::Actor::cli("ada@ops-host");
    orderflow_subscriptions::skip(&env.pool, "strict", &actor)
        .await
        .unwrap();
    // The act and its audit entry, with where it came from.
    let log = orderflow_subscriptions::operator::recent_actions(&env.pool, 5)
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (
            log[0].actor.as_str(),
            log[0].via.as_str(),
            log[0].action.as_str()
        ),
        ("ada@ops-host", "cli", "skip")
    );
    assert!(log[0].detail.starts_with("dead letter at "), "{log:?}");
    env.wait_for("strict", last).await;
    let _ = stop.send(());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM strict")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 11);
}

/// A subscriber that acts in `prepare` (as the process manager does): while
/// it acts, no transaction of the effects database holds a transaction id
/// (which would hold back every reader of the log on the cluster); its
/// refusal of event `poison_at` is dead-lettered like one of `handle`, with
/// the events before it committed.
struct ActsFirst {
    /// Connections with an xid seen by `prepare`, other than its own.
    busy: Arc<std::sync::Mutex<Vec<i64>>>,
    pool: PgPool,
    poison_at: i64,
}

#[async_trait]
impl Subscriber for ActsFirst {
    fn name(&self) -> &'static str {
        "acts_first"
    }

    fn version(&self) -> i32 {
        1
    }

    async fn prepare(&mut self, events: &[RecordedEvent]) -> Result<Prepared, HandleError> {
        let busy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND backend_xid IS NOT NULL \
               AND pid <> pg_backend_pid()",
        )
        .fetch_one(&self.pool)
        .await?;
        self.busy.lock().unwrap().push(busy);
        match events
            .iter()
            .position(|e| e.payload["i"].as_i64() == Some(self.poison_at))
        {
            Some(index) => Err(HandleError::Poison {
                index,
                message: "cannot act on it".into(),
            }),
            None => Ok(Prepared::All),
        }
    }

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        insert_each(tx, "INSERT INTO acts_first (i) VALUES ($1)", events).await
    }

    fn reset(&mut self) {}

    async fn start_version(
        &mut self,
        pool: &PgPool,
    ) -> Result<(), orderflow_subscriptions::SubscriptionError> {
        start_with_table(
            pool,
            "CREATE TABLE IF NOT EXISTS acts_first (i bigint NOT NULL)",
            self.name(),
        )
        .await
    }
}

#[tokio::test]
async fn prepare_acts_outside_the_transaction_and_its_poison_is_dead_lettered() {
    let env = Env::new().await;
    env.append_sources(12).await;
    let busy = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = env.start(vec![Box::new(ActsFirst {
        busy: Arc::clone(&busy),
        pool: env.pool.clone(),
        poison_at: 9,
    })]);
    let stopped = env.wait_until_stopped("acts_first").await;
    let _ = stop.send(());
    assert_eq!(stopped.dead_letters, 1, "{stopped:?}");
    assert!(
        stopped
            .last_error
            .as_deref()
            .unwrap()
            .contains("cannot act"),
        "{stopped:?}"
    );
    // Events 0..=8 committed (batches of 7: the first whole, then the
    // prefix before the poison), 9 is the dead letter.
    let rows: Vec<i64> = sqlx::query_scalar("SELECT i FROM acts_first ORDER BY i")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, (0..9).collect::<Vec<_>>());
    let busy = busy.lock().unwrap().clone();
    assert!(busy.len() >= 3, "{busy:?}");
    assert!(busy.iter().all(|&n| n == 0), "{busy:?}");
}

/// A subscriber that leaves effects under way between batches (as the
/// process manager does with a slow order): every fourth event's effects
/// are done only the third time it is offered. `poison_at` is refused once
/// offered.
struct Straggler {
    offered: Arc<std::sync::Mutex<std::collections::HashMap<i64, u32>>>,
    poison_at: Option<i64>,
}

#[async_trait]
impl Subscriber for Straggler {
    fn name(&self) -> &'static str {
        "straggler"
    }

    fn version(&self) -> i32 {
        1
    }

    async fn prepare(&mut self, events: &[RecordedEvent]) -> Result<Prepared, HandleError> {
        let mut offered = self.offered.lock().unwrap();
        for (index, e) in events.iter().enumerate() {
            let i = e.payload["i"].as_i64().unwrap();
            let times = offered.entry(i).or_insert(0);
            *times += 1;
            if self.poison_at == Some(i) {
                return Err(HandleError::Poison {
                    index,
                    message: "cannot act on it".into(),
                });
            }
            if i % 4 == 1 && *times < 3 {
                return Ok(Prepared::First(index));
            }
        }
        Ok(Prepared::All)
    }

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        insert_each(tx, "INSERT INTO straggler (i) VALUES ($1)", events).await
    }

    fn reset(&mut self) {}

    async fn start_version(
        &mut self,
        pool: &PgPool,
    ) -> Result<(), orderflow_subscriptions::SubscriptionError> {
        start_with_table(
            pool,
            "CREATE TABLE IF NOT EXISTS straggler (seq bigserial, i bigint NOT NULL)",
            self.name(),
        )
        .await
    }
}

/// Events whose effects are still under way are offered again, and the
/// checkpoint passes them only once they are done: every event is handled
/// once, in log order, whatever the batches were.
#[tokio::test]
async fn effects_left_under_way_are_offered_again_and_handled_in_order() {
    let env = Env::new().await;
    let last = env.append_sources(30).await;
    let offered = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let stop = env.start(vec![Box::new(Straggler {
        offered: Arc::clone(&offered),
        poison_at: None,
    })]);
    env.wait_for("straggler", last).await;
    let _ = stop.send(());
    let rows: Vec<i64> = sqlx::query_scalar("SELECT i FROM straggler ORDER BY seq")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, (0..30).collect::<Vec<_>>());
    let offered = offered.lock().unwrap();
    for i in (1..30).step_by(4) {
        assert!(offered[&i] >= 3, "event {i} offered {:?}", offered.get(&i));
    }
}

/// A poison event behind one whose effects are under way is reported once
/// it is next; those before it commit, it is dead-lettered, nothing after
/// it is handled.
#[tokio::test]
async fn poison_behind_effects_under_way_is_dead_lettered_in_its_turn() {
    let env = Env::new().await;
    env.append_sources(20).await;
    let stop = env.start(vec![Box::new(Straggler {
        offered: Arc::default(),
        poison_at: Some(10),
    })]);
    let stopped = env.wait_until_stopped("straggler").await;
    let _ = stop.send(());
    assert_eq!(stopped.dead_letters, 1, "{stopped:?}");
    let rows: Vec<i64> = sqlx::query_scalar("SELECT i FROM straggler ORDER BY seq")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, (0..10).collect::<Vec<_>>());
}

/// Two runtimes run the same subscriber: one owns it, and when it stops the
/// other takes over from the checkpoint without handling anything twice.
#[tokio::test]
async fn a_second_process_takes_over_from_the_checkpoint() {
    let env = Env::new().await;
    let first = env.append_sources(20).await;
    let ledger = |store| {
        Box::new(Ledger {
            store,
            fail_at: None,
            failed: Arc::new(AtomicBool::new(false)),
        }) as Box<dyn Subscriber>
    };
    let a = env.start(vec![ledger(env.store())]);
    env.wait_for("ledger", first).await;
    let b = env.start(vec![ledger(env.store())]);
    let _ = a.send(());
    let last = env.append_sources(20).await;
    env.wait_for("ledger", last).await;
    let _ = b.send(());
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM ledger")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((rows, distinct), (40, 40));
}
