//! The query root.

use async_graphql::{Context, Object};
use chrono::{Days, NaiveDate};
use orderflow_domain::Sku;
use orderflow_domain::limits::MAX_STOCK;
use uuid::Uuid;

use super::connection::{OrderConnection, PageArgs, orders_connection};
use super::cost::{
    DEFAULT_PAGE, DEFAULT_TOP, MAX_RANGE_DAYS, orders_cost, page_cost, sales_by_day_cost,
    top_products_cost,
};
use super::customer::Customer;
use super::filter::{OrderFilterInput, OrderOrderBy};
use super::order::Order;
use super::projections::{ProjectionInfo, projections};
use super::sales::{DailySales, ProductRanking, ProductSales};
use super::scalars::Date;
use super::stock::{Product, StockLevel};
use crate::access::guard;
use crate::consistency::gate;
use crate::db::TopProductsQuery;
use crate::error::bad_input;
use crate::services::{loaders, services};

#[derive(Debug, Default)]
pub struct QueryRoot;

fn check_range(from: NaiveDate, to: NaiveDate) -> async_graphql::Result<()> {
    let days = (to - from).num_days() + 1;
    if days < 1 {
        return Err(bad_input("`to` is before `from`"));
    }
    if days > MAX_RANGE_DAYS {
        return Err(bad_input(format!(
            "the range covers {days} days; the limit is {MAX_RANGE_DAYS}"
        )));
    }
    Ok(())
}

/// `first` of a list, checked against the service's page limit.
fn page_size(ctx: &Context<'_>, first: Option<i32>, default: i32) -> async_graphql::Result<i64> {
    let first = first.unwrap_or(default);
    let max = i32::try_from(services(ctx)?.max_page_size).unwrap_or(i32::MAX);
    if !(1..=max).contains(&first) {
        return Err(bad_input(format!("`first` must be between 1 and {max}")));
    }
    Ok(i64::from(first))
}

/// The largest useful `lowStock(below:)`: one more than any sku can have
/// available, so it lists every sku.
const MAX_BELOW: i64 = MAX_STOCK as i64 + 1;

