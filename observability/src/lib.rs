//! What every orderflow service shares: Prometheus metrics, correlation ids
//! on requests and in logs, `/healthz` `/readyz` `/metrics`, browser pages
//! served from the binary, and shutdown on SIGTERM or Ctrl-C; the tracing
//! subscriber (text or JSON logs, OTLP span export) and W3C trace context
//! helpers.

mod correlation;
mod descriptions;
mod health;
mod http_metrics;
mod pages;
mod prometheus;
mod shutdown;
mod telemetry;
mod trace_context;

pub use correlation::{CORRELATION_HEADER, CorrelationId, correlation_layer};
pub use health::{
    ReadinessCheck, health_routes, health_routes_noting, metrics_response, probe_routes_noting,
};
pub use http_metrics::http_metrics_layer;
pub use pages::{Caching, PAGE_CSP, StaticFile, page_response, static_routes};
pub use prometheus::prometheus_handle;
pub use shutdown::shutdown_signal;
pub use telemetry::{
    CorrelationFields, LogFormat, OTLP_ENDPOINT_ENV, SERVICE_NAME_ENV, TelemetryConfig,
    TelemetryGuard, init_telemetry, json_layer, otel_layer,
};
pub use trace_context::{
    TRACEPARENT_HEADER, context_from_traceparent, current_traceparent, link_remote,
    set_remote_parent, trace_id_of, traceparent_of, tracing_exported,
};
