//! Every command endpoint on its happy path, and the read endpoints.

use orderflow_auth::Role;
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;

use crate::app::{TestApp, address, money};

#[tokio::test]
async fn channel_defaults_to_unknown() {
    let app = TestApp::start().await;
    let mut body = crate::app::new_order();
    body.as_object_mut().unwrap().remove("channel");
    let r = app.post("/orders", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let history = app.get(&format!("/orders/{id}/events")).await;
    assert_eq!(history.body["events"][0]["data"]["channel"], "unknown");
}

/// An order stored before `OrderCreated` v2 (raw v1 JSON, schema version
/// 1): the handler folds it and decides on it, and the history shows the
/// newest shape.
#[tokio::test]
async fn an_order_stored_at_v1_takes_commands_and_reads_as_v2() {
    let app = TestApp::start().await;
    let id = uuid::Uuid::now_v7();
    let v1 = |event_type: &str, payload: serde_json::Value| NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: EventMetadata::default(),
    };
    app.store
        .append(AppendRequest::new(
            StreamId::new(format!("order-{id}")).unwrap(),
            ExpectedVersion::NoStream,
            vec![
                v1(
                    "OrderCreated",
                    json!({ "order_id": id, "customer_id": "old-customer", "currency": "EUR",
                            "at": "2025-01-01T10:00:00Z" }),
                ),
                v1(
                    "ItemAdded",
                    json!({ "sku": "SKU-1", "name": "Mug", "quantity": 2,
                            "unit_price": { "amount_minor": 1250, "currency": "EUR" },
                            "at": "2025-01-01T10:01:00Z" }),
                ),
                v1(
                    "ShippingAddressSet",
                    json!({ "address": { "name": "Ada", "line1": "1 Main St", "line2": null,
                                         "city": "Berlin", "postal_code": "10115",
                                         "country": "DE" },
                            "at": "2025-01-01T10:02:00Z" }),
                ),
            ],
        ))
        .await
        .unwrap();
    let r = app.post_empty(&format!("/orders/{id}/submit")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], money(2500));
    let history = app.get(&format!("/orders/{id}/events")).await;
    let created = &history.body["events"][0];
    assert_eq!(created["schema_version"], 2, "{created}");
    assert_eq!(created["data"]["channel"], "unknown");
    assert_eq!(history.body["events"][3]["event_type"], "OrderSubmitted");
}

#[tokio::test]
async fn an_order_goes_from_draft_to_delivered_and_is_refunded() {
    let app = TestApp::start().await;
    let created = app
        .send(
            app.client
                .post(app.url("/orders"))
                .header("x-correlation-id", "corr-happy-1")
                .header("x-actor", "clerk-7")
                .json(&crate::app::new_order()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), Some(format!("/orders/{id}")));
    assert_eq!(created.etag(), "\"3\"", "created + item + address");
    assert_eq!(
        created.header("x-correlation-id").as_deref(),
        Some("corr-happy-1")
    );
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.body["total"], money(2500));
    let mut last_position: orderflow_event_store::Position = created
        .header("x-orderflow-position")
        .unwrap()
        .parse()
        .unwrap();

    let steps = [
        ("submit", None, "submitted"),
        ("confirm", None, "confirmed"),
        (
            "payments",
            Some(json!({ "payment_id": "pay-1", "amount": money(2500) })),
            "paid",
        ),
        (
            "ship",
            Some(json!({ "carrier": "DHL", "tracking_number": "JD0001" })),
            "shipped",
        ),
        ("deliver", None, "delivered"),
        (
            "refunds",
            Some(json!({ "refund_id": "ref-1", "amount": money(1000), "reason": "scratched" })),
            "delivered",
        ),
    ];
    for (i, (path, body, status)) in steps.into_iter().enumerate() {
        let url = format!("/orders/{id}/{path}");
        let r = match body {
            Some(b) => app.post(&url, b).await,
            None => app.post_empty(&url).await,
        };
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body["status"], status, "{path}");
        assert_eq!(r.etag(), format!("\"{}\"", 4 + i), "{path}");
        let position = r.header("x-orderflow-position").unwrap().parse().unwrap();
        assert!(position > last_position, "positions grow");
        last_position = position;
    }

    let order = app.get(&format!("/orders/{id}")).await;
    assert_eq!(order.status, 200);
    assert_eq!(order.etag(), "\"9\"");
    assert_eq!(order.body["paid"], money(2500));
    assert_eq!(order.body["refunded"], money(1000));
    assert_eq!(order.body["carrier"], "DHL");
    assert_eq!(order.body["refund_ids"], json!(["ref-1"]));
    for t in [
        "placed_at",
        "submitted_at",
        "confirmed_at",
        "paid_at",
        "shipped_at",
        "delivered_at",
    ] {
        assert!(order.body[t].is_string(), "{t} set");
    }

    let history = app.get(&format!("/orders/{id}/events")).await;
    assert_eq!(history.status, 200);
    let events = history.body["events"].as_array().unwrap();
    let types: Vec<_> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "OrderCreated",
            "ItemAdded",
            "ShippingAddressSet",
            "OrderSubmitted",
            "OrderConfirmed",
            "PaymentRecorded",
            "OrderShipped",
            "OrderDelivered",
            "RefundIssued"
        ]
    );
    assert_eq!(events[0]["metadata"]["correlation_id"], "corr-happy-1");
    // The token's subject: `X-Actor` is ignored (see auth.rs).
    assert_eq!(events[0]["metadata"]["actor"], crate::app::DEFAULT_CUSTOMER);
    assert_eq!(events[0]["schema_version"], 2);
    assert_eq!(events[0]["data"]["channel"], "web");
    assert_eq!(events[1]["data"]["sku"], "SKU-1");
    assert_eq!(events[8]["stream_version"], 9);
}

