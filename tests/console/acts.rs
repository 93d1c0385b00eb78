//! A fold failing for real (a constraint the test adds to the read model)
//! dead-letters an event; the console lists and shows it; Retry before the
//! fix dead-letters it again, Retry after it resumes the projection; Skip
//! passes over the next one; Rebuild runs with progress. Every act is in
//! the audit log with the operator and the time.

use std::time::Duration;

use crate::support::{Stack, Step};

use super::{csrf, get, post, sign_in, state_of, wait_state};

pub(super) async fn constraint(stack: &Stack, on: bool) {
    let sql = if on {
        "ALTER TABLE orders ADD CONSTRAINT console_test CHECK (confirmed_at IS NULL) NOT VALID"
    } else {
        "ALTER TABLE orders DROP CONSTRAINT console_test"
    };
    sqlx::query(sql).execute(&stack.read).await.unwrap();
}

async fn open_letters(stack: &Stack) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM dead_letters WHERE projection = 'orders' AND resolution IS NULL",
    )
    .fetch_one(&stack.read)
    .await
    .unwrap()
}

pub(super) async fn wait_letters(stack: &Stack, total: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE projection = 'orders'")
                .fetch_one(&stack.read)
                .await
                .unwrap();
        if n >= total {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{n} dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_confirmed(stack: &Stack, order: uuid::Uuid) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done: Option<bool> =
            sqlx::query_scalar("SELECT confirmed_at IS NOT NULL FROM orders WHERE order_id = $1")
                .bind(order)
                .fetch_optional(&stack.read)
                .await
                .unwrap();
        if done == Some(true) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{order} never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Confirms through the form behind the button: the confirmation page,
/// then its POST.
pub(super) async fn act(base: &str, cookie: &str, subscriber: &str, action: &str) -> super::Page {
    let path = format!("/console/subscribers/{subscriber}/{action}");
    let confirm = get(base, Some(cookie), &path).await;
    assert_eq!(confirm.status, 200, "{}", confirm.html);
    assert!(
        confirm.html.contains(&format!("action=\"{path}\"")),
        "{}",
        confirm.html
    );
    post(base, Some(cookie), &path, &[("csrf", &csrf(&confirm.html))]).await
}

#[tokio::test]
async fn an_operator_retries_and_skips_dead_letters_and_rebuilds_and_the_audit_log_says_so() {
    let stack = Stack::start().await;
    let cookie = sign_in(&stack, "ops-ada").await;
    let (first, _) = stack.create_order("c-1", "EUR", &[("SKU-1", 1, 500)]).await;
    stack.advance(first, &[Step::Submit]).await;
    constraint(&stack, true).await;
    stack.advance(first, &[Step::Confirm]).await;
    wait_letters(&stack, 1).await;

    // The overview: orders stopped, one open dead letter, Retry and Skip.
    let p = wait_state(&stack.query, &cookie, "orders", "stopped").await;
    assert!(
        p.html
            .contains("/console/dead-letters?subscriber=orders\">1 open"),
        "{}",
        p.html
    );
    assert!(p.html.contains("/console/subscribers/orders/retry"));
    assert!(
        p.html.contains("console_test"),
        "the last error: {}",
        p.html
    );
    assert_eq!(state_of(&p.html, "daily_sales").as_deref(), Some("running"));

    // The list and the detail.
    let list = get(
        &stack.query,
        Some(&cookie),
        "/console/dead-letters?subscriber=orders",
    )
    .await;
    assert_eq!(list.status, 200);
    assert!(list.html.contains("OrderConfirmed"), "{}", list.html);
    let id: i64 = sqlx::query_scalar("SELECT id FROM dead_letters WHERE projection = 'orders'")
        .fetch_one(&stack.read)
        .await
        .unwrap();
    let href = format!("/console/dead-letters/orders/{id}");
    assert!(list.html.contains(&href), "{}", list.html);
    let detail = get(&stack.query, Some(&cookie), &href).await;
    assert_eq!(detail.status, 200, "{}", detail.html);
    for needle in [
        "OrderConfirmed",
        &format!("order-{first}"),
        &format!("/console/orders/{first}"),
        "console_test",
        "First failed",
        "3 this time",
    ] {
        assert!(detail.html.contains(needle), "{needle}: {}", detail.html);
    }
    // Another subscriber's number, a bad page: precise refusals.
    assert_eq!(
        get(
            &stack.query,
            Some(&cookie),
            &format!("/console/dead-letters/daily_sales/{id}")
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(
            &stack.query,
            Some(&cookie),
            "/console/dead-letters/orders/x"
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(&stack.query, Some(&cookie), "/console/dead-letters?page=0")
            .await
            .status,
        400
    );
    assert_eq!(
        get(
            &stack.query,
            Some(&cookie),
            "/console/dead-letters?subscriber=nope"
        )
        .await
        .status,
        404
    );

    // Retry before the fix: tried again, dead-lettered again.
    let p = act(&stack.query, &cookie, "orders", "retry").await;
    assert_eq!(p.status, 303, "{}", p.html);
    assert_eq!(p.location.as_deref(), Some("/console?done=retry:orders"));
    wait_letters(&stack, 2).await;
    wait_state(&stack.query, &cookie, "orders", "stopped").await;
    // The fix, then Retry: running, nothing open.
    constraint(&stack, false).await;
    let p = act(&stack.query, &cookie, "orders", "retry").await;
    assert_eq!(p.status, 303, "{}", p.html);
    let p = get(&stack.query, Some(&cookie), "/console?done=retry:orders").await;
    assert!(p.html.contains("Retried orders."), "{}", p.html);
    wait_state(&stack.query, &cookie, "orders", "running").await;
    assert_eq!(open_letters(&stack).await, 0);
    // `running` shows at once; the confirmation is applied a moment later.
    wait_confirmed(&stack, first).await;
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE order_id = $1")
        .bind(first)
        .fetch_one(&stack.read)
        .await
        .unwrap();
    // Nothing to retry now: a conflict, said plainly.
    let p = act(&stack.query, &cookie, "orders", "retry").await;
    assert_eq!(p.status, 409, "{}", p.html);
    assert!(p.html.contains("no dead letter"), "{}", p.html);

    // Skip: the next failing event is passed over for good.
    let (second, _) = stack.create_order("c-2", "EUR", &[("SKU-2", 1, 700)]).await;
    stack.advance(second, &[Step::Submit]).await;
    constraint(&stack, true).await;
    stack.advance(second, &[Step::Confirm]).await;
    wait_letters(&stack, 3).await;
    wait_state(&stack.query, &cookie, "orders", "stopped").await;
    constraint(&stack, false).await;
    let p = act(&stack.query, &cookie, "orders", "skip").await;
    assert_eq!(p.status, 303, "{}", p.html);
    wait_state(&stack.query, &cookie, "orders", "running").await;
    // Past the skipped event: a later event of the same order is applied.
    stack
        .settle(&stack.advance(second, &[Step::Cancel("changed mind")]).await)
        .await;
    let (first_status, second_status): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT status FROM orders WHERE order_id = $1), \
                (SELECT status FROM orders WHERE order_id = $2)",
    )
    .bind(first)
    .bind(second)
    .fetch_one(&stack.read)
    .await
    .unwrap();
    let dbg: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT projection, position, event_type, resolution FROM dead_letters ORDER BY id",
    )
    .fetch_all(&stack.read)
    .await
    .unwrap();
    let cp: Vec<(String, String)> =
        sqlx::query_as("SELECT name, position FROM projection_checkpoints")
            .fetch_all(&stack.read)
            .await
            .unwrap();
    assert_eq!(
        first_status.as_deref(),
        Some(status.as_str()),
        "{dbg:?} {cp:?}"
    );
    assert!(second_status.is_some(), "{dbg:?} {cp:?}");
    assert_ne!(
        second_status, first_status,
        "the skipped confirmation was applied"
    );

    // Rebuild: unknown targets are 404, a projection rebuilds with
    // progress reported to the end.
    assert_eq!(
        get(
            &stack.query,
            Some(&cookie),
            "/console/subscribers/nope/rebuild"
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(
            &stack.query,
            Some(&cookie),
            "/console/subscribers/orders/explode"
        )
        .await
        .status,
        404
    );
    let p = act(&stack.query, &cookie, "daily_sales", "rebuild").await;
    assert_eq!(p.status, 303, "{}", p.html);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let p = get(&stack.query, Some(&cookie), "/console").await;
        if p.html.contains("rebuild done") {
            assert!(
                p.html.contains("<progress max=\"100\" value=\"100\">"),
                "{}",
                p.html
            );
            assert!(p.html.contains("asked by ops-ada"), "{}", p.html);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", p.html);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (state, events): (String, i64) =
        sqlx::query_as("SELECT state, events FROM projection_rebuilds")
            .fetch_one(&stack.read)
            .await
            .unwrap();
    assert_eq!(state, "done");
    assert!(events >= 6, "{events}");

    // The audit log: every act, by whom, newest first, on the page too.
    let log: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, subscriber FROM operator_actions ORDER BY id")
            .fetch_all(&stack.read)
            .await
            .unwrap();
    let expected: Vec<(String, String, String)> = [
        ("retry", "orders"),
        ("retry", "orders"),
        ("skip", "orders"),
        ("rebuild", "daily_sales"),
    ]
    .iter()
    .map(|(a, s)| ("ops-ada".to_owned(), (*a).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(log, expected);
    let vias: Vec<String> = sqlx::query_scalar("SELECT DISTINCT via FROM operator_actions")
        .fetch_all(&stack.read)
        .await
        .unwrap();
    assert_eq!(vias, ["console"]);
    let p = get(&stack.query, Some(&cookie), "/console").await;
    let audit = &p.html[p.html.find("Audit log").unwrap()..];
    assert_eq!(audit.matches("<td>ops-ada</td>").count(), 4, "{audit}");
    stack.finish().await;
}
