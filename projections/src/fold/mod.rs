//! The read models. Each is a fold over order events (or, for
//! `stock_levels`, over stock events) that keeps the per-order (per-sku)
//! state it needs in memory, applies a whole batch there, and then writes
//! what changed with one multi-row statement per table.
//!
//! A fold never reads the tables of another projection, so each can be at
//! its own position and be rebuilt alone.
//!
//! Look-ups and deletes by key (`= ANY($1)`) are planned for each call
//! (`persistent(false)`): a prepared statement's generic plan, picked while
//! a new table was tiny, seq-scans it on every batch as it grows until the
//! next ANALYZE. Planning costs tens of microseconds; those scans cost the
//! whole table (measured with `bench lag`: hundreds a second).

pub(crate) mod copy;
mod customer_stats;
mod daily_sales;
pub(crate) mod lines;
mod order_items;
mod orders;
pub(crate) mod private;
mod product_sales;
mod sales;
mod stock_levels;

use async_trait::async_trait;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::decode::{Decoded, StockDecoded};
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
    /// Loads the stored rows of these skus (the ones not cached). Only the
    /// fold of stock events has any; the order folds ignore stock.
    async fn load_stock(
        &mut self,
        _conn: &mut PgConnection,
        _skus: &[String],
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
    fn is_stock_cached(&self, _sku: &str) -> bool {
        true
    }
    /// Applies one stock event in memory (see [`Fold::apply`]).
    fn apply_stock(&mut self, _event: &StockDecoded) -> Result<(), FoldError> {
        Ok(())
    }
    /// Orders (or skus) cached.
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
    stock_levels::DEF,
];

/// Looks a projection up by name.
pub fn projection(name: &str) -> Option<&'static ProjectionDef> {
    PROJECTIONS.iter().find(|p| p.name == name)
}

/// The skus of `events` whose rows `fold` has not cached.
pub(crate) fn missing_stock(fold: &dyn Fold, events: &[StockDecoded]) -> Vec<String> {
    let mut skus: Vec<String> = events
        .iter()
        .filter(|e| !fold.is_stock_cached(&e.sku))
        .map(|e| e.sku.clone())
        .collect();
    skus.sort_unstable();
    skus.dedup();
    skus
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
