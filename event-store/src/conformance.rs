//! One behavioural test suite for every [`EventStore`]. Each store's test
//! file instantiates it with [`conformance_tests!`](crate::conformance_tests)
//! and a function that builds a fresh, empty store.

// Test code compiled into the library (behind the `conformance` feature):
// a failed expectation is meant to panic the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uuid::Uuid;

use crate::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, IdempotencyClaim, NewEvent,
    Position, StoreError, StreamId,
};

/// Commits (or rolls back) writes behind the store's back, for the tailing
/// test: `n` picks the behaviour; it returns the ids it committed.
pub type SideWriter =
    Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Vec<Uuid>> + Send>> + Send + Sync>;

/// A fresh store plus whatever keeps it alive (a test database, say).
pub struct Fixture<S> {
    pub store: Arc<S>,
    /// Store-specific writes that race the store's own appends (Postgres:
    /// slow transactions that commit with a lower position, and rollbacks).
    pub side_writer: Option<SideWriter>,
    pub guard: Box<dyn std::any::Any + Send>,
}

impl<S> std::fmt::Debug for Fixture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

/// Generates one `#[tokio::test]` per conformance check. `$make` is an async
/// fn returning a [`Fixture`].
///
/// `conformance_tests!(optional $make, "reason")` is for stores on a server
/// the test machine may not have: every test is `#[ignore]`d with that
/// reason, so a plain `cargo test` reports them as ignored (never as
/// passed), and `--include-ignored` runs them. `$make` then returns
/// `Result<Fixture, String>`; an `Err` fails the test, since whoever asked
/// for the ignored tests asked for the server. Adding `, per_stream_event_ids`
/// leaves out the cross-stream event id check, for a store that cannot see
/// event ids in other streams and deletes no idempotency keys itself
/// (KurrentDB: its key streams are truncated for a scavenge instead).
#[macro_export]
macro_rules! conformance_tests {
    (@suite $arm:ident $make:path $(, $why:literal)?) => {
        $crate::conformance_tests!(@$arm $make $(, $why)?;
            append_and_read_back, expected_version_rules, failed_append_writes_nothing,
            reappending_the_same_event_ids_is_idempotent, idempotency_keys_keep_the_first_response,
            concurrent_exact_appends_to_one_stream_have_one_winner,
            a_stale_append_fails_alone_in_a_busy_batch, read_all_orders_and_resumes,
            tailing_reader_sees_every_committed_event_once, raw_reads_match_read_all,
            range_reads_cover_the_log_once,
            count_after_counts_what_read_all_returns, watermark_is_absent_or_plausible,
            relay_checkpoints_are_kept_per_name, an_expired_idempotency_key_is_treated_as_new,
            append_signal_wakes_or_polls);
    };
    (@each $make:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $make().await;
                $crate::conformance::$name(&fixture).await;
            }
        )*
    };
    (@optional $make:path, $why:literal; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = $why]
            async fn $name() {
                match $make().await {
                    Ok(fixture) => $crate::conformance::$name(&fixture).await,
                    Err(reason) => panic!("no store to test: {reason}"),
                }
            }
        )*
    };
    (optional $make:path, $why:literal, per_stream_event_ids) => {
        $crate::conformance_tests!(@suite optional $make, $why);
    };
    (optional $make:path, $why:literal) => {
        $crate::conformance_tests!(@suite optional $make, $why);
        $crate::conformance_tests!(@optional $make, $why; event_ids_are_unique_across_streams,
            cleanup_removes_only_expired_idempotency_keys,
            cleanup_runs_beside_appends_that_reuse_expired_keys);
    };
    ($make:path) => {
        $crate::conformance_tests!(@suite each $make);
        $crate::conformance_tests!(@each $make; event_ids_are_unique_across_streams,
            cleanup_removes_only_expired_idempotency_keys,
            cleanup_runs_beside_appends_that_reuse_expired_keys);
    };
}

fn stream(name: &str) -> StreamId {
    StreamId::new(format!("conf-{name}")).expect("test stream ids are valid")
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Tested".into(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n, "padding": "x".repeat(200) }),
        metadata: EventMetadata {
            correlation_id: Some(format!("corr-{n}")),
            causation_id: Some("cause".into()),
            actor: Some("tester".into()),
            actor_roles: vec!["staff".into(), "finance".into()],
            actor_client_id: Some("back-office".into()),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            idempotency_key: None,
        },
    }
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n as u64).map(event).collect()
}

