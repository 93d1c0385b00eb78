//! Batch loading: the statements a request costs do not grow with the
//! number of orders it shows.

use serde_json::json;
use uuid::Uuid;

use crate::support::{Stack, path_to};

const PAGE: &str = "query($n: Int) { orders(first: $n) { nodes {
    id total { amountMinor formatted }
    items { sku quantity unitPrice { amountMinor } lineTotal { formatted } }
    customer { id stats { orderCount byStatus { count } lifetimeValue { currency net { amountMinor } } } }
} } }";

#[tokio::test]
async fn a_page_of_orders_with_their_items_costs_constant_statements() {
    let env = Stack::start().await;
    let mut ids = Vec::new();
    let mut last = String::new();
    for i in 0..100 {
        let skus: Vec<(String, u32, i64)> = (0..1 + i % 3)
            .map(|k| (format!("SKU-{k}"), 1 + k as u32, 100 * (k as i64 + 1)))
            .collect();
        let lines: Vec<(&str, u32, i64)> =
            skus.iter().map(|(s, q, p)| (s.as_str(), *q, *p)).collect();
        let (id, p) = env
            .create_order(&format!("cust-{}", i % 10), "EUR", &lines)
            .await;
        last = p;
        if i % 10 == 0 {
            last = env.advance(id, &path_to("paid")).await;
        }
        ids.push(id);
    }
    env.settle(&last).await;

    let mut costs = Vec::new();
    for n in [1, 10, 100] {
        let before = env.api.db().statements();
        let r = env.gql(PAGE, json!({ "n": n })).await;
        let nodes = r.data()["orders"]["nodes"].as_array().unwrap().clone();
        assert_eq!(nodes.len(), n);
        assert!(
            nodes
                .iter()
                .all(|o| !o["items"].as_array().unwrap().is_empty())
        );
        costs.push(env.api.db().statements() - before);
    }
    // Page, items, customer stats, lifetime values: one statement each.
    assert_eq!(costs, [4, 4, 4], "statements for 1, 10 and 100 orders");

    // Aliased lookups by id are batched too.
    let query = format!(
        "{{ {} }}",
        ids.iter()
            .take(50)
            .enumerate()
            .map(|(i, id)| format!("o{i}: order(id: \"{id}\") {{ id items {{ sku }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let before = env.api.db().statements();
    let r = env.gql(&query, json!({})).await;
    assert_eq!(r.data()["o49"]["id"], ids[49].to_string());
    assert_eq!(env.api.db().statements() - before, 2);

    // totalCount is one more, only when asked for.
    let before = env.api.db().statements();
    let r = env
        .gql(
            "{ orders(first: 100) { totalCount nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["orders"]["totalCount"], 100);
    assert_eq!(env.api.db().statements() - before, 2);

    // An unknown id among known ones: null for it alone.
    let r = env
        .gql(
            "query($a: UUID!, $b: UUID!) { a: order(id: $a) { id } b: order(id: $b) { id } }",
            json!({ "a": ids[0], "b": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(r.data()["a"]["id"], ids[0].to_string());
    assert_eq!(r.data()["b"], serde_json::Value::Null);
    env.finish().await;
}
