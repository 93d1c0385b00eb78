//! How one stored event looks on NATS: subject, CloudEvents headers, body.

use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::SecondsFormat;

use crate::{Position, RecordedEvent};

/// Header names, shared with the consumers that parse them.
pub mod headers {
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const CE_SPECVERSION: &str = "ce-specversion";
    pub const CE_ID: &str = "ce-id";
    pub const CE_TYPE: &str = "ce-type";
    pub const CE_SOURCE: &str = "ce-source";
    pub const CE_TIME: &str = "ce-time";
    pub const CE_SUBJECT: &str = "ce-subject";
    pub const CE_DATACONTENTTYPE: &str = "ce-datacontenttype";
    pub const POSITION: &str = "Orderflow-Position";
    /// Position of the event published just before this one (or the relay's
    /// checkpoint): a consumer whose checkpoint differs has missed something
    /// and reads the store instead of trusting the stream.
    pub const PREV_POSITION: &str = "Orderflow-Prev-Position";
    pub const STREAM_VERSION: &str = "Orderflow-Stream-Version";
    pub const SCHEMA_VERSION: &str = "Orderflow-Schema-Version";
    pub const CORRELATION_ID: &str = "Orderflow-Correlation-Id";
    pub const CAUSATION_ID: &str = "Orderflow-Causation-Id";
    pub const TRACEPARENT: &str = "traceparent";
}

/// `<prefix>.events.<category>.<EventType>`. Subject tokens cannot hold
/// spaces, dots or wildcards, so any such character becomes `_`.
pub fn event_subject(prefix: &str, event: &RecordedEvent) -> String {
    format!(
        "{prefix}.events.{}.{}",
        token(event.stream_id.category()),
        token(&event.event_type)
    )
}

fn token(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// CloudEvents (NATS binding, binary mode) plus orderflow's own headers.
pub fn event_headers(event: &RecordedEvent, prev: Position) -> HeaderMap {
    let mut h = HeaderMap::new();
    let id = event.event_id.to_string();
    h.insert(headers::MSG_ID, id.as_str());
    h.insert(headers::CE_SPECVERSION, "1.0");
    h.insert(headers::CE_ID, id);
    h.insert(headers::CE_TYPE, event.event_type.as_str());
    h.insert(
        headers::CE_SOURCE,
        format!("orderflow/{}", event.stream_id.category()),
    );
    h.insert(
        headers::CE_TIME,
        event
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    h.insert(headers::CE_SUBJECT, event.stream_id.as_str());
    h.insert(headers::CE_DATACONTENTTYPE, "application/json");
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
    use crate::{EventMetadata, StreamId};

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
        assert_eq!(token("a.b c*>"), "a_b_c__");
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
