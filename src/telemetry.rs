//! Logging and tracing setup shared by every subcommand.

use orderflow_observability::{LogFormat, TelemetryConfig, TelemetryGuard, init_telemetry};

/// `RUST_LOG` wins over the `--log` flag; both take tracing filter syntax.
/// Spans are exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// set, as service `OTEL_SERVICE_NAME` (else `service`). Keep the guard
/// until the process ends: dropping it flushes the last spans.
pub fn init(service: &str, default_filter: &str, format: LogFormat) -> TelemetryGuard {
    init_telemetry(&TelemetryConfig::from_env(service, default_filter, format))
}
