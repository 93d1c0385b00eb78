//! The operator's entry points, connecting from a `ProjectorConfig`.

use std::sync::Arc;

use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use sqlx::PgPool;

use crate::ProjectorConfig;
use crate::db::connect_read_db;
use crate::error::ProjectionError;
use crate::rebuild::{RebuildProgress, RebuildReport, count_in_background, rebuild_defs, select};
use crate::status::{ProjectionStatus, retry_with, skip_with, status_with_store};

async fn events_store(config: &ProjectorConfig) -> Result<PgEventStore, ProjectionError> {
    let mut c = PgStoreConfig::new(&config.events_database_url);
    c.max_connections = 4;
    c.writers = 1;
    Ok(PgEventStore::connect(c).await?)
}

/// Rebuilds `name_or_all` (a projection name, or `all`) from position zero
/// into fresh tables, then swaps them in. `progress` is called after every
/// batch read.
pub async fn rebuild(
    config: &ProjectorConfig,
    name_or_all: &str,
    mut progress: impl FnMut(&RebuildProgress) + Send,
) -> Result<RebuildReport, ProjectionError> {
    let store = events_store(config).await?;
    let read = connect_read_db(&config.read_database_url, 8).await?;
    rebuild_with(Arc::new(store), &read, name_or_all, config, &mut progress).await
}

/// Same, on existing connections.
pub async fn rebuild_with(
    store: Arc<dyn EventStore>,
    read: &PgPool,
    name_or_all: &str,
    config: &ProjectorConfig,
    progress: &mut (dyn FnMut(&RebuildProgress) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let defs = select(name_or_all)?;
    let total = count_in_background(&store);
    rebuild_defs(&store, read, &total, &defs, config, progress).await
}

/// Status of every projection.
pub async fn status(config: &ProjectorConfig) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let store = events_store(config).await?;
    let read = connect_read_db(&config.read_database_url, 2).await?;
    status_with_store(&store, &read).await
}

/// Resumes a stopped projection, trying its dead-lettered event again.
pub async fn retry(config: &ProjectorConfig, name: &str) -> Result<(), ProjectionError> {
    let read = connect_read_db(&config.read_database_url, 2).await?;
    retry_with(&read, name).await
}

/// Resumes a stopped projection past its dead-lettered event.
pub async fn skip(config: &ProjectorConfig, name: &str) -> Result<(), ProjectionError> {
    let read = connect_read_db(&config.read_database_url, 2).await?;
    skip_with(&read, name).await
}
