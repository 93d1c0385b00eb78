//! Starting the process manager: its database, the subscriber on the
//! runtime, and the deadline scheduler beside it.

use std::future::Future;
use std::sync::Arc;

use orderflow_event_store::EventStore;
use orderflow_subscriptions::{Runtime, Subscriber};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::FulfilmentConfig;
use crate::driver::Driver;
use crate::error::FulfilmentError;
use crate::subscriber::FulfilmentSubscriber;

/// Connections to the fulfilment database: the runtime's lease and batch,
/// the scheduler, status.
const CONNECTIONS: u32 = 6;

/// Opens (creating it if missing) and migrates the fulfilment database.
pub async fn connect(database_url: &str) -> Result<PgPool, FulfilmentError> {
    orderflow_event_store::ensure_database(database_url).await?;
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .connect(database_url)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Creates the runtime's and the process manager's tables if missing.
pub async fn migrate(pool: &PgPool) -> Result<(), FulfilmentError> {
    orderflow_subscriptions::migrate(pool).await?;
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_fulfilment_migrations");
    migrator
        .run(pool)
        .await
        .map_err(|e| FulfilmentError::Migrate(e.to_string()))
}

/// Runs the process manager until `shutdown` resolves. Any number of
/// processes may run it: one owns the subscriber at a time (the runtime's
/// lease); every one fires deadlines, which is idempotent. An empty
/// `config.runtime.nats_url` polls the store instead of consuming NATS.
pub async fn run_fulfilment(
    store: Arc<dyn EventStore>,
    pool: PgPool,
    driver: Driver,
    config: FulfilmentConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), FulfilmentError> {
    let nats = if config.runtime.nats_url.is_empty() {
        None
    } else {
        Runtime::connect_nats(&config.runtime.nats_url).await
    };
    let subscriber = FulfilmentSubscriber::new(driver.clone(), config.payment_timeout);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut health_stopped = stopped.clone();
    let health = tokio::spawn(crate::health::publish(
        pool.clone(),
        Arc::clone(&driver.refunds),
        async move {
            let _ = health_stopped.wait_for(|s| *s).await;
        },
    ));
    let scheduler = tokio::spawn(crate::scheduler::run(
        pool.clone(),
        driver,
        config.scheduler_interval,
        config.stuck_after,
        async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    Runtime::new(store, pool, nats, config.runtime.clone())
        .run(vec![Box::new(subscriber) as Box<dyn Subscriber>], shutdown)
        .await;
    let _ = stop.send(true);
    let _ = scheduler.await;
    let _ = health.await;
    Ok(())
}