/// Waits until `read_all` can reach `position`. Reads lag commits while any
/// older transaction in the Postgres cluster is still running (other tests'
/// included), so a test that reads right after appending must wait.
pub async fn settle<S: EventStore>(store: &S, position: Position) -> Position {
    for _ in 0..1000 {
        let head = store.head().await.expect("head");
        if head >= position {
            return head;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("head never reached {position}");
}

fn request(s: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest::new(s.clone(), expected, events)
}

pub async fn append_and_read_back<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    let s = stream("a");
    let first = events(2);
    let r1 = store
        .append(request(&s, ExpectedVersion::NoStream, first.clone()))
        .await
        .expect("first append");
    assert_eq!(r1.stream_version, 2);
    let r2 = store
        .append(request(&s, ExpectedVersion::Exact(2), events(1)))
        .await
        .expect("second append");
    assert_eq!(r2.stream_version, 3);
    assert!(r2.position > r1.position);

    let read = store.read_stream(&s).await.expect("read stream");
    assert_eq!(read.len(), 3);
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(read[0].event_id, first[0].event_id);
    assert_eq!(read[0].payload, first[0].payload);
    assert_eq!(read[0].metadata, first[0].metadata);
    assert_eq!(read[0].event_type, "Tested");
    assert_eq!(read[0].schema_version, 1);
    assert_eq!(read[2].position, r2.position);
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    assert!(
        store
            .read_stream(&stream("missing"))
            .await
            .expect("read missing")
            .is_empty()
    );
}

pub async fn expected_version_rules<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    let s = stream("ev");
    let conflict = |r: Result<_, StoreError>, want: u64| match r {
        Err(StoreError::WrongExpectedVersion { actual, .. }) => assert_eq!(actual, want),
        other => panic!("expected a version conflict at {want}, got {other:?}"),
    };
    conflict(
        store
            .append(request(&s, ExpectedVersion::Exact(1), events(1)))
            .await,
        0,
    );
    store
        .append(request(&s, ExpectedVersion::Exact(0), events(1)))
        .await
        .expect("Exact(0) is NoStream");
    conflict(
        store
            .append(request(&s, ExpectedVersion::NoStream, events(1)))
            .await,
        1,
    );
    conflict(
        store
            .append(request(&s, ExpectedVersion::Exact(5), events(1)))
            .await,
        1,
    );
    let any = store
        .append(request(&s, ExpectedVersion::Any, events(2)))
        .await
        .expect("Any appends");
    assert_eq!(any.stream_version, 3);
    assert!(matches!(
        store
            .append(request(&s, ExpectedVersion::Any, vec![]))
            .await,
        Err(StoreError::EmptyAppend)
    ));
}

pub async fn failed_append_writes_nothing<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    let s = stream("atomic");
    let ok = store
        .append(request(&s, ExpectedVersion::NoStream, events(1)))
        .await
        .expect("append");
    let r = store
        .append(request(&s, ExpectedVersion::Exact(7), events(3)))
        .await;
    assert!(r.is_err());
    assert_eq!(store.read_stream(&s).await.expect("read").len(), 1);
    assert_eq!(settle(store.as_ref(), ok.position).await, ok.position);
    let all = store.read_all(Position::START, 10).await.expect("read all");
    assert_eq!(all.len(), 1);
}

pub async fn reappending_the_same_event_ids_is_idempotent<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    let s = stream("idem");
    let batch = events(2);
    let first = store
        .append(request(&s, ExpectedVersion::NoStream, batch.clone()))
        .await
        .expect("append");
    // A retry after a lost reply: same ids, even with a now-stale expectation.
    let again = store
        .append(request(&s, ExpectedVersion::NoStream, batch.clone()))
        .await
        .expect("retry is accepted");
    assert_eq!(again, first);
    assert_eq!(store.read_stream(&s).await.expect("read").len(), 2);

    // Part of an earlier append with new events: not a retry.
    let mut mixed = vec![batch[1].clone()];
    mixed.extend(events(1));
    assert!(matches!(
        store.append(request(&s, ExpectedVersion::Any, mixed)).await,
        Err(StoreError::EventIdReused { .. })
    ));
    assert_eq!(store.read_stream(&s).await.expect("read").len(), 2);
}

