//! orderflow events ⇄ KurrentDB events.
//!
//! The payload is the event's JSON data; the KurrentDB event id is
//! orderflow's event id and the KurrentDB event type its type. Everything
//! else orderflow stores beside an event goes into the event's custom
//! metadata, a JSON object, using KurrentDB's own names where it has them:
//!
//! ```json
//! { "$correlationId": "…", "$causationId": "…", "actor": "…",
//!   "actorRoles": ["staff"], "actorClientId": "…", "traceparent": "00-…", "idempotencyKey": "…",
//!   "schemaVersion": 2, "eventType": "OrderPlaced" }
//! ```
//!
//! Stream versions are 1-based in orderflow and revisions 0-based in
//! KurrentDB: `version = revision + 1`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::position::from_kurrent;
use crate::{EventMetadata, NewEvent, RecordedEvent, StoreError, StreamId};

/// The custom metadata object of every event orderflow writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CustomMetadata {
    #[serde(
        rename = "$correlationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<String>,
    #[serde(
        rename = "$causationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(rename = "actorRoles", default, skip_serializing_if = "Vec::is_empty")]
    pub actor_roles: Vec<String>,
    #[serde(
        rename = "actorClientId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actor_client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(
        rename = "idempotencyKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key: Option<String>,
    /// Absent on events other tools wrote: read as version 1.
    #[serde(rename = "schemaVersion", default = "first_version")]
    pub schema_version: u32,
    /// Absent on events other tools wrote: the KurrentDB event type is used.
    #[serde(rename = "eventType", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
}

fn first_version() -> u32 {
    1
}

impl CustomMetadata {
    pub(crate) fn of(e: &NewEvent) -> CustomMetadata {
        let m = &e.metadata;
        CustomMetadata {
            correlation_id: m.correlation_id.clone(),
            causation_id: m.causation_id.clone(),
            actor: m.actor.clone(),
            actor_roles: m.actor_roles.clone(),
            actor_client_id: m.actor_client_id.clone(),
            traceparent: m.traceparent.clone(),
            idempotency_key: m.idempotency_key.clone(),
            schema_version: e.schema_version,
            event_type: Some(e.event_type.clone()),
        }
    }

    /// What an event without custom metadata (written by another tool) has.
    fn foreign() -> CustomMetadata {
        CustomMetadata {
            correlation_id: None,
            causation_id: None,
            actor: None,
            actor_roles: Vec::new(),
            actor_client_id: None,
            traceparent: None,
            idempotency_key: None,
            schema_version: first_version(),
            event_type: None,
        }
    }

    fn into_metadata(self) -> EventMetadata {
        EventMetadata {
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor: self.actor,
            actor_roles: self.actor_roles,
            actor_client_id: self.actor_client_id,
            traceparent: self.traceparent,
            idempotency_key: self.idempotency_key,
        }
    }
}

/// The KurrentDB event to append for an orderflow event.
pub(crate) fn event_data(e: &NewEvent) -> Result<kurrentdb::EventData, StoreError> {
    let invalid = |err: serde_json::Error| {
        StoreError::Backend(format!("cannot encode event {}: {err}", e.event_id))
    };
    kurrentdb::EventData::json(&e.event_type, &e.payload)
        .map_err(invalid)?
        .id(e.event_id)
        .metadata_as_json(&CustomMetadata::of(e))
        .map_err(invalid)
}

/// System events (`$metadata`, `$streamDeleted`, link events…) are never
/// orderflow's, wherever they appear.
pub(crate) fn is_system(e: &kurrentdb::RecordedEvent) -> bool {
    e.event_type.starts_with('$') || e.stream_id().starts_with('$')
}

/// What orderflow reads of a KurrentDB event; separate from the client's
/// type (which cannot be built outside the client) so decoding is testable.
#[derive(Debug, Clone)]
pub(crate) struct Parts<'a> {
    pub stream_name: &'a str,
    pub id: uuid::Uuid,
    pub revision: u64,
    pub position: kurrentdb::Position,
    pub event_type: &'a str,
    pub data: &'a [u8],
    pub custom_metadata: &'a [u8],
    pub created: DateTime<Utc>,
}

