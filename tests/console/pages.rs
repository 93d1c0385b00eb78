//! An order's timeline, and the live feed.

use std::time::Duration;

use reqwest::header::COOKIE;

use crate::support::{Stack, Step};

use super::{browser, get, sign_in};

#[tokio::test]
async fn the_timeline_shows_events_with_metadata_and_the_live_feed_pushes_the_overview() {
    let stack = Stack::start().await;
    let cookie = sign_in(&stack, "ops-bob").await;
    let (id, _) = stack.create_order("c-9", "EUR", &[("SKU-9", 2, 250)]).await;
    stack.advance(id, &[Step::Submit, Step::Confirm]).await;

    let p = get(
        &stack.query,
        Some(&cookie),
        &format!("/console/orders/{id}"),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.html);
    for needle in [
        "OrderCreated",
        "OrderSubmitted",
        "OrderConfirmed",
        "<td>c-9</td>",
    ] {
        assert!(p.html.contains(needle), "{needle}: {}", p.html);
    }
    // Each event's correlation id, as the store keeps it.
    let events = stack
        .store()
        .read_stream(&orderflow_event_store::StreamId::new(format!("order-{id}")).unwrap())
        .await
        .unwrap();
    assert!(events.len() >= 3, "{events:?}");
    for e in &events {
        let correlation = e.metadata.correlation_id.as_deref().unwrap();
        assert!(p.html.contains(correlation), "{correlation}");
    }
    // No fulfilment runs in this stack.
    assert!(p.html.contains("no fulfilment instance"), "{}", p.html);

    // The search box, a bad id, an order that does not exist.
    let p = get(
        &stack.query,
        Some(&cookie),
        &format!("/console/orders?id=order-{id}"),
    )
    .await;
    assert_eq!(p.location, Some(format!("/console/orders/{id}")));
    assert_eq!(
        get(&stack.query, Some(&cookie), "/console/orders?id=nope")
            .await
            .status,
        400
    );
    assert_eq!(
        get(&stack.query, Some(&cookie), "/console/orders/nope")
            .await
            .status,
        400
    );
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        get(
            &stack.query,
            Some(&cookie),
            &format!("/console/orders/{missing}")
        )
        .await
        .status,
        404
    );

    // The live feed: server-sent `overview` events carrying the table.
    let resp = browser()
        .get(format!("{}/console/live", stack.query))
        .header(COOKIE, format!("orderflow_console={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut resp = resp;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Two events: the first at once, the next about 2 s later.
    while text.matches("event: overview").count() < 2 {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("the feed went quiet")
            .unwrap()
            .expect("the feed ended");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains("id=\"sub-orders\" data-state=\"running\""),
        "{text}"
    );
    // The sparkline has samples.
    assert!(text.contains("<polyline points=\""), "{text}");
    // The relay publishes what it does; the console shows the leader.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = get(&stack.query, Some(&cookie), "/console").await;
        let relay = p
            .html
            .find("<dt>Relay default</dt>")
            .map(|at| &p.html[at..at + 300]);
        if relay.is_some_and(|r| r.contains("state ok\">leading</span>")) {
            assert!(relay.unwrap().contains("0 standing by"), "{relay:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{relay:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let events = sqlx::PgPool::connect(stack.events_db.url()).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM relay_status WHERE state = 'leading'")
        .fetch_one(&events)
        .await
        .unwrap();
    events.close().await;
    assert_eq!(rows, 1);
    // The assets are served from the binary.
    let css = get(&stack.query, None, "/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(css.html.contains(".dev-banner"));
    assert_eq!(
        get(&stack.query, None, "/console/assets/nope.js")
            .await
            .status,
        404
    );
    stack.finish().await;
}
