//! What `orderflow projections status|retry|skip` show and do: the
//! runtime's status and dead-letter handling, for the projections of this
//! build.

use orderflow_event_store::EventStore;
use orderflow_subscriptions::Actor;
use sqlx::PgPool;

use crate::error::ProjectionError;
use crate::fold::{PROJECTIONS, projection};

/// A projection's status (see the runtime's [`SubscriberStatus`]).
///
/// [`SubscriberStatus`]: orderflow_subscriptions::SubscriberStatus
pub type ProjectionStatus = orderflow_subscriptions::SubscriberStatus;

/// Most events [`status_with_store`] counts for a projection's lag.
pub const STORE_LAG_LIMIT: u64 = orderflow_subscriptions::STATUS_LAG_LIMIT;

/// Status of every projection: checkpoints and dead letters from the read
/// database, head and lag from the store.
pub async fn status_with_store(
    store: &dyn EventStore,
    read: &PgPool,
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let subscribers: Vec<(&str, i32)> = PROJECTIONS.iter().map(|d| (d.name, d.version)).collect();
    Ok(orderflow_subscriptions::status(store, read, &subscribers).await?)
}

/// Resumes a stopped projection at its dead-lettered event, which is tried
/// again (and dead-lettered again if it still fails); `actor` is recorded
/// in the audit log in the same transaction.
pub async fn retry_with(read: &PgPool, name: &str, actor: &Actor) -> Result<(), ProjectionError> {
    let def = projection(name).ok_or_else(|| ProjectionError::UnknownProjection(name.into()))?;
    Ok(orderflow_subscriptions::retry(read, def.name, actor).await?)
}

/// Resumes a stopped projection after its dead-lettered event, which it
/// never applies; recorded like [`retry_with`].
pub async fn skip_with(read: &PgPool, name: &str, actor: &Actor) -> Result<(), ProjectionError> {
    let def = projection(name).ok_or_else(|| ProjectionError::UnknownProjection(name.into()))?;
    Ok(orderflow_subscriptions::skip(read, def.name, actor).await?)
}
