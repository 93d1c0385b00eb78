//! The headers of an event message on NATS: CloudEvents (NATS binding,
//! binary mode) plus orderflow's own. The body is the event's payload JSON.

/// One header of the contract, as the AsyncAPI document describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub name: &'static str,
    pub description: &'static str,
    /// Set on every message (otherwise only when the event has the value).
    pub always: bool,
}

/// Declares each header once: the constant and its row in [`ALL`], so a
/// header cannot be named here without being documented.
macro_rules! headers {
    ($( $(#[doc = $doc:literal])+ $name:ident = $value:literal, $always:literal; )+) => {
        $( $(#[doc = $doc])+ pub const $name: &str = $value; )+

        /// Every header above, in declaration order.
        pub const ALL: &[Header] = &[
            $( Header { name: $value, description: concat!($($doc),+), always: $always }, )+
        ];
    };
}

headers! {
    /// The event id; JetStream de-duplicates on it.
    MSG_ID = "Nats-Msg-Id", true;
    /// CloudEvents version, always 1.0.
    CE_SPECVERSION = "ce-specversion", true;
    /// The event id (UUIDv7).
    CE_ID = "ce-id", true;
    /// The event type, e.g. OrderCreated.
    CE_TYPE = "ce-type", true;
    /// orderflow/<stream category>.
    CE_SOURCE = "ce-source", true;
    /// When the event was recorded (RFC 3339, microseconds, UTC).
    CE_TIME = "ce-time", true;
    /// The stream id, e.g. order-<uuid>.
    CE_SUBJECT = "ce-subject", true;
    /// The body's media type, always application/json.
    CE_DATACONTENTTYPE = "ce-datacontenttype", true;
    /// Position token of the event in the store's global order.
    POSITION = "Orderflow-Position", true;
    /// Position token of the event published just before this one (or the
    /// relay's checkpoint): a consumer whose checkpoint differs has missed
    /// something and reads the store instead of trusting the stream.
    PREV_POSITION = "Orderflow-Prev-Position", true;
    /// The event's version within its stream.
    STREAM_VERSION = "Orderflow-Stream-Version", true;
    /// The payload's schema version.
    SCHEMA_VERSION = "Orderflow-Schema-Version", true;
    /// Correlation id of the request that caused the event.
    CORRELATION_ID = "Orderflow-Correlation-Id", false;
    /// Id of the message or command that caused the event.
    CAUSATION_ID = "Orderflow-Causation-Id", false;
    /// W3C trace context: the relay's publish span when tracing is on,
    /// else the trace of the append that stored the event.
    TRACEPARENT = "traceparent", false;
}

/// The value of [`CE_SPECVERSION`].
pub const SPECVERSION: &str = "1.0";

/// The value of [`CE_DATACONTENTTYPE`].
pub const DATACONTENTTYPE: &str = "application/json";

/// The value of [`CE_SOURCE`] for events of a stream category.
pub fn source(category: &str) -> String {
    format!("orderflow/{category}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_is_listed_once_with_a_description() {
        let mut names: Vec<&str> = ALL.iter().map(|h| h.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|h| !h.description.trim().is_empty()));
        assert!(ALL.iter().any(|h| h.name == PREV_POSITION && h.always));
    }
}
