//! Database work is bounded per request: costly documents are refused
//! before any statement runs, and a statement that runs too long is cut
//! off by the read pool's `statement_timeout` with a `TIMEOUT` error. A
//! neighbour's query is answered meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{Gql, Stack};

const NEIGHBOUR: &str = "query($id: UUID!) { order(id: $id) { id items { sku } } }";

/// `n` aliases of `field`, joined into one selection set.
fn aliases(n: usize, field: &str) -> String {
    let list: Vec<String> = (0..n).map(|i| format!("a{i}: {field}")).collect();
    format!("{{ {} }}", list.join(" "))
}

async fn neighbour_answered(env: &Stack, id: &str) -> Duration {
    let started = Instant::now();
    let r = env.gql(NEIGHBOUR, json!({ "id": id })).await;
    assert_eq!(r.data()["order"]["id"], id, "{}", r.body);
    started.elapsed()
}

#[tokio::test]
async fn costly_documents_are_refused_before_the_database() {
    let env = Arc::new(Stack::start().await);
    let (id, position) = env.create_order("cost", "EUR", &[("SKU-1", 1, 100)]).await;
    env.settle(&position).await;
    let id = id.to_string();
    let year = json!({ "f": "2024-01-01", "t": "2024-12-31" });
    let cases: Vec<(String, Value, &str)> = vec![
        // Hundreds of year-long rankings, each a join over a year of orders.
        (
            format!(
                "query($f: Date!, $t: Date!) {}",
                aliases(300, "topProducts(from: $f, to: $t) { sku }")
            ),
            year.clone(),
            "expensive fields",
        ),
        // Counts over everything: each a scan.
        (
            aliases(5, "orders { totalCount }"),
            json!({}),
            "expensive fields",
        ),
        // Four year-long rankings pass the field cap, not the cost.
        (
            format!(
                "query($f: Date!, $t: Date!) {}",
                aliases(4, "topProducts(from: $f, to: $t) { sku }")
            ),
            year.clone(),
            "too complex",
        ),
        // Four year-long daily reports: cost grows with the days.
        (
            format!(
                "query($f: Date!, $t: Date!) {}",
                aliases(
                    4,
                    "salesByDay(from: $f, to: $t) { day currency ordersPaid unitsSold \
                     gross { amountMinor } refunds { amountMinor } net { amountMinor } }"
                )
            ),
            year.clone(),
            "too complex",
        ),
        // A sort on an unindexed column, once per row of a page.
        (
            "query($o: OrderOrderBy) { orders(first: 100) { nodes { customer {
                orders(first: 10, orderBy: $o) { nodes { id } } } } } }"
                .into(),
            json!({ "o": { "field": "TOTAL", "direction": "DESC" } }),
            "too complex",
        ),
        (
            aliases(
                20,
                "orders(first: 1, orderBy: { field: UPDATED_AT }) { nodes { id } }",
            ),
            json!({}),
            "too complex",
        ),
    ];
    // The statements of one neighbour query, alone.
    let before = env.api.db().statements();
    neighbour_answered(&env, &id).await;
    let neighbour_statements = env.api.db().statements() - before;
    // All at once, several times over, while a neighbour queries.
    let before = env.api.db().statements();
    let hostile: Vec<_> = cases
        .iter()
        .cycle()
        .take(cases.len() * 4)
        .cloned()
        .map(|(query, variables, expect)| {
            let env = Arc::clone(&env);
            tokio::spawn(async move {
                let started = Instant::now();
                let r: Gql = env.gql(&query, variables).await;
                let message = r.only_error("BAD_USER_INPUT");
                assert!(
                    message.to_lowercase().contains(expect),
                    "{expect:?} not in {message:?}"
                );
                assert_eq!(r.body["data"], Value::Null);
                started.elapsed()
            })
        })
        .collect();
    let took = neighbour_answered(&env, &id).await;
    assert!(took < Duration::from_secs(1), "neighbour took {took:?}");
    for h in hostile {
        let took = h.await.unwrap();
        assert!(took < Duration::from_secs(2), "slow refusal: {took:?}");
    }
    assert_eq!(
        env.api.db().statements() - before,
        neighbour_statements,
        "no statement ran for the refused documents"
    );

    // What a dashboard asks for still passes: a year of daily sales, a
    // month's ranking, a counted page.
    let r = env
        .gql(
            "query($f: Date!, $t: Date!) {
                salesByDay(from: $f, to: $t) { day gross { amountMinor } }
                topProducts(from: \"2024-12-01\", to: \"2024-12-31\") { sku revenue { amountMinor } }
                orders(first: 20, orderBy: { field: TOTAL }) { totalCount nodes { id } } }",
            year,
        )
        .await;
    assert_eq!(r.data()["orders"]["totalCount"], 1);
    match Arc::try_unwrap(env) {
        Ok(env) => env.finish().await,
        Err(_) => panic!("env still shared"),
    }
}

#[tokio::test]
async fn a_statement_past_the_statement_timeout_is_a_timeout_and_frees_its_connection() {
    let env = Arc::new(
        Stack::start_with(|c| {
            c.limits.statement_timeout = Duration::from_millis(300);
            c.max_connections = 4;
        })
        .await,
    );
    let (id, position) = env.create_order("slow", "EUR", &[("SKU-1", 1, 100)]).await;
    env.settle(&position).await;
    let id = id.to_string();

    // Stands for any statement too slow to finish: every statement on
    // daily_sales waits for this lock (lock waits count towards
    // statement_timeout).
    let mut locker = sqlx::PgConnection::connect(env.read_db.url())
        .await
        .unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE daily_sales IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    // More slow requests than the pool has connections.
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let env = Arc::clone(&env);
            tokio::spawn(async move {
                let started = Instant::now();
                let r = env
                    .gql(
                        r#"{ salesByDay(from: "2025-01-01", to: "2025-01-31") { day } }"#,
                        json!({}),
                    )
                    .await;
                (r, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let took = neighbour_answered(&env, &id).await;
    // At worst it waits for connections freed at the statement timeout.
    assert!(took < Duration::from_secs(2), "neighbour took {took:?}");
    for s in slow {
        let (r, took) = s.await.unwrap();
        let message = r.only_error("TIMEOUT");
        assert!(message.contains("statement timeout"), "{message}");
        for leak in ["daily_sales", "canceling", "SELECT"] {
            assert!(!r.body.to_string().contains(leak), "{}", r.body);
        }
        // Cut by Postgres, not by the 5 s request timeout.
        assert!(took < Duration::from_secs(4), "took {took:?}");
    }
    lock.rollback().await.unwrap();

    // The pool is whole again.
    let r = env
        .gql(
            r#"{ salesByDay(from: "2025-01-01", to: "2025-01-31") { day } }"#,
            json!({}),
        )
        .await;
    assert_eq!(r.data()["salesByDay"], json!([]));
    match Arc::try_unwrap(env) {
        Ok(env) => env.finish().await,
        Err(_) => panic!("env still shared"),
    }
}
