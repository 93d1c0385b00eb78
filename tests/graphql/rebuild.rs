//! A projection rebuild swaps tables under the query API: queries keep
//! being answered, before, during and after the swap.
//!
//! The rebuild is held at its swap (the test holds the `orders` checkpoint
//! row lock the swap must take) while readers keep querying; the old tables
//! carry a marker the rebuild does not reproduce, so each answer tells
//! which tables it read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use orderflow_event_store::EventStore;
use orderflow_projections::ProjectorConfig;
use serde_json::json;
use sqlx::Connection;

use crate::support::{Stack, path_to};

const QUERY: &str = "query($id: UUID!) {
    order(id: $id) { id status trackingNumber items { sku name } customer { stats { orderCount } } }
    orders(first: 20, filter: { sku: \"SKU-1\" }) { totalCount nodes { id } }
    topProducts { sku } }";

/// Written into the old tables only.
const OLD: &str = "old-table";
const ORDERS: usize = 20;
const READERS: usize = 4;

/// One answer: when it was sent and received, and whether it read the old
/// tables (`orders` and `order_items` both) or the new ones.
#[derive(Debug, Clone, Copy)]
struct Answer {
    sent: Instant,
    done: Instant,
    old: bool,
}

#[tokio::test]
async fn queries_are_answered_across_a_rebuild() {
    let env = Arc::new(Stack::start().await);
    let mut last = String::new();
    let mut first = None;
    for i in 0..ORDERS {
        let (id, _) = env
            .create_order(&format!("rb-{}", i % 4), "EUR", &[("SKU-1", 1, 100)])
            .await;
        last = env.advance(id, &path_to("paid")).await;
        first.get_or_insert(id);
    }
    env.settle(&last).await;
    let id = first.unwrap();
    // Paid orders have no tracking number and their lines a real name: a
    // rebuild writes neither marker.
    sqlx::query("UPDATE orders SET tracking_number = $1")
        .bind(OLD)
        .execute(&env.read)
        .await
        .unwrap();
    sqlx::query("UPDATE order_items SET name = $1")
        .bind(OLD)
        .execute(&env.read)
        .await
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (env, done) = (env.clone(), done.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let r = env.gql(QUERY, json!({ "id": id })).await;
                    let data = r.data();
                    let order = &data["order"];
                    assert_eq!(data["orders"]["totalCount"], ORDERS, "{}", r.body);
                    assert_eq!(
                        data["orders"]["nodes"].as_array().map(Vec::len),
                        Some(ORDERS),
                        "{}",
                        r.body
                    );
                    assert_eq!(order["status"], "PAID", "{}", r.body);
                    assert_eq!(order["items"][0]["sku"], "SKU-1", "{}", r.body);
                    assert!(
                        order["customer"]["stats"]["orderCount"].as_i64() > Some(0),
                        "{}",
                        r.body
                    );
                    assert_eq!(data["topProducts"][0]["sku"], "SKU-1", "{}", r.body);
                    let old_order = order["trackingNumber"] == OLD;
                    let old_items = order["items"][0]["name"] == OLD;
                    if old_order != old_items {
                        // One statement ran before the swap, the other after:
                        // only possible for a response straddling it.
                        assert!(old_order, "new orders but old items: {}", r.body);
                    }
                    answers.push(Answer {
                        sent,
                        done: Instant::now(),
                        old: old_order,
                    });
                }
                answers
            })
        })
        .collect();

    // Hold the swap: it locks every rebuilt projection's checkpoint row.
    let mut holder = sqlx::PgConnection::connect(env.read_db.url())
        .await
        .unwrap();
    let mut hold = holder.begin().await.unwrap();
    let holder_pid: i32 = sqlx::query_scalar(
        "SELECT pg_backend_pid() FROM projection_checkpoints WHERE name = 'orders' FOR UPDATE",
    )
    .fetch_one(&mut *hold)
    .await
    .unwrap();

    let rebuild = {
        let env = env.clone();
        tokio::spawn(async move {
            let config = ProjectorConfig {
                read_database_url: env.read_db.url().to_owned(),
                ..ProjectorConfig::default()
            };
            let store: Arc<dyn EventStore> = Arc::new(env.store.clone());
            orderflow_projections::rebuild_with(store, &env.read, "all", &config, &mut |_| {})
                .await
                .unwrap();
            Instant::now()
        })
    };

    // Until the rebuild waits on our lock with its new tables complete.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (blocked, rebuilt): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM pg_stat_activity \
                     WHERE $1 = ANY(pg_blocking_pids(pid)) \
                       AND query LIKE '%projection_checkpoints%'), \
                    (SELECT count(*) FROM pg_indexes WHERE schemaname = 'rebuild_orders')",
        )
        .bind(holder_pid)
        .fetch_one(&env.read)
        .await
        .unwrap();
        if blocked > 0 && rebuilt > 0 {
            break;
        }
        assert!(
            !rebuild.is_finished(),
            "the rebuild did not wait at the swap"
        );
        assert!(
            Instant::now() < deadline,
            "the rebuild never reached the swap"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let paused = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let released = Instant::now();
    hold.commit().await.unwrap();
    let swapped = tokio::time::timeout(Duration::from_secs(60), rebuild)
        .await
        .expect("the rebuild did not finish after the swap was released")
        .unwrap();
    // Go on reading the new tables for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for r in readers {
        answers.extend(r.await.unwrap());
    }
    answers.sort_by_key(|a| a.sent);

    let during_pause = answers
        .iter()
        .filter(|a| a.sent >= paused && a.done <= released)
        .collect::<Vec<_>>();
    assert!(
        during_pause.len() >= READERS && during_pause.iter().all(|a| a.old),
        "while the rebuild waited at the swap, the old tables answered: {during_pause:?}"
    );
    let in_flight = answers
        .iter()
        .filter(|a| a.sent < released && a.done > released)
        .count();
    assert!(
        in_flight > 0,
        "no query was in flight as the swap went ahead"
    );
    let after = answers
        .iter()
        .filter(|a| a.sent > swapped)
        .collect::<Vec<_>>();
    assert!(
        after.len() >= READERS && after.iter().all(|a| !a.old),
        "after the swap, the new tables answered: {after:?}"
    );
    // A query sent just before the release may run its statements just after
    // the swap commits; only an answer complete before the release proves
    // the new tables were visible too early.
    let too_early = answers
        .iter()
        .filter(|a| !a.old && a.done <= released)
        .collect::<Vec<_>>();
    assert!(
        too_early.is_empty(),
        "new tables were read before the swap was released: {too_early:?}"
    );
    println!(
        "rebuild: {} answers, {} while held at the swap, {in_flight} in flight at its release, \
         {} after it",
        answers.len(),
        during_pause.len(),
        after.len()
    );
    match Arc::try_unwrap(env) {
        Ok(env) => env.finish().await,
        Err(_) => panic!("env still shared"),
    }
}
