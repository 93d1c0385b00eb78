//! Events stored before a schema change: a store seeded with raw v1 JSON
//! (appended as schema version 1 with hand-written payloads, not through
//! the domain's types) still folds, decides, projects live and rebuilds.

use orderflow_domain::{
    Channel, Currency, CustomerId, OrderCommand, OrderEvent, OrderId, OrderStatus, decide, fold,
};
use orderflow_event_store::{EventStore, Position, StreamId};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Env, append, append_raw, assert_same, dump, rebuilt};

/// Appends `(event type, payload)` as schema version 1, raw.
async fn append_v1(env: &Env, id: OrderId, version: u64, events: &[(&str, Value)]) -> Position {
    let raw: Vec<(&str, u32, Value)> = events.iter().map(|(t, p)| (*t, 1, p.clone())).collect();
    append_raw(&env.store, &id, version, &raw).await
}

/// An order as a v1 writer stored it: created (no channel), one item, an
/// address.
fn v1_history(id: OrderId, customer: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "OrderCreated",
            json!({ "order_id": id.0, "customer_id": customer, "currency": "EUR",
                    "at": "2025-03-01T08:00:00Z" }),
        ),
        (
            "ItemAdded",
            json!({ "sku": "sku-a", "name": "Mug", "quantity": 2,
                    "unit_price": { "amount_minor": 1250, "currency": "EUR" },
                    "at": "2025-03-01T08:01:00Z" }),
        ),
        (
            "ShippingAddressSet",
            json!({ "address": { "name": "Ada Lovelace", "line1": "Hauptstraße 1",
                                 "line2": null, "city": "Berlin", "postal_code": "10115",
                                 "country": "DE" },
                    "at": "2025-03-01T08:02:00Z" }),
        ),
    ]
}

#[tokio::test]
async fn raw_v1_events_fold_decide_project_and_rebuild() {
    let env = Env::small_batches().await;
    let relay = env.start_relay().await;
    let projector = env.start_projector().await;

    // An old order, stored raw at v1.
    let old = OrderId::new(Uuid::now_v7());
    append_v1(&env, old, 0, &v1_history(old, "cust-v1")).await;

    // The write side folds it through the upcasters and decides on it.
    let stored = env
        .store
        .read_stream(&StreamId::new(old.stream_id()).unwrap())
        .await
        .unwrap();
    assert!(stored.iter().all(|e| e.schema_version == 1));
    let history: Vec<OrderEvent> = stored
        .iter()
        .map(|e| OrderEvent::from_payload(&e.event_type, e.schema_version, e.payload.clone()))
        .collect::<Result<_, _>>()
        .unwrap();
    let state = fold(&history);
    assert_eq!(state.status, Some(OrderStatus::Draft));
    let at = "2025-03-01T08:03:00Z".parse().unwrap();
    let submitted = decide(&state, &OrderCommand::SubmitOrder, at).unwrap();
    append(&env.store, &old, state.version, &submitted).await;

    // A new order, written at v2 by the domain.
    let new = OrderId::new(Uuid::now_v7());
    let create = OrderCommand::CreateOrder {
        order_id: new,
        customer_id: CustomerId::new("cust-v2").unwrap(),
        currency: Currency::EUR,
        channel: Channel::Mobile,
        items: vec![],
        shipping_address: None,
    };
    let events = decide(&Default::default(), &create, at).unwrap();
    assert_eq!(events[0].schema_version(), 2);
    let last = append(&env.store, &new, 0, &events).await;

    env.wait_for(last, &[]).await;
    let live = dump(&env.read).await;
    projector.stop().await;
    relay.stop().await;

    let row = |id: OrderId| {
        let env = &env;
        async move {
            sqlx::query_as::<_, (String, String, Option<Value>, i64)>(
                "SELECT channel, status, shipping_address, total_minor FROM orders \
                 WHERE order_id = $1",
            )
            .bind(id.0)
            .fetch_one(&env.read)
            .await
            .unwrap()
        }
    };
    let (channel, status, address, total) = row(old).await;
    assert_eq!(
        (channel.as_str(), status.as_str(), total),
        ("unknown", "submitted", 2500)
    );
    assert_eq!(address.unwrap()["city"], "Berlin");
    let (channel, status, address, _) = row(new).await;
    assert_eq!((channel.as_str(), status.as_str()), ("mobile", "draft"));
    assert!(address.is_none());

    // A rebuild (bulk reads, the raw-text decoder) gives the same tables.
    assert_same(&live, &rebuilt(&env).await);
    env.cleanup().await;
}
