//! One trace follows a command: the caller's span → `http_request` →
//! `command` → `append` (its context stored with the event) → the relay's
//! `relay_publish`, one per event (its context in the NATS `traceparent`
//! header) → the projector's `subscription_batch`. Spans go to an
//! in-memory exporter.

use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use orderflow_event_store::{EventStore, Position};
use orderflow_observability::trace_id_of;
use orderflow_relay::headers;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::{Stack, nats_url};

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn span_id_of(traceparent: &str) -> SpanId {
    SpanId::from_hex(traceparent.split('-').nth(2).unwrap()).unwrap()
}

fn find<'a>(spans: &'a [SpanData], trace: TraceId, name: &str) -> Vec<&'a SpanData> {
    spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace && s.name == name)
        .collect()
}

// The subscriber is the process's default: a thread-local one races with
// the other test of this binary over tracing's per-callsite interest cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_command_to_the_read_model() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber =
        tracing_subscriber::registry().with(orderflow_observability::otel_layer(&provider));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let p = Stack::start().await;
    let (id, position) = p.create_sample_order(&[("traceparent", CALLER)]).await;
    p.query_order(&id, &position).await;
    let trace = trace_id_of(CALLER).unwrap();

    // The stored event carries the append span's context, in the caller's trace.
    let events = p.store.read_all(Position::START, 100).await.unwrap();
    let stored = events[0]
        .metadata
        .traceparent
        .clone()
        .expect("stored traceparent");
    assert_eq!(trace_id_of(&stored), Some(trace), "{stored}");
    let stored_events = events
        .iter()
        .filter(|e| e.metadata.traceparent.as_deref() == Some(stored.as_str()))
        .count();
    assert!(stored_events > 1, "OrderCreated and its ItemAdded");

    // The relay's message carries its publish span's context, same trace.
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let mut published = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while published.is_none() {
        if let Ok(stream) = js.get_stream(&p.stream_name).await
            && let Ok(m) = stream.get_raw_message(1).await
        {
            published = m
                .headers
                .get(headers::TRACEPARENT)
                .map(|v| v.as_str().to_owned());
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let published = published.unwrap();
    assert_eq!(trace_id_of(&published), Some(trace), "{published}");
    assert_ne!(published, stored, "the header names the publish span");

    // Spans end a little after the work they time: wait for the batch.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let _ = provider.force_flush();
        let spans = exporter.get_finished_spans().unwrap();
        let published_spans = spans
            .iter()
            .filter(|s| s.span_context.trace_id() == trace && s.name.ends_with(" publish"))
            .count();
        if !find(&spans, trace, "subscription_batch").is_empty() && published_spans == stored_events
        {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans of the trace: {:#?}",
            spans
                .iter()
                .filter(|s| s.span_context.trace_id() == trace)
                .map(|s| &s.name)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let http = find(&spans, trace, "POST /orders");
    assert_eq!(http.len(), 1);
    assert_eq!(http[0].parent_span_id, span_id_of(CALLER));
    let command = find(&spans, trace, "command");
    assert_eq!(command[0].parent_span_id, http[0].span_context.span_id());
    let append = find(&spans, trace, "append");
    assert_eq!(append[0].parent_span_id, command[0].span_context.span_id());
    assert_eq!(append[0].span_context.span_id(), span_id_of(&stored));
    // The relay gives each event its own publish span, all children of
    // the one append; the command stored more than one event.
    let publishes: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace && s.name.ends_with(" publish"))
        .collect();
    assert_eq!(publishes.len(), stored_events, "one publish span per event");
    for publish in &publishes {
        assert_eq!(publish.parent_span_id, append[0].span_context.span_id());
    }
    let first = find(
        &spans,
        trace,
        &format!("{}.events.order.OrderCreated publish", p.prefix),
    );
    assert_eq!(first[0].span_context.span_id(), span_id_of(&published));
    // Each projection's batch continues the trace: from the live feed it
    // follows the publish span of its first event (a batch may start at
    // any of the command's events), when caught up from the store the
    // append.
    let batches = find(&spans, trace, "subscription_batch");
    assert!(!batches.is_empty());
    let parents: Vec<SpanId> = publishes
        .iter()
        .map(|s| s.span_context.span_id())
        .chain([append[0].span_context.span_id()])
        .collect();
    for b in &batches {
        assert!(parents.contains(&b.parent_span_id), "{b:?}");
    }
    p.finish().await;
}
