//! The GraphQL schema: types, roots, and how it is assembled.

mod connection;
mod cost;
mod customer;
mod filter;
mod money;
mod order;
pub(crate) mod projections;
mod query;
mod sales;
mod scalars;
mod stock;
mod subscription;

use async_graphql::{EmptyMutation, Schema, SchemaBuilder};

pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

use crate::config::QueryLimits;
use crate::services::Services;

pub type AppSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, EmptyMutation, SubscriptionRoot> {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
}

/// The schema with its services and limits.
pub fn build_schema(services: Services, limits: &QueryLimits) -> AppSchema {
    builder()
        .data(services)
        // Size, fields and depth are checked before this (see the
        // executor); complexity here, in validation.
        .limit_complexity(limits.max_complexity)
        // Selection-set nesting, a backstop to the executor's depth check.
        .limit_recursive_depth(64)
        .limit_directives(8)
        .finish()
}

/// The schema in SDL, as committed in `query-api/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
