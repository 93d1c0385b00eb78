//! Read-your-writes with `X-Orderflow-Position`.

use std::time::{Duration, Instant};

use orderflow_event_store::Position;
use orderflow_query_api::consistency::wait_for;
use orderflow_query_api::db::ReadDb;
use orderflow_query_api::{ChangeFeed, QueryApiConfig};
use orderflow_testkit::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Stack, Step, nats_url};

const ORDER: &str = "query($id: UUID!) { order(id: $id) { id status version items { sku } } }";

#[tokio::test]
async fn a_query_with_the_token_sees_the_write_every_time() {
    let env = Stack::start().await;
    let mut waited = Vec::new();
    for i in 0..40 {
        let (id, position) = env
            .create_order(&format!("ryw-{i}"), "EUR", &[("SKU-1", 1, 100)])
            .await;
        let r = env
            .gql_with(
                ORDER,
                json!({ "id": id }),
                &[("x-orderflow-position", &position)],
            )
            .await;
        let o = &r.data()["order"];
        assert_eq!(o["id"], id.to_string(), "iteration {i}: {}", r.body);
        assert_eq!(o["items"][0]["sku"], "SKU-1", "iteration {i}");
        let c = &r.body["extensions"]["consistency"];
        assert_eq!(c["fresh"], true, "{c}");
        assert_eq!(c["position"], position);
        waited.push(c["waitedMs"].as_u64().unwrap());

        // A change to an existing order, read straight after.
        let position = env.advance(id, &[Step::Submit]).await;
        let r = env
            .gql_with(
                ORDER,
                json!({ "id": id }),
                &[
                    ("x-orderflow-position", &position),
                    ("x-orderflow-consistency", "strict"),
                ],
            )
            .await;
        assert_eq!(r.data()["order"]["status"], "SUBMITTED", "iteration {i}");
        assert_eq!(r.data()["order"]["version"], 4);
        waited.push(
            r.body["extensions"]["consistency"]["waitedMs"]
                .as_u64()
                .unwrap(),
        );
    }
    waited.sort_unstable();
    println!(
        "position waits: median {} ms, max {} ms",
        waited[waited.len() / 2],
        waited[waited.len() - 1]
    );
    // Without a token nothing waits and nothing is reported.
    let r = env.gql("{ projections { name } }", json!({})).await;
    assert!(r.body.get("extensions").is_none(), "{}", r.body);
    env.finish().await;
}

#[tokio::test]
async fn past_the_bound_answers_stale_or_errors_when_strict() {
    let env = Stack::start_with(|c: &mut QueryApiConfig| {
        c.position_wait = Duration::from_millis(300);
    })
    .await;
    let (id, position) = env.create_order("stale", "EUR", &[("SKU-1", 1, 100)]).await;
    env.settle(&position).await;
    let future: Position = position.parse().unwrap();
    let future = Position::new(future.major() + 1_000_000, 0).to_string();

    let started = Instant::now();
    let r = env
        .gql_with(
            ORDER,
            json!({ "id": id }),
            &[("x-orderflow-position", &future)],
        )
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        r.data()["order"]["id"],
        id.to_string(),
        "answers with what it has"
    );
    let c = &r.body["extensions"]["consistency"];
    assert_eq!(c["fresh"], false);
    assert_eq!(c["position"], future);
    assert!(c["waitedMs"].as_u64().unwrap() >= 300);
    assert_eq!(c["projections"]["orders"], position);
    assert_eq!(c["projections"]["order_items"], position);
    assert!(
        c["projections"].get("daily_sales").is_none(),
        "only what it reads"
    );

    let r = env
        .gql_with(
            ORDER,
            json!({ "id": id }),
            &[
                ("x-orderflow-position", &future),
                ("x-orderflow-consistency", "strict"),
            ],
        )
        .await;
    let message = r.only_error("STALE");
    assert!(
        message.contains("orders") && message.contains(&future),
        "{message}"
    );
    assert_eq!(r.body["data"], Value::Null);
    assert_eq!(r.body["extensions"]["consistency"]["fresh"], false);

    // A query the schema refuses never waits, nor reads a checkpoint.
    let before = env.api.db().statements();
    let started = Instant::now();
    let r = env
        .gql_with(
            "{ orders { nodes { nope } } }",
            json!({}),
            &[("x-orderflow-position", &future)],
        )
        .await;
    r.only_error("BAD_USER_INPUT");
    assert!(started.elapsed() < Duration::from_millis(250));
    assert_eq!(env.api.db().statements(), before);

    // A query that reads no projection has nothing to wait for.
    let r = env
        .gql_with(
            "{ __typename }",
            json!({}),
            &[
                ("x-orderflow-position", &future),
                ("x-orderflow-consistency", "strict"),
            ],
        )
        .await;
    assert_eq!(r.data()["__typename"], "QueryRoot");
    assert_eq!(r.body["extensions"]["consistency"]["fresh"], true);

    // Malformed headers are refused before anything runs.
    for headers in [
        [
            ("x-orderflow-position", "soon"),
            ("x-orderflow-consistency", "strict"),
        ],
        [
            ("x-orderflow-position", "1.2"),
            ("x-orderflow-consistency", "sometimes"),
        ],
    ] {
        let r = env.gql_with(ORDER, json!({ "id": id }), &headers).await;
        assert_eq!(r.status, 400);
        r.only_error("BAD_USER_INPUT");
    }
    env.finish().await;
}

