//! A rebuild holds no long transaction in the read database: the store's
//! watermark is cluster-wide (the read models share its Postgres here), so
//! one long COPY or swap transaction would stall the relay, every
//! projector and read-your-writes until it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use orderflow_domain::{Channel, Currency, CustomerId, OrderCreated, OrderEvent, OrderId};
use orderflow_event_store::EventStore;
use orderflow_projections::{ProjectorConfig, rebuild_with};
use uuid::Uuid;

use crate::support::{Env, Workload, append, wait_visible};

/// Copies of the workload's orders: enough rows that loading one table in
/// a single transaction takes far longer than a chunk does.
const COPIES: usize = 600;
/// The longest any transaction with an xid in the read database may run
/// during the rebuild, as a share of the time it spends writing. Both
/// stretch alike on a busy machine; one transaction per table (as before)
/// took about 0.7 of it here, chunks of 2000 rows under 0.1.
const LONGEST_SHARE: f64 = 0.35;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_commits_in_chunks_and_the_watermark_keeps_moving() {
    let env = Env::small_batches().await;
    let mut work = Workload::new(41);
    work.run(&env.store, 300, 60).await;
    wait_visible(&env.store, work.last).await;
    let copied = super::copies::copy_orders(&env.store, COPIES).await.events;
    let head = env.store.head().await.unwrap();
    wait_visible(&env.store, head).await;

    let config = ProjectorConfig {
        rebuild_batch_size: 5000,
        rebuild_flush_events: 2_000_000,
        rebuild_chunk_rows: 2_000,
        ..env.config.clone()
    };
    let done = Arc::new(AtomicBool::new(false));

    // Watches the read database's transactions holding an xid.
    let watcher = {
        let (read, done) = (env.read.clone(), done.clone());
        tokio::spawn(async move {
            let mut longest = (0f64, String::new());
            while !done.load(Ordering::Relaxed) {
                let oldest: Option<(f64, String)> = sqlx::query_as(
                    "SELECT EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float8, \
                            left(query, 120) \
                     FROM pg_stat_activity \
                     WHERE datname = current_database() AND backend_xid IS NOT NULL \
                       AND pid <> pg_backend_pid() \
                     ORDER BY xact_start LIMIT 1",
                )
                .fetch_optional(&read)
                .await
                .unwrap();
                if let Some(o) = oldest.filter(|o| o.0 > longest.0) {
                    longest = o;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            longest
        })
    };
    // Appends an order now and then and waits until readers see it.
    let prober = {
        let (store, done) = (env.store.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let id = OrderId::new(Uuid::now_v7());
                let appended = Instant::now();
                let p = append(
                    &store,
                    &id,
                    0,
                    &[OrderEvent::OrderCreated(OrderCreated {
                        order_id: id,
                        customer_id: CustomerId::new("probe").unwrap(),
                        currency: Currency::EUR,
                        channel: Channel::ALL[0],
                        at: chrono::Utc::now(),
                    })],
                )
                .await;
                while store.head().await.unwrap() < p {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen.push((appended, Instant::now()));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        })
    };

    let started = Instant::now();
    let report = rebuild_with(env.store(), &env.read, "all", &config, &mut |_| {})
        .await
        .unwrap();
    let finished = Instant::now();
    done.store(true, Ordering::Relaxed);
    let (longest, longest_query) = watcher.await.unwrap();
    let probes = prober.await.unwrap();
    println!(
        "{copied} events copied; rebuild of {} events in {:.2} s ({:.2} s writing); \
         longest read-database transaction {longest:.3} s ({longest_query}); {} probes",
        report.events,
        report.seconds,
        report.write_seconds,
        probes.len()
    );
    assert!(report.events >= copied as u64);
    assert!(
        longest < LONGEST_SHARE * report.write_seconds,
        "a transaction in the read database ran {longest:.3} s of {:.3} s writing: \
         {longest_query}",
        report.write_seconds
    );
    // Appends made during the rebuild were readable before it finished.
    let during = probes
        .iter()
        .filter(|(appended, visible)| *appended > started && *visible < finished)
        .count();
    assert!(during > 0, "no append became visible during the rebuild");
}

/// A session of ours left idle inside a transaction (a stuck task, a bug)
/// is ended by Postgres instead of holding the watermark back for ever.
#[tokio::test]
async fn read_sessions_end_when_idle_in_a_transaction() {
    let env = Env::small_batches().await;
    let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&env.read)
        .await
        .unwrap();
    assert_eq!(timeout, "30s");
}
