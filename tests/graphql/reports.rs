//! `customer`, `salesByDay`, `topProducts`, `projections`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Stack, Step, path_to};

fn money(amount: i64, currency: &str) -> Value {
    json!({ "amountMinor": amount, "currency": currency })
}

/// Orders of two customers; returns the day they were paid.
async fn shop(env: &Stack) -> String {
    let (o1, _) = env
        .create_order("alice", "EUR", &[("A", 2, 1000), ("B", 1, 500)])
        .await;
    let mut steps = path_to("paid");
    steps.push(Step::Refund(500));
    env.advance(o1, &steps).await;
    let (o2, _) = env.create_order("alice", "EUR", &[("A", 1, 1000)]).await;
    env.advance(o2, &path_to("delivered")).await;
    let (o3, _) = env.create_order("alice", "USD", &[("C", 3, 200)]).await;
    env.advance(o3, &path_to("paid")).await;
    let (_o4, _) = env.create_order("alice", "EUR", &[("B", 5, 500)]).await;
    let (o5, _) = env.create_order("bob", "EUR", &[("B", 4, 500)]).await;
    env.advance(o5, &path_to("paid")).await;
    // Not paid: counts nowhere in sales.
    let (o6, _) = env.create_order("bob", "EUR", &[("A", 9, 1000)]).await;
    let last = env.advance(o6, &path_to("cancelled")).await;
    env.settle(&last).await;
    let r = env
        .gql(
            "query($id: UUID!) { order(id: $id) { paidAt } }",
            json!({ "id": o1 }),
        )
        .await;
    r.data()["order"]["paidAt"].as_str().unwrap()[..10].to_owned()
}

#[tokio::test]
async fn customers_sales_and_products() {
    let env = Stack::start().await;
    let day = shop(&env).await;

    let r = env
        .gql(
            r#"{ customer(id: "alice") { id stats { orderCount firstOrderAt lastOrderAt
                   byStatus { status count }
                   lifetimeValue { currency paid { amountMinor currency } refunded { amountMinor currency }
                                   net { amountMinor currency formatted } } } } }"#,
            json!({}),
        )
        .await;
    let c = &r.data()["customer"];
    assert_eq!(c["id"], "alice");
    let s = &c["stats"];
    assert_eq!(s["orderCount"], 4);
    let first: chrono::DateTime<chrono::Utc> = s["firstOrderAt"].as_str().unwrap().parse().unwrap();
    let last: chrono::DateTime<chrono::Utc> = s["lastOrderAt"].as_str().unwrap().parse().unwrap();
    assert!(first < last);
    let by_status: Vec<(String, i64)> = s["byStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["status"].as_str().unwrap().to_owned(),
                x["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_status.len(), 8, "every status listed");
    for (status, n) in [("DRAFT", 1), ("PAID", 2), ("DELIVERED", 1), ("SHIPPED", 0)] {
        assert!(
            by_status.contains(&(status.to_owned(), n)),
            "{status}: {by_status:?}"
        );
    }
    assert_eq!(
        s["lifetimeValue"],
        json!([
            { "currency": "EUR", "paid": money(3500, "EUR"), "refunded": money(500, "EUR"),
              "net": { "amountMinor": 3000, "currency": "EUR", "formatted": "30.00 EUR" } },
            { "currency": "USD", "paid": money(600, "USD"), "refunded": money(0, "USD"),
              "net": { "amountMinor": 600, "currency": "USD", "formatted": "6.00 USD" } },
        ])
    );
    let r = env
        .gql(r#"{ customer(id: "nobody") { id } }"#, json!({}))
        .await;
    assert_eq!(r.data()["customer"], Value::Null);

    let sales = "query($from: Date!, $to: Date!, $cur: String) {
        salesByDay(from: $from, to: $to, currency: $cur) {
            day currency ordersPaid unitsSold gross { amountMinor currency formatted }
            refunds { amountMinor } net { amountMinor } } }";
    let r = env.gql(sales, json!({ "from": day, "to": day })).await;
    assert_eq!(
        r.data()["salesByDay"],
        json!([
            { "day": day, "currency": "EUR", "ordersPaid": 3, "unitsSold": 8,
              "gross": { "amountMinor": 5500, "currency": "EUR", "formatted": "55.00 EUR" },
              "refunds": { "amountMinor": 500 }, "net": { "amountMinor": 5000 } },
            { "day": day, "currency": "USD", "ordersPaid": 1, "unitsSold": 3,
              "gross": { "amountMinor": 600, "currency": "USD", "formatted": "6.00 USD" },
              "refunds": { "amountMinor": 0 }, "net": { "amountMinor": 600 } },
        ])
    );
    let r = env
        .gql(
            sales,
            json!({ "from": "2000-01-01", "to": "2000-12-31", "cur": "EUR" }),
        )
        .await;
    assert_eq!(r.data()["salesByDay"], json!([]));
    let r = env
        .gql(sales, json!({ "from": day, "to": day, "cur": "USD" }))
        .await;
    assert_eq!(r.data()["salesByDay"].as_array().unwrap().len(), 1);
    for (from, to) in [("2025-02-01", "2025-01-01"), ("2020-01-01", "2025-01-01")] {
        env.gql(sales, json!({ "from": from, "to": to }))
            .await
            .only_error("BAD_USER_INPUT");
    }
    env.gql(sales, json!({ "from": "2025-13-01", "to": "2025-01-01" }))
        .await
        .only_error("BAD_USER_INPUT");

    let top = "query($by: ProductRanking, $from: Date, $to: Date, $cur: String, $first: Int) {
        topProducts(by: $by, from: $from, to: $to, currency: $cur, first: $first) {
            sku currency unitsSold orderCount revenue { amountMinor currency } } }";
    let row = |sku: &str, cur: &str, units: i64, orders: i64, revenue: i64| {
        json!({ "sku": sku, "currency": cur, "unitsSold": units, "orderCount": orders,
                "revenue": money(revenue, cur) })
    };
    let a = row("A", "EUR", 3, 2, 3000);
    let b = row("B", "EUR", 5, 2, 2500);
    let c = row("C", "USD", 3, 1, 600);
    let r = env.gql(top, json!({})).await;
    assert_eq!(r.data()["topProducts"], json!([a, b, c]));
    let r = env.gql(top, json!({ "by": "UNITS", "cur": "EUR" })).await;
    assert_eq!(r.data()["topProducts"], json!([b, a]));
    let r = env.gql(top, json!({ "first": 1 })).await;
    assert_eq!(r.data()["topProducts"], json!([a]));
    // A range reads the orders paid in it; the same here, since all were
    // paid today.
    let r = env.gql(top, json!({ "from": day, "to": day })).await;
    assert_eq!(r.data()["topProducts"], json!([a, b, c]));
    let r = env
        .gql(
            top,
            json!({ "by": "UNITS", "from": day, "to": day, "cur": "EUR" }),
        )
        .await;
    assert_eq!(r.data()["topProducts"], json!([b, a]));
    let r = env
        .gql(top, json!({ "from": "2001-01-01", "to": "2001-01-02" }))
        .await;
    assert_eq!(r.data()["topProducts"], json!([]));
    for bad in [
        json!({ "from": day }),
        json!({ "first": 0 }),
        json!({ "first": 101 }),
        json!({ "by": "PROFIT" }),
    ] {
        env.gql(top, bad).await.only_error("BAD_USER_INPUT");
    }
    env.finish().await;
}

