//! The stored form of instance events and their registry schemas.

use orderflow_domain::fulfilment::{
    FULFILMENT_EVENT_TYPES, FulfilmentEvent, Line, OrderStep, Outcome, SCHEMA_VERSIONS,
    current_schema_version, payload_schema,
};
use serde_json::json;

use crate::support::{eur, order, sku, t};

#[test]
fn every_type_has_a_schema_at_its_version_only() {
    assert_eq!(SCHEMA_VERSIONS.len(), FULFILMENT_EVENT_TYPES.len());
    for ty in FULFILMENT_EVENT_TYPES {
        let v = current_schema_version(ty).unwrap();
        let schema = payload_schema(ty, v).unwrap_or_else(|| panic!("{ty}"));
        assert_eq!(schema.as_value()["type"], "object", "{ty}");
        assert!(payload_schema(ty, v + 1).is_none(), "{ty}");
    }
    assert!(payload_schema("OrderCreated", 1).is_none());
    assert_eq!(current_schema_version("StockReserved"), None);
}

#[test]
fn fulfilment_event_types_share_no_name_with_other_streams() {
    for ty in FULFILMENT_EVENT_TYPES {
        assert!(!orderflow_domain::EVENT_TYPES.contains(ty), "{ty}");
        assert!(
            !orderflow_domain::inventory::EVENT_TYPES.contains(ty),
            "{ty}"
        );
    }
}

/// A variant's schema is its own fields, not the enum's wrapper: the
/// properties are the payload's keys, its required ones the non-optional
/// fields, and the definitions it refers to come along.
#[test]
fn a_schema_describes_the_stored_payload() {
    let started = FulfilmentEvent::Started {
        order: order(),
        lines: vec![Line {
            sku: sku("MUG-1"),
            quantity: 2,
        }],
        at: t(0),
    };
    let schema = payload_schema("FulfilmentStarted", 1).unwrap().to_value();
    let payload = started.payload();
    let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
    let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys, props);
    assert_eq!(schema["required"], json!(["order", "lines", "at"]));
    assert_eq!(
        schema["description"],
        "The order was submitted: its lines are to be reserved."
    );
    for def in ["Line", "OrderId", "Sku"] {
        assert!(schema["$defs"][def].is_object(), "{def}: {schema}");
    }
    // Only what it refers to: no Money in a start.
    assert!(schema["$defs"].get("Money").is_none(), "{schema}");

    let refund = FulfilmentEvent::RefundRequested {
        refund_id: orderflow_domain::RefundId::new("r-1").unwrap(),
        payment_id: None,
        amount: eur(250),
        at: t(1),
    };
    let schema = payload_schema("FulfilmentRefundRequested", 1)
        .unwrap()
        .to_value();
    assert_eq!(
        schema["required"],
        json!(["refund_id", "amount", "at"]),
        "{schema}"
    );
    assert!(schema["$defs"]["Money"].is_object(), "{schema}");
    assert_eq!(refund.schema_version(), 1);

    let done = FulfilmentEvent::OrderCommandDone {
        step: OrderStep::Confirm,
        outcome: Outcome::Refused {
            reason: "order.invalid_transition".into(),
        },
        at: t(2),
    };
    let back = FulfilmentEvent::from_stored(done.event_type(), done.payload()).unwrap();
    assert_eq!(back, done);
}
