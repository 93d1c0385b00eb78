//! Copies of the stored orders under new ids, written straight into the
//! store with `pg_admin` (all in one transaction), for tests that need many
//! orders at once or a whole transaction's worth in one batch.

use orderflow_event_store::pg_admin::{self, UncheckedEvent};
use orderflow_event_store::{EventStore, NewEvent, PgEventStore, Position, StreamId};
use uuid::Uuid;

/// What [`copy_orders`] wrote.
pub struct Copies {
    /// The new orders' ids.
    pub ids: Vec<Uuid>,
    /// Events inserted.
    pub events: usize,
}

/// Copies every stored order `copies` times (copy by copy, each in store
/// order), each under a new id, in one transaction.
pub async fn copy_orders(store: &PgEventStore, copies: usize) -> Copies {
    let events = store.read_all(Position::START, 1_000_000).await.unwrap();
    let orders: Vec<_> = events
        .iter()
        .filter(|e| e.stream_id.category() == "order")
        .collect();
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    for _ in 0..copies {
        let mut copy_of = std::collections::HashMap::new();
        for e in &orders {
            let id = *copy_of.entry(e.stream_id.clone()).or_insert_with(|| {
                let id = Uuid::now_v7();
                ids.push(id);
                id
            });
            let mut payload = e.payload.clone();
            if payload.get("order_id").is_some() {
                payload["order_id"] = serde_json::json!(id.to_string());
            }
            rows.push(UncheckedEvent {
                stream_id: StreamId::new(format!("order-{id}")).unwrap(),
                stream_version: e.stream_version,
                event: NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: e.event_type.clone(),
                    schema_version: e.schema_version,
                    payload,
                    metadata: e.metadata.clone(),
                },
            });
        }
    }
    let events = pg_admin::insert(store, &rows).await.unwrap().len();
    Copies { ids, events }
}
