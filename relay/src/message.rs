//! How one stored event looks on NATS: subject, CloudEvents headers, body.

use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::SecondsFormat;

use orderflow_event_store::{Position, RecordedEvent};
use orderflow_wire::{headers, subjects};

/// `<prefix>.events.<category>.<EventType>` (see [`subjects::event_subject`]).
pub fn event_subject(prefix: &str, event: &RecordedEvent) -> String {
    subjects::event_subject(prefix, event.stream_id.category(), &event.event_type)
}

/// CloudEvents (NATS binding, binary mode) plus orderflow's own headers.
pub fn event_headers(event: &RecordedEvent, prev: Position) -> HeaderMap {
    let mut h = HeaderMap::new();
    let id = event.event_id.to_string();
    h.insert(headers::MSG_ID, id.as_str());
    h.insert(headers::CE_SPECVERSION, headers::SPECVERSION);
    h.insert(headers::CE_ID, id);
    h.insert(headers::CE_TYPE, event.event_type.as_str());
    h.insert(
        headers::CE_SOURCE,
        headers::source(event.stream_id.category()),
    );
    h.insert(
        headers::CE_TIME,
        event
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    h.insert(headers::CE_SUBJECT, event.stream_id.as_str());
    h.insert(headers::CE_DATACONTENTTYPE, headers::DATACONTENTTYPE);
    h.insert(headers::POSITION, event.position.to_string());
    h.insert(headers::PREV_POSITION, prev.to_string());
    h.insert(headers::STREAM_VERSION, event.stream_version.to_string());
    h.insert(headers::SCHEMA_VERSION, event.schema_version.to_string());
    if let Some(c) = &event.metadata.correlation_id {
        h.insert(headers::CORRELATION_ID, c.as_str());
    }
    if let Some(c) = &event.metadata.causation_id {
        h.insert(headers::CAUSATION_ID, c.as_str());
    }
    if let Some(t) = &event.metadata.traceparent {
        h.insert(headers::TRACEPARENT, t.as_str());
    }
    h
}

/// The payload JSON as the message body.
pub fn event_body(event: &RecordedEvent) -> Bytes {
    // A serde_json::Value always serializes.
    Bytes::from(serde_json::to_vec(&event.payload).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_event_store::{EventMetadata, StreamId};

    fn event() -> RecordedEvent {
        RecordedEvent {
            position: Position::new(7, 42),
            stream_id: StreamId::new("order-0190-abc").unwrap_or_else(|e| panic!("{e}")),
            stream_version: 3,
            event_id: uuid::Uuid::nil(),
            event_type: "ItemAdded".into(),
            schema_version: 1,
            payload: serde_json::json!({"sku": "A"}),
            metadata: EventMetadata {
                correlation_id: Some("c-1".into()),
                ..EventMetadata::default()
            },
            recorded_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn subject_uses_category_and_type() {
        assert_eq!(event_subject("of", &event()), "of.events.order.ItemAdded");
    }

    /// Every header the relay sets is one of the contract's (and so in the
    /// AsyncAPI document), and every header the contract always sets is set.
    #[test]
    fn the_relay_sets_only_and_all_contract_headers() {
        let mut e = event();
        e.metadata.causation_id = Some("cause".into());
        e.metadata.traceparent =
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
        let h = event_headers(&e, Position::new(7, 40));
        for (name, _) in h.iter() {
            let name: &str = name.as_ref();
            assert!(
                headers::ALL.iter().any(|c| c.name == name),
                "{name} is not in orderflow_wire::headers"
            );
        }
        for c in headers::ALL {
            assert!(h.get(c.name).is_some(), "{} not set", c.name);
        }
    }

    #[test]
    fn headers_carry_cloudevents_and_position() {
        let h = event_headers(&event(), Position::new(7, 40));
        let get = |k: &str| h.get(k).map(|v| v.as_str().to_owned());
        assert_eq!(get(headers::CE_SPECVERSION).as_deref(), Some("1.0"));
        assert_eq!(get(headers::CE_SUBJECT).as_deref(), Some("order-0190-abc"));
        assert_eq!(get(headers::CE_SOURCE).as_deref(), Some("orderflow/order"));
        assert_eq!(get(headers::POSITION).as_deref(), Some("7.42"));
        assert_eq!(get(headers::PREV_POSITION).as_deref(), Some("7.40"));
        assert_eq!(get(headers::CORRELATION_ID).as_deref(), Some("c-1"));
        assert_eq!(
            get(headers::CE_TIME).as_deref(),
            Some("1970-01-01T00:00:00.000000Z")
        );
        assert!(get(headers::TRACEPARENT).is_none());
    }
}
