//! `stock_levels`: one row per sku that has had stock.

use chrono::{DateTime, Utc};

use super::{DbResult, ReadDb};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StockRow {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub open_reservations: i64,
    /// The event type of the last change, e.g. `StockReserved`.
    pub last_change: String,
    pub updated_at: DateTime<Utc>,
    pub stream_version: i64,
}

/// The columns of [`StockRow`] (a macro: statements must be literals).
macro_rules! columns {
    () => {
        "sku, on_hand, reserved, available, open_reservations, last_change, updated_at, \
         stream_version"
    };
}

impl ReadDb {
    /// The rows of these skus (a sku without stock has none).
    pub async fn stock_levels(&self, skus: &[String]) -> DbResult<Vec<StockRow>> {
        self.count();
        Ok(sqlx::query_as::<_, StockRow>(concat!(
            "SELECT ",
            columns!(),
            " FROM stock_levels WHERE sku = ANY($1)"
        ))
        .bind(skus)
        .fetch_all(self.pool())
        .await?)
    }

    /// Skus with fewer than `below` units available, fewest first, then by
    /// sku; at most `limit`. Served by the `(available, sku)` index.
    pub async fn low_stock(&self, below: i64, limit: i64) -> DbResult<Vec<StockRow>> {
        self.count();
        Ok(sqlx::query_as::<_, StockRow>(concat!(
            "SELECT ",
            columns!(),
            " FROM stock_levels WHERE available < $1 ORDER BY available, sku LIMIT $2"
        ))
        .bind(below)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
