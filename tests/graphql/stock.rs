//! Stock over GraphQL: `product(sku) { stock }` and `lowStock(below:)`
//! after real inventory events (REST receipts and adjustments, the
//! fulfilment handler's reservations), read-your-writes on the
//! `stock_levels` read model, input refused at the edge, and who may read.

use orderflow_auth::Role;
use orderflow_command_api::{CommandContext, InventoryHandler};
use orderflow_domain::{InventoryCommand, OrderId, Sku};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Gql, Stack};

const PRODUCT: &str = "query($sku: String!) { product(sku: $sku) { sku stock {
    sku onHand reserved available openReservations lastChange { event at version } } } }";
const LOW: &str = "query($below: Int!, $first: Int) { lowStock(below: $below, first: $first) {
    sku available } }";

/// Receives `quantity` units of `sku` over REST; the position token.
async fn receive(stack: &Stack, sku: &str, quantity: u32) -> String {
    let r = stack
        .rest(
            &format!("/inventory/{sku}/receipts"),
            Some(json!({ "quantity": quantity })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.position.unwrap()
}

/// Reserves for a new order, as the fulfilment saga does; the position.
async fn reserve(stack: &Stack, sku: &str, quantity: u32) -> String {
    let command = InventoryCommand::Reserve {
        order_id: OrderId::new(Uuid::now_v7()),
        quantity,
    };
    let outcome = InventoryHandler::new(stack.store())
        .execute(Sku::new(sku).unwrap(), &command, &CommandContext::default())
        .await
        .unwrap();
    let orderflow_command_api::CommandOutcome::Applied { result, .. } = outcome else {
        panic!("reserve {sku} not applied");
    };
    result.position.to_string()
}

/// The `(sku, available)` pairs of a `lowStock` answer.
fn listed(r: &Gql) -> Vec<(String, i64)> {
    r.data()["lowStock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sku"].as_str().unwrap().to_owned(),
                s["available"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
}

#[tokio::test]
async fn product_stock_and_low_stock_follow_inventory_events() {
    let stack = Stack::start().await;
    let staff = stack.staff_token();

    // Read your write: the receipt's position makes the query wait for
    // stock_levels, and says so.
    let p = receive(&stack, "MUG-1", 40).await;
    let r = stack
        .send_graphql(
            Some(&staff),
            json!({ "query": PRODUCT, "variables": { "sku": "MUG-1" } }),
            &[("x-orderflow-position", p.as_str())],
        )
        .await;
    let consistency = &r.body["extensions"]["consistency"];
    assert_eq!(consistency["fresh"], true, "{}", r.body);
    assert!(
        consistency["projections"]["stock_levels"].is_string(),
        "the wait covers stock_levels: {consistency}"
    );
    let stock = &r.data()["product"]["stock"];
    assert_eq!(stock["onHand"], 40, "{stock}");
    assert_eq!(stock["available"], 40, "{stock}");
    assert_eq!(stock["lastChange"]["event"], "StockReceived");
    assert_eq!(stock["lastChange"]["version"], 1);

    reserve(&stack, "MUG-1", 3).await;
    reserve(&stack, "MUG-1", 2).await;
    let r = stack
        .rest(
            "/inventory/MUG-1/adjustments",
            Some(json!({ "on_hand": 38, "reason": "stocktake: 2 chipped" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    receive(&stack, "TEA-2", 3).await;
    receive(&stack, "PEN-3", 3).await;
    receive(&stack, "BIG-4", 500).await;
    receive(&stack, "ZED-0", 2).await;
    let p = reserve(&stack, "ZED-0", 2).await;
    stack.settle(&p).await;

    let r = stack
        .gql_as(Some(&staff), PRODUCT, json!({ "sku": "MUG-1" }))
        .await;
    let stock = &r.data()["product"]["stock"];
    assert_eq!(r.data()["product"]["sku"], "MUG-1");
    assert_eq!(
        (
            &stock["onHand"],
            &stock["reserved"],
            &stock["available"],
            &stock["openReservations"]
        ),
        (&json!(38), &json!(5), &json!(33), &json!(2)),
        "{stock}"
    );
    assert_eq!(stock["lastChange"]["event"], "StockAdjusted");
    assert_eq!(stock["lastChange"]["version"], 4);
    let at =
        chrono::DateTime::parse_from_rfc3339(stock["lastChange"]["at"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age.num_seconds().abs() < 60, "{at}");

    // Never received: a product without stock; sold out: zero available.
    let r = stack
        .gql_as(Some(&staff), PRODUCT, json!({ "sku": "NEVER-1" }))
        .await;
    assert_eq!(
        r.data()["product"],
        json!({ "sku": "NEVER-1", "stock": null })
    );
    let r = stack
        .gql_as(Some(&staff), PRODUCT, json!({ "sku": "ZED-0" }))
        .await;
    let stock = &r.data()["product"]["stock"];
    assert_eq!(
        (&stock["onHand"], &stock["available"]),
        (&json!(2), &json!(0))
    );

    // Fewest available first, ties by sku; `below` is strict; `first` cuts.
    let low = |below: i64, first: Option<i64>| {
        let stack = &stack;
        let staff = staff.clone();
        async move {
            let r = stack
                .gql_as(Some(&staff), LOW, json!({ "below": below, "first": first }))
                .await;
            listed(&r)
        }
    };
    assert_eq!(
        low(10, None).await,
        pairs(&[("ZED-0", 0), ("PEN-3", 3), ("TEA-2", 3)])
    );
    assert_eq!(low(3, None).await, pairs(&[("ZED-0", 0)]));
    assert_eq!(low(4, Some(2)).await, pairs(&[("ZED-0", 0), ("PEN-3", 3)]));
    assert_eq!(
        low(1_000_000_001, None).await,
        pairs(&[
            ("ZED-0", 0),
            ("PEN-3", 3),
            ("TEA-2", 3),
            ("MUG-1", 33),
            ("BIG-4", 500)
        ])
    );
    assert_eq!(low(1, None).await, pairs(&[("ZED-0", 0)]));

    // Several products in one request share one statement.
    let before = stack.api.db().statements();
    let r = stack
        .gql_as(
            Some(&staff),
            r#"{ a: product(sku: "MUG-1") { stock { available } }
                 b: product(sku: "TEA-2") { stock { available } }
                 c: product(sku: "NOPE") { stock { available } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(r.data()["a"]["stock"]["available"], 33);
    assert_eq!(r.data()["b"]["stock"]["available"], 3);
    assert_eq!(r.data()["c"]["stock"], Value::Null);
    assert_eq!(stack.api.db().statements() - before, 1);
    stack.finish().await;
}

#[tokio::test]
async fn stock_input_outside_the_command_api_format_is_refused() {
    let stack = Stack::start().await;
    let staff = stack.staff_token();
    let long = "A".repeat(65);
    for sku in ["", "has space", "ünï", long.as_str(), "a/b", "MUG\n1"] {
        let r = stack
            .gql_as(Some(&staff), PRODUCT, json!({ "sku": sku }))
            .await;
        assert_eq!(r.status, 200);
        let message = r.only_error("BAD_USER_INPUT");
        assert!(message.contains("sku"), "{sku:?}: {message}");
        assert_eq!(r.body["data"]["product"], Value::Null, "{sku:?}");
    }
    // The longest well-formed sku is a product.
    let r = stack
        .gql_as(Some(&staff), PRODUCT, json!({ "sku": "A".repeat(64) }))
        .await;
    assert_eq!(r.data()["product"]["stock"], Value::Null);

    for (below, first) in [
        (json!(-1), json!(null)),
        (json!(0), json!(null)),
        (json!(1_000_000_002), json!(null)),
        (json!(i64::from(i32::MAX)), json!(null)),
        // Not an Int at all: refused while coercing the variables.
        (json!(3_000_000_000_i64), json!(null)),
        (json!(1.5), json!(null)),
        (json!(10), json!(0)),
        (json!(10), json!(-5)),
        (json!(10), json!(101)),
    ] {
        let r = stack
            .gql_as(Some(&staff), LOW, json!({ "below": below, "first": first }))
            .await;
        assert_eq!(r.status, 200, "{below} {first}");
        r.only_error("BAD_USER_INPUT");
        assert_eq!(r.body["data"], Value::Null, "{below} {first}: {}", r.body);
    }
    // The edges are accepted.
    let r = stack
        .gql_as(
            Some(&staff),
            LOW,
            json!({ "below": 1_000_000_001, "first": 100 }),
        )
        .await;
    assert_eq!(r.data()["lowStock"], json!([]));
    // The service still answers.
    let r = stack
        .gql_as(Some(&staff), PRODUCT, json!({ "sku": "MUG-1" }))
        .await;
    assert_eq!(r.data()["product"]["sku"], "MUG-1");
    stack.finish().await;
}

#[tokio::test]
async fn stock_is_read_by_staff_and_operators_only() {
    let stack = Stack::start().await;
    let p = receive(&stack, "MUG-1", 5).await;
    stack.settle(&p).await;
    let both = r#"{ product(sku: "MUG-1") { stock { available } } }"#;
    let low = "{ lowStock(below: 10) { sku } }";

    // No token: the HTTP 401 problem, before anything runs.
    for doc in [both, low] {
        let r = stack.gql_as(None, doc, json!({})).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.body["type"], orderflow_auth::UNAUTHORIZED_TYPE);
    }
    for role in [Role::Staff, Role::Operator] {
        let token = stack.token(&format!("{role}-1"), &[role]);
        let r = stack.gql_as(Some(&token), both, json!({})).await;
        assert_eq!(r.data()["product"]["stock"]["available"], 5, "{role}");
        let r = stack.gql_as(Some(&token), low, json!({})).await;
        assert_eq!(r.data()["lowStock"], json!([{ "sku": "MUG-1" }]), "{role}");
    }
    for role in [Role::Customer, Role::Finance] {
        let token = stack.token("customer-a", &[role]);
        for (doc, field) in [(both, "product"), (low, "lowStock")] {
            let r = stack.gql_as(Some(&token), doc, json!({})).await;
            let message = r.only_error("FORBIDDEN");
            assert!(message.contains(field), "{role}: {message}");
            assert!(!r.body.to_string().contains("available\":5"), "{role}");
        }
    }
    stack.finish().await;
}
