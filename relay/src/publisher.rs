//! The leader's loop: read after the checkpoint, publish in order, await
//! the acks in order, checkpoint the last acked event.
//!
//! Order survives lost messages: each publish carries the stream sequence
//! it must follow (`Nats-Expected-Last-Sequence`). When a message is lost
//! (NATS restarted, connection dropped mid-batch) while later ones of the
//! pipelined batch still arrive, JetStream refuses those later ones instead
//! of storing them ahead of the lost one, and the relay publishes again from
//! the first unacknowledged event. The relay is the stream's only publisher.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, Context, message::PublishMessage};
use chrono::Utc;
use sqlx::PgConnection;

use orderflow_observability::{set_remote_parent, traceparent_of, tracing_exported};

use orderflow_event_store::{EventStore, Position, RecordedEvent};
use orderflow_wire::headers;

use crate::message::{event_body, event_headers, event_subject};
use crate::{RelayConfig, RelayError};

/// How often the leader checks that its lock connection still lives.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(1);

/// How often the leader measures the watermark's age.
const WATERMARK_INTERVAL: Duration = Duration::from_secs(1);

/// Under load the checkpoint is written at most this often (and always when
/// the relay goes idle). A checkpoint that falls behind only means events
/// are published again after a failover, which JetStream drops as duplicates
/// (`Nats-Msg-Id` within the duplicate window) and projectors skip by
/// position; writing it after every batch put a commit into every round.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Connects to NATS and makes sure the stream exists with our settings.
pub(crate) async fn connect(config: &RelayConfig) -> Result<Context, RelayError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(config.nats_url.as_str())
        .await
        .map_err(RelayError::nats)?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .build(client);
    crate::stream::ensure_stream(&js, config).await?;
    Ok(js)
}

