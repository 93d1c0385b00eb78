//! What happened to a sku's stock. One payload struct per event type; the
//! payload is what gets stored (see `codec` for the JSON form).
//!
//! Events do not repeat the sku: it is the stream's (`product-<sku>`), as
//! an order's id is its stream's. Every event carries `at`, the domain time
//! taken from the command.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::OrderId;

/// Goods arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReceived {
    /// Units received, positive.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// The units on hand were counted again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockAdjusted {
    /// Units on hand from now on.
    pub on_hand: u32,
    /// The change against the count before, for the record (negative for
    /// shrinkage).
    pub delta: i64,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Units were set aside for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReserved {
    /// The order.
    pub order_id: OrderId,
    /// Units set aside, positive.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// An order's reservation was given back to the available stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReleased {
    /// The order.
    pub order_id: OrderId,
    /// Units given back: the whole reservation.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// An order shipped: its reserved units left the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationCommitted {
    /// The order.
    pub order_id: OrderId,
    /// Units that left: the whole reservation.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// Every inventory event. The variant name is the stored `event_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryEvent {
    /// See [`StockReceived`].
    StockReceived(StockReceived),
    /// See [`StockAdjusted`].
    StockAdjusted(StockAdjusted),
    /// See [`StockReserved`].
    StockReserved(StockReserved),
    /// See [`StockReleased`].
    StockReleased(StockReleased),
    /// See [`ReservationCommitted`].
    ReservationCommitted(ReservationCommitted),
}

/// Every inventory event type, as returned by [`InventoryEvent::event_type`].
pub const EVENT_TYPES: &[&str] = &[
    "StockReceived",
    "StockAdjusted",
    "StockReserved",
    "StockReleased",
    "ReservationCommitted",
];

impl InventoryEvent {
    /// Same as the module-level [`EVENT_TYPES`].
    pub const EVENT_TYPES: &'static [&'static str] = EVENT_TYPES;

    /// The stored event type: the variant name, e.g. `"StockReserved"`.
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::StockReceived(_) => "StockReceived",
            Self::StockAdjusted(_) => "StockAdjusted",
            Self::StockReserved(_) => "StockReserved",
            Self::StockReleased(_) => "StockReleased",
            Self::ReservationCommitted(_) => "ReservationCommitted",
        }
    }

    /// Domain time of the event.
    pub const fn at(&self) -> DateTime<Utc> {
        match self {
            Self::StockReceived(e) => e.at,
            Self::StockAdjusted(e) => e.at,
            Self::StockReserved(e) => e.at,
            Self::StockReleased(e) => e.at,
            Self::ReservationCommitted(e) => e.at,
        }
    }

    /// The order the event is about, for reservation events.
    pub const fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::StockReceived(_) | Self::StockAdjusted(_) => None,
            Self::StockReserved(e) => Some(e.order_id),
            Self::StockReleased(e) => Some(e.order_id),
            Self::ReservationCommitted(e) => Some(e.order_id),
        }
    }
}

/// Lets `decide` write `StockReceived { .. }.into()`.
macro_rules! impl_from_payload_struct {
    ($($variant:ident),+ $(,)?) => {
        $(
            impl From<$variant> for InventoryEvent {
                fn from(event: $variant) -> Self {
                    Self::$variant(event)
                }
            }
        )+
    };
}

impl_from_payload_struct!(
    StockReceived,
    StockAdjusted,
    StockReserved,
    StockReleased,
    ReservationCommitted,
);
