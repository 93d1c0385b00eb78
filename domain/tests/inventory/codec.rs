//! The stored form of inventory events and the stream naming.

use orderflow_domain::inventory::{
    EVENT_TYPES, SCHEMA_VERSIONS, current_schema_version, payload_schema,
};
use orderflow_domain::{EventDecodeError, InventoryCommand, InventoryEvent, PRODUCT_CATEGORY, Sku};
use serde_json::json;

use crate::support::*;

fn every_event() -> Vec<InventoryEvent> {
    vec![
        received(5, t(0)),
        adjusted(3, -2, "stocktake", t(1)),
        reserved(1, 2, t(2)),
        released(1, 2, t(3)),
        committed(2, 1, t(4)),
    ]
}

#[test]
fn every_type_round_trips_through_its_payload() {
    let events = every_event();
    let types: Vec<&str> = events.iter().map(InventoryEvent::event_type).collect();
    assert_eq!(types, EVENT_TYPES);
    for e in events {
        let back = InventoryEvent::from_payload(e.event_type(), e.schema_version(), e.payload());
        assert_eq!(back.as_ref(), Ok(&e));
    }
}

#[test]
fn payloads_are_plain_untagged_json() {
    assert_eq!(
        reserved(1, 2, t(2)).payload(),
        json!({
            "order_id": order(1).to_string(),
            "quantity": 2,
            "at": "2026-03-01T12:02:00Z"
        })
    );
    assert_eq!(
        adjusted(3, -2, "stocktake", t(1)).payload(),
        json!({ "on_hand": 3, "delta": -2, "reason": "stocktake", "at": "2026-03-01T12:01:00Z" })
    );
}

#[test]
fn unknown_types_versions_and_bad_payloads_are_told_apart() {
    assert_eq!(
        InventoryEvent::from_payload("OrderCreated", 1, json!({})),
        Err(EventDecodeError::UnknownEventType("OrderCreated".into()))
    );
    assert_eq!(
        InventoryEvent::from_payload("StockReceived", 2, json!({})),
        Err(EventDecodeError::UnsupportedSchemaVersion {
            event_type: "StockReceived".into(),
            schema_version: 2
        })
    );
    for bad in [
        json!({ "quantity": -1, "at": "2026-03-01T12:00:00Z" }),
        json!({ "quantity": 1 }),
        json!(null),
    ] {
        let err = InventoryEvent::from_payload("StockReceived", 1, bad);
        assert!(
            matches!(err, Err(EventDecodeError::BadPayload { .. })),
            "{err:?}"
        );
    }
}

#[test]
fn every_type_has_a_schema_at_its_version_only() {
    assert_eq!(SCHEMA_VERSIONS.len(), EVENT_TYPES.len());
    for t in EVENT_TYPES {
        let v = current_schema_version(t).unwrap();
        assert!(payload_schema(t, v).is_some(), "{t}");
        assert!(payload_schema(t, v + 1).is_none(), "{t}");
    }
    assert!(payload_schema("OrderCreated", 2).is_none());
    assert_eq!(current_schema_version("OrderCreated"), None);
}

#[test]
fn inventory_and_order_event_types_never_share_a_name() {
    for t in EVENT_TYPES {
        assert!(!orderflow_domain::EVENT_TYPES.contains(t), "{t}");
    }
}

#[test]
fn commands_are_tagged_by_name() {
    let c = reserve(1, 2);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["type"], "Reserve");
    assert_eq!(json["type"], c.name());
    assert_eq!(serde_json::from_value::<InventoryCommand>(json).unwrap(), c);
    let names: Vec<&str> = [
        receive(1),
        adjust(1, "x"),
        reserve(1, 1),
        release(1),
        commit(1),
    ]
    .iter()
    .map(InventoryCommand::name)
    .collect();
    assert_eq!(names, orderflow_domain::inventory::COMMAND_NAMES);
}

#[test]
fn a_sku_names_its_stream_in_the_product_category() {
    let sku = Sku::new("TEE-RED-XL").unwrap();
    assert_eq!(sku.stream_id(), "product-TEE-RED-XL");
    // The category is the part before the first '-', whatever the sku holds.
    assert_eq!(sku.stream_id().split('-').next(), Some(PRODUCT_CATEGORY));
    assert_eq!(Sku::from_stream_id("product-TEE-RED-XL").unwrap(), sku);
}
