//! A sku's stock as folded from its events: what `decide` looks at.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::OrderId;

/// How an order's reservation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Given back to the available stock.
    Released,
    /// Shipped: the units left the shelf.
    Committed,
}

impl fmt::Display for Settlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Released => "released",
            Self::Committed => "committed",
        })
    }
}

/// Everything known about one sku's stock. `InventoryState::default()` is
/// the sku before its first event: nothing on hand, nothing reserved.
///
/// Invariant (kept by `decide`, checked by the property tests):
/// `reserved <= on_hand <= MAX_STOCK`, and `reserved` is the sum of
/// `reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InventoryState {
    /// Units on the shelf, reserved ones included.
    pub on_hand: u32,
    /// Units held for orders: the sum of `reservations`.
    pub reserved: u32,
    /// Open reservations by order.
    pub reservations: BTreeMap<OrderId, u32>,
    /// Orders whose reservation ended, and how. Kept so a late or repeated
    /// `Reserve` for such an order is refused instead of holding stock
    /// again, and `Commit`/`Release` stay idempotent. It grows with the
    /// orders of the sku (one small entry each).
    pub settled: BTreeMap<OrderId, Settlement>,
    /// Number of events folded; the stream version to expect on append.
    pub version: u64,
    /// Domain time of the last event.
    pub updated_at: Option<DateTime<Utc>>,
}

impl InventoryState {
    /// Whether any event has been folded.
    pub fn exists(&self) -> bool {
        self.version > 0
    }

    /// Units that may still be reserved.
    pub fn available(&self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// The units held for `order`, if its reservation is open.
    pub fn reservation(&self, order: &OrderId) -> Option<u32> {
        self.reservations.get(order).copied()
    }

    /// How `order`'s reservation ended, if it did.
    pub fn settlement(&self, order: &OrderId) -> Option<Settlement> {
        self.settled.get(order).copied()
    }
}
