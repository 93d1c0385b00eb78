//! `daily_sales`, and product rankings from `product_sales` (all time) or
//! from the orders paid in a date range.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::{DbResult, ReadDb};

/// A sum across orders: a `numeric` column, read as its text so nothing is
/// lost (`i128` holds more than any sum the projectors can write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sum(pub i128);

impl TryFrom<String> for Sum {
    type Error = std::num::ParseIntError;

    fn try_from(s: String) -> Result<Sum, Self::Error> {
        s.parse().map(Sum)
    }
}

impl From<Sum> for i128 {
    fn from(s: Sum) -> i128 {
        s.0
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DailySalesRow {
    pub day: NaiveDate,
    pub currency: String,
    pub orders_paid: i64,
    #[sqlx(try_from = "String")]
    pub gross_minor: Sum,
    #[sqlx(try_from = "String")]
    pub refunds_minor: Sum,
    #[sqlx(try_from = "String")]
    pub net_minor: Sum,
    #[sqlx(try_from = "String")]
    pub units_sold: Sum,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductSalesRow {
    pub sku: String,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub units_sold: Sum,
    #[sqlx(try_from = "String")]
    pub revenue_minor: Sum,
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
            "SELECT day, currency, orders_paid, gross_minor::text AS gross_minor, \
                    refunds_minor::text AS refunds_minor, net_minor::text AS net_minor, \
                    units_sold::text AS units_sold \
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
        // The sums are numeric (they can pass i64): rank on them, hand
        // them out as text.
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT sku, currency, units::text AS units_sold, revenue::text AS revenue_minor, \
                    order_count FROM (",
        );
        match t.range {
            // All time: the product_sales projection has the sums.
            None => {
                q.push(
                    "SELECT sku, currency, units_sold AS units, revenue_minor AS revenue, \
                            order_count \
                     FROM product_sales WHERE TRUE",
                );
                if let Some(c) = &t.currency {
                    q.push(" AND currency = ").push_bind(c.clone());
                }
            }
            // A range: sum the lines of the orders paid in it. Lines cannot
            // change after payment, so these are the lines that were paid
            // for, as product_sales counts them.
            Some((from, to)) => {
                q.push(
                    "SELECT i.sku, o.currency, sum(i.quantity) AS units, \
                            sum(i.line_total_minor) AS revenue, count(*)::int8 AS order_count \
                     FROM orders o JOIN order_items i ON i.order_id = o.order_id \
                     WHERE o.paid_at >= ",
                );
                q.push_bind(from).push(" AND o.paid_at < ").push_bind(to);
                if let Some(c) = &t.currency {
                    q.push(" AND o.currency = ").push_bind(c.clone());
                }
                q.push(" GROUP BY i.sku, o.currency");
            }
        }
        q.push(match t.by {
            ProductRanking::Revenue => ") q ORDER BY q.revenue DESC, q.units DESC",
            ProductRanking::Units => ") q ORDER BY q.units DESC, q.revenue DESC",
        });
        q.push(", sku, currency LIMIT ").push_bind(t.limit);
        Ok(q.build_query_as::<ProductSalesRow>()
            .fetch_all(self.pool())
            .await?)
    }
}
