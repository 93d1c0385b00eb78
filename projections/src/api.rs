//! The operator's entry points: rebuild on a store given through the
//! `EventStore` trait, retry and skip on the read database.

use std::sync::Arc;

use orderflow_event_store::EventStore;
use orderflow_subscriptions::Actor;
use sqlx::PgPool;

use crate::ProjectorConfig;
use crate::db::connect_read_db;
use crate::error::ProjectionError;
use crate::rebuild::{RebuildProgress, RebuildReport, count_in_background, rebuild_defs, select};
use crate::status::{retry_with, skip_with};

/// Rebuilds `name_or_all` (a projection name, or `all`) from position zero
/// into fresh tables, then swaps them in. `progress` is called after every
/// batch read.
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

/// Resumes a stopped projection, trying its dead-lettered event again.
/// `actor`'s act is recorded in the audit log.
pub async fn retry(
    config: &ProjectorConfig,
    name: &str,
    actor: &Actor,
) -> Result<(), ProjectionError> {
    let read = connect_read_db(&config.read_database_url, 2).await?;
    retry_with(&read, name, actor).await
}

/// Resumes a stopped projection past its dead-lettered event; `actor`'s
/// act is recorded in the audit log.
pub async fn skip(
    config: &ProjectorConfig,
    name: &str,
    actor: &Actor,
) -> Result<(), ProjectionError> {
    let read = connect_read_db(&config.read_database_url, 2).await?;
    skip_with(&read, name, actor).await
}
