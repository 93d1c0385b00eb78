//! `order(id)` with every field, and every filter of `orders`.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Stack, Step, path_to};

const ORDER_FIELDS: &str = "id customerId status currency lineCount itemCount
    total { amountMinor currency formatted } paid { amountMinor currency formatted }
    refunded { amountMinor currency formatted }
    carrier trackingNumber cancellationReason rejectionReason
    placedAt submittedAt confirmedAt paidAt shippedAt deliveredAt cancelledAt rejectedAt updatedAt
    version position
    items { sku name quantity unitPrice { amountMinor currency formatted }
            lineTotal { amountMinor currency formatted } addedAt updatedAt }
    customer { id stats { orderCount } }";

fn money(amount: i64, currency: &str, formatted: &str) -> Value {
    json!({ "amountMinor": amount, "currency": currency, "formatted": formatted })
}

#[tokio::test]
async fn an_order_has_every_field() {
    let env = Stack::start().await;
    let (id, _) = env
        .create_order("cust-1", "EUR", &[("SKU-A", 2, 1250), ("SKU-B", 1, 500)])
        .await;
    let mut steps = path_to("delivered");
    steps.push(Step::Refund(1000));
    let last = env.advance(id, &steps).await;
    let (cancelled, _) = env
        .create_order("cust-1", "JPY", &[("SKU-J", 3, 700)])
        .await;
    env.advance(cancelled, &path_to("cancelled")).await;
    let (rejected, _) = env
        .create_order("cust-2", "EUR", &[("SKU-A", 1, 1250)])
        .await;
    let end = env.advance(rejected, &path_to("rejected")).await;
    env.settle(&end).await;

    let q = format!("query($id: UUID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}");
    let r = env.gql(&q, json!({ "id": id })).await;
    let o = &r.data()["order"];
    assert_eq!(o["id"], id.to_string());
    assert_eq!(o["customerId"], "cust-1");
    assert_eq!(o["status"], "DELIVERED");
    assert_eq!(o["currency"], "EUR");
    assert_eq!(o["lineCount"], 2);
    assert_eq!(o["itemCount"], 3);
    assert_eq!(o["total"], money(3000, "EUR", "30.00 EUR"));
    assert_eq!(o["paid"], money(3000, "EUR", "30.00 EUR"));
    assert_eq!(o["refunded"], money(1000, "EUR", "10.00 EUR"));
    assert_eq!(o["carrier"], "DHL");
    assert_eq!(o["trackingNumber"], format!("T-{}", id.simple()));
    assert_eq!(o["cancellationReason"], Value::Null);
    assert_eq!(o["rejectionReason"], Value::Null);
    // Timestamps follow the lifecycle.
    let times: Vec<&str> = [
        "placedAt",
        "submittedAt",
        "confirmedAt",
        "paidAt",
        "shippedAt",
        "deliveredAt",
        "updatedAt",
    ]
    .iter()
    .map(|f| o[*f].as_str().unwrap_or_else(|| panic!("{f} missing: {o}")))
    .collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> =
        times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(o["cancelledAt"], Value::Null);
    assert_eq!(o["rejectedAt"], Value::Null);
    // created + 2 items + address, then 6 steps.
    assert_eq!(o["version"], 10);
    assert_eq!(o["position"], last);
    let items = o["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["sku"], "SKU-A");
    assert_eq!(items[0]["name"], "Item SKU-A");
    assert_eq!(items[0]["quantity"], 2);
    assert_eq!(items[0]["unitPrice"], money(1250, "EUR", "12.50 EUR"));
    assert_eq!(items[0]["lineTotal"], money(2500, "EUR", "25.00 EUR"));
    assert_eq!(items[1]["sku"], "SKU-B");
    assert_eq!(items[1]["lineTotal"], money(500, "EUR", "5.00 EUR"));
    assert!(items[0]["addedAt"].is_string() && items[0]["updatedAt"].is_string());
    assert_eq!(o["customer"]["id"], "cust-1");
    assert_eq!(o["customer"]["stats"]["orderCount"], 2);

    let r = env.gql(&q, json!({ "id": cancelled })).await;
    let o = &r.data()["order"];
    assert_eq!(o["status"], "CANCELLED");
    assert_eq!(o["cancellationReason"], "changed mind");
    assert!(o["cancelledAt"].is_string());
    assert_eq!(o["total"], money(2100, "JPY", "2100 JPY"));
    assert_eq!(o["paid"], money(0, "JPY", "0 JPY"));
    assert_eq!(o["carrier"], Value::Null);
    assert_eq!(o["submittedAt"], Value::Null);

    let r = env.gql(&q, json!({ "id": rejected })).await;
    let o = &r.data()["order"];
    assert_eq!(o["status"], "REJECTED");
    assert_eq!(o["rejectionReason"], "out of stock");
    assert!(o["rejectedAt"].is_string() && o["submittedAt"].is_string());

    // Unknown id: null without an error (the GraphQL way for a missing
    // object), the rest of the query answered.
    let r = env
        .gql(
            "query($id: UUID!) { order(id: $id) { id } projections { name } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(r.data()["order"], Value::Null);
    assert_eq!(
        r.data()["projections"].as_array().unwrap().len(),
        orderflow_projections::PROJECTIONS.len()
    );
    env.finish().await;
}

async fn ids(env: &Stack, filter: Value) -> BTreeSet<Uuid> {
    let r = env
        .gql(
            "query($f: OrderFilter) { orders(filter: $f, first: 100) { totalCount nodes { id } } }",
            json!({ "f": filter }),
        )
        .await;
    let data = r.data();
    let nodes = data["orders"]["nodes"].as_array().unwrap();
    assert_eq!(data["orders"]["totalCount"], nodes.len(), "{filter}");
    nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

#[tokio::test]
async fn every_filter_narrows_the_list() {
    let env = Stack::start().await;
    // (customer, currency, lines, status)
    type Spec<'a> = (&'a str, &'a str, &'a [(&'a str, u32, i64)], &'a str);
    let specs: [Spec; 7] = [
        ("alice", "EUR", &[("SKU-A", 1, 1000)], "draft"),
        ("alice", "EUR", &[("SKU-B", 2, 1500)], "paid"),
        (
            "bob",
            "EUR",
            &[("SKU-A", 5, 1000), ("SKU-C", 1, 200)],
            "shipped",
        ),
        ("bob", "USD", &[("SKU-C", 1, 200)], "paid"),
        ("carol", "EUR", &[("SKU-D", 1, 9900)], "cancelled"),
        ("carol", "EUR", &[("SKU-A", 2, 1000)], "delivered"),
        ("dave", "USD", &[("SKU-B", 1, 1500)], "submitted"),
    ];
    let mut ids_in_order = Vec::new();
    let mut last = String::new();
    for (customer, currency, lines, status) in specs {
        let (id, p) = env.create_order(customer, currency, lines).await;
        last = p;
        let steps = path_to(status);
        if !steps.is_empty() {
            last = env.advance(id, &steps).await;
        }
        ids_in_order.push(id);
    }
    env.settle(&last).await;
    let o = &ids_in_order;

    assert_eq!(ids(&env, json!(null)).await, set(o));
    assert_eq!(
        ids(&env, json!({ "status": "PAID" })).await,
        set(&[o[1], o[3]])
    );
    assert_eq!(
        ids(&env, json!({ "status": ["PAID", "SHIPPED", "DRAFT"] })).await,
        set(&[o[0], o[1], o[2], o[3]])
    );
    assert_eq!(ids(&env, json!({ "status": [] })).await, set(&[]));
    assert_eq!(
        ids(&env, json!({ "customerId": "bob" })).await,
        set(&[o[2], o[3]])
    );
    assert_eq!(ids(&env, json!({ "customerId": "nobody" })).await, set(&[]));
    assert_eq!(
        ids(&env, json!({ "sku": "SKU-A" })).await,
        set(&[o[0], o[2], o[5]])
    );
    assert_eq!(
        ids(&env, json!({ "currency": "USD" })).await,
        set(&[o[3], o[6]])
    );
    // Totals: 1000, 3000, 5200, 200, 9900, 2000, 1500.
    assert_eq!(
        ids(&env, json!({ "minTotal": 2000, "maxTotal": 5200 })).await,
        set(&[o[1], o[2], o[5]])
    );
    assert_eq!(ids(&env, json!({ "minTotal": "9900" })).await, set(&[o[4]]));
    assert_eq!(
        ids(&env, json!({ "maxTotal": 1000 })).await,
        set(&[o[0], o[3]])
    );

    // Placed-at range: from the third order's time (inclusive) to the
    // sixth's (exclusive).
    let placed = |i: usize| {
        let env = &env;
        let id = o[i];
        async move {
            let r = env
                .gql(
                    "query($id: UUID!) { order(id: $id) { placedAt } }",
                    json!({ "id": id }),
                )
                .await;
            r.data()["order"]["placedAt"].as_str().unwrap().to_owned()
        }
    };
    let (from, to) = (placed(2).await, placed(5).await);
    assert_eq!(
        ids(&env, json!({ "placedFrom": from, "placedTo": to })).await,
        set(&[o[2], o[3], o[4]])
    );
    // Conditions combine.
    assert_eq!(
        ids(
            &env,
            json!({ "status": ["PAID", "SHIPPED", "DELIVERED"], "sku": "SKU-A", "currency": "EUR",
                    "placedFrom": from, "minTotal": 2000 })
        )
        .await,
        set(&[o[2], o[5]])
    );

    // A customer's connection is the same list with the customer fixed.
    let r = env
        .gql(
            r#"{ customer(id: "bob") { id orders(filter: { status: PAID }) { totalCount nodes { id } } } }"#,
            json!({}),
        )
        .await;
    let c = &r.data()["customer"];
    assert_eq!(c["orders"]["totalCount"], 1);
    assert_eq!(c["orders"]["nodes"][0]["id"], o[3].to_string());
    let r = env
        .gql(
            r#"{ customer(id: "bob") { orders(filter: { customerId: "alice" }) { totalCount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(r.data()["customer"]["orders"]["totalCount"], 0);
    env.finish().await;
}
