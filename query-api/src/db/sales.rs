//! `daily_sales`, and product rankings from `product_sales` (all time) or
//! from the orders paid in a date range.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::{DbResult, ReadDb};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DailySalesRow {
    pub day: NaiveDate,
    pub currency: String,
    pub orders_paid: i64,
    pub gross_minor: i64,
    pub refunds_minor: i64,
    pub net_minor: i64,
    pub units_sold: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductSalesRow {
    pub sku: String,
    pub currency: String,
    pub units_sold: i64,
    pub revenue_minor: i64,
    pub order_count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductRanking {
    Revenue,
    Units,
}

#[derive(Debug, Clone)]
pub struct TopProductsQuery {
    pub by: ProductRanking,
    /// Paid at or after / before; both or neither.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub currency: Option<String>,
    pub limit: i64,
}

impl ReadDb {
    /// Days `from..=to`, by day then currency.
    pub async fn sales_by_day(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        currency: Option<&str>,
    ) -> DbResult<Vec<DailySalesRow>> {
        self.count();
        Ok(sqlx::query_as::<_, DailySalesRow>(
            "SELECT day, currency, orders_paid, gross_minor, refunds_minor, net_minor, units_sold \
             FROM daily_sales \
             WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR currency = $3) \
             ORDER BY day, currency",
        )
        .bind(from)
        .bind(to)
        .bind(currency)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn top_products(&self, t: &TopProductsQuery) -> DbResult<Vec<ProductSalesRow>> {
        self.count();
        let mut q: QueryBuilder<Postgres> = match t.range {
            // All time: the product_sales projection has the sums.
            None => {
                let mut q = QueryBuilder::new(
                    "SELECT sku, currency, units_sold, revenue_minor, order_count \
                     FROM product_sales WHERE TRUE",
                );
                if let Some(c) = &t.currency {
                    q.push(" AND currency = ").push_bind(c.clone());
                }
                q
            }
            // A range: sum the lines of the orders paid in it. Lines cannot
            // change after payment, so these are the lines that were paid
            // for, as product_sales counts them.
            Some((from, to)) => {
                let mut q = QueryBuilder::new(
                    "SELECT i.sku, o.currency, sum(i.quantity)::int8 AS units_sold, \
                            sum(i.line_total_minor)::int8 AS revenue_minor, \
                            count(*)::int8 AS order_count \
                     FROM orders o JOIN order_items i ON i.order_id = o.order_id \
                     WHERE o.paid_at >= ",
                );
                q.push_bind(from).push(" AND o.paid_at < ").push_bind(to);
                if let Some(c) = &t.currency {
                    q.push(" AND o.currency = ").push_bind(c.clone());
                }
                q.push(" GROUP BY i.sku, o.currency");
                q
            }
        };
        q.push(match t.by {
            ProductRanking::Revenue => " ORDER BY revenue_minor DESC, units_sold DESC",
            ProductRanking::Units => " ORDER BY units_sold DESC, revenue_minor DESC",
        });
        q.push(", sku, currency LIMIT ").push_bind(t.limit);
        Ok(q.build_query_as::<ProductSalesRow>()
            .fetch_all(self.pool())
            .await?)
    }
}
