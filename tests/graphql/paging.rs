//! Relay paging with keyset cursors: forwards and backwards, with orders
//! arriving between pages, every sort, and bad paging arguments.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Stack, Step};

const PAGE: &str = "query($f: OrderFilter, $o: OrderOrderBy, $first: Int, $after: String,
                          $last: Int, $before: String) {
    orders(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
        totalCount
        edges { cursor node { id total { amountMinor } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } }";

struct Page {
    ids: Vec<Uuid>,
    totals: Vec<i64>,
    info: Value,
    total_count: i64,
}

async fn page(env: &Stack, vars: Value) -> Page {
    let r = env.gql(PAGE, vars).await;
    let c = r.data()["orders"].clone();
    let edges = c["edges"].as_array().unwrap();
    Page {
        ids: edges
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
            .collect(),
        totals: edges
            .iter()
            .map(|e| e["node"]["total"]["amountMinor"].as_i64().unwrap())
            .collect(),
        info: c["pageInfo"].clone(),
        total_count: c["totalCount"].as_i64().unwrap(),
    }
}

fn flags(p: &Page) -> (bool, bool) {
    (
        p.info["hasPreviousPage"].as_bool().unwrap(),
        p.info["hasNextPage"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn pages_forwards_and_backwards_while_orders_arrive() {
    let env = Stack::start().await;
    let f = json!({ "customerId": "pager" });
    let mut o = Vec::new(); // oldest first: A..G
    let mut last = String::new();
    for _ in 0..7 {
        let (id, p) = env.create_order("pager", "EUR", &[("SKU-P", 1, 100)]).await;
        o.push(id);
        last = p;
    }
    env.settle(&last).await;
    let rev = |idx: &[usize]| idx.iter().map(|i| o[*i]).collect::<Vec<_>>();

    // Newest first by default.
    let p1 = page(&env, json!({ "f": f, "first": 3 })).await;
    assert_eq!(p1.ids, rev(&[6, 5, 4]));
    assert_eq!(flags(&p1), (false, true));
    assert_eq!(p1.total_count, 7);

    // Two newer orders arrive; they sort before the first page.
    let (h, _) = env.create_order("pager", "EUR", &[("SKU-P", 1, 100)]).await;
    let (i, p) = env.create_order("pager", "EUR", &[("SKU-P", 1, 100)]).await;
    env.settle(&p).await;

    let p2 = page(
        &env,
        json!({ "f": f, "first": 3, "after": p1.info["endCursor"] }),
    )
    .await;
    assert_eq!(p2.ids, rev(&[3, 2, 1]), "no order skipped or repeated");
    assert_eq!(flags(&p2), (true, true));
    assert_eq!(p2.total_count, 9);
    let p3 = page(
        &env,
        json!({ "f": f, "first": 3, "after": p2.info["endCursor"] }),
    )
    .await;
    assert_eq!(p3.ids, rev(&[0]));
    assert_eq!(flags(&p3), (true, false));

    // Backwards from the last page: the page before it, then everything
    // before that, new orders included.
    let b1 = page(
        &env,
        json!({ "f": f, "last": 3, "before": p3.info["startCursor"] }),
    )
    .await;
    assert_eq!(b1.ids, rev(&[3, 2, 1]));
    assert_eq!(flags(&b1), (true, true));
    assert_eq!(b1.info["startCursor"], p2.info["startCursor"]);
    let b2 = page(
        &env,
        json!({ "f": f, "last": 10, "before": b1.info["startCursor"] }),
    )
    .await;
    let mut expected = vec![i, h];
    expected.extend(rev(&[6, 5, 4]));
    assert_eq!(b2.ids, expected);
    assert_eq!(flags(&b2), (false, true));
    // The last two without a cursor.
    let tail = page(&env, json!({ "f": f, "last": 2 })).await;
    assert_eq!(tail.ids, rev(&[1, 0]));
    assert_eq!(flags(&tail), (true, false));
    // Between two cursors.
    let mid = page(
        &env,
        json!({ "f": f, "first": 10, "after": p1.info["startCursor"], "before": p3.info["startCursor"] }),
    )
    .await;
    assert_eq!(mid.ids, rev(&[5, 4, 3, 2, 1]));
    // Oldest first.
    let asc = page(
        &env,
        json!({ "f": f, "first": 4, "o": { "field": "PLACED_AT", "direction": "ASC" } }),
    )
    .await;
    assert_eq!(asc.ids, rev(&[0, 1, 2, 3]));
    // An empty page.
    let none = page(&env, json!({ "f": f, "first": 0 })).await;
    assert!(none.ids.is_empty() && none.info["endCursor"].is_null());
    env.finish().await;
}

#[tokio::test]
async fn sorts_by_total_with_ties_and_by_update_time() {
    let env = Stack::start().await;
    let f = json!({ "customerId": "sorter" });
    let mut all = Vec::new();
    let mut last = String::new();
    for price in [500, 500, 100, 500, 900, 100, 700] {
        let (id, p) = env
            .create_order("sorter", "EUR", &[("SKU-S", 1, price)])
            .await;
        all.push((price, id));
        last = p;
    }
    env.settle(&last).await;

    for (dir, desc) in [("ASC", false), ("DESC", true)] {
        let mut expected = all.clone();
        expected.sort();
        if desc {
            expected.reverse();
        }
        // Two at a time, forwards.
        let order_by = json!({ "field": "TOTAL", "direction": dir });
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let p = page(
                &env,
                json!({ "f": f, "o": order_by, "first": 2, "after": after }),
            )
            .await;
            seen.extend(p.totals.iter().copied().zip(p.ids.iter().copied()));
            if !flags(&p).1 {
                break;
            }
            after = p.info["endCursor"].clone();
        }
        assert_eq!(seen, expected, "TOTAL {dir}");
        // And backwards.
        let mut seen = Vec::new();
        let mut before = Value::Null;
        loop {
            let p = page(
                &env,
                json!({ "f": f, "o": order_by, "last": 3, "before": before }),
            )
            .await;
            let mut chunk: Vec<_> = p
                .totals
                .iter()
                .copied()
                .zip(p.ids.iter().copied())
                .collect();
            chunk.extend(seen);
            seen = chunk;
            if !flags(&p).0 {
                break;
            }
            before = p.info["startCursor"].clone();
        }
        assert_eq!(seen, expected, "TOTAL {dir} backwards");
    }

    // Submitting an order makes it the most recently updated.
    let (_, first_id) = all[0];
    let p = env.advance(first_id, &[Step::Submit]).await;
    env.settle(&p).await;
    let top = page(
        &env,
        json!({ "f": f, "first": 1, "o": { "field": "UPDATED_AT", "direction": "DESC" } }),
    )
    .await;
    assert_eq!(top.ids, [first_id]);
    env.finish().await;
}

#[tokio::test]
async fn bad_paging_arguments_are_refused() {
    let env = Stack::start().await;
    let (_, p) = env.create_order("c", "EUR", &[("SKU", 1, 100)]).await;
    env.settle(&p).await;
    let p = page(&env, json!({ "first": 1 })).await;
    let cursor = p.info["endCursor"].clone();

    let refused = [
        json!({ "first": 1, "last": 1 }),
        json!({ "first": 101 }),
        json!({ "last": 101 }),
        json!({ "first": -1 }),
        json!({ "first": 1, "after": "not-a-cursor" }),
        json!({ "first": 1, "after": "djE6cDoxOjE" }),
        // A placed-at cursor on a list sorted by total.
        json!({ "first": 1, "after": cursor, "o": { "field": "TOTAL" } }),
        json!({ "first": 1, "f": { "sku": "x".repeat(300) } }),
        json!({ "first": 1, "f": { "status": "LOST" } }),
        json!({ "first": 1, "f": { "minTotal": "12abc" } }),
        json!({ "first": 1, "f": { "placedFrom": "yesterday" } }),
    ];
    let before = env.api.db().statements();
    for vars in refused {
        let r = env.gql(PAGE, vars.clone()).await;
        r.only_error("BAD_USER_INPUT");
        assert_eq!(r.body["data"], Value::Null, "{vars}");
    }
    assert_eq!(
        env.api.db().statements(),
        before,
        "refused before touching the database"
    );
    env.finish().await;
}
