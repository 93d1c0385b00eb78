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
    health_routes_noting(ready, &[])
}

/// [`health_routes`] whose `/readyz` body also carries `notes`, facts an
/// operator must not miss (e.g. `"auth": "development"`).
pub fn health_routes_noting<S>(ready: ReadinessCheck, notes: &[(&str, &str)]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let notes: serde_json::Map<String, serde_json::Value> = notes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let metrics = crate::prometheus_handle();
    Router::new()
        .route(
            "/healthz",
            get(|| async { json(StatusCode::OK, "ok", None, serde_json::Map::new()) }),
        )
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                let notes = notes.clone();
                async move {
                    match ready().await {
                        Ok(()) => json(StatusCode::OK, "ready", None, notes),
                        Err(why) => json(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "unavailable",
                            Some(why),
                            notes,
                        ),
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

fn json(
    status: StatusCode,
    state: &str,
    detail: Option<String>,
    mut body: serde_json::Map<String, serde_json::Value>,
) -> Response {
    body.insert("status".to_owned(), state.into());
    if let Some(detail) = detail {
        body.insert("detail".to_owned(), detail.into());
    }
    (status, axum::Json(body)).into_response()
}
