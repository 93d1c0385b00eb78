//! Orders stored before `OrderCreated` v2 — raw v1 JSON appended with
//! schema version 1 — take commands over REST, project, rebuild, and show
//! in GraphQL with channel UNKNOWN; new orders carry the channel they were
//! created with.

use std::sync::Arc;

use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamId,
};
use orderflow_projections::ProjectorConfig;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::Stack;

const ORDER: &str = "query($id: UUID!) { order(id: $id) {
    channel status total { amountMinor }
    shippingAddress { name line1 line2 city postalCode country } } }";

const BY_CHANNEL: &str = "query($c: [OrderChannel!]) {
    orders(first: 10, filter: { channel: $c }) { totalCount nodes { id channel } } }";

fn v1(event_type: &str, payload: Value) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: EventMetadata::default(),
    }
}

async fn count(env: &Stack, channels: Value) -> i64 {
    let r = env.gql(BY_CHANNEL, json!({ "c": channels })).await;
    r.data()["orders"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn a_v1_order_is_unknown_channel_in_graphql_before_and_after_a_rebuild() {
    let env = Stack::start().await;
    let old = Uuid::now_v7();
    env.store
        .append(AppendRequest::new(
            StreamId::new(format!("order-{old}")).unwrap(),
            ExpectedVersion::NoStream,
            vec![
                v1(
                    "OrderCreated",
                    json!({ "order_id": old, "customer_id": "old-customer", "currency": "EUR",
                            "at": "2025-01-01T10:00:00Z" }),
                ),
                v1(
                    "ItemAdded",
                    json!({ "sku": "SKU-1", "name": "Mug", "quantity": 3,
                            "unit_price": { "amount_minor": 400, "currency": "EUR" },
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
    // The command handler folds the v1 history and decides on it.
    let r = env.rest(&format!("/orders/{old}/submit"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = env
        .rest(
            "/orders",
            Some(json!({ "customer_id": "new-customer", "currency": "EUR", "channel": "mobile" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mobile = r.body["id"].as_str().unwrap().to_owned();
    // Left out, the channel is unknown.
    let (_, last) = env.create_order("new-customer", "EUR", &[]).await;
    env.settle(&last).await;

    let expected = json!({ "order": {
        "channel": "UNKNOWN", "status": "SUBMITTED", "total": { "amountMinor": 1200 },
        "shippingAddress": { "name": "Ada", "line1": "1 Main St", "line2": null,
                             "city": "Berlin", "postalCode": "10115", "country": "DE" } } });
    let check = || async {
        let r = env.gql(ORDER, json!({ "id": old })).await;
        assert_eq!(r.data(), &expected);
        let r = env.gql(ORDER, json!({ "id": mobile })).await;
        assert_eq!(r.data()["order"]["channel"], "MOBILE");
        assert_eq!(r.data()["order"]["shippingAddress"], Value::Null);
        assert_eq!(count(&env, json!(["UNKNOWN"])).await, 2);
        assert_eq!(count(&env, json!(["MOBILE", "WEB"])).await, 1);
        assert_eq!(count(&env, json!(["API"])).await, 0);
        assert_eq!(count(&env, Value::Null).await, 3);
    };
    check().await;

    // Rebuilt from the store (the bulk, raw-text decoding path): the same.
    let config = ProjectorConfig {
        read_database_url: env.read_db.url().to_owned(),
        ..ProjectorConfig::default()
    };
    let store: Arc<dyn EventStore> = Arc::new(env.store.clone());
    orderflow_projections::rebuild_with(store, &env.read, "orders", &config, &mut |_| {})
        .await
        .unwrap();
    check().await;
    env.finish().await;
}
