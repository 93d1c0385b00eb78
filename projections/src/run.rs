//! The projector: the projections of a config, each a subscriber on the
//! subscription runtime.

use std::future::Future;
use std::sync::Arc;

use orderflow_event_store::EventStore;
use orderflow_subscriptions::{Runtime, Subscriber};
use sqlx::PgPool;

use crate::ProjectorConfig;

use crate::error::ProjectionError;
use crate::fold::{PROJECTIONS, ProjectionDef, projection};
use crate::subscriber::ProjectionSubscriber;

/// Runs the projections of `config.projections` (all by default) until
/// `shutdown` resolves, reading `store` through its trait (Postgres, KurrentDB
/// or in memory). `read` must be migrated ([`crate::connect_read_db`]).
pub async fn run_projector_with(
    store: Arc<dyn EventStore>,
    read: PgPool,
    config: ProjectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProjectionError> {
    let defs: Vec<&'static ProjectionDef> = match &config.projections {
        None => PROJECTIONS.iter().collect(),
        Some(names) => names
            .iter()
            .map(|n| projection(n).ok_or_else(|| ProjectionError::UnknownProjection(n.clone())))
            .collect::<Result<_, _>>()?,
    };
    let nats = Runtime::connect_nats(&config.nats_url).await;
    let subscribers: Vec<Box<dyn Subscriber>> = defs
        .into_iter()
        .map(|def| {
            Box::new(ProjectionSubscriber::new(
                def,
                Arc::clone(&store),
                nats.clone(),
                config.clone(),
            )) as Box<dyn Subscriber>
        })
        .collect();
    Runtime::new(store, read, nats, config.runtime())
        .run(subscribers, shutdown)
        .await;
    Ok(())
}