pub async fn event_ids_are_unique_across_streams<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    let s = stream("xid");
    let batch = events(2);
    store
        .append(request(&s, ExpectedVersion::NoStream, batch.clone()))
        .await
        .expect("append");
    // The same ids in another stream.
    assert!(matches!(
        store
            .append(request(&stream("other"), ExpectedVersion::Any, batch))
            .await,
        Err(StoreError::EventIdReused { .. })
    ));
    assert_eq!(store.read_stream(&s).await.expect("read").len(), 2);
    assert!(
        store
            .read_stream(&stream("other"))
            .await
            .expect("read")
            .is_empty()
    );
}

pub async fn idempotency_keys_keep_the_first_response<S: EventStore>(f: &Fixture<S>) {
    let store = f.store.clone();
    let claim = |hash: &str| IdempotencyClaim {
        key: "key-1".into(),
        request_hash: hash.into(),
        response: serde_json::json!({ "status": 201, "hash": hash }),
        ttl: IdempotencyClaim::DEFAULT_TTL,
    };
    // Eight identical requests race; exactly one appends.
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let store = store.clone();
        let mut req = request(
            &stream(&format!("key-{i}")),
            ExpectedVersion::NoStream,
            events(1),
        );
        req.idempotency = Some(claim("h1"));
        tasks.push(tokio::spawn(async move { store.append(req).await }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(r) => won.push(r),
            Err(StoreError::IdempotencyKeyUsed(rec)) => {
                assert_eq!(rec.request_hash, "h1");
                assert_eq!(rec.response["hash"], "h1");
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one racer appends");
    let rec = store
        .find_idempotency("key-1")
        .await
        .expect("lookup")
        .expect("record exists");
    assert_eq!(rec.result, won[0]);
    assert_eq!(
        rec.response,
        serde_json::json!({ "status": 201, "hash": "h1" })
    );
    let written = store.read_stream(&rec.stream_id).await.expect("read");
    assert_eq!(written.len(), 1);
    assert!(
        store
            .find_idempotency("never-used")
            .await
            .expect("lookup")
            .is_none()
    );
}

/// A claim on `key` for a one-event append to a new stream `s`.
fn keyed(s: &str, key: &str, hash: &str, ttl: Duration) -> AppendRequest {
    let mut req = request(&stream(s), ExpectedVersion::NoStream, events(1));
    req.idempotency = Some(IdempotencyClaim {
        key: key.into(),
        request_hash: hash.into(),
        response: serde_json::json!({ "hash": hash }),
        ttl,
    });
    req
}

/// Long enough for a slow test machine to look the key up while it lives.
const SHORT_TTL: Duration = Duration::from_millis(1200);

pub async fn an_expired_idempotency_key_is_treated_as_new<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    let first = store
        .append(keyed("exp-1", "exp-key", "h1", SHORT_TTL))
        .await
        .expect("first claim");
    // While it lives, the key is taken.
    match store
        .append(keyed("exp-2", "exp-key", "h2", SHORT_TTL))
        .await
    {
        Err(StoreError::IdempotencyKeyUsed(rec)) => assert_eq!(rec.request_hash, "h1"),
        other => panic!("a live key must be refused, got {other:?}"),
    }
    let live = store.find_idempotency("exp-key").await.expect("lookup");
    assert_eq!(live.map(|r| r.result), Some(first));
    // A key with the default TTL beside it stays.
    store
        .append(keyed(
            "exp-3",
            "kept-key",
            "h1",
            IdempotencyClaim::DEFAULT_TTL,
        ))
        .await
        .expect("long-lived claim");

    tokio::time::sleep(SHORT_TTL + Duration::from_millis(300)).await;
    assert!(
        store
            .find_idempotency("exp-key")
            .await
            .expect("lookup")
            .is_none(),
        "an expired key is not found"
    );
    let again = store
        .append(keyed(
            "exp-4",
            "exp-key",
            "h2",
            IdempotencyClaim::DEFAULT_TTL,
        ))
        .await
        .expect("an expired key is claimed again, with another request");
    let rec = store
        .find_idempotency("exp-key")
        .await
        .expect("lookup")
        .expect("the new claim is remembered");
    assert_eq!(rec.request_hash, "h2");
    assert_eq!(rec.stream_id, stream("exp-4"));
    assert_eq!(rec.result, again);
    assert!(
        store
            .find_idempotency("kept-key")
            .await
            .expect("lookup")
            .is_some()
    );
    // And it is live again: a third request with it is refused.
    assert!(matches!(
        store
            .append(keyed("exp-5", "exp-key", "h3", SHORT_TTL))
            .await,
        Err(StoreError::IdempotencyKeyUsed(_))
    ));
}

/// Calls the cleanup until it finds less than a batch; returns the total.
async fn clean_up<S: EventStore>(store: &S, batch: usize) -> u64 {
    let mut total = 0;
    loop {
        let removed = store
            .delete_expired_idempotency(batch)
            .await
            .expect("cleanup");
        assert!(removed <= batch as u64, "at most a batch at a time");
        total += removed;
        if removed < batch as u64 {
            return total;
        }
    }
}

pub async fn cleanup_removes_only_expired_idempotency_keys<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    for i in 0..5 {
        store
            .append(keyed(
                &format!("short-{i}"),
                &format!("short-{i}"),
                "h",
                SHORT_TTL,
            ))
            .await
            .expect("short claim");
    }
    for i in 0..3 {
        let key = format!("long-{i}");
        store
            .append(keyed(&key, &key, "h", IdempotencyClaim::DEFAULT_TTL))
            .await
            .expect("long claim");
    }
    assert_eq!(clean_up(store.as_ref(), 2).await, 0, "nothing expired yet");
    tokio::time::sleep(SHORT_TTL + Duration::from_millis(300)).await;
    assert_eq!(
        store.delete_expired_idempotency(2).await.expect("cleanup"),
        2,
        "a batch is bounded"
    );
    assert_eq!(
        clean_up(store.as_ref(), 2).await,
        3,
        "the rest of the expired"
    );
    for i in 0..3 {
        assert!(
            store
                .find_idempotency(&format!("long-{i}"))
                .await
                .expect("lookup")
                .is_some(),
            "live keys stay"
        );
    }
    assert_eq!(clean_up(store.as_ref(), 2).await, 0);
    // The events stay too: only the keys are forgotten.
    assert_eq!(
        store
            .read_stream(&stream("short-0"))
            .await
            .expect("read")
            .len(),
        1
    );
}

/// The cleanup deletes batches while appends reuse the same expired keys:
/// both finish, and no key an append just claimed again is deleted.
pub async fn cleanup_runs_beside_appends_that_reuse_expired_keys<S: EventStore>(f: &Fixture<S>) {
    const KEYS: usize = 120;
    let store = f.store.clone();
    let tiny = Duration::from_millis(1);
    for i in 0..KEYS {
        store
            .append(keyed(
                &format!("old-{i}"),
                &format!("busy-{i}"),
                "old",
                tiny,
            ))
            .await
            .expect("claim");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cleaner = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut total = 0;
            for _ in 0..20 {
                total += clean_up(store.as_ref(), 7).await;
                tokio::task::yield_now().await;
            }
            total
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in (w..KEYS).step_by(4) {
                    let req = keyed(
                        &format!("new-{i}"),
                        &format!("busy-{i}"),
                        "new",
                        IdempotencyClaim::DEFAULT_TTL,
                    );
                    store
                        .append(req)
                        .await
                        .expect("an expired key is reclaimed");
                }
            })
        })
        .collect();
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        for w in writers {
            w.await.expect("writer");
        }
        cleaner.await.expect("cleaner")
    })
    .await
    .expect("cleanup and appends both finish");
    assert!(finished <= KEYS as u64);
    for i in 0..KEYS {
        let rec = store
            .find_idempotency(&format!("busy-{i}"))
            .await
            .expect("lookup")
            .expect("a reclaimed key survives the cleanup");
        assert_eq!(rec.request_hash, "new");
        assert_eq!(rec.stream_id, stream(&format!("new-{i}")));
    }
}

