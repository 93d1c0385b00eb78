//! The GraphQL schema: types, roots, and how it is assembled.

mod connection;
mod customer;
mod filter;
mod money;
mod order;
mod projections;
mod query;
mod sales;
mod scalars;
mod subscription;

use async_graphql::{EmptyMutation, Schema, SchemaBuilder};

pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

use crate::config::QueryLimits;
use crate::extension::{GuardLimits, Guards};
use crate::services::Services;

pub type AppSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, EmptyMutation, SubscriptionRoot> {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
}

/// The schema with its services and limits.
pub fn build_schema(services: Services, limits: &QueryLimits) -> AppSchema {
    builder()
        .data(services)
        // Depth is checked by the guard (which leaves introspection out);
        // complexity by async-graphql, after the guard bounded the fields.
        .limit_complexity(limits.max_complexity)
        // Parser-level nesting of selection sets, a backstop to the guard.
        .limit_recursive_depth(64)
        .limit_directives(8)
        .extension(Guards::new(GuardLimits {
            max_query_bytes: limits.max_query_bytes,
            max_fields: limits.max_fields,
            max_depth: limits.max_depth,
        }))
        .finish()
}

/// The schema in SDL, as committed in `query-api/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