#[Object]
impl QueryRoot {
    /// One order; null when the read model has no such order (yet: send
    /// `X-Orderflow-Position` to wait for a write you made).
    ///
    /// Roles: staff, finance; customer (own orders only: another
    /// customer's order is null, as a missing one).
    async fn order(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<Order>> {
        let scope = guard(ctx, "Query.order")?;
        gate(ctx).await?;
        Ok(loaders(ctx)?
            .order(id)
            .await?
            .filter(|row| scope.admits(&row.customer_id))
            .map(Order))
    }

    /// Orders, newest first unless `orderBy` says otherwise. Relay
    /// pagination: `first`/`after` forwards, `last`/`before` backwards.
    ///
    /// Roles: staff, finance; customer (their own orders only, counts and
    /// cursors included).
    #[graphql(complexity = "orders_cost(__field, order_by, first, last, child_complexity)")]
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
        let scope = guard(ctx, "Query.orders")?;
        let f = filter.unwrap_or_default().to_db()?;
        gate(ctx).await?;
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

    /// A customer with at least one order; null otherwise.
    ///
    /// Roles: staff, finance; customer (themselves only: another customer
    /// is null).
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Customer>> {
        let scope = guard(ctx, "Query.customer")?;
        if !scope.admits(&id) {
            return Ok(None);
        }
        gate(ctx).await?;
        Ok(loaders(ctx)?
            .customer_stats(&id)
            .await?
            .map(|_| Customer::new(id)))
    }

    /// Sales per UTC day `from..=to` (at most 366 days), by day then
    /// currency; days without sales are absent.
    ///
    /// Roles: finance.
    #[graphql(complexity = "sales_by_day_cost(from, to, child_complexity)")]
    async fn sales_by_day(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        currency: Option<String>,
    ) -> async_graphql::Result<Vec<DailySales>> {
        guard(ctx, "Query.salesByDay")?;
        check_range(from.0, to.0)?;
        gate(ctx).await?;
        let rows = services(ctx)?
            .db
            .sales_by_day(from.0, to.0, currency.as_deref())
            .await?;
        Ok(rows.into_iter().map(DailySales).collect())
    }

    /// Best-selling products, all time or among the orders paid on UTC days
    /// `from..=to` (give both or neither).
    ///
    /// Roles: finance.
    #[graphql(complexity = "top_products_cost(from, to, first, child_complexity)")]
    async fn top_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "REVENUE (default) or UNITS.")] by: Option<ProductRanking>,
        from: Option<Date>,
        to: Option<Date>,
        currency: Option<String>,
        #[graphql(desc = "How many, 1 to 100 (default 10).")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<ProductSales>> {
        guard(ctx, "Query.topProducts")?;
        let by = by.unwrap_or(ProductRanking::Revenue);
        let limit = page_size(ctx, first, DEFAULT_TOP)?;
        let s = services(ctx)?;
        let range = match (from, to) {
            (None, None) => None,
            (Some(from), Some(to)) => {
                check_range(from.0, to.0)?;
                let end =
                    to.0.checked_add_days(Days::new(1))
                        .ok_or_else(|| bad_input("`to` is out of range"))?;
                Some((
                    from.0.and_time(chrono::NaiveTime::MIN).and_utc(),
                    end.and_time(chrono::NaiveTime::MIN).and_utc(),
                ))
            }
            _ => return Err(bad_input("give both `from` and `to`, or neither")),
        };
        gate(ctx).await?;
        let rows =
            s.db.top_products(&TopProductsQuery {
                by: match by {
                    ProductRanking::Revenue => crate::db::ProductRanking::Revenue,
                    ProductRanking::Units => crate::db::ProductRanking::Units,
                },
                range,
                currency,
                limit,
            })
            .await?;
        Ok(rows.into_iter().map(ProductSales).collect())
    }

    /// A product by sku, in the command API's sku format (1 to 64 of
    /// `A–Z a–z 0–9 . _ -`; anything else is `BAD_USER_INPUT`). Never null
    /// for a well-formed sku, as the read side has no catalog; its `stock`
    /// is null until the sku first receives stock.
    ///
    /// Roles: staff, operator.
    async fn product(
        &self,
        ctx: &Context<'_>,
        sku: String,
    ) -> async_graphql::Result<Option<Product>> {
        guard(ctx, "Query.product")?;
        let sku = Sku::new(&sku).map_err(|e| bad_input(format!("`sku`: {e}")))?;
        gate(ctx).await?;
        Ok(Some(Product::new(sku.as_str())))
    }

    /// Skus with fewer than `below` units available, fewest available
    /// first, then by sku. Skus that never received stock are not listed.
    ///
    /// Roles: staff, operator.
    #[graphql(
        complexity = "page_cost(Some(first.unwrap_or(DEFAULT_PAGE)), None, child_complexity)"
    )]
    async fn low_stock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "1 to 1000000001 (more than any sku holds: every sku).")] below: i32,
        #[graphql(desc = "How many, 1 to the page limit (default 20).")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<StockLevel>> {
        guard(ctx, "Query.lowStock")?;
        let below = i64::from(below);
        if !(1..=MAX_BELOW).contains(&below) {
            return Err(bad_input(format!(
                "`below` must be between 1 and {MAX_BELOW}"
            )));
        }
        let limit = page_size(ctx, first, DEFAULT_PAGE)?;
        gate(ctx).await?;
        let rows = services(ctx)?.db.low_stock(below, limit).await?;
        Ok(rows.into_iter().map(StockLevel).collect())
    }

    /// Every projection's progress. `head` and `lag` need the event
    /// store's URL in the service's configuration.
    ///
    /// Roles: operator.
    async fn projections(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectionInfo>> {
        guard(ctx, "Query.projections")?;
        projections(services(ctx)?).await
    }
}
