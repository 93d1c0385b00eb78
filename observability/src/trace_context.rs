//! W3C trace context (`traceparent`) between `tracing` spans and the places
//! it travels: HTTP headers, event metadata, NATS headers.
//!
//! Everything here is a no-op unless an OpenTelemetry layer is installed
//! (see [`crate::init_telemetry`] and [`crate::otel_layer`]): spans then
//! have no OpenTelemetry context, and [`traceparent_of`] says `None`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT_HEADER: &str = "traceparent";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether an OpenTelemetry layer was installed in this process. Hot paths
/// (the relay's per-event spans) skip trace work when it was not.
pub fn tracing_exported() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

pub(crate) fn mark_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

/// The span's context as a `traceparent` value, if the span is recorded by
/// OpenTelemetry.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT_HEADER)
}

/// [`traceparent_of`] the current span.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The remote context a `traceparent` value names, if it is well formed.
pub fn context_from_traceparent(traceparent: &str) -> Option<Context> {
    let carrier = HashMap::from([(TRACEPARENT_HEADER.to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// The trace id of a `traceparent` value, if it is well formed.
pub fn trace_id_of(traceparent: &str) -> Option<TraceId> {
    context_from_traceparent(traceparent).map(|cx| cx.span().span_context().trace_id())
}

/// Makes `span` a child of the remote span `traceparent` names. Call before
/// the span is first entered; ignored when the value is malformed or no
/// OpenTelemetry layer is installed.
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    if let Some(cx) = context_from_traceparent(traceparent) {
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the remote span `traceparent` names (for a span that
/// handles many traces' work at once, like a projector batch).
pub fn link_remote(span: &tracing::Span, traceparent: &str) {
    if let Some(cx) = context_from_traceparent(traceparent) {
        span.add_link(cx.span().span_context().clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_well_formed_traceparents_only() {
        assert_eq!(
            trace_id_of(TP).map(|t| t.to_string()).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert!(trace_id_of("00-zz-b7ad6b7169203331-01").is_none());
        assert!(trace_id_of("").is_none());
        assert!(trace_id_of("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none());
    }

    #[test]
    fn spans_without_an_otel_layer_have_no_traceparent() {
        let span = tracing::info_span!("plain");
        assert!(traceparent_of(&span).is_none());
        // And setting a parent on them is harmless.
        set_remote_parent(&span, TP);
        link_remote(&span, TP);
    }
}

#[cfg(test)]
mod otel_tests {
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn child_spans_continue_the_remote_trace() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(crate::otel_layer(&provider));
        let remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let (outer_tp, inner_tp) = tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer");
            set_remote_parent(&outer, remote);
            let _o = outer.enter();
            let inner = tracing::info_span!("inner");
            (traceparent_of(&outer), traceparent_of(&inner))
        });
        let (outer_tp, inner_tp) = (outer_tp.unwrap_or_default(), inner_tp.unwrap_or_default());
        assert_eq!(trace_id_of(&outer_tp), trace_id_of(remote));
        assert_eq!(trace_id_of(&inner_tp), trace_id_of(remote));
        assert_ne!(outer_tp, inner_tp, "each span has its own span id");
        assert!(tracing_exported());
        let _ = provider.force_flush();
        let spans = exporter.get_finished_spans().unwrap_or_default();
        let outer = spans.iter().find(|s| s.name == "outer");
        assert_eq!(
            outer.map(|s| s.parent_span_id.to_string()).as_deref(),
            Some("b7ad6b7169203331")
        );
    }
}
