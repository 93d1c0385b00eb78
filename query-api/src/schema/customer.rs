//! `Customer`: its stats and its orders.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{OrderConnection, PageArgs, orders_connection};
use super::filter::{OrderFilterInput, OrderOrderBy};
use super::money::Money;
use super::order::OrderStatus;
use crate::access::row_scope;
use crate::db::{CustomerStatsRow, LifetimeValueRow};
use crate::services::loaders;

#[derive(Debug, Clone)]
pub struct Customer {
    id: String,
}

impl Customer {
    pub fn new(id: String) -> Customer {
        Customer { id }
    }
}

/// Someone who placed orders. A customer only ever reaches themselves
/// (through `customer(id)` or their own orders); staff and finance reach
/// everyone.
#[Object]
impl Customer {
    async fn id(&self) -> &str {
        &self.id
    }

    /// Null until the customer's first order is in the read model.
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CustomerStats>> {
        if !row_scope(ctx)?.admits(&self.id) {
            return Ok(None);
        }
        Ok(loaders(ctx)?
            .customer_stats(&self.id)
            .await?
            .map(CustomerStats))
    }

    /// The customer's orders; `filter` narrows them further.
    #[graphql(
        complexity = "super::cost::orders_cost(__field, order_by, first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrderFilterInput>,
        order_by: Option<OrderOrderBy>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<OrderConnection> {
        let scope = row_scope(ctx)?;
        let mut f = filter.unwrap_or_default().to_db()?;
        f.customer_ids.push(self.id.clone());
        orders_connection(
            ctx,
            &scope,
            f,
            order_by,
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }
}

#[derive(Debug, Clone)]
pub struct CustomerStats(CustomerStatsRow);

/// How many orders of one status.
#[derive(Debug, Clone, SimpleObject)]
pub struct StatusCount {
    pub status: OrderStatus,
    pub count: i32,
}

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object]
impl CustomerStats {
    async fn order_count(&self) -> i32 {
        count(self.0.order_count)
    }

    /// Current orders per status, every status listed.
    async fn by_status(&self) -> Vec<StatusCount> {
        let r = &self.0;
        [
            (OrderStatus::Draft, r.draft_count),
            (OrderStatus::Submitted, r.submitted_count),
            (OrderStatus::Confirmed, r.confirmed_count),
            (OrderStatus::Paid, r.paid_count),
            (OrderStatus::Shipped, r.shipped_count),
            (OrderStatus::Delivered, r.delivered_count),
            (OrderStatus::Cancelled, r.cancelled_count),
            (OrderStatus::Rejected, r.rejected_count),
        ]
        .into_iter()
        .map(|(status, n)| StatusCount {
            status,
            count: count(n),
        })
        .collect()
    }

    async fn first_order_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_order_at
    }

    async fn last_order_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_order_at
    }

    /// Paid minus refunded, per currency.
    async fn lifetime_value(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<LifetimeValue>> {
        Ok(loaders(ctx)?
            .lifetime_value(&self.0.customer_id)
            .await?
            .into_iter()
            .map(LifetimeValue)
            .collect())
    }
}

#[derive(Debug, Clone)]
pub struct LifetimeValue(LifetimeValueRow);

#[Object]
impl LifetimeValue {
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn paid(&self) -> Money {
        Money::new(self.0.paid_minor, &self.0.currency)
    }

    async fn refunded(&self) -> Money {
        Money::new(self.0.refunded_minor, &self.0.currency)
    }

    async fn net(&self) -> Money {
        Money::new(self.0.net_minor, &self.0.currency)
    }
}
