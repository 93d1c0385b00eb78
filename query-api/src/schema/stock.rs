//! Products and their stock, from the `stock_levels` read model.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::StockRow;
use crate::error::ErrorCode;
use crate::services::loaders;

#[derive(Debug, Clone)]
pub struct Product {
    sku: String,
}

impl Product {
    pub fn new(sku: impl Into<String>) -> Product {
        Product { sku: sku.into() }
    }
}

/// A product, named by its sku. The read side has no catalog: every
/// well-formed sku is a product, and its `stock` says whether it ever had
/// any.
#[Object]
impl Product {
    async fn sku(&self) -> &str {
        &self.sku
    }

    /// The sku's stock; null when it never received any (a sku sold out or
    /// counted down to nothing has a stock with `available: 0`).
    async fn stock(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StockLevel>> {
        Ok(loaders(ctx)?.stock(&self.sku).await?.map(StockLevel))
    }
}

#[derive(Debug, Clone)]
pub struct StockLevel(pub StockRow);

/// A count of `stock_levels` as an `Int`. The deciders keep every count
/// within `MAX_STOCK`, so one outside means a corrupt row: say so rather
/// than answer a wrong number.
fn units(value: i64, column: &str, sku: &str) -> async_graphql::Result<i32> {
    i32::try_from(value).map_err(|_| {
        tracing::error!(sku, column, value, "stock_levels holds a count outside Int");
        ErrorCode::Internal.error("internal error; see the server log")
    })
}

/// One sku's units, from the `stock_levels` read model. Counts never pass
/// 1,000,000,000 (the domain's `MAX_STOCK`), so they fit an `Int`.
#[Object]
impl StockLevel {
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    /// Units on the shelf: received, corrected by counts, less those
    /// shipped.
    async fn on_hand(&self) -> async_graphql::Result<i32> {
        units(self.0.on_hand, "on_hand", &self.0.sku)
    }

    /// Units set aside for orders that have not shipped.
    async fn reserved(&self) -> async_graphql::Result<i32> {
        units(self.0.reserved, "reserved", &self.0.sku)
    }

    /// `onHand − reserved`: what new orders can still reserve.
    async fn available(&self) -> async_graphql::Result<i32> {
        units(self.0.available, "available", &self.0.sku)
    }

    /// Orders holding a reservation of this sku.
    async fn open_reservations(&self) -> async_graphql::Result<i32> {
        units(self.0.open_reservations, "open_reservations", &self.0.sku)
    }

    /// The event that changed the stock last.
    async fn last_change(&self) -> async_graphql::Result<StockChange> {
        Ok(StockChange {
            event: self.0.last_change.clone(),
            at: self.0.updated_at,
            version: units(self.0.stream_version, "stream_version", &self.0.sku)?,
        })
    }
}

/// The last change of a sku's stock.
#[derive(Debug, Clone, SimpleObject)]
pub struct StockChange {
    /// Its event type, as in the schema registry: `StockReceived`,
    /// `StockAdjusted`, `StockReserved`, `StockReleased` or
    /// `ReservationCommitted`.
    pub event: String,
    /// When it happened (domain time).
    pub at: DateTime<Utc>,
    /// The sku's stream version after it: the `ETag` of
    /// `GET /inventory/{sku}` at that point.
    pub version: i32,
}
