//! The query API: an async-graphql service over the read models, reading
//! only the read database (which may be a replica).
//!
//! - Relay connections with keyset cursors, filters and sorting; batch
//!   loading so a page costs a constant number of statements.
//! - Read-your-writes: `X-Orderflow-Position` makes a query wait, bounded,
//!   for the projections it reads ([`consistency`]).
//! - Subscriptions over graphql-ws, fed by the projectors' NATS notices.
//! - Every operation needs a bearer token (`orderflow-auth`); one table
//!   (`access.rs`) says which roles read which root field, and customers
//!   see only their own rows.
//! - Limits checked before anything runs; errors carry `extensions.code`.
//! - Automatic persisted queries, and optionally trusted documents only
//!   (`persisted.rs`).
//! - GraphiQL at `GET /graphql`, every file of it served from the binary
//!   (`graphiql.rs`), so it works offline.

mod access;
mod app;
mod config;
pub mod consistency;
mod console;
mod cursor;
pub mod db;
mod doc_cache;
mod error;
mod executor;
mod graphiql;
mod http;
mod loaders;
mod notices;
mod operation_label;
mod persisted;
mod schema;
mod serve;
mod services;
mod shape;
mod ws_auth;
mod ws_clients;

pub use access::{FieldRule, RULES, Scope, rule_for};
pub use app::QueryApi;
pub use config::{ConsoleConfig, QueryApiConfig, QueryLimits};
pub use error::{ErrorCode, QueryApiError};
pub use http::{CONSISTENCY_HEADER, POSITION_HEADER};
pub use notices::ChangeFeed;
pub use persisted::{
    DEFAULT_APQ_CACHE_ENTRIES, ManifestError, PersistedConfig, TrustedDocuments,
    TrustedEnforcement, document_hash,
};
pub use schema::{AppSchema, sdl};
pub use serve::{bind, serve, serve_api, serve_on};
pub use ws_auth::UNAUTHORIZED_CLOSE;
