//! The domain's limits at the HTTP edge: the money ceiling and control
//! characters are 422s naming the field, never a 500; the event cap is a 409.

use orderflow_domain::limits::MAX_AMOUNT_MINOR;
use serde_json::{Value, json};

use crate::app::{TestApp, address, money, new_order};

fn fields(r: &crate::app::Resp) -> Vec<(String, String)> {
    r.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_field(r: &crate::app::Resp, field: &str, code: &str) {
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        fields(r).contains(&(field.to_owned(), code.to_owned())),
        "{field} ({code}) not named: {}",
        r.body
    );
}

async fn paid_order(app: &TestApp) -> String {
    let id = app.create_order().await;
    for step in ["submit", "confirm"] {
        let r = app.post_empty(&format!("/orders/{id}/{step}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = app
        .post(
            &format!("/orders/{id}/payments"),
            json!({ "payment_id": "p-1", "amount": money(2500) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

#[tokio::test]
async fn amounts_beyond_the_ceiling_are_422_naming_the_field() {
    let app = TestApp::start().await;
    // The price that stalled three projections: 2^62.
    let mut order = new_order();
    order["items"][0]["unit_price"] = money(1 << 62);
    let r = app.post("/orders", order).await;
    r.assert_problem(422, "validation");
    assert_field(
        &r,
        "items[0].unit_price.amount_minor",
        "money.above_ceiling",
    );

    let mut order = new_order();
    order["items"][0]["quantity"] = json!(1);
    order["items"][0]["unit_price"] = money(MAX_AMOUNT_MINOR);
    let r = app.post("/orders", order).await;
    assert_eq!(r.status, 201, "at the ceiling is fine: {}", r.body);
    let at_ceiling = r.body["id"].as_str().unwrap().to_owned();
    // One more minor unit passes the ceiling of the order's total: each amount
    // is fine alone, the order is full (409).
    let r = app
        .post(
            &format!("/orders/{at_ceiling}/items"),
            json!({ "sku": "ONE-MORE", "name": "n", "quantity": 1, "unit_price": money(1) }),
        )
        .await;
    r.assert_problem(409, "order.total_above_ceiling");

    let id = app.create_order().await;
    let r = app
        .post(
            &format!("/orders/{id}/items"),
            json!({ "sku": "BIG", "name": "n", "quantity": 1, "unit_price": money(MAX_AMOUNT_MINOR + 1) }),
        )
        .await;
    r.assert_problem(422, "money.above_ceiling");
    assert_field(&r, "unit_price.amount_minor", "money.above_ceiling");

    for step in ["submit", "confirm"] {
        assert_eq!(
            app.post_empty(&format!("/orders/{id}/{step}")).await.status,
            200
        );
    }
    let r = app
        .post(
            &format!("/orders/{id}/payments"),
            json!({ "payment_id": "p-1", "amount": money(i64::MAX) }),
        )
        .await;
    r.assert_problem(422, "money.above_ceiling");
    assert_field(&r, "amount.amount_minor", "money.above_ceiling");

    let paid = paid_order(&app).await;
    let r = app
        .post(
            &format!("/orders/{paid}/refunds"),
            json!({ "refund_id": "r-1", "amount": money(1 << 62), "reason": "r" }),
        )
        .await;
    r.assert_problem(422, "money.above_ceiling");
    assert_field(&r, "amount.amount_minor", "money.above_ceiling");
    assert_eq!(app.event_count(&paid).await, 6, "nothing appended");
}

/// Every free-text field, where it is sent, and the field the 422 names.
fn free_text_requests(bad: &str) -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let with = |mut v: Value, pointer: &str| {
        *v.pointer_mut(pointer).unwrap() = json!(bad);
        v
    };
    let mut addr_line2 = address();
    addr_line2["line2"] = json!("ok");
    vec![
        (
            "create",
            "/orders",
            with(new_order(), "/customer_id"),
            "customer_id",
        ),
        (
            "create",
            "/orders",
            with(new_order(), "/items/0/sku"),
            "items[0].sku",
        ),
        (
            "create",
            "/orders",
            with(new_order(), "/items/0/name"),
            "items[0].name",
        ),
        (
            "create",
            "/orders",
            with(new_order(), "/shipping_address/city"),
            "shipping_address.city",
        ),
        (
            "draft",
            "/items",
            json!({ "sku": "S-2", "name": bad, "quantity": 1, "unit_price": money(1) }),
            "name",
        ),
        (
            "draft",
            "/shipping-address",
            with(address(), "/name"),
            "shipping_address.name",
        ),
        (
            "draft",
            "/shipping-address",
            with(address(), "/line1"),
            "shipping_address.line1",
        ),
        (
            "draft",
            "/shipping-address",
            with(addr_line2, "/line2"),
            "shipping_address.line2",
        ),
        (
            "draft",
            "/shipping-address",
            with(address(), "/postal_code"),
            "shipping_address.postal_code",
        ),
        ("draft", "/cancel", json!({ "reason": bad }), "reason"),
        ("submitted", "/reject", json!({ "reason": bad }), "reason"),
        (
            "confirmed",
            "/payments",
            json!({ "payment_id": bad, "amount": money(2500) }),
            "payment_id",
        ),
        (
            "paid",
            "/ship",
            json!({ "carrier": bad, "tracking_number": "1Z" }),
            "carrier",
        ),
        (
            "paid",
            "/ship",
            json!({ "carrier": "UPS", "tracking_number": bad }),
            "tracking_number",
        ),
        (
            "paid",
            "/refunds",
            json!({ "refund_id": bad, "amount": money(1), "reason": "r" }),
            "refund_id",
        ),
        (
            "paid",
            "/refunds",
            json!({ "refund_id": "r-1", "amount": money(1), "reason": bad }),
            "reason",
        ),
    ]
}

/// A NUL used to reach Postgres, which refuses it in jsonb: a 500 for the
/// request and for every other request in its group-commit batch.
#[tokio::test]
async fn control_characters_in_free_text_are_422_naming_the_field() {
    let app = TestApp::start().await;
    let draft = app.create_order().await;
    let submitted = app.create_order().await;
    app.post_empty(&format!("/orders/{submitted}/submit")).await;
    let confirmed = app.create_order().await;
    for step in ["submit", "confirm"] {
        app.post_empty(&format!("/orders/{confirmed}/{step}")).await;
    }
    let paid = paid_order(&app).await;
    for bad in ["x\u{0}y", "x\u{1b}[2Jy", "x\u{7f}"] {
        for (target, path, body, field) in free_text_requests(bad) {
            let url = match target {
                "create" => path.to_owned(),
                "draft" => format!("/orders/{draft}{path}"),
                "submitted" => format!("/orders/{submitted}{path}"),
                "confirmed" => format!("/orders/{confirmed}{path}"),
                _ => format!("/orders/{paid}{path}"),
            };
            let request = if path == "/shipping-address" {
                app.client.put(app.url(&url)).json(&body)
            } else {
                app.client.post(app.url(&url)).json(&body)
            };
            let r = app.send(request).await;
            assert_eq!(r.status, 422, "{bad:?} in {field} via {url}: {}", r.body);
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/problem+json")
            );
            assert!(
                fields(&r).iter().any(|(f, _)| f == field),
                "{bad:?}: {field} not named: {}",
                r.body
            );
        }
    }
    for (id, events) in [(&draft, 3), (&submitted, 4), (&confirmed, 5), (&paid, 6)] {
        assert_eq!(
            app.event_count(id).await,
            events,
            "nothing appended to {id}"
        );
    }
    // Reasons may span lines.
    let r = app
        .post(
            &format!("/orders/{draft}/cancel"),
            json!({ "reason": "line one\nline two" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Appends `count` quantity changes to a draft made by `create_order`,
/// straight to the store (hundreds of requests would only slow the test).
async fn grow_draft(app: &TestApp, id: &str, count: u64) {
    use orderflow_domain::{ItemQuantityChanged, OrderEvent, Sku};
    use orderflow_event_store::{AppendRequest, EventStore, ExpectedVersion, NewEvent, StreamId};

    let current = app.event_count(id).await as u64;
    let events = (0..count)
        .map(|i| {
            let event: OrderEvent = ItemQuantityChanged {
                sku: Sku::new("SKU-1").unwrap(),
                quantity: 1 + (i % 3) as u32,
                at: chrono::Utc::now(),
            }
            .into();
            NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload: event.payload(),
                metadata: Default::default(),
            }
        })
        .collect();
    app.store
        .append(AppendRequest::new(
            StreamId::new(format!("order-{id}")).unwrap(),
            ExpectedVersion::Exact(current),
            events,
        ))
        .await
        .unwrap();
}

/// Follows `Link: rel="next"` from `first`; returns every stream version
/// seen, in order, and the number of pages.
async fn walk(app: &TestApp, first: &str) -> (Vec<u64>, usize) {
    let mut versions = Vec::new();
    let mut pages = 0;
    let mut next = Some(first.to_owned());
    while let Some(url) = next {
        let r = app.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        pages += 1;
        let events = r.body["events"].as_array().unwrap();
        assert!(
            !events.is_empty(),
            "{url}: a page with a next link has events"
        );
        versions.extend(events.iter().map(|e| e["stream_version"].as_u64().unwrap()));
        assert_eq!(r.etag(), format!("\"{}\"", r.body["version"]));
        next = r.header("link").map(|link| {
            let (target, rel) = link.split_once("; ").unwrap();
            assert_eq!(rel, "rel=\"next\"");
            target
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .unwrap()
                .to_owned()
        });
        assert!(pages <= 1_000, "paging does not end");
    }
    (versions, pages)
}

#[tokio::test]
async fn the_event_history_is_paged_and_walks_every_event_once() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    grow_draft(&app, &id, 247).await;
    let all: Vec<u64> = (1..=250).collect();

    let (versions, pages) = walk(&app, &format!("/orders/{id}/events?limit=7")).await;
    assert_eq!(versions, all);
    assert_eq!(pages, 36);
    // The default page is 100 events.
    let (versions, pages) = walk(&app, &format!("/orders/{id}/events")).await;
    assert_eq!(versions, all);
    assert_eq!(pages, 3);
    let first = app.get(&format!("/orders/{id}/events")).await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 100);
    assert_eq!(first.body["version"], 250);
    // From the middle, and past the end.
    let (versions, _) = walk(&app, &format!("/orders/{id}/events?after=240&limit=1000")).await;
    assert_eq!(versions, (241..=250).collect::<Vec<_>>());
    let r = app.get(&format!("/orders/{id}/events?after=250")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["events"], json!([]));
    assert_eq!(r.header("link"), None);

    for bad in ["limit=0", "limit=1001", "limit=x", "after=-1", "after=1.5"] {
        app.get(&format!("/orders/{id}/events?{bad}"))
            .await
            .assert_problem(400, "invalid-request");
    }
}

#[tokio::test]
async fn an_order_at_the_event_cap_refuses_commands_with_409() {
    use orderflow_domain::limits::{EVENTS_RESERVED_AFTER_DRAFT, MAX_EVENTS_PER_ORDER};

    let app = TestApp::start().await;
    let id = app.create_order().await;
    let draft_max = MAX_EVENTS_PER_ORDER - EVENTS_RESERVED_AFTER_DRAFT;
    grow_draft(&app, &id, draft_max - 3).await;
    let r = app
        .send(
            app.client
                .patch(app.url(&format!("/orders/{id}/items/SKU-1")))
                .json(&json!({ "quantity": 9 })),
        )
        .await;
    r.assert_problem(409, "order.too_many_events");
    assert_eq!(r.body["type"], "urn:orderflow:problem:business-rule");
    let r = app
        .post(
            &format!("/orders/{id}/items"),
            json!({ "sku": "S-2", "name": "n", "quantity": 1, "unit_price": money(1) }),
        )
        .await;
    r.assert_problem(409, "order.too_many_events");
    assert_eq!(app.event_count(&id).await as u64, draft_max);
    // The lifecycle still fits in the reserve.
    let r = app.post_empty(&format!("/orders/{id}/submit")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // And one page at the largest limit holds the whole history.
    let r = app.get(&format!("/orders/{id}/events?limit=1000")).await;
    assert_eq!(
        r.body["events"].as_array().unwrap().len() as u64,
        draft_max + 1
    );
    assert_eq!(r.header("link"), None);
}