pub async fn concurrent_exact_appends_to_one_stream_have_one_winner<S: EventStore>(f: &Fixture<S>) {
    let s = stream("race");
    f.store
        .append(request(&s, ExpectedVersion::NoStream, events(1)))
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = f.store.clone();
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(request(&s, ExpectedVersion::Exact(1), events(2)))
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(r) => {
                winners += 1;
                assert_eq!(r.stream_version, 3);
            }
            Err(StoreError::WrongExpectedVersion { actual: 3, .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(winners, 1);
    let read = f.store.read_stream(&s).await.expect("read");
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

pub async fn a_stale_append_fails_alone_in_a_busy_batch<S: EventStore>(f: &Fixture<S>) {
    let stale = stream("stale");
    f.store
        .append(request(&stale, ExpectedVersion::NoStream, events(2)))
        .await
        .expect("create");
    // Many appends in flight at once so the store batches them together,
    // one of which is stale.
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let store = f.store.clone();
        let req = if i == 32 {
            request(&stale, ExpectedVersion::Exact(1), events(2))
        } else {
            request(
                &stream(&format!("busy-{i}")),
                ExpectedVersion::NoStream,
                events(2),
            )
        };
        tasks.push(tokio::spawn(async move { (i, store.append(req).await) }));
    }
    for t in tasks {
        let (i, r) = t.await.expect("task");
        if i == 32 {
            assert!(matches!(
                r,
                Err(StoreError::WrongExpectedVersion { actual: 2, .. })
            ));
        } else {
            assert_eq!(r.expect("others commit").stream_version, 2);
        }
    }
    assert_eq!(f.store.read_stream(&stale).await.expect("read").len(), 2);
}

pub async fn read_all_orders_and_resumes<S: EventStore>(f: &Fixture<S>) {
    let store = &f.store;
    assert_eq!(store.head().await.expect("head"), Position::START);
    assert!(
        store
            .read_all(Position::START, 10)
            .await
            .expect("read")
            .is_empty()
    );
    let mut appended = Vec::new();
    let mut last = Position::START;
    for i in 0..5 {
        let s = stream(&format!("all-{}", i % 2));
        let batch = events(2);
        appended.extend(batch.iter().map(|e| e.event_id));
        last = store
            .append(request(&s, ExpectedVersion::Any, batch))
            .await
            .expect("append")
            .position;
    }
    settle(store.as_ref(), last).await;
    let all = store
        .read_all(Position::START, 100)
        .await
        .expect("read all");
    assert_eq!(all.iter().map(|e| e.event_id).collect::<Vec<_>>(), appended);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(store.head().await.expect("head"), all[9].position);

    let mut resumed = Vec::new();
    let mut checkpoint = Position::START;
    loop {
        let page = store.read_all(checkpoint, 3).await.expect("page");
        let Some(last) = page.last() else { break };
        checkpoint = last.position;
        resumed.extend(page.into_iter().map(|e| e.event_id));
    }
    assert_eq!(resumed, appended);
}

/// The test that catches skipped events: writers commit concurrently (with
/// side writes that hold a low position open and then commit, or roll back)
/// while a reader tails `read_all` checkpoint by checkpoint. The reader must
/// see every committed event exactly once, never a rolled-back one, and each
/// stream's events in version order.
pub async fn tailing_reader_sees_every_committed_event_once<S: EventStore>(f: &Fixture<S>) {
    const WRITERS: u64 = 8;
    const APPENDS_EACH: u64 = 40;
    const SIDE_WRITES: u64 = 60;

    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = f.store.clone();
        let writers_done = writers_done.clone();
        tokio::spawn(async move {
            let mut checkpoint = Position::START;
            let mut seen: Vec<(Uuid, StreamId, u64)> = Vec::new();
            let mut idle_rounds = 0;
            // Once every writer is done, stop after ~1s without anything new
            // (other tests' transactions may hold the watermark briefly).
            while idle_rounds < 200 {
                let page = store.read_all(checkpoint, 25).await.expect("read_all");
                if page.is_empty() {
                    if writers_done.load(Ordering::SeqCst) {
                        idle_rounds += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle_rounds = 0;
                for e in page {
                    assert!(e.position > checkpoint, "positions go forward");
                    checkpoint = e.position;
                    seen.push((e.event_id, e.stream_id, e.stream_version));
                }
            }
            seen
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = f.store.clone();
        writers.push(tokio::spawn(async move {
            let s = stream(&format!("tail-{w}"));
            let mut ids = Vec::new();
            for i in 0..APPENDS_EACH {
                let batch = events(1 + (i % 2) as usize);
                ids.extend(batch.iter().map(|e| e.event_id));
                store
                    .append(request(
                        &s,
                        ExpectedVersion::Exact(ids.len() as u64 - batch.len() as u64),
                        batch,
                    ))
                    .await
                    .expect("writer append");
            }
            ids
        }));
    }
    let side = f.side_writer.clone().map(|side| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..SIDE_WRITES {
                ids.extend(side(n).await);
            }
            ids
        })
    });

    let mut committed: HashSet<Uuid> = HashSet::new();
    for w in writers {
        committed.extend(w.await.expect("writer"));
    }
    if let Some(side) = side {
        committed.extend(side.await.expect("side writer"));
    }
    writers_done.store(true, Ordering::SeqCst);
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("reader finishes")
        .expect("reader task");

    let mut unique = HashSet::new();
    for (id, _, _) in &seen {
        assert!(unique.insert(*id), "event {id} delivered twice");
    }
    let missing: Vec<_> = committed.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "reader skipped {} committed events",
        missing.len()
    );
    let extra: Vec<_> = unique.difference(&committed).collect();
    assert!(
        extra.is_empty(),
        "reader saw {} events that were never committed",
        extra.len()
    );

    let mut last_version: HashMap<StreamId, u64> = HashMap::new();
    for (_, s, v) in seen {
        let last = last_version.entry(s.clone()).or_insert(0);
        assert_eq!(v, *last + 1, "stream {s} read out of order");
        *last = v;
    }
}

/// Appends `n` events over three streams and waits until all are readable;
/// returns them as `read_all` returns them.
async fn readable_log<S: EventStore>(store: &S, n: usize) -> Vec<crate::RecordedEvent> {
    let mut last = Position::START;
    let mut appended = 0;
    while appended < n {
        let take = (n - appended).min(5);
        last = store
            .append(request(
                &stream(&format!("log-{}", appended % 3)),
                ExpectedVersion::Any,
                events(take),
            ))
            .await
            .expect("append")
            .position;
        appended += take;
    }
    settle(store, last).await;
    let all = store
        .read_all(Position::START, n + 10)
        .await
        .expect("read all");
    assert_eq!(all.len(), n);
    all
}

pub async fn raw_reads_match_read_all<S: EventStore>(f: &Fixture<S>) {
    let store = f.store.as_ref();
    assert!(
        store
            .read_all_raw(Position::START, 10)
            .await
            .expect("raw")
            .is_empty()
    );
    let all = readable_log(store, 12).await;
    let raw = store.read_all_raw(Position::START, 100).await.expect("raw");
    assert_eq!(raw.len(), all.len());
    for (r, e) in raw.iter().zip(&all) {
        assert_eq!(r.position, e.position);
        assert_eq!(r.stream_id, e.stream_id.as_str());
        assert_eq!(r.stream_version, e.stream_version);
        assert_eq!(r.event_type, e.event_type);
        assert_eq!(r.schema_version, e.schema_version);
        let payload: serde_json::Value = serde_json::from_str(&r.payload).expect("payload is JSON");
        assert_eq!(payload, e.payload);
    }
    // Pages resume after their last position, as read_all's do.
    let first = store.read_all_raw(Position::START, 5).await.expect("page");
    let rest = store
        .read_all_raw(first[4].position, 100)
        .await
        .expect("rest");
    assert_eq!(first.len() + rest.len(), all.len());
    assert_eq!(rest[0].position, all[5].position);
}

/// Cuts from `split_range` and pages of `read_range_raw` over them give
/// back exactly `read_all_raw`'s events, whichever order the ranges are
/// read in.
pub async fn range_reads_cover_the_log_once<S: EventStore>(f: &Fixture<S>) {
    let store = f.store.as_ref();
    let empty = store
        .read_range_raw(Position::START, Position::START, 10)
        .await
        .expect("empty range");
    assert!(empty.is_empty());
    let all = readable_log(store, 60).await;
    let head = all[59].position;
    let cuts = store
        .split_range(Position::START, head, 7)
        .await
        .expect("split");
    assert!(
        cuts.windows(2).all(|w| w[0] < w[1]),
        "cuts ascend: {cuts:?}"
    );
    assert!(cuts.iter().all(|c| Position::START < *c && *c < head));
    let mut bounds = Vec::new();
    let mut after = Position::START;
    for cut in cuts.iter().copied().chain([head]) {
        bounds.push((after, cut));
        after = cut;
    }
    // Last range first: each range is final, so the order of reads does
    // not matter.
    let mut ranges = Vec::new();
    for &(from, until) in bounds.iter().rev() {
        let mut range = Vec::new();
        let mut after = from;
        loop {
            let page = store
                .read_range_raw(after, until, 4)
                .await
                .expect("range page");
            assert!(
                page.iter()
                    .all(|e| from < e.position && e.position <= until)
            );
            let full = page.len() == 4;
            after = page.last().map_or(after, |e| e.position);
            range.extend(page);
            if !full {
                break;
            }
        }
        ranges.push(range);
    }
    let read: Vec<Position> = ranges
        .into_iter()
        .rev()
        .flatten()
        .map(|e| e.position)
        .collect();
    let expected: Vec<Position> = all.iter().map(|e| e.position).collect();
    assert_eq!(read, expected);
    // A range ends at `until`, inclusive.
    let first_ten = store
        .read_range_raw(Position::START, all[9].position, 100)
        .await
        .expect("bounded");
    assert_eq!(first_ten.len(), 10);
    assert_eq!(first_ten[9].position, all[9].position);
    let inverted = store
        .read_range_raw(all[9].position, all[3].position, 100)
        .await
        .expect("inverted");
    assert!(inverted.is_empty());
}

pub async fn count_after_counts_what_read_all_returns<S: EventStore>(f: &Fixture<S>) {
    let store = f.store.as_ref();
    assert_eq!(
        store
            .count_after(Position::START, u64::MAX)
            .await
            .expect("count"),
        0
    );
    // More than one page of the default implementation.
    let all = readable_log(store, 1205).await;
    let count = |after, limit| async move { store.count_after(after, limit).await.expect("count") };
    assert_eq!(count(Position::START, u64::MAX).await, 1205);
    assert_eq!(count(all[199].position, u64::MAX).await, 1005);
    assert_eq!(count(all[1204].position, u64::MAX).await, 0);
    // A limit caps the count (and the work).
    assert_eq!(count(Position::START, 10).await, 10);
    assert_eq!(count(Position::START, 1001).await, 1001);
    assert_eq!(count(all[1199].position, 1000).await, 5);
    assert_eq!(count(Position::START, 0).await, 0);
}

pub async fn watermark_is_absent_or_plausible<S: EventStore>(f: &Fixture<S>) {
    let store = f.store.as_ref();
    readable_log(store, 3).await;
    // Transactions of other tests on a shared server may hold it back for a
    // while; never for an hour.
    if let Some(age) = store.watermark().await.expect("watermark").age {
        assert!(age < Duration::from_secs(3600), "watermark age {age:?}");
    }
}

/// A reader waiting on [`EventStore::append_signal`] is never held past the
/// limit it gives (whether the store wakes it or it polls), and an append
/// made while it waits is readable once it reads again.
pub async fn append_signal_wakes_or_polls<S: EventStore>(f: &Fixture<S>) {
    let store = Arc::clone(&f.store);
    let mut signal = store.append_signal();
    let started = std::time::Instant::now();
    signal.wait(Duration::from_millis(50)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(40),
        "woke without an append: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "held past its limit: {waited:?}"
    );

    let writer = Arc::clone(&store);
    let append = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer
            .append(AppendRequest::new(
                stream("signal"),
                ExpectedVersion::Any,
                events(1),
            ))
            .await
            .expect("append")
    });
    let started = std::time::Instant::now();
    signal.wait(Duration::from_secs(2)).await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "held past its limit: {waited:?}"
    );
    let appended = append.await.expect("append task");
    settle(store.as_ref(), appended.position).await;
}

