//! Live feed: one ordered consumer per runtime on the relay's stream, each
//! message decoded once and handed to every subscriber the runtime runs.
//!
//! JetStream is transport, not truth: each message says which position came
//! before it (`Orderflow-Prev-Position`). Only a message whose predecessor is
//! the subscriber's checkpoint is handled from the stream (see
//! [`unbroken_run`]); anything else (a subscriber that fell behind the
//! feed, messages aged out, a relay failover, a consumer recreated) sends
//! the runner back to the store to catch up. So the feed needs no acks and
//! no durable state: an ephemeral consumer, started at the tail, serves
//! every subscriber, and NATS parses and sends each event once per process
//! instead of once per subscriber.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use orderflow_event_store::{EventMetadata, Position, RecordedEvent, StreamId};
use orderflow_wire::headers;
use tokio::sync::broadcast;

use crate::RuntimeConfig;
use crate::error::SubscriptionError;

/// One message as the feed hands it on: the event and its predecessor's
/// position, or `None` for a message that cannot be read (a break in the
/// run: the store fills in).
pub(crate) type LiveEvent = Option<(RecordedEvent, Position)>;

/// Messages taken from the consumer at once and sent as one item.
const FEED_BATCH: usize = 256;

/// Items the feed keeps for a subscriber that has not taken them yet (one
/// that is catching up from the store, or handling a long batch). A
/// subscriber further behind than this is told it lagged, and catches up
/// from the store.
const FEED_BUFFER: usize = 4096;

/// The runtime's live feed: a task consuming the stream, and the handle
/// subscribers listen on.
#[derive(Clone)]
pub(crate) struct SharedFeed {
    tx: broadcast::Sender<Arc<[LiveEvent]>>,
    attached: Arc<AtomicBool>,
    _task: Arc<AbortOnDrop>,
}

/// Stops the feed's task with the last handle (its consumer then expires
/// on the server).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl SharedFeed {
    /// Starts the feed's task; it ends with the last handle.
    pub fn start(client: async_nats::Client, config: &RuntimeConfig) -> SharedFeed {
        let (tx, _) = broadcast::channel(FEED_BUFFER);
        let attached = Arc::new(AtomicBool::new(false));
        let js = jetstream::new(client);
        let stream_name = config.stream_name.clone();
        let task = {
            let (tx, attached) = (tx.clone(), Arc::clone(&attached));
            tokio::spawn(async move {
                loop {
                    let e = consume(&js, &stream_name, &tx, &attached).await;
                    tracing::debug!(stream = %stream_name, error = %e, "live feed lost; subscribers read the store");
                    attached.store(false, Ordering::Relaxed);
                    // Whatever was on the way is lost: tell listeners, whose
                    // next run will not join up and so goes to the store.
                    let _ = tx.send(Arc::from([None]));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        SharedFeed {
            tx,
            attached,
            _task: Arc::new(AbortOnDrop(task.abort_handle())),
        }
    }

    /// Whether messages are flowing to listeners now.
    pub fn attached(&self) -> bool {
        self.attached.load(Ordering::Relaxed)
    }

    /// A listener that gets every message from now on.
    pub fn listen(&self) -> Listener {
        Listener {
            rx: self.tx.subscribe(),
        }
    }
}

/// Consumes the stream until the consumer fails; returns why.
async fn consume(
    js: &jetstream::Context,
    stream_name: &str,
    tx: &broadcast::Sender<Arc<[LiveEvent]>>,
    attached: &AtomicBool,
) -> SubscriptionError {
    match attach(js, stream_name).await {
        Ok(mut messages) => {
            attached.store(true, Ordering::Relaxed);
            loop {
                let first = match messages.next().await {
                    None => return SubscriptionError::Nats("consumer stream ended".into()),
                    Some(Err(e)) => return SubscriptionError::nats(e),
                    Some(Ok(m)) => m,
                };
                let mut out = vec![to_event(&first)];
                while out.len() < FEED_BATCH {
                    match messages.next().now_or_never() {
                        Some(Some(Ok(m))) => out.push(to_event(&m)),
                        _ => break,
                    }
                }
                // No listener yet is fine: a subscriber listens before it
                // catches up, so it cannot miss what it needs.
                let _ = tx.send(Arc::from(out));
            }
        }
        Err(e) => e,
    }
}

/// An ephemeral ordered consumer at the stream's tail.
async fn attach(
    js: &jetstream::Context,
    stream_name: &str,
) -> Result<pull::Ordered, SubscriptionError> {
    let stream = js
        .get_stream(stream_name)
        .await
        .map_err(SubscriptionError::nats)?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            // At the tail: listeners have just caught up from the store,
            // or will notice the gap and do so.
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            description: Some("orderflow subscription runtime live feed".into()),
            ..Default::default()
        })
        .await
        .map_err(SubscriptionError::nats)?;
    consumer.messages().await.map_err(SubscriptionError::nats)
}

/// One subscriber's end of the feed.
pub(crate) struct Listener {
    rx: broadcast::Receiver<Arc<[LiveEvent]>>,
}

/// What [`Listener::next_batch`] got.
pub(crate) enum Received {
    Events(Vec<Arc<[LiveEvent]>>),
    /// Nothing within the wait.
    Quiet,
    /// Messages were dropped for this listener (it fell behind the feed's
    /// buffer): catch up from the store.
    Lagged,
}

impl Listener {
    /// What arrived, once at least one item did (everything buffered up to
    /// about `max` events); [`Received::Quiet`] after `wait` without any.
    pub async fn next_batch(&mut self, wait: Duration, max: usize) -> Received {
        let first = match tokio::time::timeout(wait, self.rx.recv()).await {
            Err(_) => return Received::Quiet,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => return Received::Lagged,
            // The feed is gone with its runtime; nothing more will come.
            Ok(Err(broadcast::error::RecvError::Closed)) => return Received::Quiet,
            Ok(Ok(item)) => item,
        };
        let mut n = first.len();
        let mut out = vec![first];
        while n < max {
            match self.rx.try_recv() {
                Ok(item) => {
                    n += item.len();
                    out.push(item);
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => return Received::Lagged,
                Err(_) => break,
            }
        }
        Received::Events(out)
    }
}

/// The stored event a relay message carries, and its predecessor's position.
fn to_event(m: &jetstream::Message) -> LiveEvent {
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

/// The events of `items` that continue the checkpoint `after` without a
/// break, and whether they were whole: `false` when a gap or an unreadable
/// message cut them short (the store must fill in). Events at or below
/// `after` (duplicates, or what the store already gave) are dropped.
pub(crate) fn unbroken_run(
    items: &[Arc<[LiveEvent]>],
    after: Position,
) -> (Vec<RecordedEvent>, bool) {
    let mut expected = after;
    let mut events = Vec::new();
    for item in items.iter().flat_map(|batch| batch.iter()) {
        match item {
            Some((e, _)) if e.position <= expected => {}
            Some((e, prev)) if *prev == expected => {
                expected = e.position;
                events.push(e.clone());
            }
            _ => return (events, false),
        }
    }
    (events, true)
}
