//! The `projections` field shows a projection backing off from a transient
//! error (state, last error, next attempt), with or without the event
//! store's URL, and `running` again once it moves.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::Stack;

const Q: &str = "{ projections { name state lastError nextAttemptAt } }";

async fn daily_sales(env: &Stack) -> Value {
    let r = env.gql(Q, json!({})).await;
    r.data()["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "daily_sales")
        .unwrap()
        .clone()
}

async fn wait_state(env: &Stack, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = daily_sales(env).await;
        if p["state"] == state {
            return p;
        }
        assert!(tokio::time::Instant::now() < deadline, "{p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn check(env: Stack) {
    // Tables built by a newer version (a rolling deploy): this build waits.
    sqlx::query(
        "UPDATE projection_checkpoints SET version = version + 1 WHERE name = 'daily_sales'",
    )
    .execute(&env.read)
    .await
    .unwrap();
    let p = wait_state(&env, "backing off").await;
    assert!(p["lastError"].as_str().unwrap().contains("version"), "{p}");
    assert!(p["nextAttemptAt"].is_string(), "{p}");
    sqlx::query(
        "UPDATE projection_checkpoints SET version = version - 1 WHERE name = 'daily_sales'",
    )
    .execute(&env.read)
    .await
    .unwrap();
    let p = wait_state(&env, "running").await;
    assert_eq!(p["lastError"], Value::Null, "{p}");
    assert_eq!(p["nextAttemptAt"], Value::Null, "{p}");
    env.finish().await;
}

#[tokio::test]
async fn a_projection_backing_off_shows_why_and_when() {
    check(Stack::start().await).await;
    check(Stack::start_with(|c| c.store_status = false).await).await;
}
