//! What every orderflow service shares: Prometheus metrics, correlation ids
//! on requests and in logs, `/healthz` `/readyz` `/metrics`, and shutdown on
//! SIGTERM or Ctrl-C.

mod correlation;
mod health;
mod http_metrics;
mod prometheus;
mod shutdown;

pub use correlation::{CORRELATION_HEADER, CorrelationId, correlation_layer};
pub use health::{ReadinessCheck, health_routes};
pub use http_metrics::http_metrics_layer;
pub use prometheus::prometheus_handle;
pub use shutdown::shutdown_signal;
