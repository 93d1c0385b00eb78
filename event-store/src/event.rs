//! What goes into the store and what comes out of it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Position;

/// Longest stream id accepted; ids are `<category>-<id>`, far shorter.
pub const MAX_STREAM_ID_LEN: usize = 200;

/// A stream name such as `order-0190…`. The part before the first `-` is
/// the category, which the relay uses in NATS subjects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid stream id {0:?}: expected <category>-<id>, at most {MAX_STREAM_ID_LEN} printable ASCII characters"
)]
pub struct InvalidStreamId(String);

impl StreamId {
    pub fn new(id: impl Into<String>) -> Result<StreamId, InvalidStreamId> {
        let id = id.into();
        let valid = id.len() <= MAX_STREAM_ID_LEN
            && id.bytes().all(|b| b.is_ascii_graphic())
            && id
                .split_once('-')
                .is_some_and(|(c, rest)| !c.is_empty() && !rest.is_empty());
        if valid {
            Ok(StreamId(id))
        } else {
            Err(InvalidStreamId(id.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-`.
    pub fn category(&self) -> &str {
        // `new` guarantees a '-' with a non-empty part before it.
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidStreamId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        StreamId::new(s)
    }
}

impl From<StreamId> for String {
    fn from(s: StreamId) -> String {
        s.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes about the stream before its append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append after whatever is there.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version (versions
    /// start at 1, so `Exact(0)` means the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `actual` (0 = empty) satisfies this.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => v == actual,
        }
    }
}

/// Who did what and why; stored beside every event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// Who asked: the bearer token's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The actor's orderflow roles when it acted (the audit trail should not
    /// depend on what the identity provider says later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actor_roles: Vec<String>,
    /// The OAuth client the actor's token was issued to (`azp`/`client_id`),
    /// which names the service for client-credentials tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_client_id: Option<String>,
    /// W3C trace context, so one trace can follow an event across services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Chosen by the writer so that a retried append is recognised.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

/// A response to remember under an `Idempotency-Key`, written in the same
/// transaction as the events it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyClaim {
    pub key: String,
    /// Hash of what the client sent, to tell a retry from a reused key.
    pub request_hash: String,
    pub response: serde_json::Value,
    /// How long the key is remembered, from its append's commit by the
    /// store's clock. An expired key is new again: lookups ignore it and
    /// the next append with it replaces it in its own transaction.
    pub ttl: Duration,
}

impl IdempotencyClaim {
    /// How long an `Idempotency-Key` is remembered unless configured.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
}

/// A remembered response, as found by a later request with the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub key: String,
    pub request_hash: String,
    pub response: serde_json::Value,
    pub stream_id: StreamId,
    /// The stream's version and the log position right after the append.
    pub result: AppendResult,
}

/// One append: events for one stream, all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    pub stream_id: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub idempotency: Option<IdempotencyClaim>,
}

impl AppendRequest {
    pub fn new(stream_id: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        AppendRequest {
            stream_id,
            expected,
            events,
            idempotency: None,
        }
    }
}

/// Where a successful append left the stream and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResult {
    /// The stream's version after the append (the version of its last event).
    pub stream_version: u64,
    /// The position of the append's last event.
    pub position: Position,
}

/// An event as bulk readers (rebuilds) need it: no metadata, no ids, the
/// payload as JSON text so it can be parsed straight into its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub position: Position,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
}

impl From<RecordedEvent> for RawEvent {
    fn from(e: RecordedEvent) -> RawEvent {
        RawEvent {
            position: e.position,
            stream_id: e.stream_id.into(),
            stream_version: e.stream_version,
            event_type: e.event_type,
            schema_version: e.schema_version,
            // A serde_json::Value always serializes.
            payload: e.payload.to_string(),
        }
    }
}
