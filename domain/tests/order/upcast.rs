//! Old payloads, written as raw JSON of their version, read as the newest
//! shape: every upcaster, the whole chain through `from_payload`, and a
//! decision taken on a history of v1 events.

use orderflow_domain::order::legacy::order_created_v1;
use orderflow_domain::{
    Channel, CustomerId, EventDecodeError, OrderCommand, OrderCreated, OrderEvent, OrderId,
    OrderStatus, UPCASTERS, current_schema_version, decide, fold, upcast_chain,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::props::{currency, id_text, time};
use crate::support::*;

/// `OrderCreated` as v1 writers stored it.
fn order_created_v1() -> Value {
    json!({
        "order_id": "01956f4a-1c00-7000-8000-000000000001",
        "customer_id": "cust-1",
        "currency": "EUR",
        "at": "2025-03-01T12:00:00Z"
    })
}

#[test]
fn order_created_v1_reads_as_v2_with_channel_unknown() {
    let event = OrderEvent::from_payload("OrderCreated", 1, order_created_v1()).unwrap();
    assert_eq!(event, created_at(t(0)));
    let OrderEvent::OrderCreated(c) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(c.channel, Channel::Unknown);
    // Written again, it is v2.
    assert_eq!(event.schema_version(), 2);
    assert_eq!(event.payload()["channel"], "unknown");
}

#[test]
fn order_created_v2_keeps_its_channel() {
    let mut v2 = order_created_v1();
    v2["channel"] = json!("mobile");
    let event = OrderEvent::from_payload("OrderCreated", 2, v2.clone()).unwrap();
    assert!(matches!(&event, OrderEvent::OrderCreated(c) if c.channel == Channel::Mobile));
    // The same text stored as v1 is read as v1: no channel in v1.
    let as_v1 = OrderEvent::from_payload("OrderCreated", 1, v2).unwrap();
    assert!(matches!(&as_v1, OrderEvent::OrderCreated(c) if c.channel == Channel::Unknown));
    // v2 requires the channel: a v2 payload without one is corrupt.
    let err = OrderEvent::from_payload("OrderCreated", 2, order_created_v1()).unwrap_err();
    assert!(
        matches!(&err, EventDecodeError::BadPayload { schema_version: 2, message, .. } if message.contains("channel")),
        "{err:?}"
    );
}

#[test]
fn an_upcaster_failure_is_a_bad_payload_of_the_stored_version() {
    let err = OrderEvent::from_payload("OrderCreated", 1, json!("not an object")).unwrap_err();
    assert!(
        matches!(&err, EventDecodeError::BadPayload { event_type, schema_version: 1, message }
            if event_type == "OrderCreated" && message.contains("v1 → v2")),
        "{err:?}"
    );
    // A v1 payload that was already bad stays bad, reported at v1.
    let mut bad = order_created_v1();
    bad["currency"] = json!("euro");
    assert!(matches!(
        OrderEvent::from_payload("OrderCreated", 1, bad),
        Err(EventDecodeError::BadPayload {
            schema_version: 1,
            ..
        })
    ));
}

#[test]
fn a_history_of_raw_v1_events_folds_and_decides() {
    // Everything as stored before OrderCreated v2 existed.
    let stored = [
        ("OrderCreated", order_created_v1()),
        (
            "ItemAdded",
            json!({ "sku": "A", "name": "Item A", "quantity": 2,
                    "unit_price": { "amount_minor": 150, "currency": "EUR" },
                    "at": "2025-03-01T12:01:00Z" }),
        ),
        (
            "ShippingAddressSet",
            json!({ "address": { "name": "Ada Lovelace", "line1": "Hauptstraße 1", "line2": null,
                                 "city": "Berlin", "postal_code": "10115", "country": "DE" },
                    "at": "2025-03-01T12:02:00Z" }),
        ),
    ];
    let history: Vec<OrderEvent> = stored
        .into_iter()
        .map(|(t, p)| OrderEvent::from_payload(t, 1, p).unwrap())
        .collect();
    let state = fold(&history);
    assert_eq!(state.status, Some(OrderStatus::Draft));
    let events = decide(&state, &OrderCommand::SubmitOrder, t(3)).unwrap();
    assert!(
        matches!(&events[..], [OrderEvent::OrderSubmitted(s)] if s.total == eur(300)),
        "{events:?}"
    );
}

#[test]
fn new_orders_are_written_at_v2_with_their_channel() {
    let OrderCommand::CreateOrder {
        order_id,
        customer_id,
        currency,
        items,
        shipping_address,
        ..
    } = create_cmd(vec![], None)
    else {
        unreachable!()
    };
    let command = OrderCommand::CreateOrder {
        order_id,
        customer_id,
        currency,
        channel: Channel::Web,
        items,
        shipping_address,
    };
    let events = decide(&Default::default(), &command, t(0)).unwrap();
    assert_eq!(events[0].schema_version(), 2);
    assert_eq!(events[0].payload()["channel"], "web");
}

#[test]
fn every_upcaster_leads_to_a_current_version() {
    for u in UPCASTERS {
        let current = current_schema_version(u.event_type).unwrap();
        assert!(u.from_version < current, "{u:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every payload a v1 writer could store reads as the same order, with
    /// channel `unknown`.
    #[test]
    fn upcasting_is_total_over_v1_payloads(
        id in any::<u128>(), c in id_text(), currency in currency(), at in time()
    ) {
        let v1 = order_created_v1::OrderCreated {
            order_id: OrderId::new(uuid::Uuid::from_u128(id)),
            customer_id: CustomerId::new(c).unwrap(),
            currency,
            at,
        };
        let text = serde_json::to_string(&v1).unwrap();
        let event = OrderEvent::from_payload("OrderCreated", 1, serde_json::from_str(&text).unwrap());
        let expected: OrderEvent = OrderCreated {
            order_id: v1.order_id,
            customer_id: v1.customer_id.clone(),
            currency,
            channel: Channel::Unknown,
            at,
        }
        .into();
        prop_assert_eq!(event, Ok(expected));
    }

    /// The upcaster itself never fails on an object, whatever it holds,
    /// and never panics on anything.
    #[test]
    fn the_upcaster_accepts_any_object(
        fields in proptest::collection::btree_map("[a-z_]{1,12}", any::<i64>(), 0..8)
    ) {
        let object: serde_json::Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k, json!(v))).collect();
        let out = upcast_chain("OrderCreated", 1, 2, Value::Object(object.clone())).unwrap();
        prop_assert_eq!(&out["channel"], &json!("unknown"));
        for (k, v) in object.iter().filter(|(k, _)| *k != "channel") {
            prop_assert_eq!(&out[k], v);
        }
    }
}
