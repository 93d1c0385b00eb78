//! Turning stored events into what the folds read.

use chrono::{DateTime, Utc};
use orderflow_domain::{
    InventoryEvent, ORDER_CATEGORY, OrderEvent, OrderId, PRODUCT_CATEGORY, Sku,
    current_schema_version,
};
use orderflow_event_store::{Position, RawEvent, RecordedEvent};
use uuid::Uuid;

use crate::error::FoldError;

/// An order event with what the folds need from its envelope.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub position: Position,
    pub order_id: Uuid,
    pub stream_version: u64,
    pub event: OrderEvent,
}

impl Decoded {
    pub fn at(&self) -> DateTime<Utc> {
        self.event.at()
    }
}

/// A stock event (stream `product-<sku>`) with what the folds need.
#[derive(Debug, Clone)]
pub(crate) struct StockDecoded {
    pub position: Position,
    pub sku: String,
    pub stream_version: u64,
    pub event: InventoryEvent,
}

/// A batch of decoded events by kind. Each fold reads one kind only, so
/// the order between the kinds does not matter; within a kind it is the
/// store's.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub orders: Vec<Decoded>,
    pub stock: Vec<StockDecoded>,
}

/// One decoded event of either kind.
pub(crate) enum Input {
    Order(Decoded),
    Stock(StockDecoded),
}

impl Batch {
    pub fn push(&mut self, input: Input) {
        match input {
            Input::Order(d) => self.orders.push(d),
            Input::Stock(d) => self.stock.push(d),
        }
    }
}

/// [`decode`] for every category a read model uses: orders and stock.
pub(crate) fn decode_any(event: &RecordedEvent) -> Result<Option<Input>, FoldError> {
    if event.stream_id.category() == PRODUCT_CATEGORY {
        return decode_stock(
            event.position,
            event.stream_id.as_str(),
            event.stream_version,
            &event.event_type,
            event.schema_version,
            event.payload.clone(),
        )
        .map(|d| Some(Input::Stock(d)));
    }
    Ok(decode(event)?.map(Input::Order))
}

/// [`decode_raw`] for every category a read model uses.
pub(crate) fn decode_raw_any(event: &RawEvent) -> Result<Option<Input>, FoldError> {
    if event.stream_id.split('-').next() == Some(PRODUCT_CATEGORY) {
        let value: serde_json::Value = serde_json::from_str(&event.payload)
            .map_err(|e| FoldError(format!("payload is not JSON: {e}")))?;
        return decode_stock(
            event.position,
            &event.stream_id,
            event.stream_version,
            &event.event_type,
            event.schema_version,
            value,
        )
        .map(|d| Some(Input::Stock(d)));
    }
    Ok(decode_raw(event)?.map(Input::Order))
}

fn decode_stock(
    position: Position,
    stream_id: &str,
    stream_version: u64,
    event_type: &str,
    schema_version: u32,
    payload: serde_json::Value,
) -> Result<StockDecoded, FoldError> {
    let sku = Sku::from_stream_id(stream_id)
        .map_err(|e| FoldError(format!("bad product stream id {stream_id}: {e}")))?;
    let event = InventoryEvent::from_payload(event_type, schema_version, payload)
        .map_err(|e| FoldError(e.to_string()))?;
    if earliest().is_some_and(|min| event.at() < min) {
        return Err(FoldError(format!(
            "{event_type} at {} is before the earliest time the read models hold (4714-11-24 BC)",
            event.at()
        )));
    }
    Ok(StockDecoded {
        position,
        sku: sku.into_inner(),
        stream_version,
        event,
    })
}

/// `Ok(None)` for events of other categories, which no order read model
/// uses; an error for an order event that cannot be read (a poison event).
pub(crate) fn decode(event: &RecordedEvent) -> Result<Option<Decoded>, FoldError> {
    if event.stream_id.category() != ORDER_CATEGORY {
        return Ok(None);
    }
    let order_id = OrderId::from_stream_id(event.stream_id.as_str())
        .map_err(|e| FoldError(format!("bad order stream id {}: {e}", event.stream_id)))?;
    let decoded = OrderEvent::from_payload(
        &event.event_type,
        event.schema_version,
        event.payload.clone(),
    )
    .map_err(|e| FoldError(e.to_string()))?;
    Ok(Some(Decoded {
        position: event.position,
        order_id: order_id.0,
        stream_version: event.stream_version,
        event: in_range(decoded)?,
    }))
}

