//! Sales per day and product rankings.

use async_graphql::{Enum, Object};

use super::money::{Money, long};
use super::scalars::{Date, Long};
use crate::db::{DailySalesRow, ProductSalesRow};

/// Sales of one UTC day in one currency, counted when orders are paid.
#[derive(Debug, Clone)]
pub struct DailySales(pub DailySalesRow);

#[Object]
impl DailySales {
    async fn day(&self) -> Date {
        Date(self.0.day)
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn orders_paid(&self) -> i32 {
        i32::try_from(self.0.orders_paid).unwrap_or(i32::MAX)
    }

    async fn gross(&self) -> Money {
        Money::new(self.0.gross_minor, &self.0.currency)
    }

    /// Refunds issued that day (for orders paid on any day).
    async fn refunds(&self) -> Money {
        Money::new(self.0.refunds_minor, &self.0.currency)
    }

    /// `gross − refunds`.
    async fn net(&self) -> Money {
        Money::new(self.0.net_minor, &self.0.currency)
    }

    // A numeric sum: an error with code AMOUNT_OUT_OF_RANGE beyond 64 bits.
    async fn units_sold(&self) -> async_graphql::Result<Long> {
        long(self.0.units_sold, "unitsSold")
    }
}

/// What `topProducts` ranks by.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
pub enum ProductRanking {
    Revenue,
    Units,
}

/// A product's sales in one currency.
#[derive(Debug, Clone)]
pub struct ProductSales(pub ProductSalesRow);

#[Object]
impl ProductSales {
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    // A numeric sum: an error with code AMOUNT_OUT_OF_RANGE beyond 64 bits.
    async fn units_sold(&self) -> async_graphql::Result<Long> {
        long(self.0.units_sold, "unitsSold")
    }

    async fn revenue(&self) -> Money {
        Money::new(self.0.revenue_minor, &self.0.currency)
    }

    /// Paid orders with this product.
    async fn order_count(&self) -> i32 {
        i32::try_from(self.0.order_count).unwrap_or(i32::MAX)
    }
}
