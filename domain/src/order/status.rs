//! The lifecycle of an order.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where an order is in its lifecycle:
/// Draft → Submitted → Confirmed → Paid → Shipped → Delivered, with
/// Cancelled (from Draft, Submitted, Confirmed, Paid) and Rejected (from
/// Submitted) as the other ends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Being put together: items and address may change.
    Draft,
    /// Handed in by the customer, awaiting confirmation.
    Submitted,
    /// Accepted by the shop, awaiting payment.
    Confirmed,
    /// Paid in full.
    Paid,
    /// Handed to a carrier.
    Shipped,
    /// Arrived. Terminal.
    Delivered,
    /// Called off. Terminal.
    Cancelled,
    /// Refused by the shop. Terminal.
    Rejected,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 8] = [
        Self::Draft,
        Self::Submitted,
        Self::Confirmed,
        Self::Paid,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Rejected,
    ];

    /// The serialized name, e.g. `"draft"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Confirmed => "confirmed",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }

    /// No further status change is possible (refunds may still happen).
    pub const fn is_terminal(&self) -> bool {
        matches!(self, Self::Delivered | Self::Cancelled | Self::Rejected)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde() {
        for status in OrderStatus::ALL {
            let json = serde_json::to_value(status).ok();
            assert_eq!(json, Some(serde_json::Value::from(status.as_str())));
        }
    }

    #[test]
    fn terminal_statuses() {
        let terminal: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(OrderStatus::is_terminal)
            .collect();
        assert_eq!(
            terminal,
            [
                OrderStatus::Delivered,
                OrderStatus::Cancelled,
                OrderStatus::Rejected
            ]
        );
    }
}
