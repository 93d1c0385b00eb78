//! Why `decide` refused an inventory command. Codes are stable API: the
//! REST layer maps them to problem+json `type`s, and the fulfilment process
//! records them, so never rename one.

use thiserror::Error;

use crate::ids::OrderId;
use crate::inventory::state::Settlement;
use crate::validation::Violation;

/// A command broke a rule; nothing was emitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InventoryError {
    /// A quantity or count outside its range.
    #[error("{field} {quantity} is outside {min}..={max}")]
    InvalidQuantity {
        /// `quantity` or `on_hand`.
        field: &'static str,
        /// The offending value.
        quantity: u64,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// Adjustment reason empty, too long or with control characters.
    #[error("reason {0}")]
    InvalidReason(Violation),
    /// A receipt would take the units on hand past the ceiling.
    #[error("{on_hand} units on hand would pass the ceiling of {max}")]
    StockAboveCeiling {
        /// What on hand would be.
        on_hand: u64,
        /// `limits::MAX_STOCK`.
        max: u32,
    },
    /// A count correction below what orders hold.
    #[error("cannot count {on_hand} units on hand while {reserved} are reserved")]
    BelowReserved {
        /// The count asked for.
        on_hand: u32,
        /// Units reserved.
        reserved: u32,
    },
    /// Fewer units available than the reservation asks for: never oversell.
    #[error("{requested} units requested, {available} available")]
    InsufficientStock {
        /// Units asked for.
        requested: u32,
        /// Units on hand and not reserved.
        available: u32,
    },
    /// The order holds a reservation of another quantity.
    #[error("order {order_id} already holds {reserved} units, not {requested}")]
    ReservationMismatch {
        /// The order.
        order_id: OrderId,
        /// Units it holds.
        reserved: u32,
        /// Units asked for now.
        requested: u32,
    },
    /// The order's reservation ended already: it cannot reserve again, and
    /// a released one cannot be committed.
    #[error("the reservation of order {order_id} was {settlement}")]
    ReservationSettled {
        /// The order.
        order_id: OrderId,
        /// How it ended.
        settlement: Settlement,
    },
    /// Committing for an order that never reserved this sku.
    #[error("order {order_id} holds no reservation")]
    NoReservation {
        /// The order.
        order_id: OrderId,
    },
}

impl InventoryError {
    /// Stable dotted code, e.g. `inventory.insufficient_stock`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuantity { .. } => "inventory.invalid_quantity",
            // The same rule and code as an order's reasons.
            Self::InvalidReason(_) => "reason.invalid",
            Self::StockAboveCeiling { .. } => "inventory.stock_above_ceiling",
            Self::BelowReserved { .. } => "inventory.below_reserved",
            Self::InsufficientStock { .. } => "inventory.insufficient_stock",
            Self::ReservationMismatch { .. } => "inventory.reservation_mismatch",
            Self::ReservationSettled { .. } => "inventory.reservation_settled",
            Self::NoReservation { .. } => "inventory.no_reservation",
        }
    }

    /// The command field to blame, for per-field error reports.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidQuantity { field, .. } => Some(field),
            Self::InvalidReason(_) => Some("reason"),
            Self::StockAboveCeiling { .. }
            | Self::InsufficientStock { .. }
            | Self::ReservationMismatch { .. } => Some("quantity"),
            Self::BelowReserved { .. } => Some("on_hand"),
            Self::ReservationSettled { .. } | Self::NoReservation { .. } => Some("order_id"),
        }
    }

    /// Whether the command broke a rule of the stock as it stands (the REST
    /// layer's 409), rather than being malformed on its own (422).
    pub fn is_conflict(&self) -> bool {
        !matches!(self, Self::InvalidQuantity { .. } | Self::InvalidReason(_))
    }
}
