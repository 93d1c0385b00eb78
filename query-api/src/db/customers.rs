//! `customer_stats` and `customer_lifetime_value`.

use chrono::{DateTime, Utc};

use super::sales::Sum;
use super::{DbResult, ReadDb};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerStatsRow {
    pub customer_id: String,
    pub order_count: i64,
    pub draft_count: i64,
    pub submitted_count: i64,
    pub confirmed_count: i64,
    pub paid_count: i64,
    pub shipped_count: i64,
    pub delivered_count: i64,
    pub cancelled_count: i64,
    pub rejected_count: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LifetimeValueRow {
    pub customer_id: String,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub paid_minor: Sum,
    #[sqlx(try_from = "String")]
    pub refunded_minor: Sum,
    #[sqlx(try_from = "String")]
    pub net_minor: Sum,
}

impl ReadDb {
    pub async fn customer_stats(&self, customers: &[String]) -> DbResult<Vec<CustomerStatsRow>> {
        self.count();
        Ok(sqlx::query_as::<_, CustomerStatsRow>(
            "SELECT customer_id, order_count, draft_count, submitted_count, confirmed_count, \
                    paid_count, shipped_count, delivered_count, cancelled_count, \
                    rejected_count, first_order_at, last_order_at \
             FROM customer_stats WHERE customer_id = ANY($1)",
        )
        .bind(customers)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn lifetime_values(&self, customers: &[String]) -> DbResult<Vec<LifetimeValueRow>> {
        self.count();
        Ok(sqlx::query_as::<_, LifetimeValueRow>(
            "SELECT customer_id, currency, paid_minor::text AS paid_minor, \
                    refunded_minor::text AS refunded_minor, net_minor::text AS net_minor \
             FROM customer_lifetime_value WHERE customer_id = ANY($1) \
             ORDER BY customer_id, currency",
        )
        .bind(customers)
        .fetch_all(self.pool())
        .await?)
    }
}
