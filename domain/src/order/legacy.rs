//! Payload shapes of older schema versions. Nothing decodes into these:
//! old payloads are upcast as JSON (see `upcast`). They are kept so the
//! registry can regenerate each committed version's schema byte for byte,
//! and so tests can write old payloads with a type rather than by hand.
//!
//! A type here must keep its name, field order and doc comments: they are
//! part of the committed schema file.

/// `OrderCreated` as written until schema version 2 (no `channel`).
pub mod order_created_v1 {
    use chrono::{DateTime, Utc};
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use crate::ids::{CustomerId, OrderId};
    use crate::money::Currency;

    /// A draft order was opened.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct OrderCreated {
        /// The order.
        pub order_id: OrderId,
        /// Who ordered.
        pub customer_id: CustomerId,
        /// Currency of every amount on the order.
        pub currency: Currency,
        /// When.
        pub at: DateTime<Utc>,
    }

    impl From<&crate::order::event::OrderCreated> for OrderCreated {
        /// The v1 view of a newer event (drops what v1 did not have); for
        /// examples and tests.
        fn from(e: &crate::order::event::OrderCreated) -> Self {
            OrderCreated {
                order_id: e.order_id,
                customer_id: e.customer_id.clone(),
                currency: e.currency,
                at: e.at,
            }
        }
    }
}
