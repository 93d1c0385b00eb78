//! `/healthz`, `/readyz` and `/metrics` on an internal listener
//! (`METRICS_ADDR`), without a token: for the processes that serve no HTTP
//! API of their own (`orderflow relay`, `projector`, `fulfilment`), and for
//! the two APIs, whose public `/metrics` wants an operator's token. So
//! Prometheus scrapes every service alike, on a port no gateway exposes.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use orderflow_event_store::EventStore;
use orderflow_observability::{ReadinessCheck, health_routes};
use sqlx::PgPool;

#[derive(Debug, Clone, clap::Args)]
pub struct OpsArgs {
    /// Serve /healthz, /readyz and /metrics here (off when unset).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

/// Ready while every pool answers a trivial query.
pub fn postgres_ready(pools: Vec<PgPool>) -> ReadinessCheck {
    Arc::new(move || {
        let pools = pools.clone();
        Box::pin(async move {
            for pool in &pools {
                sqlx::query("SELECT 1")
                    .execute(pool)
                    .await
                    .map_err(|e| format!("postgres: {e}"))?;
            }
            Ok(())
        })
    })
}

/// Ready while the event store answers its head position.
pub fn store_ready(store: Arc<dyn EventStore>) -> ReadinessCheck {
    Arc::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move { store.head().await.map(|_| ()).map_err(|e| e.to_string()) })
    })
}

/// Binds now (so a taken port fails the start) and serves until the
/// process ends; the probes carry no state worth draining.
pub async fn spawn(args: &OpsArgs, ready: ReadinessCheck) -> anyhow::Result<()> {
    let Some(addr) = args.metrics_addr else {
        return Ok(());
    };
    // Install the recorder before the service records anything.
    orderflow_observability::prometheus_handle();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("metrics       http://{}/metrics", listener.local_addr()?);
    let app = health_routes::<()>(ready);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(())
}
