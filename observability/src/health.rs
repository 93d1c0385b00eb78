use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Answers whether the service's dependencies are reachable; `Err` says
/// which one is not.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// `/healthz` (the process answers), `/readyz` (dependencies reachable) and
/// `/metrics` (Prometheus text format).
pub fn health_routes<S>(ready: ReadinessCheck) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let metrics = crate::prometheus_handle();
    Router::new()
        .route(
            "/healthz",
            get(|| async { json(StatusCode::OK, "ok", None) }),
        )
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    match ready().await {
                        Ok(()) => json(StatusCode::OK, "ready", None),
                        Err(why) => json(StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(why)),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                }
            }),
        )
}

fn json(status: StatusCode, state: &str, detail: Option<String>) -> Response {
    let body = match detail {
        Some(detail) => serde_json::json!({ "status": state, "detail": detail }),
        None => serde_json::json!({ "status": state }),
    };
    (status, axum::Json(body)).into_response()
}
