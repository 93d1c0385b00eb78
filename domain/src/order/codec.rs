//! The stored form of order events: `(event_type, schema_version, payload)`
//! where the payload is the JSON of the event's struct, without any tag.
//!
//! Every type is at schema version 1. When a payload changes shape, its
//! version goes up and `from_payload` upcasts older versions, so `evolve`
//! and the projections only ever see the newest shape.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::order::event::{
    ItemAdded, ItemQuantityChanged, ItemRemoved, OrderCancelled, OrderConfirmed, OrderCreated,
    OrderDelivered, OrderEvent, OrderRejected, OrderShipped, OrderSubmitted, PaymentRecorded,
    RefundIssued, ShippingAddressSet,
};

/// The schema version every event type is written with today.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// A stored event could not be turned back into an [`OrderEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventDecodeError {
    /// Not an order event type.
    #[error("unknown order event type {0:?}")]
    UnknownEventType(String),
    /// A known type at a version this code cannot read (nor upcast).
    #[error("unsupported schema version {schema_version} of event type {event_type}")]
    UnsupportedSchemaVersion {
        /// The event type.
        event_type: String,
        /// The version found.
        schema_version: u32,
    },
    /// The payload does not match the type's schema.
    #[error("invalid payload for {event_type} v{schema_version}: {message}")]
    BadPayload {
        /// The event type.
        event_type: String,
        /// The version found.
        schema_version: u32,
        /// What serde reported.
        message: String,
    },
}

impl OrderEvent {
    /// The version of this event's payload shape.
    pub const fn schema_version(&self) -> u32 {
        CURRENT_SCHEMA_VERSION
    }

    /// The payload JSON: the event's struct alone, no tag.
    pub fn payload(&self) -> Value {
        match self {
            Self::OrderCreated(e) => to_json(e),
            Self::ItemAdded(e) => to_json(e),
            Self::ItemQuantityChanged(e) => to_json(e),
            Self::ItemRemoved(e) => to_json(e),
            Self::ShippingAddressSet(e) => to_json(e),
            Self::OrderSubmitted(e) => to_json(e),
            Self::OrderConfirmed(e) => to_json(e),
            Self::OrderRejected(e) => to_json(e),
            Self::PaymentRecorded(e) => to_json(e),
            Self::OrderShipped(e) => to_json(e),
            Self::OrderDelivered(e) => to_json(e),
            Self::OrderCancelled(e) => to_json(e),
            Self::RefundIssued(e) => to_json(e),
        }
    }

    /// Rebuilds an event from its stored form. Unknown types, versions this
    /// code does not know and malformed payloads are distinct errors, so a
    /// projection can tell "newer writer" from "corrupt row".
    pub fn from_payload(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<OrderEvent, EventDecodeError> {
        let current = current_schema_version(event_type)
            .ok_or_else(|| EventDecodeError::UnknownEventType(event_type.to_owned()))?;
        if schema_version != current {
            return Err(EventDecodeError::UnsupportedSchemaVersion {
                event_type: event_type.to_owned(),
                schema_version,
            });
        }
        let decoded = match event_type {
            "OrderCreated" => decode(payload).map(Self::OrderCreated),
            "ItemAdded" => decode(payload).map(Self::ItemAdded),
            "ItemQuantityChanged" => decode(payload).map(Self::ItemQuantityChanged),
            "ItemRemoved" => decode(payload).map(Self::ItemRemoved),
            "ShippingAddressSet" => decode(payload).map(Self::ShippingAddressSet),
            "OrderSubmitted" => decode(payload).map(Self::OrderSubmitted),
            "OrderConfirmed" => decode(payload).map(Self::OrderConfirmed),
            "OrderRejected" => decode(payload).map(Self::OrderRejected),
            "PaymentRecorded" => decode(payload).map(Self::PaymentRecorded),
            "OrderShipped" => decode(payload).map(Self::OrderShipped),
            "OrderDelivered" => decode(payload).map(Self::OrderDelivered),
            "OrderCancelled" => decode(payload).map(Self::OrderCancelled),
            "RefundIssued" => decode(payload).map(Self::RefundIssued),
            other => return Err(EventDecodeError::UnknownEventType(other.to_owned())),
        };
        decoded.map_err(|e| EventDecodeError::BadPayload {
            event_type: event_type.to_owned(),
            schema_version,
            message: e.to_string(),
        })
    }
}

/// The newest schema version of `event_type`, or `None` if it is not an
/// order event type.
pub fn current_schema_version(event_type: &str) -> Option<u32> {
    OrderEvent::EVENT_TYPES
        .contains(&event_type)
        .then_some(CURRENT_SCHEMA_VERSION)
}

/// JSON Schema of one event type's payload at one version, for the
/// `schemas/` registry. `None` for unknown types or versions.
pub fn payload_schema(event_type: &str, schema_version: u32) -> Option<Schema> {
    if current_schema_version(event_type)? != schema_version {
        return None;
    }
    Some(match event_type {
        "OrderCreated" => schema_of::<OrderCreated>(),
        "ItemAdded" => schema_of::<ItemAdded>(),
        "ItemQuantityChanged" => schema_of::<ItemQuantityChanged>(),
        "ItemRemoved" => schema_of::<ItemRemoved>(),
        "ShippingAddressSet" => schema_of::<ShippingAddressSet>(),
        "OrderSubmitted" => schema_of::<OrderSubmitted>(),
        "OrderConfirmed" => schema_of::<OrderConfirmed>(),
        "OrderRejected" => schema_of::<OrderRejected>(),
        "PaymentRecorded" => schema_of::<PaymentRecorded>(),
        "OrderShipped" => schema_of::<OrderShipped>(),
        "OrderDelivered" => schema_of::<OrderDelivered>(),
        "OrderCancelled" => schema_of::<OrderCancelled>(),
        "RefundIssued" => schema_of::<RefundIssued>(),
        _ => return None,
    })
}

fn schema_of<T: JsonSchema>() -> Schema {
    SchemaGenerator::default().into_root_schema_for::<T>()
}

fn to_json<T: Serialize>(payload: &T) -> Value {
    // The payload structs hold only strings, integers, timestamps, options
    // and nested structs, which serde_json always serializes. Should that
    // ever change, Null is returned and `from_payload` rejects it loudly,
    // rather than panicking inside the write path.
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

fn decode<T: DeserializeOwned>(payload: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(payload)
}
