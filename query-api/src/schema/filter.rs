//! The inputs of order lists: filter and sort.

use async_graphql::{Enum, InputObject};
use chrono::{DateTime, Utc};

use super::order::{OrderChannel, OrderStatus};
use super::scalars::Long;
use crate::db::{OrderFilter, SortKey};
use crate::error::bad_input;

/// Longest text accepted in a filter (ids and skus are far shorter).
const MAX_TEXT: usize = 256;

/// Which orders to list; every condition given must hold.
#[derive(Debug, Clone, Default, InputObject)]
#[graphql(name = "OrderFilter")]
pub struct OrderFilterInput {
    /// One status, or several (any of them).
    pub status: Option<Vec<OrderStatus>>,
    pub customer_id: Option<String>,
    /// Orders with a line of this sku.
    pub sku: Option<String>,
    pub currency: Option<String>,
    /// One channel, or several (any of them).
    pub channel: Option<Vec<OrderChannel>>,
    /// Placed at or after this instant.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before this instant.
    pub placed_to: Option<DateTime<Utc>>,
    /// Total of at least this many minor units.
    pub min_total: Option<Long>,
    /// Total of at most this many minor units.
    pub max_total: Option<Long>,
}

fn text(field: &str, value: &Option<String>) -> async_graphql::Result<Option<String>> {
    match value {
        Some(v) if v.len() > MAX_TEXT => Err(bad_input(format!(
            "filter.{field} is longer than {MAX_TEXT} bytes"
        ))),
        _ => Ok(value.clone()),
    }
}

impl OrderFilterInput {
    pub fn to_db(&self) -> async_graphql::Result<OrderFilter> {
        let statuses = self.status.as_ref().map(|list| {
            let mut s: Vec<String> = list.iter().map(|st| st.as_str().to_owned()).collect();
            s.sort_unstable();
            s.dedup();
            s
        });
        Ok(OrderFilter {
            statuses,
            customer_ids: text("customerId", &self.customer_id)?.into_iter().collect(),
            sku: text("sku", &self.sku)?,
            currency: text("currency", &self.currency)?,
            channels: self.channel.as_ref().map(|list| {
                let mut c: Vec<String> = list.iter().map(|c| c.as_str().to_owned()).collect();
                c.sort_unstable();
                c.dedup();
                c
            }),
            placed_from: self.placed_from,
            placed_to: self.placed_to,
            total_min: self.min_total.map(|n| n.0),
            total_max: self.max_total.map(|n| n.0),
            order_ids: None,
        })
    }
}

#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderSortField {
    /// When the order was placed (`placedAt`).
    PlacedAt,
    UpdatedAt,
    Total,
}

#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// How to sort a list of orders; ties are broken by id.
#[derive(Debug, Clone, Copy, InputObject)]
pub struct OrderOrderBy {
    #[graphql(default_with = "OrderSortField::PlacedAt")]
    pub field: OrderSortField,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

impl Default for OrderOrderBy {
    /// Newest first.
    fn default() -> Self {
        OrderOrderBy {
            field: OrderSortField::PlacedAt,
            direction: SortDirection::Desc,
        }
    }
}

impl OrderOrderBy {
    pub fn key(self) -> SortKey {
        match self.field {
            OrderSortField::PlacedAt => SortKey::PlacedAt,
            OrderSortField::UpdatedAt => SortKey::UpdatedAt,
            OrderSortField::Total => SortKey::Total,
        }
    }

    pub fn descending(self) -> bool {
        self.direction == SortDirection::Desc
    }
}
