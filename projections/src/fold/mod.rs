//! The five read models. Each is a fold over order events that keeps the
//! per-order state it needs in memory, applies a whole batch there, and then
//! writes what changed with one multi-row statement per table.
//!
//! A fold never reads the tables of another projection, so each can be at
//! its own position and be rebuilt alone.

pub(crate) mod copy;
mod customer_stats;
mod daily_sales;
pub(crate) mod lines;
mod order_items;
mod orders;
pub(crate) mod private;
mod product_sales;
mod sales;

use async_trait::async_trait;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::decode::Decoded;
use crate::error::FoldError;

#[async_trait]
pub(crate) trait Fold: Send {
    /// Loads the stored state of these orders (the ones not cached).
    async fn load(&mut self, conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error>;
    fn is_cached(&self, order: &Uuid) -> bool;
    /// Applies one event in memory. An error leaves the in-memory state
    /// unusable: the caller clears it.
    fn apply(&mut self, event: &Decoded) -> Result<(), FoldError>;
    /// Writes everything changed since the last flush.
    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error>;
    /// Same, into tables known to be empty (a rebuild's first write): COPY,
    /// no conflict handling; at most `rows` rows per COPY, each its own
    /// transaction on an autocommit connection (see `CopyBuf::send`).
    async fn copy_into_empty(
        &mut self,
        conn: &mut PgConnection,
        rows: usize,
    ) -> Result<(), sqlx::Error>;
    /// Orders cached.
    fn cached(&self) -> usize;
    /// Forgets all cached state and pending changes.
    fn clear(&mut self);
}

/// A projection: its name, version, tables and fold.
#[derive(Debug)]
pub struct ProjectionDef {
    pub name: &'static str,
    /// Bump when the fold or the tables change: the projection then
    /// rebuilds on start.
    pub version: i32,
    /// Its tables, all rebuilt and swapped together.
    pub tables: &'static [&'static str],
    /// CREATE TABLE statements (unqualified: run under a search_path).
    pub(crate) ddl: &'static str,
    /// Secondary indexes, created after a rebuild's bulk load.
    pub(crate) indexes: &'static str,
    pub(crate) new_fold: fn() -> Box<dyn Fold>,
}

/// Every projection, in the order they are listed and rebuilt.
pub static PROJECTIONS: &[ProjectionDef] = &[
    orders::DEF,
    order_items::DEF,
    customer_stats::DEF,
    daily_sales::DEF,
    product_sales::DEF,
];

/// Looks a projection up by name.
pub fn projection(name: &str) -> Option<&'static ProjectionDef> {
    PROJECTIONS.iter().find(|p| p.name == name)
}

pub(crate) fn missing(fold: &dyn Fold, events: &[Decoded]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = events
        .iter()
        .map(|e| e.order_id)
        .filter(|id| !fold.is_cached(id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `what` would leave the range its column (or memory) holds: a poison
/// event, never a silent clamp, in the live fold and a rebuild alike.
pub(crate) fn overflow(e: &Decoded, what: &str) -> FoldError {
    FoldError(format!(
        "{} for order {} overflows {what}",
        e.event.event_type(),
        e.order_id
    ))
}

/// `a + b`, or the poison error naming `what`.
pub(crate) fn add_i128(e: &Decoded, what: &str, a: i128, b: i128) -> Result<i128, FoldError> {
    a.checked_add(b).ok_or_else(|| overflow(e, what))
}

pub(crate) fn unknown_order(e: &Decoded) -> FoldError {
    FoldError(format!(
        "{} for order {} which has no OrderCreated before it",
        e.event.event_type(),
        e.order_id
    ))
}
