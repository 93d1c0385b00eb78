//! Correlation ids: taken from `X-Correlation-Id` when the client sends a
//! sane one, generated otherwise, echoed on the response, stored with
//! events, and attached to the request's tracing span so every log line of
//! the request carries it. An incoming W3C `traceparent` becomes the
//! request span's parent.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
const MAX_LEN: usize = 128;

/// The request's correlation id, available as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(pub String);

fn acceptable(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Middleware (use with `axum::middleware::from_fn`).
pub async fn correlation_layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        route = %route,
        correlation_id = %id,
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
    );
    // A caller that traces hands its context over; this request's span
    // (and what the command appends) continues that trace.
    if let Some(parent) = request
        .headers()
        .get(crate::TRACEPARENT_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        crate::set_remote_parent(&span, parent);
    }
    request.extensions_mut().insert(CorrelationId(id.clone()));
    // With "request finished", tells (at debug level) which requests a
    // process read and which of those it answered, e.g. across a shutdown.
    span.in_scope(|| tracing::debug!("request started"));
    let mut response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), "request finished");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn accepts_ids_and_refuses_junk() {
        assert!(acceptable("0190f1b2-6f1e-7c3a-9d7e-1234567890ab"));
        assert!(acceptable("req_42:retry.1"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
