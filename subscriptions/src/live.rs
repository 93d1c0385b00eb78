//! Live feed: a durable pull consumer per subscriber on the relay's stream.
//!
//! JetStream is transport, not truth: each message says which position came
//! before it (`Orderflow-Prev-Position`). Only a message whose predecessor is
//! the subscriber's checkpoint is handled from the stream (see
//! [`unbroken_run`]); anything else (a consumer created late, messages aged
//! out, a relay failover) sends the runner back to the store to catch up.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use orderflow_event_store::{EventMetadata, Position, RecordedEvent, StreamId};
use orderflow_wire::headers;

use crate::RuntimeConfig;
use crate::error::SubscriptionError;

pub(crate) struct LiveFeed {
    messages: pull::Stream,
}

impl LiveFeed {
    pub async fn open(
        js: &jetstream::Context,
        config: &RuntimeConfig,
        subscriber: &str,
    ) -> Result<LiveFeed, SubscriptionError> {
        let stream = js
            .get_stream(&config.stream_name)
            .await
            .map_err(SubscriptionError::nats)?;
        let name = config.consumer_name(subscriber);
        let wanted = pull::Config {
            durable_name: Some(name.clone()),
            // A new consumer starts at the tail: the runner has
            // just caught up from the store, and a gap is detected.
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            // Acking a batch's last message acks the whole batch: one ack
            // per batch instead of one per message (and per subscriber).
            ack_policy: jetstream::consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 20_000,
            ..Default::default()
        };
        let mut consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(&name, wanted.clone())
            .await
            .map_err(SubscriptionError::nats)?;
        if consumer.cached_info().config.ack_policy != wanted.ack_policy {
            // Made by an older build; an ack policy cannot be changed in
            // place. Starting over at the tail is safe: gaps go to the store.
            stream
                .delete_consumer(&name)
                .await
                .map_err(SubscriptionError::nats)?;
            consumer = stream
                .create_consumer(wanted)
                .await
                .map_err(SubscriptionError::nats)?;
        }
        let messages = consumer
            .stream()
            .max_messages_per_batch(config.batch_size.max(1))
            .heartbeat(Duration::from_secs(2))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .map_err(SubscriptionError::nats)?;
        Ok(LiveFeed { messages })
    }

    /// Up to `max` messages once at least one arrives; `None` after `wait`
    /// without any.
    pub async fn next_batch(
        &mut self,
        wait: Duration,
        max: usize,
    ) -> Result<Option<Vec<jetstream::Message>>, SubscriptionError> {
        let first = match tokio::time::timeout(wait, self.messages.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err(SubscriptionError::Nats("consumer stream ended".into())),
            Ok(Some(Err(e))) => return Err(SubscriptionError::nats(e)),
            Ok(Some(Ok(m))) => m,
        };
        let mut out = vec![first];
        while out.len() < max {
            match self.messages.next().now_or_never() {
                Some(Some(Ok(m))) => out.push(m),
                _ => break,
            }
        }
        Ok(Some(out))
    }
}

/// The stored event a relay message carries, and its predecessor's position.
fn to_event(m: &jetstream::Message) -> Option<(RecordedEvent, Position)> {
    let h = m.headers.as_ref()?;
    let get = |k: &str| h.get(k).map(|v| v.as_str());
    let position: Position = get(headers::POSITION)?.parse().ok()?;
    let prev: Position = get(headers::PREV_POSITION)?.parse().ok()?;
    let recorded_at: DateTime<Utc> = get(headers::CE_TIME)?.parse().ok()?;
    let event = RecordedEvent {
        position,
        stream_id: StreamId::new(get(headers::CE_SUBJECT)?).ok()?,
        stream_version: get(headers::STREAM_VERSION)?.parse().ok()?,
        event_id: get(headers::CE_ID)?.parse().ok()?,
        event_type: get(headers::CE_TYPE)?.to_owned(),
        schema_version: get(headers::SCHEMA_VERSION)?.parse().ok()?,
        payload: serde_json::from_slice(&m.payload).ok()?,
        metadata: EventMetadata {
            correlation_id: get(headers::CORRELATION_ID).map(str::to_owned),
            causation_id: get(headers::CAUSATION_ID).map(str::to_owned),
            traceparent: get(headers::TRACEPARENT).map(str::to_owned),
            ..EventMetadata::default()
        },
        recorded_at,
    };
    Some((event, prev))
}

/// The events of `msgs` that continue the checkpoint `after` without a
/// break, and whether the batch was whole: `false` when a gap or an
/// unreadable message cut it short (the store must fill in). Messages at or
/// below `after` (redeliveries) are dropped.
pub(crate) fn unbroken_run(
    msgs: &[jetstream::Message],
    after: Position,
) -> (Vec<RecordedEvent>, bool) {
    let mut expected = after;
    let mut events = Vec::with_capacity(msgs.len());
    for m in msgs {
        match to_event(m) {
            Some((e, _)) if e.position <= expected => {}
            Some((e, prev)) if prev == expected => {
                expected = e.position;
                events.push(e);
            }
            _ => return (events, false),
        }
    }
    (events, true)
}