pub async fn relay_checkpoints_are_kept_per_name<S: EventStore>(f: &Fixture<S>) {
    let store = f.store.as_ref();
    assert_eq!(store.relay_checkpoint("conf-a").await.expect("load"), None);
    let all = readable_log(store, 3).await;
    store
        .save_relay_checkpoint("conf-a", all[1].position)
        .await
        .expect("save");
    assert_eq!(
        store.relay_checkpoint("conf-a").await.expect("load"),
        Some(all[1].position)
    );
    assert_eq!(store.relay_checkpoint("conf-b").await.expect("load"), None);
    store
        .save_relay_checkpoint("conf-b", all[2].position)
        .await
        .expect("save");
    // Overwritten, also with an older position (a relay replaying).
    store
        .save_relay_checkpoint("conf-a", all[2].position)
        .await
        .expect("save");
    store
        .save_relay_checkpoint("conf-a", all[0].position)
        .await
        .expect("save");
    assert_eq!(
        store.relay_checkpoint("conf-a").await.expect("load"),
        Some(all[0].position)
    );
    assert_eq!(
        store.relay_checkpoint("conf-b").await.expect("load"),
        Some(all[2].position)
    );
    // Checkpoints are not events.
    assert_eq!(
        store
            .read_all(Position::START, 10)
            .await
            .expect("read")
            .len(),
        3
    );
}
