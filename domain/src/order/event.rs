//! What happened to an order. One payload struct per event type; the
//! payload is what gets stored (see `codec` for the JSON form).
//!
//! Every event carries `at`, the domain time taken from the command, so
//! replays never depend on the clock.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PaymentId, RefundId, Sku};
use crate::money::{Currency, Money};
use crate::order::address::ShippingAddress;
use crate::order::channel::Channel;

// Schema version 2 (the doc comment below goes into the schema file). v1
// had no `channel`; it is upcast to `"unknown"` (see `upcast`), and its
// type lives on in `legacy::order_created_v1` for its schema.
/// A draft order was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCreated {
    /// The order.
    pub order_id: OrderId,
    /// Who ordered.
    pub customer_id: CustomerId,
    /// Currency of every amount on the order.
    pub currency: Currency,
    /// Where the order was placed; `unknown` when the writer did not say.
    pub channel: Channel,
    /// When.
    pub at: DateTime<Utc>,
}

/// Units of a sku were added; for a sku already on the order, `quantity` is
/// the added amount and the line's quantity grows by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemAdded {
    /// The sku.
    pub sku: Sku,
    /// Display name (kept from the first add for an existing line).
    pub name: String,
    /// Units added.
    pub quantity: u32,
    /// Price of one unit.
    pub unit_price: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// A line's quantity was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemQuantityChanged {
    /// The line.
    pub sku: Sku,
    /// The new quantity.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// A line was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemRemoved {
    /// The line.
    pub sku: Sku,
    /// When.
    pub at: DateTime<Utc>,
}

/// The shipping address was set or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShippingAddressSet {
    /// The new address.
    pub address: ShippingAddress,
    /// When.
    pub at: DateTime<Utc>,
}

/// The draft was handed in; `total` is fixed from here on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSubmitted {
    /// Sum of all line totals.
    pub total: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// The shop accepted the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {
    /// When.
    pub at: DateTime<Utc>,
}

/// The shop refused the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRejected {
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The order was paid in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRecorded {
    /// The payment provider's reference.
    pub payment_id: PaymentId,
    /// Amount paid (equals the order total).
    pub amount: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// The order was handed to a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderShipped {
    /// Carrier name.
    pub carrier: String,
    /// Carrier's tracking number.
    pub tracking_number: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The order arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderDelivered {
    /// When.
    pub at: DateTime<Utc>,
}

/// The order was called off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    /// Why.
    pub reason: String,
    /// For a paid order: paid minus already refunded, which the shop now
    /// owes. `None` when nothing was paid.
    pub refund_owed: Option<Money>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Money was paid back. Never changes the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundIssued {
    /// Unique per order.
    pub refund_id: RefundId,
    /// Amount paid back, positive.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Every order event. The variant name is the stored `event_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// See [`OrderCreated`].
    OrderCreated(OrderCreated),
    /// See [`ItemAdded`].
    ItemAdded(ItemAdded),
    /// See [`ItemQuantityChanged`].
    ItemQuantityChanged(ItemQuantityChanged),
    /// See [`ItemRemoved`].
    ItemRemoved(ItemRemoved),
    /// See [`ShippingAddressSet`].
    ShippingAddressSet(ShippingAddressSet),
    /// See [`OrderSubmitted`].
    OrderSubmitted(OrderSubmitted),
    /// See [`OrderConfirmed`].
    OrderConfirmed(OrderConfirmed),
    /// See [`OrderRejected`].
    OrderRejected(OrderRejected),
    /// See [`PaymentRecorded`].
    PaymentRecorded(PaymentRecorded),
    /// See [`OrderShipped`].
    OrderShipped(OrderShipped),
    /// See [`OrderDelivered`].
    OrderDelivered(OrderDelivered),
    /// See [`OrderCancelled`].
    OrderCancelled(OrderCancelled),
    /// See [`RefundIssued`].
    RefundIssued(RefundIssued),
}

/// Every order event type, as returned by [`OrderEvent::event_type`].
pub const EVENT_TYPES: &[&str] = &[
    "OrderCreated",
    "ItemAdded",
    "ItemQuantityChanged",
    "ItemRemoved",
    "ShippingAddressSet",
    "OrderSubmitted",
    "OrderConfirmed",
    "OrderRejected",
    "PaymentRecorded",
    "OrderShipped",
    "OrderDelivered",
    "OrderCancelled",
    "RefundIssued",
];

impl OrderEvent {
    /// Same as the module-level [`EVENT_TYPES`].
    pub const EVENT_TYPES: &'static [&'static str] = EVENT_TYPES;

    /// The stored event type: the variant name, e.g. `"OrderCreated"`.
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::OrderCreated(_) => "OrderCreated",
            Self::ItemAdded(_) => "ItemAdded",
            Self::ItemQuantityChanged(_) => "ItemQuantityChanged",
            Self::ItemRemoved(_) => "ItemRemoved",
            Self::ShippingAddressSet(_) => "ShippingAddressSet",
            Self::OrderSubmitted(_) => "OrderSubmitted",
            Self::OrderConfirmed(_) => "OrderConfirmed",
            Self::OrderRejected(_) => "OrderRejected",
            Self::PaymentRecorded(_) => "PaymentRecorded",
            Self::OrderShipped(_) => "OrderShipped",
            Self::OrderDelivered(_) => "OrderDelivered",
            Self::OrderCancelled(_) => "OrderCancelled",
            Self::RefundIssued(_) => "RefundIssued",
        }
    }

    /// Domain time of the event.
    pub const fn at(&self) -> DateTime<Utc> {
        match self {
            Self::OrderCreated(e) => e.at,
            Self::ItemAdded(e) => e.at,
            Self::ItemQuantityChanged(e) => e.at,
            Self::ItemRemoved(e) => e.at,
            Self::ShippingAddressSet(e) => e.at,
            Self::OrderSubmitted(e) => e.at,
            Self::OrderConfirmed(e) => e.at,
            Self::OrderRejected(e) => e.at,
            Self::PaymentRecorded(e) => e.at,
            Self::OrderShipped(e) => e.at,
            Self::OrderDelivered(e) => e.at,
            Self::OrderCancelled(e) => e.at,
            Self::RefundIssued(e) => e.at,
        }
    }
}

/// Lets `decide` write `OrderConfirmed { at }.into()`.
macro_rules! impl_from_payload_struct {
    ($($variant:ident),+ $(,)?) => {
        $(
            impl From<$variant> for OrderEvent {
                fn from(event: $variant) -> Self {
                    Self::$variant(event)
                }
            }
        )+
    };
}

impl_from_payload_struct!(
    OrderCreated,
    ItemAdded,
    ItemQuantityChanged,
    ItemRemoved,
    ShippingAddressSet,
    OrderSubmitted,
    OrderConfirmed,
    OrderRejected,
    PaymentRecorded,
    OrderShipped,
    OrderDelivered,
    OrderCancelled,
    RefundIssued,
);
