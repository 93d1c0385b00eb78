//! Schema versions and registry schemas of the instance events. The stored
//! form is the event's tag and its fields (see [`FulfilmentEvent::payload`]);
//! the schema of one type is cut from the enum's own schema, so it cannot
//! drift from what serde writes.

use schemars::Schema;
use serde_json::{Map, Value};

use crate::fulfilment::event::{EVENT_TYPES, FulfilmentEvent};
use crate::order::codec::{schema_of, version_in};

/// The newest schema version of every instance event type. None has
/// changed yet; one that changes gets an upcaster like an order event
/// (event types are unique across aggregates).
pub const SCHEMA_VERSIONS: &[(&str, u32)] = &[
    ("FulfilmentStarted", 1),
    ("FulfilmentStockReserved", 1),
    ("FulfilmentReservationRefused", 1),
    ("FulfilmentReservationsComplete", 1),
    ("FulfilmentRejecting", 1),
    ("FulfilmentStockReleased", 1),
    ("FulfilmentStockCommitted", 1),
    ("FulfilmentOrderCommandDone", 1),
    ("FulfilmentPaymentDeadlineSet", 1),
    ("FulfilmentPaymentReceived", 1),
    ("FulfilmentPaymentTimedOut", 1),
    ("FulfilmentOrderCancelled", 1),
    ("FulfilmentOrderRejected", 1),
    ("FulfilmentOrderShipped", 1),
    ("FulfilmentRefundRequested", 1),
    ("FulfilmentRefundRetryScheduled", 1),
    ("FulfilmentRefundConfirmed", 1),
];

impl FulfilmentEvent {
    /// The version of this event's payload shape: its type's newest.
    pub fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type()).unwrap_or(1)
    }
}

/// The newest schema version of `event_type`, or `None` if it is not an
/// instance event type.
pub fn current_schema_version(event_type: &str) -> Option<u32> {
    version_in(SCHEMA_VERSIONS, event_type)
}

/// JSON Schema of one event type's payload at one version, for the
/// `schemas/` registry. `None` for unknown types or versions.
pub fn payload_schema(event_type: &str, schema_version: u32) -> Option<Schema> {
    if current_schema_version(event_type)? != schema_version || !EVENT_TYPES.contains(&event_type) {
        return None;
    }
    let root = schema_of::<FulfilmentEvent>().to_value();
    variant_schema(&root, event_type).and_then(|v| Schema::try_from(v).ok())
}

/// The payload schema of the variant tagged `tag` in an externally tagged
/// enum's schema: the tag's content, described by the variant's doc, with
/// the `$defs` it refers to (directly or through another definition).
fn variant_schema(root: &Value, tag: &str) -> Option<Value> {
    let wrapper = root["oneOf"].as_array()?.iter().find(|alt| {
        alt["required"]
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0] == tag)
    })?;
    let mut payload = wrapper["properties"][tag].as_object()?.clone();
    if let Some(doc) = wrapper.get("description") {
        payload.insert("description".into(), doc.clone());
    }
    let defs = root["$defs"].as_object();
    let mut used = Map::new();
    let mut todo = refs_in(&Value::Object(payload.clone()));
    while let Some(name) = todo.pop() {
        if used.contains_key(&name) {
            continue;
        }
        if let Some(def) = defs.and_then(|d| d.get(&name)) {
            todo.extend(refs_in(def));
            used.insert(name, def.clone());
        }
    }
    if !used.is_empty() {
        // Sorted like schemars sorts its own `$defs`.
        let mut sorted: Vec<(String, Value)> = used.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        payload.insert("$defs".into(), Value::Object(sorted.into_iter().collect()));
    }
    Some(Value::Object(payload))
}

/// The names of the `#/$defs/<name>` references anywhere in `v`.
fn refs_in(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "$ref"
                    && let Some(name) = child.as_str().and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    out.push(name.to_owned());
                } else {
                    out.extend(refs_in(child));
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| out.extend(refs_in(c))),
        _ => {}
    }
    out
}
