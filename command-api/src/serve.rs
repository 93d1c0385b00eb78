//! Running the command API as a service.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orderflow_auth::{RateLimitConfig, RateLimiter, Verifier};
use orderflow_event_store::{EventStore, IdempotencyClaim};
use orderflow_payments::WebhookConfig;
use tokio::net::TcpListener;

use crate::app::{DEFAULT_BODY_LIMIT, router_with_webhook};
use crate::handler::CommandHandler;
use crate::key_cleanup;

#[derive(Debug, Clone)]
pub struct CommandApiConfig {
    pub addr: SocketAddr,
    pub body_limit: usize,
    /// Per subject / client IP; on by default.
    pub rate_limit: RateLimitConfig,
    /// Who may sign `POST /webhooks/payments` (no secret: nobody).
    pub payment_webhook: WebhookConfig,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
    /// How often expired keys are deleted (in small batches).
    pub idempotency_cleanup_every: Duration,
}

impl CommandApiConfig {
    pub const DEFAULT_IDEMPOTENCY_CLEANUP_EVERY: Duration = Duration::from_secs(60);
}

impl Default for CommandApiConfig {
    fn default() -> Self {
        CommandApiConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: DEFAULT_BODY_LIMIT,
            rate_limit: RateLimitConfig::default(),
            payment_webhook: WebhookConfig::default(),
            idempotency_ttl: IdempotencyClaim::DEFAULT_TTL,
            idempotency_cleanup_every: Self::DEFAULT_IDEMPOTENCY_CLEANUP_EVERY,
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
    let handler = CommandHandler::new(store.clone()).with_idempotency_ttl(config.idempotency_ttl);
    let mut app = router_with_webhook(
        handler,
        config.body_limit,
        verifier.clone(),
        config.payment_webhook,
    );
    // Outermost: a refused request costs no body read, metric or log line.
    // Keyed by the verified token's subject, by the client address for a
    // request without a valid token.
    if let Some(limiter) = RateLimiter::with_verifier(&config.rate_limit, verifier) {
        app = limiter.wrap(app);
    }
    // The peer address keys anonymous callers' rate limits.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let cleanup = key_cleanup::spawn(store, config.idempotency_cleanup_every);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    cleanup.abort();
    served
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
