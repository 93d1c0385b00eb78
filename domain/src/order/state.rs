//! The order as folded from its events: what `decide` looks at.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PaymentId, RefundId, Sku};
use crate::money::{Currency, Money};
use crate::order::address::ShippingAddress;
use crate::order::item::LineItem;
use crate::order::status::OrderStatus;

/// Everything known about one order. `OrderState::default()` is the order
/// before its first event (`status == None`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderState {
    /// The order's id, once created.
    pub id: Option<OrderId>,
    /// Who ordered.
    pub customer_id: Option<CustomerId>,
    /// Currency of every amount on the order.
    pub currency: Option<Currency>,
    /// `None` until `OrderCreated`.
    pub status: Option<OrderStatus>,
    /// Lines in the order they were first added; one per sku.
    pub items: Vec<LineItem>,
    /// Where it goes.
    pub shipping_address: Option<ShippingAddress>,
    /// Sum of recorded payments, in minor units.
    pub paid_minor: i64,
    /// Sum of issued refunds, in minor units; never above `paid_minor`.
    pub refunded_minor: i64,
    /// What the shop still owes after cancelling a paid order: set on
    /// cancellation, lowered by each later refund, never below zero.
    pub refund_owed_minor: i64,
    /// Reference of the recorded payment.
    pub payment_id: Option<PaymentId>,
    /// Issued refunds in order; ids are unique.
    pub refund_ids: Vec<RefundId>,
    /// Carrier, once shipped.
    pub carrier: Option<String>,
    /// Tracking number, once shipped.
    pub tracking_number: Option<String>,
    /// Why it was cancelled.
    pub cancellation_reason: Option<String>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// When it was created.
    pub placed_at: Option<DateTime<Utc>>,
    /// When it was submitted.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was shipped.
    pub shipped_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When it was rejected.
    pub rejected_at: Option<DateTime<Utc>>,
    /// Time of the latest event.
    pub updated_at: Option<DateTime<Utc>>,
    /// Number of events folded; the stream version to expect on append.
    pub version: u64,
}

impl OrderState {
    /// Whether `OrderCreated` has been folded.
    pub fn exists(&self) -> bool {
        self.status.is_some()
    }

    /// The line for `sku`, if any.
    pub fn item(&self, sku: &Sku) -> Option<&LineItem> {
        self.items.iter().find(|line| &line.sku == sku)
    }

    /// Sum of all line totals in minor units. Computed from the lines, so it
    /// can never disagree with them; `decide` keeps it within `i64`, and
    /// should a hand-built state not, this saturates instead of panicking.
    pub fn total_minor(&self) -> i64 {
        let wide: i128 = self
            .items
            .iter()
            .map(|line| i128::from(line.unit_price.amount_minor) * i128::from(line.quantity))
            .sum();
        i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX })
    }

    /// [`OrderState::total_minor`] in the order currency, once created.
    pub fn total(&self) -> Option<Money> {
        self.currency.map(|c| Money::new(self.total_minor(), c))
    }

    /// Paid and not yet refunded, in minor units.
    pub fn refundable_minor(&self) -> i64 {
        self.paid_minor.saturating_sub(self.refunded_minor)
    }

    /// Whether a refund with this id was issued.
    pub fn has_refund(&self, refund_id: &RefundId) -> bool {
        self.refund_ids.contains(refund_id)
    }
}