/// Publishes until an error; returns only with one (or runs until cancelled).
pub(crate) async fn lead(
    store: &Arc<dyn EventStore>,
    lock: &mut PgConnection,
    js: &Context,
    config: &RelayConfig,
) -> Result<(), RelayError> {
    let mut checkpoint = store
        .relay_checkpoint(&config.relay_name)
        .await?
        .unwrap_or(Position::START);
    // The stream's last sequence as this relay knows it: from the server
    // now, then from each acknowledgement.
    let mut last_seq = js
        .get_stream(&config.stream_name)
        .await
        .map_err(RelayError::nats)?
        .cached_info()
        .state
        .last_sequence;
    // Made before the first read, so no commit after it goes unnoticed.
    let mut appended = store.append_signal();
    let mut saved = checkpoint;
    let mut last_save = Instant::now();
    let mut last_liveness = Instant::now();
    let mut last_watermark: Option<Instant> = None;
    loop {
        if last_watermark.is_none_or(|t| t.elapsed() >= WATERMARK_INTERVAL) {
            // How long the oldest open transaction has held the watermark
            // back: while it grows, nothing newer reaches the relay, the
            // projectors or read-your-writes.
            if let Some(age) = store.watermark().await?.age {
                metrics::gauge!("orderflow_store_watermark_age_seconds").set(age.as_secs_f64());
            }
            last_watermark = Some(Instant::now());
        }
        if last_liveness.elapsed() >= LIVENESS_INTERVAL {
            // A dead lock connection means a standby may be leading now.
            still_leader(lock).await?;
            last_liveness = Instant::now();
        }
        let events = store.read_all(checkpoint, config.batch_size.max(1)).await?;
        if events.is_empty() {
            if checkpoint > saved {
                save_checkpoint(store, lock, config, checkpoint).await?;
                saved = checkpoint;
                last_save = Instant::now();
                last_liveness = last_save;
            }
            metrics::gauge!("orderflow_relay_lag_seconds").set(0.0);
            // Woken by the next commit; the interval is the floor for a
            // commit that becomes readable only later (the watermark).
            appended.wait(config.poll_interval).await;
            continue;
        }
        let started = Instant::now();
        // Send the whole batch, then await acks in order: pipelined, but the
        // checkpoint only ever covers an unbroken acked prefix.
        let mut pending = Vec::with_capacity(events.len());
        let mut prev = checkpoint;
        let mut send_error = None;
        // The oldest event not yet published is the first one read.
        if let Some(first) = events.first() {
            metrics::gauge!("orderflow_relay_lag_seconds").set(age_seconds(first));
        }
        let traced = tracing_exported();
        for event in &events {
            let subject = event_subject(&config.subject_prefix, event);
            let mut headers = event_headers(event, prev);
            // With tracing on, each traced event gets a publish span, a
            // child of the append that stored it, and consumers see the
            // publish span as their parent. It ends when JetStream acks.
            let span = match (&event.metadata.traceparent, traced) {
                (Some(stored), true) => {
                    let span = publish_span(&subject, event, stored);
                    if let Some(tp) = traceparent_of(&span) {
                        headers.insert(headers::TRACEPARENT, tp.as_str());
                    }
                    Some(span)
                }
                _ => None,
            };
            // Assumes every message of the batch is new; a duplicate (an
            // event published before, by a relay that restarted from an
            // older checkpoint) breaks that, and is handled at its ack.
            let expected = last_seq + pending.len() as u64;
            let msg = PublishMessage::build()
                .payload(event_body(event))
                .headers(headers)
                .expected_last_sequence(expected);
            match js.send_publish(subject, msg).await {
                Ok(ack) => pending.push((event, ack, span)),
                Err(e) => {
                    send_error = Some(RelayError::nats(e));
                    break;
                }
            }
            prev = event.position;
        }
        let mut acked = checkpoint;
        let mut ack_error = None;
        let mut count = 0u64;
        let mut duplicates = 0u64;
        for (event, ack, span) in pending {
            match ack.await {
                Ok(ack) => {
                    acked = event.position;
                    if ack.duplicate {
                        // Already in the stream; it took no sequence.
                        duplicates += 1;
                    } else {
                        last_seq = ack.sequence;
                        count += 1;
                    }
                    metrics::histogram!("orderflow_relay_event_age_seconds")
                        .record(age_seconds(event));
                }
                Err(e) if duplicates > 0 && e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Expected by a guess that a duplicate made too high, so
                    // refused (as are the rest of the batch): publish again
                    // from here with the sequence the acks gave.
                    break;
                }
                Err(e) => {
                    if let Some(span) = &span {
                        span.in_scope(|| tracing::warn!(error = %e, "publish not acknowledged"));
                    }
                    ack_error = Some(RelayError::nats(e));
                    break;
                }
            }
        }
        if acked > checkpoint {
            checkpoint = acked;
            if last_save.elapsed() >= CHECKPOINT_INTERVAL {
                save_checkpoint(store, lock, config, acked).await?;
                saved = acked;
                last_save = Instant::now();
                last_liveness = last_save;
            }
            metrics::counter!("orderflow_relay_published_total").increment(count);
            metrics::counter!("orderflow_relay_duplicates_total").increment(duplicates);
            metrics::histogram!("orderflow_relay_batch_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        if let Some(e) = send_error.or(ack_error) {
            return Err(e);
        }
    }
}

/// Only while the lock connection lives: a relay that lost its lock stops
/// moving the checkpoint. (A write racing the loss is harmless: every
/// position this relay saves was acknowledged by JetStream.)
async fn save_checkpoint(
    store: &Arc<dyn EventStore>,
    lock: &mut PgConnection,
    config: &RelayConfig,
    position: Position,
) -> Result<(), RelayError> {
    still_leader(lock).await?;
    store
        .save_relay_checkpoint(&config.relay_name, position)
        .await?;
    Ok(())
}

/// A round trip on the lock connection; the lock lives as long as it does.
async fn still_leader(lock: &mut PgConnection) -> Result<(), RelayError> {
    sqlx::query("SELECT 1")
        .execute(lock)
        .await
        .map(drop)
        .map_err(|_| RelayError::LostLeadership)
}

/// Seconds since `event` was recorded (never negative).
fn age_seconds(event: &RecordedEvent) -> f64 {
    let micros = (Utc::now() - event.recorded_at)
        .num_microseconds()
        .unwrap_or(0);
    micros.max(0) as f64 / 1e6
}

fn publish_span(subject: &str, event: &RecordedEvent, stored: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "relay_publish",
        otel.name = %format_args!("{subject} publish"),
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.destination.name = %subject,
        position = %event.position,
        event_type = %event.event_type,
        correlation_id = event.metadata.correlation_id.as_deref().unwrap_or(""),
    );
    set_remote_parent(&span, stored);
    span
}
