//! The stored form of events, and the JSON of commands.

use orderflow_domain::{
    EVENT_TYPES, EventDecodeError, ItemQuantityChanged, ItemRemoved, OrderCancelled, OrderCommand,
    OrderConfirmed, OrderDelivered, OrderEvent, OrderRejected, OrderShipped, OrderSubmitted,
    PaymentRecorded, current_schema_version, payload_schema,
};
use serde_json::json;

use crate::support::*;

/// One event of every type, in [`EVENT_TYPES`] order.
pub fn one_of_each() -> Vec<OrderEvent> {
    vec![
        created_at(t(0)),
        item_added_at("A", 2, eur(150), t(1)),
        ItemQuantityChanged {
            sku: sku("A"),
            quantity: 3,
            at: t(2),
        }
        .into(),
        ItemRemoved {
            sku: sku("A"),
            at: t(3),
        }
        .into(),
        address_set_at(other_address(), t(4)),
        OrderSubmitted {
            total: eur(450),
            at: t(5),
        }
        .into(),
        OrderConfirmed { at: t(6) }.into(),
        OrderRejected {
            reason: "no".into(),
            at: t(7),
        }
        .into(),
        PaymentRecorded {
            payment_id: payment_id("pay-1"),
            amount: eur(450),
            at: t(8),
        }
        .into(),
        OrderShipped {
            carrier: "DHL".into(),
            tracking_number: "JJD1".into(),
            at: t(9),
        }
        .into(),
        OrderDelivered { at: t(10) }.into(),
        OrderCancelled {
            reason: "late".into(),
            refund_owed: Some(eur(450)),
            at: t(11),
        }
        .into(),
        refund_issued("r1", eur(50), t(12)),
    ]
}

#[test]
fn event_types_are_the_variant_names_in_order() {
    let types: Vec<_> = one_of_each().iter().map(OrderEvent::event_type).collect();
    assert_eq!(types, EVENT_TYPES);
    assert_eq!(OrderEvent::EVENT_TYPES, EVENT_TYPES);
}

#[test]
fn every_event_round_trips_through_its_payload() {
    for event in one_of_each() {
        assert_eq!(
            Some(event.schema_version()),
            current_schema_version(event.event_type())
        );
        // Through text too, as the store keeps it.
        let text = serde_json::to_string(&event.payload()).unwrap();
        let payload = serde_json::from_str(&text).unwrap();
        let back = OrderEvent::from_payload(event.event_type(), event.schema_version(), payload);
        assert_eq!(back, Ok(event));
    }
}

#[test]
fn payload_is_the_bare_struct_with_snake_case_fields() {
    assert_eq!(
        created_at(t(0)).payload(),
        json!({
            "order_id": "01956f4a-1c00-7000-8000-000000000001",
            "customer_id": "cust-1",
            "currency": "EUR",
            "channel": "unknown",
            "at": "2025-03-01T12:00:00Z",
        })
    );
    assert_eq!(
        item_added_at("A", 2, eur(150), t(1)).payload(),
        json!({
            "sku": "A",
            "name": "Item A",
            "quantity": 2,
            "unit_price": {"amount_minor": 150, "currency": "EUR"},
            "at": "2025-03-01T12:01:00Z",
        })
    );
    let cancelled: OrderEvent = OrderCancelled {
        reason: "late".into(),
        refund_owed: None,
        at: t(0),
    }
    .into();
    assert_eq!(
        cancelled.payload(),
        json!({"reason": "late", "refund_owed": null, "at": "2025-03-01T12:00:00Z"})
    );
    assert_eq!(
        address_set_at(address(), t(0)).payload()["address"],
        json!({
            "name": "Ada Lovelace",
            "line1": "Hauptstraße 1",
            "line2": null,
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        })
    );
}

#[test]
fn unknown_event_type_is_its_own_error() {
    assert_eq!(
        OrderEvent::from_payload("OrderTeleported", 1, json!({})),
        Err(EventDecodeError::UnknownEventType("OrderTeleported".into()))
    );
    assert_eq!(current_schema_version("OrderTeleported"), None);
}