impl<'a> Parts<'a> {
    pub(crate) fn of(e: &'a kurrentdb::RecordedEvent) -> Parts<'a> {
        Parts {
            stream_name: e.stream_id(),
            id: e.id,
            revision: e.revision,
            position: e.position,
            event_type: &e.event_type,
            data: &e.data,
            custom_metadata: &e.custom_metadata,
            created: created(e),
        }
    }
}

/// The orderflow event a KurrentDB event holds. `namespace` is stripped from
/// the stream name (see `KurrentDbConfig::namespace`).
pub(crate) fn recorded_event(
    e: &kurrentdb::RecordedEvent,
    namespace: &str,
) -> Result<RecordedEvent, StoreError> {
    decode(&Parts::of(e), namespace)
}

pub(crate) fn decode(e: &Parts<'_>, namespace: &str) -> Result<RecordedEvent, StoreError> {
    let corrupt = |what: String| {
        StoreError::Corrupt(format!(
            "KurrentDB event {} in stream {:?}: {what}",
            e.id, e.stream_name
        ))
    };
    let name = e
        .stream_name
        .strip_prefix(namespace)
        .ok_or_else(|| corrupt(format!("stream is outside the namespace {namespace:?}")))?;
    let stream_id = StreamId::new(name).map_err(|err| corrupt(err.to_string()))?;
    let payload: serde_json::Value =
        serde_json::from_slice(e.data).map_err(|err| corrupt(format!("data: {err}")))?;
    let custom: CustomMetadata = if e.custom_metadata.is_empty() {
        CustomMetadata::foreign()
    } else {
        serde_json::from_slice(e.custom_metadata)
            .map_err(|err| corrupt(format!("custom metadata: {err}")))?
    };
    let event_type = custom
        .event_type
        .clone()
        .unwrap_or_else(|| e.event_type.to_owned());
    Ok(RecordedEvent {
        position: from_kurrent(e.position),
        stream_id,
        stream_version: e.revision + 1,
        event_id: e.id,
        event_type,
        schema_version: custom.schema_version,
        payload,
        metadata: custom.into_metadata(),
        recorded_at: e.created,
    })
}

/// When the server wrote the event. The client rounds its `created` down to
/// whole seconds; the system metadata keeps .NET ticks (100 ns since the
/// Unix epoch), which are read here at full precision.
pub(crate) fn created(e: &kurrentdb::RecordedEvent) -> DateTime<Utc> {
    e.metadata
        .get("created")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ticks| {
            DateTime::from_timestamp(
                ticks.div_euclid(10_000_000),
                (ticks.rem_euclid(10_000_000) * 100) as u32,
            )
        })
        .unwrap_or(e.created)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use uuid::Uuid;

    fn new_event() -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "OrderPlaced".into(),
            schema_version: 3,
            payload: serde_json::json!({ "total": { "minor": 1250, "currency": "EUR" } }),
            metadata: EventMetadata {
                correlation_id: Some("corr-1".into()),
                causation_id: Some("cmd-1".into()),
                actor: Some("user:42".into()),
                traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
                idempotency_key: Some("key-9".into()),
                ..EventMetadata::default()
            },
        }
    }

    #[test]
    fn uses_kurrentdb_names_for_correlation_and_causation() {
        let json = serde_json::to_value(CustomMetadata::of(&new_event())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "$correlationId": "corr-1",
                "$causationId": "cmd-1",
                "actor": "user:42",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "idempotencyKey": "key-9",
                "schemaVersion": 3,
                "eventType": "OrderPlaced",
            })
        );
    }

    #[test]
    fn empty_fields_are_left_out() {
        let mut e = new_event();
        e.metadata = EventMetadata::default();
        let json = serde_json::to_value(CustomMetadata::of(&e)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "schemaVersion": 3, "eventType": "OrderPlaced" })
        );
    }

    #[test]
    fn metadata_round_trips() {
        let e = new_event();
        let bytes = serde_json::to_vec(&CustomMetadata::of(&e)).unwrap();
        let back: CustomMetadata = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.schema_version, 3);
        assert_eq!(back.event_type.as_deref(), Some("OrderPlaced"));
        assert_eq!(back.into_metadata(), e.metadata);
    }

    #[test]
    fn foreign_metadata_defaults() {
        let m: CustomMetadata =
            serde_json::from_str(r#"{"$correlationId":"c","other":true}"#).unwrap();
        assert_eq!(m.schema_version, 1);
        assert_eq!(m.event_type, None);
        assert_eq!(m.correlation_id.as_deref(), Some("c"));
    }

    fn parts<'a>(stream_name: &'a str, data: &'a [u8], custom: &'a [u8]) -> Parts<'a> {
        Parts {
            stream_name,
            id: Uuid::nil(),
            revision: 4,
            position: kurrentdb::Position {
                commit: 900,
                prepare: 880,
            },
            event_type: "OrderPlaced",
            data,
            custom_metadata: custom,
            created: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
        }
    }

    #[test]
    fn decodes_what_it_encodes() {
        let e = new_event();
        let data = serde_json::to_vec(&e.payload).unwrap();
        let custom = serde_json::to_vec(&CustomMetadata::of(&e)).unwrap();
        let mut p = parts("t1.order-1", &data, &custom);
        p.id = e.event_id;
        let r = decode(&p, "t1.").unwrap();
        assert_eq!(r.stream_id.as_str(), "order-1");
        assert_eq!(r.stream_version, 5, "revision 4 is the fifth event");
        assert_eq!(r.position, crate::Position::new(900, 880));
        assert_eq!(r.event_id, e.event_id);
        assert_eq!(r.event_type, "OrderPlaced");
        assert_eq!(r.schema_version, 3);
        assert_eq!(r.payload, e.payload);
        assert_eq!(r.metadata, e.metadata);
    }

    #[test]
    fn decodes_foreign_events_and_rejects_corrupt_ones() {
        let r = decode(&parts("order-1", b"{}", b""), "").unwrap();
        assert_eq!(r.schema_version, 1);
        assert_eq!(r.event_type, "OrderPlaced");
        assert_eq!(r.metadata, EventMetadata::default());
        for (stream, data, custom) in [
            ("order-1", &b"not json"[..], &b""[..]),
            ("order-1", b"{}", b"[1]"),
            ("nocategory", b"{}", b""),
        ] {
            assert!(matches!(
                decode(&parts(stream, data, custom), ""),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(
            decode(&parts("t2.order-1", b"{}", b""), "t1."),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn event_data_builds() {
        // EventData keeps its fields private; building it must not fail.
        assert!(event_data(&new_event()).is_ok());
    }
}
