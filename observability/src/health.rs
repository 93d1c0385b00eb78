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
    probe_routes_noting(ready, notes).route("/metrics", get(|| async { metrics_response() }))
}

/// `/healthz` and `/readyz` only, for a public listener whose `/metrics`
/// is guarded by the service itself (see [`metrics_response`]).
pub fn probe_routes_noting<S>(ready: ReadinessCheck, notes: &[(&str, &str)]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let notes: serde_json::Map<String, serde_json::Value> = notes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
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
}

/// This process's series in the Prometheus text format.
pub fn metrics_response() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::prometheus_handle().render(),
    )
        .into_response()
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
