//! `order_items`: the lines of many orders in one statement.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DbResult, ReadDb};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub order_id: Uuid,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
    pub line_total_minor: i64,
    pub line_no: i32,
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ReadDb {
    /// Lines of `orders`, grouped by order, in the order they were added.
    pub async fn items_of(&self, orders: &[Uuid]) -> DbResult<Vec<ItemRow>> {
        self.count();
        Ok(sqlx::query_as::<_, ItemRow>(
            "SELECT order_id, sku, name, quantity, unit_price_minor, currency, \
                    line_total_minor, line_no, added_at, updated_at \
             FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, line_no",
        )
        .bind(orders)
        .fetch_all(self.pool())
        .await?)
    }
}
