//! `Order`, its lines and its status.

use async_graphql::{Context, Enum, Object};
use chrono::{DateTime, Utc};
use orderflow_domain::Channel;
use uuid::Uuid;

use super::customer::Customer;
use super::money::Money;
use super::scalars::Long;
use crate::db::{AddressRow, ItemRow, OrderRow};
use crate::error::ErrorCode;
use crate::services::loaders;

/// Where an order is in its lifecycle.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Draft,
    Submitted,
    Confirmed,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Rejected,
}

impl OrderStatus {
    pub fn domain(self) -> orderflow_domain::OrderStatus {
        use orderflow_domain::OrderStatus as D;
        match self {
            OrderStatus::Draft => D::Draft,
            OrderStatus::Submitted => D::Submitted,
            OrderStatus::Confirmed => D::Confirmed,
            OrderStatus::Paid => D::Paid,
            OrderStatus::Shipped => D::Shipped,
            OrderStatus::Delivered => D::Delivered,
            OrderStatus::Cancelled => D::Cancelled,
            OrderStatus::Rejected => D::Rejected,
        }
    }

    /// As stored in the read model (`"paid"`).
    pub fn as_str(self) -> &'static str {
        self.domain().as_str()
    }

    const ALL: [OrderStatus; 8] = [
        OrderStatus::Draft,
        OrderStatus::Submitted,
        OrderStatus::Confirmed,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
    ];

    pub fn from_stored(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Where an order was placed. `UNKNOWN` when its creator did not say: every
/// order created before channels were recorded, and every create-order
/// request without one.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderChannel {
    Web,
    Mobile,
    Api,
    Unknown,
}

impl OrderChannel {
    /// As stored in the read model (`"web"`).
    pub fn as_str(self) -> &'static str {
        self.domain().as_str()
    }

    pub fn domain(self) -> Channel {
        match self {
            OrderChannel::Web => Channel::Web,
            OrderChannel::Mobile => Channel::Mobile,
            OrderChannel::Api => Channel::Api,
            OrderChannel::Unknown => Channel::Unknown,
        }
    }

    pub fn from_stored(s: &str) -> Option<OrderChannel> {
        [
            OrderChannel::Web,
            OrderChannel::Mobile,
            OrderChannel::Api,
            OrderChannel::Unknown,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A postal address.
#[derive(Debug, Clone)]
pub struct ShippingAddress(pub AddressRow);

#[Object]
impl ShippingAddress {
    /// Recipient.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Street and number.
    async fn line1(&self) -> &str {
        &self.0.line1
    }

    async fn line2(&self) -> Option<&str> {
        self.0.line2.as_deref()
    }

    async fn city(&self) -> &str {
        &self.0.city
    }

    async fn postal_code(&self) -> &str {
        &self.0.postal_code
    }

    /// ISO 3166-1 alpha-2 code, e.g. `DE`.
    async fn country(&self) -> &str {
        &self.0.country
    }
}

/// An order as the read model has it.
#[derive(Debug, Clone)]
pub struct Order(pub OrderRow);

#[Object]
impl Order {
    async fn id(&self) -> Uuid {
        self.0.order_id
    }

    async fn customer_id(&self) -> &str {
        &self.0.customer_id
    }

    async fn customer(&self) -> Customer {
        Customer::new(self.0.customer_id.clone())
    }

    async fn status(&self) -> async_graphql::Result<OrderStatus> {
        OrderStatus::from_stored(&self.0.status).ok_or_else(|| {
            tracing::error!(status = %self.0.status, "unknown order status in read model");
            ErrorCode::Internal.error("internal error; see the server log")
        })
    }

    /// ISO 4217 code every amount of the order uses.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Where the order was placed.
    async fn channel(&self) -> async_graphql::Result<OrderChannel> {
        OrderChannel::from_stored(&self.0.channel).ok_or_else(|| {
            tracing::error!(channel = %self.0.channel, "unknown order channel in read model");
            ErrorCode::Internal.error("internal error; see the server log")
        })
    }

    /// The last address set; null until one is.
    async fn shipping_address(&self) -> Option<ShippingAddress> {
        self.0
            .shipping_address
            .as_ref()
            .map(|a| ShippingAddress(a.0.clone()))
    }

    /// Number of distinct lines.
    async fn line_count(&self) -> i32 {
        self.0.line_count
    }

    /// Units over all lines.
    async fn item_count(&self) -> Long {
        Long(self.0.item_count)
    }

    /// Sum of the lines.
    async fn total(&self) -> Money {
        Money::new(self.0.total_minor, &self.0.currency)
    }

    async fn paid(&self) -> Money {
        Money::new(self.0.paid_minor, &self.0.currency)
    }

    async fn refunded(&self) -> Money {
        Money::new(self.0.refunded_minor, &self.0.currency)
    }

    async fn carrier(&self) -> Option<&str> {
        self.0.carrier.as_deref()
    }

    async fn tracking_number(&self) -> Option<&str> {
        self.0.tracking_number.as_deref()
    }

    async fn cancellation_reason(&self) -> Option<&str> {
        self.0.cancellation_reason.as_deref()
    }

    async fn rejection_reason(&self) -> Option<&str> {
        self.0.rejection_reason.as_deref()
    }

    /// When the order was created (as a draft).
    async fn placed_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }

    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }

    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }

    async fn shipped_at(&self) -> Option<DateTime<Utc>> {
        self.0.shipped_at
    }

    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }

    async fn rejected_at(&self) -> Option<DateTime<Utc>> {
        self.0.rejected_at
    }

    /// When the last event of the order happened.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The order stream's version this view reflects (the REST `ETag`).
    async fn version(&self) -> i32 {
        i32::try_from(self.0.stream_version).unwrap_or(i32::MAX)
    }

    /// Position token of the last event this view reflects.
    async fn position(&self) -> &str {
        &self.0.last_position
    }

    /// The lines, in the order they were added. Batched across orders.
    #[graphql(complexity = "5 * child_complexity + 1")]
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderItem>> {
        let rows = loaders(ctx)?.items(self.0.order_id).await?;
        Ok(rows.into_iter().map(OrderItem).collect())
    }
}

/// One line of an order.
#[derive(Debug, Clone)]
pub struct OrderItem(pub ItemRow);

#[Object]
impl OrderItem {
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn quantity(&self) -> Long {
        Long(self.0.quantity)
    }

    async fn unit_price(&self) -> Money {
        Money::new(self.0.unit_price_minor, &self.0.currency)
    }

    /// `quantity × unitPrice`.
    async fn line_total(&self) -> Money {
        Money::new(self.0.line_total_minor, &self.0.currency)
    }

    async fn added_at(&self) -> DateTime<Utc> {
        self.0.added_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