#[test]
fn unsupported_version_is_its_own_error() {
    let payload = OrderConfirmed { at: t(0) };
    let payload = serde_json::to_value(payload).unwrap();
    for version in [0, 2] {
        assert_eq!(
            OrderEvent::from_payload("OrderConfirmed", version, payload.clone()),
            Err(EventDecodeError::UnsupportedSchemaVersion {
                event_type: "OrderConfirmed".into(),
                schema_version: version
            })
        );
    }
    // A version newer than the code: a newer writer, not a corrupt row.
    assert_eq!(
        OrderEvent::from_payload("OrderCreated", 3, created_at(t(0)).payload()),
        Err(EventDecodeError::UnsupportedSchemaVersion {
            event_type: "OrderCreated".into(),
            schema_version: 3
        })
    );
}

#[test]
fn malformed_payloads_are_bad_payload_errors() {
    let mut bad_sku = item_added_at("A", 1, eur(1), t(0)).payload();
    bad_sku["sku"] = json!("not a sku");
    let mut bad_currency = created_at(t(0)).payload();
    bad_currency["currency"] = json!("euro");
    let cases = [
        ("OrderConfirmed", json!({})),
        ("OrderConfirmed", json!(null)),
        ("OrderConfirmed", json!({"at": "yesterday"})),
        ("ItemAdded", bad_sku),
        ("OrderCreated", bad_currency),
    ];
    for (event_type, payload) in cases {
        let err = OrderEvent::from_payload(event_type, 1, payload).unwrap_err();
        assert!(
            matches!(&err, EventDecodeError::BadPayload { event_type: t, schema_version: 1, .. } if t == event_type),
            "{err:?}"
        );
    }
}

#[test]
fn every_event_type_has_a_payload_schema() {
    for event_type in EVENT_TYPES {
        let current = current_schema_version(event_type).unwrap();
        for version in 1..=current {
            let schema = payload_schema(event_type, version);
            assert!(schema.is_some(), "{event_type} v{version}");
        }
        assert!(payload_schema(event_type, current + 1).is_none());
        assert!(payload_schema(event_type, 0).is_none());
    }
    assert!(payload_schema("Nope", 1).is_none());
    let created = serde_json::to_value(payload_schema("OrderCreated", 1).unwrap()).unwrap();
    assert_eq!(created["title"], "OrderCreated");
    assert_eq!(created["$defs"]["Currency"]["pattern"], "^[A-Z]{3}$");
    let required = created["required"].as_array().unwrap();
    for field in ["order_id", "customer_id", "currency", "at"] {
        assert!(required.contains(&json!(field)), "{field}");
    }
    assert!(
        created["properties"].get("channel").is_none(),
        "v1 has no channel"
    );
    let v2 = serde_json::to_value(payload_schema("OrderCreated", 2).unwrap()).unwrap();
    assert!(
        v2["required"]
            .as_array()
            .unwrap()
            .contains(&json!("channel"))
    );
    assert_eq!(
        v2["$defs"]["Channel"]["enum"],
        json!(["web", "mobile", "api", "unknown"])
    );
}

#[test]
fn commands_are_tagged_json() {
    let command: OrderCommand = serde_json::from_value(json!({"type": "SubmitOrder"})).unwrap();
    assert_eq!(command, OrderCommand::SubmitOrder);

    let add = add_cmd("A", 2, eur(150));
    let json = serde_json::to_value(&add).unwrap();
    assert_eq!(json["type"], "AddItem");
    assert_eq!(serde_json::from_value::<OrderCommand>(json).unwrap(), add);

    // Items and address may be left out when creating.
    let create: OrderCommand = serde_json::from_value(json!({
        "type": "CreateOrder",
        "order_id": "01956f4a-1c00-7000-8000-000000000001",
        "customer_id": "cust-1",
        "currency": "EUR",
    }))
    .unwrap();
    assert_eq!(create, create_cmd(vec![], None));

    // Ids are validated while deserializing.
    let bad = serde_json::from_value::<OrderCommand>(json!({"type": "RemoveItem", "sku": ""}));
    assert!(bad.is_err());
}
