use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Middleware recording request counts and latency by route and status.
/// Routes are the matched templates (`/orders/{id}`), never raw paths, so
/// the label set stays small whatever clients send.
pub async fn http_metrics_layer(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("orderflow_http_requests_total", &labels).increment(1);
    metrics::histogram!("orderflow_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
