//! Running the query API as a service.

use std::future::Future;
use std::sync::Arc;

use orderflow_auth::Verifier;
use orderflow_event_store::EventStore;

use tokio::net::TcpListener;

use crate::app::QueryApi;
use crate::config::QueryApiConfig;
use crate::error::QueryApiError;

/// Binds the listener; split from [`serve_on`] so callers can learn the
/// actual address (port 0 in tests) before serving.
pub async fn bind(config: &QueryApiConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.addr).await
}

/// Serves until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve_on(
    listener: TcpListener,
    config: QueryApiConfig,
    events: Option<Arc<dyn EventStore>>,
    verifier: Arc<Verifier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), QueryApiError> {
    let api = QueryApi::connect(&config, events, verifier).await?;
    serve_api(listener, api, shutdown).await
}

/// Same, for an API built on existing connections.
pub async fn serve_api(
    listener: TcpListener,
    api: QueryApi,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), QueryApiError> {
    // The peer address feeds the per-client WebSocket cap.
    let app = api
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Binds `config.addr` and serves until `shutdown`.
pub async fn serve(
    config: QueryApiConfig,
    events: Option<Arc<dyn EventStore>>,
    verifier: Arc<Verifier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), QueryApiError> {
    let listener = bind(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, "query API listening");
    serve_on(listener, config, events, verifier, shutdown).await
}
