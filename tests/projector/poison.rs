//! A poison event stops only the projections that cannot fold it.

use std::time::Duration;

use orderflow_domain::{OrderConfirmed, OrderEvent, OrderId};
use orderflow_projections::{ProjectorConfig, retry_with, skip_with, status_with_store};
use orderflow_subscriptions::Actor;
use uuid::Uuid;

use crate::support::{Env, Workload, append};

fn ops() -> Actor {
    Actor::cli("poison-test")
}

async fn wait_stopped(env: &Env, names: &[&str], dead: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = status_with_store(&env.store, &env.read).await.unwrap();
        let ok = status
            .iter()
            .filter(|s| names.contains(&s.name.as_str()))
            .all(|s| s.state == "stopped" && s.dead_letters >= dead.min(1));
        let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
            .fetch_one(&env.read)
            .await
            .unwrap();
        if ok && letters >= dead {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn poison_event_is_dead_lettered_and_retry_and_skip_resume() {
    let env = Env::small_batches().await;
    let config = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(21);
    work.run(&env.store, 300, 50).await;
    // A confirmation for an order that was never created: `orders` and
    // `customer_stats` cannot fold it; the other three ignore it.
    let ghost = OrderId::new(Uuid::now_v7());
    let poison = append(
        &env.store,
        &ghost,
        0,
        &[OrderEvent::OrderConfirmed(OrderConfirmed {
            at: chrono::Utc::now(),
        })],
    )
    .await;
    work.run(&env.store, 300, 100).await;
    let projector = env.start_projector_with(config).await;

    let stopped = ["orders", "customer_stats"];
    wait_stopped(&env, &stopped, 2).await;
    env.wait_for(work.last, &stopped).await;
    let status = status_with_store(&env.store, &env.read).await.unwrap();
    for s in &status {
        if stopped.contains(&s.name.as_str()) {
            assert_eq!(s.state, "stopped");
            assert!(s.position.unwrap() < poison);
            assert!(s.lag_events > 0);
            assert!(s.last_error.as_deref().unwrap().contains("no OrderCreated"));
        } else {
            assert_eq!(s.state, "running", "{s:?}");
            assert_eq!(s.lag_events, 0);
        }
    }
    // Through the `EventStore` trait alone (as with KurrentDB): the same
    // head and lag, the backlog being under STORE_LAG_LIMIT.
    let via_store = status_with_store(&env.store, &env.read).await.unwrap();
    assert_eq!(via_store.len(), status.len());
    for (pg, store) in status.iter().zip(&via_store) {
        assert_eq!(pg.name, store.name);
        assert_eq!(
            (pg.head, pg.lag_events, pg.state.as_str()),
            (store.head, store.lag_events, store.state.as_str()),
            "{}",
            pg.name
        );
        assert_eq!(pg.lag_seconds > 0.0, store.lag_seconds > 0.0, "{}", pg.name);
    }
    let row: (String, String, i32) = sqlx::query_as(
        "SELECT projection, event_type, attempts FROM dead_letters WHERE projection = 'orders'",
    )
    .fetch_one(&env.read)
    .await
    .unwrap();
    assert_eq!(row.1, "OrderConfirmed");
    assert_eq!(row.2, 3);

    // Retry: the event still fails, so it is dead-lettered again.
    retry_with(&env.read, "customer_stats", &ops())
        .await
        .unwrap();
    wait_stopped(&env, &["customer_stats"], 3).await;

    // Skip: both resume past it and catch up.
    skip_with(&env.read, "orders", &ops()).await.unwrap();
    skip_with(&env.read, "customer_stats", &ops())
        .await
        .unwrap();
    env.wait_for(work.last, &[]).await;
    let status = status_with_store(&env.store, &env.read).await.unwrap();
    assert!(
        status
            .iter()
            .all(|s| s.state == "running" && s.last_error.is_none())
    );
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE resolution IS NULL")
            .fetch_one(&env.read)
            .await
            .unwrap();
    assert_eq!(open, 0);
    let ghost_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE order_id = $1")
        .bind(ghost.0)
        .fetch_one(&env.read)
        .await
        .unwrap();
    assert_eq!(ghost_rows, 0);
    assert!(skip_with(&env.read, "orders", &ops()).await.is_err());
    projector.stop().await;
}

#[tokio::test]
async fn rebuild_stops_before_a_poison_event() {
    let env = Env::small_batches().await;
    let mut work = Workload::new(22);
    work.run(&env.store, 200, 40).await;
    let before = work.last;
    let ghost = OrderId::new(Uuid::now_v7());
    append(
        &env.store,
        &ghost,
        0,
        &[OrderEvent::OrderConfirmed(OrderConfirmed {
            at: chrono::Utc::now(),
        })],
    )
    .await;
    work.run(&env.store, 200, 80).await;
    crate::support::wait_visible(&env.store, work.last).await;
    let report = orderflow_projections::rebuild_with(
        env.store(),
        &env.read,
        "orders",
        &env.config,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(report.stopped_before.unwrap().contains("no OrderCreated"));
    assert_eq!(report.position, before);
}

/// A row the read database refuses (here a CHECK constraint, SQLSTATE class
/// 23) fails the same way on every retry: it is poison. The event is found
/// inside its batch, dead-lettered with the database's message, and only
/// that projection stops, visibly; `skip` resumes it.
#[tokio::test]
async fn an_event_the_database_refuses_is_dead_lettered_not_retried_for_ever() {
    let env = Env::small_batches().await;
    let config = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(23);
    work.run(&env.store, 200, 40).await;
    let projector = env.start_projector_with(config).await;
    env.wait_for(work.last, &[]).await;
    // Built; now the orders table refuses one customer.
    sqlx::query("ALTER TABLE orders ADD CONSTRAINT no_mallory CHECK (customer_id <> 'mallory')")
        .execute(&env.read)
        .await
        .unwrap();
    let mallory = OrderId::new(Uuid::now_v7());
    // Several orders around it in one batch: the others still apply.
    work.run(&env.store, 50, 60).await;
    let refused = append(
        &env.store,
        &mallory,
        0,
        &[OrderEvent::OrderCreated(orderflow_domain::OrderCreated {
            order_id: mallory,
            customer_id: orderflow_domain::CustomerId::new("mallory").unwrap(),
            currency: orderflow_domain::Currency::EUR,
            channel: orderflow_domain::Channel::ALL[0],
            at: chrono::Utc::now(),
        })],
    )
    .await;
    work.run(&env.store, 50, 80).await;

    wait_stopped(&env, &["orders"], 1).await;
    env.wait_for(work.last, &["orders"]).await;
    let status = status_with_store(&env.store, &env.read).await.unwrap();
    let orders = status.iter().find(|s| s.name == "orders").unwrap();
    assert_eq!(orders.state, "stopped");
    assert_eq!(orders.dead_letters, 1);
    assert!(orders.position.unwrap() < refused, "{orders:?}");
    let error = orders.last_error.as_deref().unwrap();
    assert!(error.contains("no_mallory"), "{error}");
    for s in status.iter().filter(|s| s.name != "orders") {
        assert_eq!(s.state, "running", "{s:?}");
    }
    let (position, error): (String, String) =
        sqlx::query_as("SELECT position, error FROM dead_letters WHERE projection = 'orders'")
            .fetch_one(&env.read)
            .await
            .unwrap();
    assert_eq!(position, refused.to_string());
    assert!(error.contains("no_mallory"), "{error}");

    skip_with(&env.read, "orders", &ops()).await.unwrap();
    env.wait_for(work.last, &[]).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE order_id = $1")
        .bind(mallory.0)
        .fetch_one(&env.read)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    projector.stop().await;
}

/// A failure that may pass (here: tables built by a newer version, as in a
/// rolling deploy) is retried with backoff, and the status says so: state
/// `backing off`, the error and the next attempt, never a bare `running`.
#[tokio::test]
async fn a_projection_backing_off_says_why_and_when() {
    let env = Env::small_batches().await;
    let config = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(24);
    work.run(&env.store, 100, 20).await;
    let projector = env.start_projector_with(config.clone()).await;
    env.wait_for(work.last, &[]).await;
    projector.stop().await;
    sqlx::query("UPDATE projection_checkpoints SET version = version + 1 WHERE name = 'orders'")
        .execute(&env.read)
        .await
        .unwrap();
    let projector = env.start_projector_with(config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let orders = loop {
        let status = status_with_store(&env.store, &env.read).await.unwrap();
        let orders = status.into_iter().find(|s| s.name == "orders").unwrap();
        if orders.state != "running" {
            break orders;
        }
        assert!(tokio::time::Instant::now() < deadline, "{orders:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(orders.state, "backing off", "{orders:?}");
    assert!(
        orders
            .last_error
            .as_deref()
            .unwrap()
            .contains("built by version"),
        "{orders:?}"
    );
    assert!(orders.next_attempt_at.is_some(), "{orders:?}");
    assert_eq!(orders.dead_letters, 0);
    assert!(
        retry_with(&env.read, "orders", &ops()).await.is_err(),
        "not stopped"
    );

    // The cause goes away: it moves again and says `running`.
    sqlx::query("UPDATE projection_checkpoints SET version = version - 1 WHERE name = 'orders'")
        .execute(&env.read)
        .await
        .unwrap();
    work.run(&env.store, 50, 30).await;
    env.wait_for(work.last, &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = status_with_store(&env.store, &env.read).await.unwrap();
        let orders = status.into_iter().find(|s| s.name == "orders").unwrap();
        if orders.state == "running" {
            assert_eq!(orders.last_error, None);
            assert_eq!(orders.next_attempt_at, None);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{orders:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    projector.stop().await;
}

/// An event time Postgres cannot hold (before 4714 BC; chrono reads it)
/// would be refused by the database on the live path and fail a rebuild's
/// COPY as a whole. It is a decode error instead: live and rebuild stop on
/// that event with the same message.
#[tokio::test]
async fn an_event_time_the_read_models_cannot_hold_fails_live_and_rebuild_alike() {
    let env = Env::small_batches().await;
    let config = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let mut work = Workload::new(25);
    work.run(&env.store, 100, 20).await;
    let before = work.last;
    let ancient = OrderId::new(Uuid::now_v7());
    let bad = crate::support::append_raw(
        &env.store,
        &ancient,
        0,
        &[(
            "OrderCreated",
            2,
            serde_json::json!({
                "order_id": ancient, "customer_id": "c-old", "currency": "EUR",
                "channel": "web", "at": "-5000-01-01T00:00:00Z"
            }),
        )],
    )
    .await;
    let projector = env.start_projector_with(config).await;
    let all: Vec<&str> = orderflow_projections::PROJECTIONS
        .iter()
        .map(|d| d.name)
        .collect();
    wait_stopped(&env, &all, all.len() as i64).await;
    projector.stop().await;
    let letters: Vec<(String, String, String)> =
        sqlx::query_as("SELECT projection, position, error FROM dead_letters ORDER BY projection")
            .fetch_all(&env.read)
            .await
            .unwrap();
    assert_eq!(letters.len(), all.len());
    for (name, position, error) in &letters {
        assert_eq!(position, &bad.to_string());
        assert!(error.contains("earliest time"), "{error}");
        let report = orderflow_projections::rebuild_with(
            env.store(),
            &env.read,
            name,
            &env.config,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(
            report.stopped_before.as_deref(),
            Some(format!("{bad}: {error}").as_str()),
            "{name}"
        );
        assert_eq!(report.position, before, "{name}");
    }
}
