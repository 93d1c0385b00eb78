//! Running the command API as a service.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use orderflow_auth::{RateLimitConfig, RateLimiter, Verifier};
use orderflow_event_store::EventStore;
use orderflow_payments::WebhookConfig;
use tokio::net::TcpListener;

use crate::app::{DEFAULT_BODY_LIMIT, router_with_webhook};
use crate::handler::CommandHandler;

#[derive(Debug, Clone)]
pub struct CommandApiConfig {
    pub addr: SocketAddr,
    pub body_limit: usize,
    /// Per subject / client IP; on by default.
    pub rate_limit: RateLimitConfig,
    /// Who may sign `POST /webhooks/payments` (no secret: nobody).
    pub payment_webhook: WebhookConfig,
}

impl Default for CommandApiConfig {
    fn default() -> Self {
        CommandApiConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: DEFAULT_BODY_LIMIT,
            rate_limit: RateLimitConfig::default(),
            payment_webhook: WebhookConfig::default(),
        }
    }
}

/// Binds the listener; split from [`serve_on`] so callers can learn the
/// actual address (port 0 in tests) before serving.
pub async fn bind(config: &CommandApiConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.addr).await
}

/// Serves until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve_on(
    listener: TcpListener,
    store: Arc<dyn EventStore>,
    config: CommandApiConfig,
    verifier: Arc<Verifier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = router_with_webhook(
        CommandHandler::new(store),
        config.body_limit,
        verifier,
        config.payment_webhook,
    );
    // Outermost: a refused request costs no body read, metric or log line.
    if let Some(limiter) = RateLimiter::new(&config.rate_limit) {
        app = limiter.wrap(app);
    }
    // The peer address keys anonymous callers' rate limits.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `config.addr` and serves until `shutdown`.
pub async fn serve(
    store: Arc<dyn EventStore>,
    config: CommandApiConfig,
    verifier: Arc<Verifier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = bind(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, "command API listening");
    serve_on(listener, store, config, verifier, shutdown).await
}