#[tokio::test]
async fn items_and_address_can_be_changed_while_draft() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "/orders",
            json!({ "customer_id": "c-2", "currency": "EUR" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["items"], json!([]));

    let add = |sku: &str, qty: i64, price: i64| json!({ "sku": sku, "name": "Mug", "quantity": qty, "unit_price": money(price) });
    let r = app
        .post(&format!("/orders/{id}/items"), add("MUG-1", 1, 800))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The same sku again adds to its quantity.
    let r = app
        .post(&format!("/orders/{id}/items"), add("MUG-1", 2, 800))
        .await;
    assert_eq!(r.body["items"][0]["quantity"], 3);
    assert_eq!(r.body["total"], money(2400));
    // At another price it is refused.
    let r = app
        .post(&format!("/orders/{id}/items"), add("MUG-1", 1, 900))
        .await;
    r.assert_problem(409, "item.price_mismatch");

    let r = app
        .post(&format!("/orders/{id}/items"), add("TEA-1", 4, 350))
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = app
        .send(
            app.client
                .patch(app.url(&format!("/orders/{id}/items/MUG-1")))
                .json(&json!({ "quantity": 5 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"][0]["quantity"], 5);
    let r = app
        .send(
            app.client
                .delete(app.url(&format!("/orders/{id}/items/TEA-1"))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["total"], money(4000));

    // Submitting needs an address.
    app.post_empty(&format!("/orders/{id}/submit"))
        .await
        .assert_problem(409, "order.missing_shipping_address");
    let r = app
        .send(
            app.client
                .put(app.url(&format!("/orders/{id}/shipping-address")))
                .json(&address()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["shipping_address"]["city"], "London");
    let r = app.post_empty(&format!("/orders/{id}/submit")).await;
    assert_eq!(r.body["status"], "submitted");
    // No more item changes after submission.
    app.post(&format!("/orders/{id}/items"), add("MUG-2", 1, 100))
        .await
        .assert_problem(409, "order.not_draft");
}

#[tokio::test]
async fn rejection_and_cancellation_record_their_reasons() {
    let app = TestApp::start().await;
    let rejected = app.create_order().await;
    app.post_empty(&format!("/orders/{rejected}/submit")).await;
    let r = app
        .post(
            &format!("/orders/{rejected}/reject"),
            json!({ "reason": "out of stock" }),
        )
        .await;
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(r.body["rejection_reason"], "out of stock");

    let paid = app.create_order().await;
    for step in ["submit", "confirm"] {
        app.post_empty(&format!("/orders/{paid}/{step}")).await;
    }
    app.post(
        &format!("/orders/{paid}/payments"),
        json!({ "payment_id": "p", "amount": money(2500) }),
    )
    .await;
    let r = app
        .post(
            &format!("/orders/{paid}/cancel"),
            json!({ "reason": "changed mind" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["refund_owed"], money(2500));
    // Cancelled is terminal: only refunds are still possible.
    app.post_empty(&format!("/orders/{paid}/confirm"))
        .await
        .assert_problem(409, "order.invalid_transition");
    let r = app
        .post(
            &format!("/orders/{paid}/refunds"),
            json!({ "refund_id": "r1", "amount": money(2500), "reason": "cancelled" }),
        )
        .await;
    assert_eq!(r.body["refund_owed"], money(0));
    app.post(
        &format!("/orders/{paid}/refunds"),
        json!({ "refund_id": "r2", "amount": money(1), "reason": "again" }),
    )
    .await
    .assert_problem(409, "refund.exceeds_paid");
}

#[tokio::test]
async fn correlation_ids_are_echoed_or_generated_and_health_answers() {
    let app = TestApp::start().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("x-correlation-id").is_some(),
        "generated when absent"
    );
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .send(
            app.client
                .get(app.url("/healthz"))
                .header("x-correlation-id", "bad id with spaces"),
        )
        .await;
    assert_ne!(
        r.header("x-correlation-id").as_deref(),
        Some("bad id with spaces")
    );

    let id = app.create_order().await;
    app.get(&format!("/orders/{id}")).await;
    let metrics = app
        .send(
            app.client
                .get(app.url("/metrics"))
                .bearer_auth(app.auth.token("ops", &[Role::Operator])),
        )
        .await
        .body
        .as_str()
        .unwrap()
        .to_owned();
    for series in [
        "orderflow_http_requests_total",
        "orderflow_http_request_duration_seconds_bucket",
        "orderflow_commands_total",
        "orderflow_events_appended_total",
        "orderflow_store_batch_size",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    assert!(
        metrics.contains("route=\"/orders/{id}\""),
        "routes are templates"
    );
}