/// A read database with checkpoints but no projector, so the test moves
/// them itself.
async fn checkpoint_fixture(position: &str) -> (TestDb, ReadDb) {
    let db = TestDb::new().await;
    let pool = orderflow_projections::connect_read_db(db.url(), 2)
        .await
        .unwrap();
    for name in ["orders", "order_items"] {
        sqlx::query(
            "INSERT INTO projection_checkpoints (name, version, position) VALUES ($1, 1, $2)",
        )
        .bind(name)
        .bind(position)
        .execute(&pool)
        .await
        .unwrap();
    }
    (db, ReadDb::from_pool(pool))
}

async fn set_position(db: &ReadDb, position: &str) {
    sqlx::query("UPDATE projection_checkpoints SET position = $1")
        .bind(position)
        .execute(db.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_notice_wakes_the_wait_and_a_lost_one_only_delays_it() {
    let (_db, read) = checkpoint_fixture("10.0").await;
    let prefix = format!("qw{}", Uuid::now_v7().simple());
    let feed = ChangeFeed::connect(&nats_url(), &prefix).await;
    let nats = async_nats::connect(nats_url()).await.unwrap();
    let names = ["orders", "order_items"];
    let target: Position = "20.0".parse().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Caught up 100 ms in, with a notice: woken at once, well before the
    // 250 ms re-check.
    let mover = {
        let (read, nats, prefix) = (read.clone(), nats.clone(), prefix.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            set_position(&read, "20.0").await;
            for name in ["orders", "order_items"] {
                let body = json!({ "projection": name, "position": "20.0" });
                nats.publish(
                    format!("{prefix}.changes.projections.{name}"),
                    body.to_string().into(),
                )
                .await
                .unwrap();
            }
            nats.flush().await.unwrap();
        })
    };
    let f = wait_for(&read, &feed, &names, target, Duration::from_secs(2))
        .await
        .unwrap();
    mover.await.unwrap();
    assert!(f.fresh);
    assert!(
        f.waited >= Duration::from_millis(90) && f.waited < Duration::from_millis(240),
        "woken by the notice: {:?}",
        f.waited
    );

    // Caught up without a notice: found by the slow re-check.
    let target: Position = "30.0".parse().unwrap();
    let mover = {
        let read = read.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            set_position(&read, "30.0").await;
        })
    };
    let f = wait_for(&read, &feed, &names, target, Duration::from_secs(2))
        .await
        .unwrap();
    mover.await.unwrap();
    assert!(f.fresh);
    assert!(f.waited >= Duration::from_millis(240), "{:?}", f.waited);

    // A projection stopped on a dead letter will not get there: stale at
    // once rather than after the whole bound.
    sqlx::query("UPDATE projection_checkpoints SET state = 'stopped' WHERE name = 'order_items'")
        .execute(read.pool())
        .await
        .unwrap();
    let f = wait_for(
        &read,
        &feed,
        &names,
        "40.0".parse().unwrap(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert!(!f.fresh);
    assert!(f.waited < Duration::from_millis(200), "{:?}", f.waited);
    assert_eq!(f.behind(), ["order_items", "orders"]);
}
