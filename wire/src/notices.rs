//! Change notices: after every committed batch a projector tells the query
//! API how far it got, so read-your-writes waits and subscriptions wake up.
//! Plain NATS (not JetStream), JSON bodies, best effort: a lost notice only
//! delays a waiter until its next look at the checkpoint.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Position;

/// On `<prefix>.changes.projections.<projection>` after every batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectionNotice {
    pub projection: String,
    /// The projection's checkpoint after the batch.
    pub position: Position,
}

/// On `<prefix>.changes.orders.<order id>` for every order the `orders`
/// projection changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNotice {
    pub order_id: Uuid,
    /// The position of the order's own last event (what its row stores),
    /// not the batch's end: a subscriber waits for the row to reach it.
    pub position: Position,
}

pub fn projection_subject(prefix: &str, projection: &str) -> String {
    format!("{prefix}.changes.projections.{projection}")
}

/// Every projection's notices.
pub fn all_projections(prefix: &str) -> String {
    format!("{prefix}.changes.projections.*")
}

pub fn order_subject(prefix: &str, order: Uuid) -> String {
    format!("{prefix}.changes.orders.{order}")
}

/// Every order's notices.
pub fn all_orders(prefix: &str) -> String {
    format!("{prefix}.changes.orders.*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_json_with_position_tokens() {
        let id = Uuid::nil();
        let n = OrderNotice {
            order_id: id,
            position: Position::new(7, 42),
        };
        let json = serde_json::to_value(n).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({ "order_id": id, "position": "7.42" }))
        );
        assert_eq!(order_subject("of", id), format!("of.changes.orders.{id}"));
        assert_eq!(all_projections("of"), "of.changes.projections.*");
    }
}
