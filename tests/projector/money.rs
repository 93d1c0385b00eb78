//! Sums across orders (per customer, day and product) beyond 64 bits: two
//! orders paid the same day by the same customer at 2^62 minor units each.
//! The domain bounds new orders far below that; these events are written
//! straight into the store, as old or foreign writers could have.

use chrono::{TimeZone, Utc};
use orderflow_domain::{
    Channel, Currency, CustomerId, ItemAdded, Money, OrderConfirmed, OrderCreated, OrderEvent,
    OrderId, OrderSubmitted, PaymentId, PaymentRecorded, Sku,
};
use orderflow_projections::{ProjectorConfig, status_with_store};
use uuid::Uuid;

use crate::support::{Env, append, assert_same, dump, rebuilt, wait_visible};

const HUGE: i64 = 1 << 62;

/// A whale's new order with one line of `quantity` units at 2^62 each.
fn huge_order(id: OrderId, at: chrono::DateTime<Utc>, quantity: u32) -> [OrderEvent; 2] {
    [
        OrderEvent::OrderCreated(OrderCreated {
            order_id: id,
            customer_id: CustomerId::new("whale").unwrap(),
            currency: Currency::EUR,
            channel: Channel::ALL[0],
            at,
        }),
        OrderEvent::ItemAdded(ItemAdded {
            sku: Sku::new("gold").unwrap(),
            name: "Gold".into(),
            quantity,
            unit_price: Money::new(HUGE, Currency::EUR),
            at,
        }),
    ]
}

async fn huge_paid_order(env: &Env) -> orderflow_event_store::Position {
    let id = OrderId::new(Uuid::now_v7());
    let at = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let price = Money::new(HUGE, Currency::EUR);
    let mut events = huge_order(id, at, 1).to_vec();
    events.extend([
        OrderEvent::OrderSubmitted(OrderSubmitted { total: price, at }),
        OrderEvent::OrderConfirmed(OrderConfirmed { at }),
        OrderEvent::PaymentRecorded(PaymentRecorded {
            payment_id: PaymentId::new(format!("pay-{}", id.0.simple())).unwrap(),
            amount: price,
            at,
        }),
    ]);
    append(&env.store, &id, 0, &events).await
}

async fn text(env: &Env, sql: &'static str) -> String {
    sqlx::query_scalar(sql).fetch_one(&env.read).await.unwrap()
}

#[tokio::test]
async fn sums_across_orders_beyond_i64_are_exact_live_and_rebuilt() {
    let env = Env::small_batches().await;
    let config = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    huge_paid_order(&env).await;
    let last = huge_paid_order(&env).await;
    wait_visible(&env.store, last).await;
    let projector = env.start_projector_with(config).await;
    // Every projection gets there: none stalls, none stops.
    env.wait_for(last, &[]).await;
    projector.stop().await;
    let status = status_with_store(&env.store, &env.read).await.unwrap();
    for s in &status {
        assert_eq!(
            (s.state.as_str(), s.dead_letters, s.last_error.as_deref()),
            ("running", 0, None),
            "{s:?}"
        );
    }
    let two_huge = (2 * i128::from(HUGE)).to_string();
    assert_eq!(
        text(&env, "SELECT paid_minor::text FROM customer_lifetime_value").await,
        two_huge
    );
    assert_eq!(
        text(&env, "SELECT net_minor::text FROM customer_lifetime_value").await,
        two_huge
    );
    assert_eq!(
        text(&env, "SELECT gross_minor::text FROM daily_sales").await,
        two_huge
    );
    assert_eq!(
        text(&env, "SELECT revenue_minor::text FROM product_sales").await,
        two_huge
    );
    // A rebuild folds the same sums (no clamp on either path).
    let live = dump(&env.read).await;
    assert_same(&live, &rebuilt(&env).await);
}

/// One line of 2 × 2^62 minor units: beyond what an order's total (a
/// `bigint`) holds. The live fold and a rebuild both fail on that event
/// with the same message, where both used to clamp it to i64::MAX.
#[tokio::test]
async fn an_order_beyond_i64_fails_live_and_rebuild_alike() {
    let env = Env::small_batches().await;
    let config = ProjectorConfig {
        nats_url: "nats://127.0.0.1:1".into(),
        ..env.config.clone()
    };
    let id = OrderId::new(Uuid::now_v7());
    let at = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let bad = append(&env.store, &id, 0, &huge_order(id, at, 2)).await;
    let projector = env.start_projector_with(config).await;
    env.wait_for(bad, &["orders", "order_items"]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let letters: Vec<(String, String, String)> = loop {
        let letters = sqlx::query_as(
            "SELECT projection, position, error FROM dead_letters ORDER BY projection",
        )
        .fetch_all(&env.read)
        .await
        .unwrap();
        if letters.len() == 2 {
            break letters;
        }
        assert!(tokio::time::Instant::now() < deadline, "{letters:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    projector.stop().await;
    assert_eq!(letters[0].0, "order_items");
    assert_eq!(letters[1].0, "orders");
    for (_, position, _) in &letters {
        assert_eq!(position, &bad.to_string());
    }
    assert!(
        letters[1].2.contains("overflows total_minor"),
        "{letters:?}"
    );
    assert!(
        letters[0].2.contains("overflows line_total_minor"),
        "{letters:?}"
    );
    for (name, _, error) in &letters {
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
            Some(format!("{bad}: {error}").as_str())
        );
    }
}
