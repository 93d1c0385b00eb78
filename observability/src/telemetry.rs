//! The process's `tracing` subscriber: log lines (text or JSON) on stderr,
//! and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans exported over OTLP
//! (gRPC) to a collector.

use std::fmt::Write as _;
use std::str::FromStr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{self, Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, span fields (the correlation id among them)
    /// before the message.
    #[default]
    Text,
    /// One JSON object per line, with `correlation_id` at the top level when
    /// the event happened inside a request.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// What [`init_telemetry`] sets up.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name` of exported spans.
    pub service_name: String,
    /// Filter used when `RUST_LOG` is not set (tracing filter syntax).
    pub default_filter: String,
    pub log_format: LogFormat,
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; `None`
    /// exports nothing.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads `OTEL_SERVICE_NAME` (else `default_service`) and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (unset or empty: no export).
    pub fn from_env(default_service: &str, default_filter: &str, log_format: LogFormat) -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        TelemetryConfig {
            service_name: var(SERVICE_NAME_ENV).unwrap_or_else(|| default_service.to_owned()),
            default_filter: default_filter.to_owned(),
            log_format,
            otlp_endpoint: var(OTLP_ENDPOINT_ENV),
        }
    }
}

/// Flushes and stops the span exporter when dropped; keep it alive for as
/// long as the process runs.
#[derive(Debug, Default)]
#[must_use = "dropping the guard stops span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("could not flush the last spans: {e}");
        }
    }
}

/// Installs the global subscriber: `RUST_LOG` (else the default filter),
/// log lines on stderr in the chosen format, and the OTLP span exporter if
/// an endpoint is configured. Must run inside the Tokio runtime (the gRPC
/// client needs it). An exporter that cannot be built is logged and
/// skipped: telemetry never stops the service.
pub fn init_telemetry(config: &TelemetryConfig) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(&config.default_filter));
    let (provider, export_error) = match &config.otlp_endpoint {
        None => (None, None),
        Some(endpoint) => match otlp_provider(endpoint, &config.service_name) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        },
    };
    let otel = provider
        .as_ref()
        .map(|p| otel_layer(p).with_filter(not_exporter_internals()));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match config.log_format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .boxed(),
            )
            .init(),
        LogFormat::Json => registry
            .with(CorrelationFields)
            .with(json_layer(std::io::stderr))
            .init(),
    }
    match (&config.otlp_endpoint, export_error) {
        (Some(endpoint), None) => tracing::info!(
            endpoint = %endpoint,
            service = %config.service_name,
            "exporting spans over OTLP"
        ),
        (Some(endpoint), Some(e)) => {
            tracing::warn!(endpoint = %endpoint, error = %e, "cannot export spans; continuing without")
        }
        _ => {}
    }
    TelemetryGuard { provider }
}

fn otlp_provider(endpoint: &str, service: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .with_batch_exporter(exporter)
        .build())
}

/// The OpenTelemetry layer over `provider`'s tracer. Installing it turns on
/// [`crate::tracing_exported`].
pub fn otel_layer<S>(
    provider: &SdkTracerProvider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    crate::trace_context::mark_exporting();
    tracing_opentelemetry::layer().with_tracer(provider.tracer("orderflow"))
}

/// The exporter's own HTTP/2 client must not produce spans that are then
/// exported (a loop that never goes quiet).
fn not_exporter_internals() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("h2", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
}

/// JSON lines with `correlation_id` lifted to the top level, writing to
/// `writer`. Needs [`CorrelationFields`] in the same subscriber.
pub fn json_layer<S, W>(writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_writer(writer)
        .event_format(CorrelatedJson(
            format::format()
                .json()
                .with_current_span(true)
                .with_span_list(true),
        ))
        .boxed()
}

/// The correlation id a span was created with (its `correlation_id` field).
#[derive(Debug, Clone)]
struct SpanCorrelation(String);

/// Remembers each span's `correlation_id` field so JSON lines can show it
/// at the top level, whichever span inside the request logged.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationFields;

impl<S> Layer<S> for CorrelationFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = FindCorrelation(None);
        attrs.record(&mut found);
        if let (Some(value), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(SpanCorrelation(value));
        }
    }
}

struct FindCorrelation(Option<String>);

impl Visit for FindCorrelation {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "correlation_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "correlation_id" {
            let mut s = String::new();
            let _ = write!(s, "{value:?}");
            self.0 = Some(s);
        }
    }
}

struct CorrelatedJson(Format<Json>);

impl<S, N> FormatEvent<S, N> for CorrelatedJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let correlation = ctx.event_scope().and_then(|scope| {
            scope.into_iter().find_map(|span| {
                span.extensions()
                    .get::<SpanCorrelation>()
                    .map(|c| c.0.clone())
            })
        });
        match (correlation, line.strip_prefix('{')) {
            (Some(id), Some(rest)) => {
                let id = serde_json::Value::String(id);
                write!(writer, "{{\"correlation_id\":{id},{rest}")
            }
            _ => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_the_correlation_id_as_a_field() {
        let out = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(CorrelationFields)
            .with(json_layer(out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("http_request", correlation_id = %"req-42");
            let _r = request.enter();
            let inner = tracing::info_span!("append", stream = "order-1");
            let _i = inner.enter();
            tracing::info!(events = 2, "appended");
        });
        tracing::subscriber::with_default(
            tracing_subscriber::registry()
                .with(CorrelationFields)
                .with(json_layer(out.clone())),
            || tracing::info!("outside any request"),
        );
        let text = String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["correlation_id"], "req-42");
        assert_eq!(lines[0]["fields"]["message"], "appended");
        assert_eq!(lines[0]["fields"]["events"], 2);
        assert_eq!(lines[0]["span"]["name"], "append");
        assert!(lines[1].get("correlation_id").is_none());
        assert_eq!(lines[1]["fields"]["message"], "outside any request");
    }

    #[test]
    fn log_formats_parse() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("TEXT".parse(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
