//! The stored form of inventory events: `(event_type, schema_version,
//! payload)`, the payload being the JSON of the event's struct, untagged —
//! the same form as the order's (see `order::codec`), with the same
//! decode errors.

use schemars::Schema;
use serde_json::Value;

use crate::inventory::event::{
    InventoryEvent, ReservationCommitted, StockAdjusted, StockReceived, StockReleased,
    StockReserved,
};
use crate::order::codec::{EventDecodeError, decode, schema_of, to_json, version_in};

/// The newest schema version of every inventory event type. No type has
/// changed yet, so there are no upcasters; one that changes gets one in
/// `order::upcast::UPCASTERS` (event types are unique across aggregates)
/// and a case in [`InventoryEvent::from_payload`].
pub const SCHEMA_VERSIONS: &[(&str, u32)] = &[
    ("StockReceived", 1),
    ("StockAdjusted", 1),
    ("StockReserved", 1),
    ("StockReleased", 1),
    ("ReservationCommitted", 1),
];

impl InventoryEvent {
    /// The version of this event's payload shape: its type's newest.
    pub fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type()).unwrap_or(1)
    }

    /// The payload JSON: the event's struct alone, no tag.
    pub fn payload(&self) -> Value {
        match self {
            Self::StockReceived(e) => to_json(e),
            Self::StockAdjusted(e) => to_json(e),
            Self::StockReserved(e) => to_json(e),
            Self::StockReleased(e) => to_json(e),
            Self::ReservationCommitted(e) => to_json(e),
        }
    }

    /// Rebuilds an event from its stored form. Unknown types, versions this
    /// code does not know and malformed payloads are distinct errors.
    pub fn from_payload(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<InventoryEvent, EventDecodeError> {
        let current = current_schema_version(event_type)
            .ok_or_else(|| EventDecodeError::UnknownEventType(event_type.to_owned()))?;
        if schema_version != current {
            return Err(EventDecodeError::UnsupportedSchemaVersion {
                event_type: event_type.to_owned(),
                schema_version,
            });
        }
        let decoded = match event_type {
            "StockReceived" => decode(payload).map(Self::StockReceived),
            "StockAdjusted" => decode(payload).map(Self::StockAdjusted),
            "StockReserved" => decode(payload).map(Self::StockReserved),
            "StockReleased" => decode(payload).map(Self::StockReleased),
            "ReservationCommitted" => decode(payload).map(Self::ReservationCommitted),
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
/// inventory event type.
pub fn current_schema_version(event_type: &str) -> Option<u32> {
    version_in(SCHEMA_VERSIONS, event_type)
}

/// JSON Schema of one event type's payload at one version, for the
/// `schemas/` registry. `None` for unknown types or versions.
pub fn payload_schema(event_type: &str, schema_version: u32) -> Option<Schema> {
    if current_schema_version(event_type)? != schema_version {
        return None;
    }
    Some(match event_type {
        "StockReceived" => schema_of::<StockReceived>(),
        "StockAdjusted" => schema_of::<StockAdjusted>(),
        "StockReserved" => schema_of::<StockReserved>(),
        "StockReleased" => schema_of::<StockReleased>(),
        "ReservationCommitted" => schema_of::<ReservationCommitted>(),
        _ => return None,
    })
}