const PROJECTIONS: &str = "{ projections { name version builtVersion position head lag lagSeconds
    state lastError deadLetters updatedAt } }";

#[tokio::test]
async fn projections_report_position_head_and_lag() {
    let env = Stack::start().await;
    let (id, _) = env.create_order("p", "EUR", &[("A", 1, 100)]).await;
    let last = env.advance(id, &[Step::Submit]).await;
    env.settle(&last).await;
    let r = env.gql(PROJECTIONS, json!({})).await;
    let list = r.data()["projections"].as_array().unwrap().clone();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "orders",
            "order_items",
            "customer_stats",
            "daily_sales",
            "product_sales",
            "stock_levels"
        ]
    );
    for p in &list {
        assert_eq!(p["position"], last, "{p}");
        assert_eq!(p["head"], last, "{p}");
        assert_eq!(p["lag"], 0, "{p}");
        assert_eq!(p["lagSeconds"], 0.0, "{p}");
        assert_eq!(p["state"], "running");
        assert_eq!(p["version"], p["builtVersion"]);
        assert_eq!(p["lastError"], Value::Null);
        assert_eq!(p["deadLetters"], 0);
        assert!(p["updatedAt"].is_string());
    }
    env.finish().await;

    // Without the event store's URL: no head or lag, the rest the same.
    let env = Stack::start_with(|c| c.store_status = false).await;
    let (_, last) = env
        .create_order(&Uuid::now_v7().to_string(), "EUR", &[("A", 1, 100)])
        .await;
    env.settle(&last).await;
    let r = env.gql(PROJECTIONS, json!({})).await;
    for p in r.data()["projections"].as_array().unwrap() {
        assert_eq!(p["position"], last, "{p}");
        assert_eq!(p["head"], Value::Null);
        assert_eq!(p["lag"], Value::Null);
        assert_eq!(p["lagSeconds"], Value::Null);
        assert_eq!(p["state"], "running");
        assert_eq!(p["deadLetters"], 0);
    }
    env.finish().await;
}