/// The earliest instant Postgres' `timestamptz` and `date` hold (4714-11-24
/// BC, proleptic year -4713); chrono's latest (year 262143) is below
/// theirs. An event outside it is a fold error here, so the live fold (which
/// the database would refuse) and a rebuild (whose COPY would fail whole)
/// stop on the same event with the same message.
fn earliest() -> Option<DateTime<Utc>> {
    chrono::NaiveDate::from_ymd_opt(-4713, 11, 24)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn in_range(event: OrderEvent) -> Result<OrderEvent, FoldError> {
    let at = event.at();
    if earliest().is_some_and(|min| at < min) {
        return Err(FoldError(format!(
            "{} at {at} is before the earliest time the read models hold (4714-11-24 BC)",
            event.event_type()
        )));
    }
    Ok(event)
}

/// Same as [`decode`] for a [`RawEvent`]: payloads at their type's newest
/// version are parsed straight from their text into their type (no
/// intermediate JSON tree); anything else (older versions to upcast,
/// unknown types, parse errors) goes through the domain's decoder.
pub(crate) fn decode_raw(event: &RawEvent) -> Result<Option<Decoded>, FoldError> {
    if event.stream_id.split('-').next() != Some(ORDER_CATEGORY) {
        return Ok(None);
    }
    let order_id = OrderId::from_stream_id(&event.stream_id)
        .map_err(|e| FoldError(format!("bad order stream id {}: {e}", event.stream_id)))?;
    let decoded = if current_schema_version(&event.event_type) == Some(event.schema_version) {
        parse_current(&event.event_type, &event.payload)
    } else {
        None
    };
    let decoded = match decoded {
        Some(Ok(e)) => e,
        // Unknown type, old version, or a parse error: the domain decoder
        // upcasts or reports precisely.
        _ => {
            let value: serde_json::Value = serde_json::from_str(&event.payload)
                .map_err(|e| FoldError(format!("payload is not JSON: {e}")))?;
            OrderEvent::from_payload(&event.event_type, event.schema_version, value)
                .map_err(|e| FoldError(e.to_string()))?
        }
    };
    Ok(Some(Decoded {
        position: event.position,
        order_id: order_id.0,
        stream_version: event.stream_version,
        event: in_range(decoded)?,
    }))
}

fn parse_current(event_type: &str, payload: &str) -> Option<Result<OrderEvent, serde_json::Error>> {
    use serde_json::from_str;
    Some(match event_type {
        "OrderCreated" => from_str(payload).map(OrderEvent::OrderCreated),
        "ItemAdded" => from_str(payload).map(OrderEvent::ItemAdded),
        "ItemQuantityChanged" => from_str(payload).map(OrderEvent::ItemQuantityChanged),
        "ItemRemoved" => from_str(payload).map(OrderEvent::ItemRemoved),
        "ShippingAddressSet" => from_str(payload).map(OrderEvent::ShippingAddressSet),
        "OrderSubmitted" => from_str(payload).map(OrderEvent::OrderSubmitted),
        "OrderConfirmed" => from_str(payload).map(OrderEvent::OrderConfirmed),
        "OrderRejected" => from_str(payload).map(OrderEvent::OrderRejected),
        "PaymentRecorded" => from_str(payload).map(OrderEvent::PaymentRecorded),
        "OrderShipped" => from_str(payload).map(OrderEvent::OrderShipped),
        "OrderDelivered" => from_str(payload).map(OrderEvent::OrderDelivered),
        "OrderCancelled" => from_str(payload).map(OrderEvent::OrderCancelled),
        "RefundIssued" => from_str(payload).map(OrderEvent::RefundIssued),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_domain::{Channel, Currency, CustomerId, OrderCreated};

    #[test]
    fn stock_events_decode_on_both_paths_and_bad_ones_are_poison() {
        use orderflow_domain::StockReceived;
        let event = InventoryEvent::StockReceived(StockReceived {
            quantity: 4,
            at: chrono::DateTime::UNIX_EPOCH,
        });
        let raw = RawEvent {
            position: Position::new(1, 2),
            stream_id: "product-MUG-1".into(),
            stream_version: 1,
            event_type: "StockReceived".into(),
            schema_version: 1,
            payload: event.payload().to_string(),
        };
        match decode_raw_any(&raw) {
            Ok(Some(Input::Stock(d))) => {
                assert_eq!((d.sku.as_str(), &d.event), ("MUG-1", &event));
            }
            _ => panic!("not a stock event"),
        }
        let bad = RawEvent {
            payload: "{\"quantity\": -1}".into(),
            ..raw.clone()
        };
        assert!(decode_raw_any(&bad).is_err());
        let bad_sku = RawEvent {
            stream_id: "product-a b".into(),
            ..raw
        };
        assert!(decode_raw_any(&bad_sku).is_err());
    }

    #[test]
    fn raw_and_tree_decoding_agree() {
        let id = OrderId::new(Uuid::now_v7());
        let event = OrderEvent::OrderCreated(OrderCreated {
            order_id: id,
            customer_id: CustomerId::new("c-1").unwrap_or_else(|e| panic!("{e}")),
            currency: Currency::EUR,
            channel: Channel::Mobile,
            at: chrono::DateTime::UNIX_EPOCH,
        });
        let raw = RawEvent {
            position: Position::new(1, 2),
            stream_id: id.stream_id(),
            stream_version: 1,
            event_type: "OrderCreated".into(),
            schema_version: 2,
            payload: event.payload().to_string(),
        };
        let d = decode_raw(&raw).ok().flatten().map(|d| d.event);
        assert_eq!(d, Some(event.clone()));
        // A v1 payload takes the upcasting path and reads as v2.
        let v1 = RawEvent {
            schema_version: 1,
            payload: serde_json::json!({
                "order_id": id, "customer_id": "c-1", "currency": "EUR",
                "at": "1970-01-01T00:00:00Z"
            })
            .to_string(),
            ..raw.clone()
        };
        let d = decode_raw(&v1).ok().flatten().map(|d| d.event);
        let OrderEvent::OrderCreated(mut expected) = event else {
            unreachable!()
        };
        expected.channel = Channel::Unknown;
        assert_eq!(d, Some(OrderEvent::OrderCreated(expected)));
        let bad = RawEvent {
            payload: "{\"order_id\": 3}".into(),
            ..raw
        };
        let err = decode_raw(&bad).err().map(|e| e.0).unwrap_or_default();
        assert!(err.contains("invalid payload for OrderCreated"), "{err}");
    }

    #[test]
    fn times_postgres_cannot_hold_are_fold_errors_on_both_paths() {
        let id = OrderId::new(Uuid::now_v7());
        let payload = |at: &str| {
            serde_json::json!({
                "order_id": id, "customer_id": "c-1", "currency": "EUR",
                "channel": "web", "at": at
            })
        };
        let raw = |at: &str| RawEvent {
            position: Position::new(1, 2),
            stream_id: id.stream_id(),
            stream_version: 1,
            event_type: "OrderCreated".into(),
            schema_version: 2,
            payload: payload(at).to_string(),
        };
        // The domain reads it (chrono holds the year)…
        let parsed = OrderEvent::from_payload("OrderCreated", 2, payload("-5000-01-01T00:00:00Z"));
        assert!(parsed.is_ok(), "{parsed:?}");
        // …the read models cannot: the same error on both decoding paths.
        let raw_err = decode_raw(&raw("-5000-01-01T00:00:00Z")).err().map(|e| e.0);
        let recorded = RecordedEvent {
            position: Position::new(1, 2),
            stream_id: orderflow_event_store::StreamId::new(id.stream_id())
                .unwrap_or_else(|e| panic!("{e}")),
            stream_version: 1,
            event_id: Uuid::now_v7(),
            event_type: "OrderCreated".into(),
            schema_version: 2,
            payload: payload("-5000-01-01T00:00:00Z"),
            metadata: Default::default(),
            recorded_at: chrono::Utc::now(),
        };
        let tree_err = decode(&recorded).err().map(|e| e.0);
        assert!(
            raw_err
                .as_deref()
                .is_some_and(|e| e.contains("earliest time")),
            "{raw_err:?}"
        );
        assert_eq!(raw_err, tree_err);
        // The earliest day itself is fine.
        assert!(decode_raw(&raw("-4713-11-24T00:00:00Z")).is_ok());
    }
}
