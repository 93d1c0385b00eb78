//! Upcasters: how a payload of an older schema version becomes the next
//! version, as JSON, before it is decoded. They chain, so a v1 payload of a
//! type now at v3 goes v1 → v2 → v3; deciders, projections and the REST
//! history only ever see the newest shape.
//!
//! To change an event incompatibly: raise its version in
//! [`SCHEMA_VERSIONS`](crate::order::codec::SCHEMA_VERSIONS), move the old
//! payload type to `legacy` (for its schema), add an entry to [`UPCASTERS`]
//! and a test here. `orderflow schemas check` reads this list: a new
//! version that is not backward compatible and has no upcaster fails it.

use serde_json::Value;

/// Why an upcaster refused a payload.
pub type UpcastError = String;

/// Turns a payload of `from_version` into one of `from_version + 1`.
pub type UpcastFn = fn(Value) -> Result<Value, UpcastError>;

/// One step of an event type's upcasting chain.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    /// The stored event type.
    pub event_type: &'static str,
    /// The version this step reads; it writes `from_version + 1`.
    pub from_version: u32,
    /// The step itself: pure, total over objects, never panics.
    pub upcast: UpcastFn,
}

/// Every upcaster of the order events.
pub static UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "OrderCreated",
    from_version: 1,
    upcast: order_created_v1_to_v2,
}];

/// The upcaster from `(event_type, from_version)`, if there is one.
pub fn upcaster(event_type: &str, from_version: u32) -> Option<&'static Upcaster> {
    UPCASTERS
        .iter()
        .find(|u| u.event_type == event_type && u.from_version == from_version)
}

/// Runs the chain from `from_version` up to `to_version`. `Err((version,
/// reason))` names the step that failed, or the missing one.
pub fn upcast_chain(
    event_type: &str,
    from_version: u32,
    to_version: u32,
    mut payload: Value,
) -> Result<Value, (u32, UpcastError)> {
    for version in from_version..to_version {
        let step = upcaster(event_type, version)
            .ok_or_else(|| (version, format!("no upcaster from v{version}")))?;
        payload = (step.upcast)(payload).map_err(|e| {
            (
                version,
                format!("upcasting v{version} → v{}: {e}", version + 1),
            )
        })?;
    }
    Ok(payload)
}

/// `OrderCreated` v1 → v2: v2 adds `channel`. v1 events were written before
/// the channel was recorded, so they become `"unknown"` — not `"api"` or
/// `"web"`, which would invent a fact. A `channel` key in a v1 payload was
/// never part of v1 (v1 readers ignored it) and is replaced too.
fn order_created_v1_to_v2(payload: Value) -> Result<Value, UpcastError> {
    let Value::Object(mut fields) = payload else {
        return Err(format!("expected a JSON object, got {}", kind(&payload)));
    };
    fields.insert("channel".into(), Value::String("unknown".into()));
    Ok(Value::Object(fields))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::order::codec::current_schema_version;

    #[test]
    fn order_created_v1_gains_channel_unknown() {
        let v1 = json!({
            "order_id": "01930000-0000-7000-8000-000000000001",
            "customer_id": "customer-42",
            "currency": "EUR",
            "at": "2026-11-01T09:00:00Z"
        });
        let mut v2 = v1.clone();
        v2["channel"] = json!("unknown");
        assert_eq!(order_created_v1_to_v2(v1), Ok(v2));
        // A stray key is not v1 data.
        assert_eq!(
            order_created_v1_to_v2(json!({ "channel": "web" })),
            Ok(json!({ "channel": "unknown" }))
        );
        assert!(order_created_v1_to_v2(json!(null)).is_err());
        assert!(order_created_v1_to_v2(json!([1])).is_err());
    }

    #[test]
    fn every_chain_is_complete_and_no_upcaster_is_stray() {
        for u in UPCASTERS {
            let current = current_schema_version(u.event_type);
            assert!(
                current.is_some_and(|c| u.from_version >= 1 && u.from_version < c),
                "{} v{} has no newer version to upcast to",
                u.event_type,
                u.from_version
            );
            let same = UPCASTERS
                .iter()
                .filter(|o| o.event_type == u.event_type && o.from_version == u.from_version)
                .count();
            assert_eq!(same, 1, "{} v{} twice", u.event_type, u.from_version);
        }
        for t in crate::order::event::EVENT_TYPES {
            let current = current_schema_version(t).unwrap_or(1);
            for v in 1..current {
                assert!(upcaster(t, v).is_some(), "{t}: no upcaster from v{v}");
            }
        }
    }

    #[test]
    fn a_missing_step_is_named() {
        assert_eq!(
            upcast_chain("OrderConfirmed", 1, 2, json!({})),
            Err((1, "no upcaster from v1".into()))
        );
        assert_eq!(
            upcast_chain("OrderCreated", 1, 2, json!("x")).map_err(|e| e.0),
            Err(1)
        );
    }
}
