//! What resolvers share, stored in the schema's data.

use std::sync::Arc;

use async_graphql::Context;
use orderflow_event_store::EventStore;

use crate::db::ReadDb;
use crate::error::ErrorCode;
use crate::loaders::Loaders;
use crate::notices::ChangeFeed;

#[derive(Clone)]
pub struct Services {
    pub db: ReadDb,
    pub feed: ChangeFeed,
    pub max_page_size: usize,
    /// The event store, for `projections { head lag }` only.
    pub events: Option<Arc<dyn EventStore>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("max_page_size", &self.max_page_size)
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Services> {
    ctx.data_opt::<Services>()
        .ok_or_else(|| ErrorCode::Internal.error("service state missing"))
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data_opt::<Arc<Loaders>>()
        .map(|l| &**l)
        .ok_or_else(|| ErrorCode::Internal.error("request loaders missing"))
}
