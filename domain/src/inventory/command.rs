//! What callers ask a sku's stock to do.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::OrderId;

/// A request to change one sku's stock. Serialized internally tagged by
/// `type` (e.g. `{"type": "Reserve", "order_id": ..., "quantity": 2}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum InventoryCommand {
    /// Goods arrived: on hand grows by `quantity`.
    ReceiveStock {
        /// Units received, 1..=`MAX_STOCK`.
        quantity: u32,
    },
    /// A count correction (stocktake, damage, loss): on hand becomes
    /// `on_hand`. A count rather than a delta, so a retried correction
    /// lands on the same number. Never below what is reserved.
    AdjustStock {
        /// The counted units, 0..=`MAX_STOCK`.
        on_hand: u32,
        /// Why the count changed.
        reason: String,
    },
    /// Hold units for an order. Refused when fewer are available; the same
    /// order reserving the same quantity again changes nothing.
    Reserve {
        /// The order the units are held for.
        order_id: OrderId,
        /// Units, 1..=`MAX_RESERVATION`.
        quantity: u32,
    },
    /// Give an order's units back. Releasing twice, after the commit, or
    /// for an order that reserved nothing changes nothing.
    Release {
        /// The order.
        order_id: OrderId,
    },
    /// The order shipped: its reserved units leave the shelf (on hand and
    /// reserved both go down). Committing twice changes nothing.
    Commit {
        /// The order.
        order_id: OrderId,
    },
}

/// Every command name, as returned by [`InventoryCommand::name`].
pub const COMMAND_NAMES: &[&str] = &[
    "ReceiveStock",
    "AdjustStock",
    "Reserve",
    "Release",
    "Commit",
];

impl InventoryCommand {
    /// The variant name, which is also the serde tag, e.g. `"Reserve"`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::ReceiveStock { .. } => "ReceiveStock",
            Self::AdjustStock { .. } => "AdjustStock",
            Self::Reserve { .. } => "Reserve",
            Self::Release { .. } => "Release",
            Self::Commit { .. } => "Commit",
        }
    }
}
