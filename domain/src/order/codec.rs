//! The stored form of order events: `(event_type, schema_version, payload)`
//! where the payload is the JSON of the event's struct, without any tag.
//!
//! Each type has its own newest version ([`SCHEMA_VERSIONS`]); new events
//! are always written at it. `from_payload` runs older payloads through the
//! type's upcasters (`upcast`) first, so `evolve`, the projections and the
//! REST history only ever see the newest shape.

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
use crate::order::legacy;
use crate::order::upcast::{upcast_chain, upcaster};

/// The newest schema version of every order event type: what new events
/// are written with. Older versions are upcast on read.
///
/// - `OrderCreated` v2 added `channel` (v1 upcasts to `"unknown"`).
pub const SCHEMA_VERSIONS: &[(&str, u32)] = &[
    ("OrderCreated", 2),
    ("ItemAdded", 1),
    ("ItemQuantityChanged", 1),
    ("ItemRemoved", 1),
    ("ShippingAddressSet", 1),
    ("OrderSubmitted", 1),
    ("OrderConfirmed", 1),
    ("OrderRejected", 1),
    ("PaymentRecorded", 1),
    ("OrderShipped", 1),
    ("OrderDelivered", 1),
    ("OrderCancelled", 1),
    ("RefundIssued", 1),
];

/// A stored event could not be turned back into an aggregate's event
/// ([`OrderEvent`], or an inventory event: the same three ways to fail).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventDecodeError {
    /// Not an event type of the aggregate that read it.
    #[error("unknown event type {0:?}")]
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
    /// The version of this event's payload shape: its type's newest.
    pub fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type()).unwrap_or(1)
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

    /// Rebuilds an event from its stored form, upcasting an older version
    /// to the newest first. Unknown types, versions this code does not know
    /// and malformed payloads are distinct errors, so a projection can tell
    /// "newer writer" from "corrupt row". Errors name the stored version.
    pub fn from_payload(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<OrderEvent, EventDecodeError> {
        let current = current_schema_version(event_type)
            .ok_or_else(|| EventDecodeError::UnknownEventType(event_type.to_owned()))?;
        let readable = (1..=current).contains(&schema_version)
            && (schema_version..current).all(|v| upcaster(event_type, v).is_some());
        if !readable {
            return Err(EventDecodeError::UnsupportedSchemaVersion {
                event_type: event_type.to_owned(),
                schema_version,
            });
        }
        let payload = upcast_chain(event_type, schema_version, current, payload).map_err(
            |(_, message)| EventDecodeError::BadPayload {
                event_type: event_type.to_owned(),
                schema_version,
                message,
            },
        )?;
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
    version_in(SCHEMA_VERSIONS, event_type)
}

/// `event_type`'s version in an aggregate's table of newest versions.
pub(crate) fn version_in(table: &[(&str, u32)], event_type: &str) -> Option<u32> {
    table
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, v)| *v)
}

/// JSON Schema of one event type's payload at one version, for the
/// `schemas/` registry: every version from 1 to the newest. `None` for
/// unknown types or versions.
pub fn payload_schema(event_type: &str, schema_version: u32) -> Option<Schema> {
    let current = current_schema_version(event_type)?;
    match (event_type, schema_version) {
        ("OrderCreated", 1) => return Some(schema_of::<legacy::order_created_v1::OrderCreated>()),
        _ if schema_version != current => return None,
        _ => {}
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

pub(crate) fn schema_of<T: JsonSchema>() -> Schema {
    SchemaGenerator::default().into_root_schema_for::<T>()
}

pub(crate) fn to_json<T: Serialize>(payload: &T) -> Value {
    // The payload structs hold only strings, integers, timestamps, options
    // and nested structs, which serde_json always serializes. Should that
    // ever change, Null is returned and `from_payload` rejects it loudly,
    // rather than panicking inside the write path.
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

pub(crate) fn decode<T: DeserializeOwned>(payload: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(payload)
}
