//! What callers ask the order to do.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PaymentId, RefundId, Sku};
use crate::money::{Currency, Money};
use crate::order::address::ShippingAddress;
use crate::order::channel::Channel;
use crate::order::item::NewItem;

/// A request to change an order. Serialized internally tagged by `type`
/// (e.g. `{"type": "AddItem", "sku": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum OrderCommand {
    /// Start a draft order, optionally with items and an address.
    CreateOrder {
        /// UUIDv7 minted by the caller.
        order_id: OrderId,
        /// Who orders.
        customer_id: CustomerId,
        /// Currency every price on the order must use.
        currency: Currency,
        /// Where the order is placed; `unknown` when left out.
        #[serde(default)]
        channel: Channel,
        /// Initial items, applied in order like `AddItem`.
        #[serde(default)]
        items: Vec<NewItem>,
        /// Initial address.
        #[serde(default)]
        shipping_address: Option<ShippingAddress>,
    },
    /// Add a sku, or raise the quantity of a sku already on the order.
    AddItem {
        /// What to add.
        sku: Sku,
        /// Display name.
        name: String,
        /// How many to add.
        quantity: u32,
        /// Price of one unit; must match the existing line's price.
        unit_price: Money,
    },
    /// Set a line's quantity.
    ChangeItemQuantity {
        /// The line.
        sku: Sku,
        /// The new quantity.
        quantity: u32,
    },
    /// Drop a line.
    RemoveItem {
        /// The line.
        sku: Sku,
    },
    /// Set or replace the shipping address.
    SetShippingAddress {
        /// The address.
        address: ShippingAddress,
    },
    /// Hand the draft in.
    SubmitOrder,
    /// Accept a submitted order.
    ConfirmOrder,
    /// Refuse a submitted order.
    RejectOrder {
        /// Why.
        reason: String,
    },
    /// Record full payment of a confirmed order.
    RecordPayment {
        /// The payment provider's reference.
        payment_id: PaymentId,
        /// Must equal the order total.
        amount: Money,
    },
    /// Hand a paid order to a carrier.
    ShipOrder {
        /// Carrier name.
        carrier: String,
        /// Carrier's tracking number.
        tracking_number: String,
    },
    /// Record arrival of a shipped order.
    MarkDelivered,
    /// Call the order off.
    CancelOrder {
        /// Why.
        reason: String,
    },
    /// Pay money back; never changes the status.
    IssueRefund {
        /// Unique per order.
        refund_id: RefundId,
        /// Positive, at most what was paid and not yet refunded.
        amount: Money,
        /// Why.
        reason: String,
    },
}

/// Every command name, as returned by [`OrderCommand::name`].
pub const COMMAND_NAMES: &[&str] = &[
    "CreateOrder",
    "AddItem",
    "ChangeItemQuantity",
    "RemoveItem",
    "SetShippingAddress",
    "SubmitOrder",
    "ConfirmOrder",
    "RejectOrder",
    "RecordPayment",
    "ShipOrder",
    "MarkDelivered",
    "CancelOrder",
    "IssueRefund",
];

impl OrderCommand {
    /// The variant name, which is also the serde tag, e.g. `"AddItem"`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::CreateOrder { .. } => "CreateOrder",
            Self::AddItem { .. } => "AddItem",
            Self::ChangeItemQuantity { .. } => "ChangeItemQuantity",
            Self::RemoveItem { .. } => "RemoveItem",
            Self::SetShippingAddress { .. } => "SetShippingAddress",
            Self::SubmitOrder => "SubmitOrder",
            Self::ConfirmOrder => "ConfirmOrder",
            Self::RejectOrder { .. } => "RejectOrder",
            Self::RecordPayment { .. } => "RecordPayment",
            Self::ShipOrder { .. } => "ShipOrder",
            Self::MarkDelivered => "MarkDelivered",
            Self::CancelOrder { .. } => "CancelOrder",
            Self::IssueRefund { .. } => "IssueRefund",
        }
    }
}
