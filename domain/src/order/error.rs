//! Why `decide` refused a command. Codes are stable API: the REST layer maps
//! them to problem+json `type`s, so never rename one.

use thiserror::Error;

use crate::ids::{RefundId, Sku};
use crate::money::{Money, MoneyError};
use crate::order::status::OrderStatus;
use crate::validation::{ValidationError, Violation};

/// A command broke a rule; nothing was emitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderError {
    /// `CreateOrder` on an order that exists.
    #[error("order already exists")]
    AlreadyExists,
    /// Any other command on an order that does not exist.
    #[error("order does not exist")]
    NotFound,
    /// Items, address and submission need a draft.
    #[error("order is {status}; only a draft order can be changed or submitted")]
    NotDraft {
        /// The order's status.
        status: OrderStatus,
    },
    /// The command is not allowed in the order's status.
    #[error("cannot {command} an order that is {status}")]
    InvalidTransition {
        /// The order's status.
        status: OrderStatus,
        /// The command's name, e.g. `"ShipOrder"`.
        command: &'static str,
    },
    /// Submitting an order without items.
    #[error("order has no items")]
    Empty,
    /// Submitting an order without a shipping address.
    #[error("order has no shipping address")]
    MissingShippingAddress,
    /// Adding a new line beyond the limit.
    #[error("order cannot have more than {max} lines")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// No line with this sku.
    #[error("order has no line with sku {sku}")]
    ItemNotFound {
        /// The sku asked for.
        sku: Sku,
    },
    /// Adding a sku again at another price.
    #[error("sku {sku} is on the order at {existing}, not {given}")]
    PriceMismatch {
        /// The sku.
        sku: Sku,
        /// Price on the order.
        existing: Money,
        /// Price in the command.
        given: Money,
    },
    /// Quantity (or resulting quantity after adding) out of range.
    #[error("quantity {quantity} is outside {min}..={max}")]
    InvalidQuantity {
        /// The offending quantity; wide enough for a sum of two `u32`.
        quantity: u64,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// Adding to a line would take it beyond the largest quantity.
    #[error("the line {sku} would hold {quantity}, more than {max}")]
    LineQuantityExceeded {
        /// The line.
        sku: Sku,
        /// What the line would hold.
        quantity: u64,
        /// Largest allowed.
        max: u32,
    },
    /// The order's total would pass the ceiling of amounts.
    #[error("the order total would pass the ceiling of {max} minor units")]
    TotalAboveCeiling {
        /// The ceiling, `limits::MAX_AMOUNT_MINOR`.
        max: i64,
    },
    /// Item name empty, too long or with control characters.
    #[error("item name {0}")]
    InvalidName(Violation),
    /// Negative price, currency mismatch or arithmetic overflow.
    #[error("{error}")]
    Money {
        /// What went wrong.
        error: MoneyError,
        /// The input field to blame, if one is.
        field: Option<&'static str>,
    },
    /// Payment amount or currency differs from the order total.
    #[error("payment of {given} does not match the order total of {expected}")]
    PaymentAmountMismatch {
        /// The order total.
        expected: Money,
        /// The payment.
        given: Money,
    },
    /// Nothing was paid, so there is nothing to refund.
    #[error("nothing was paid, so nothing can be refunded")]
    RefundNotAllowed,
    /// Refund of zero or less.
    #[error("refund amount must be positive, got {amount}")]
    RefundInvalidAmount {
        /// The amount given.
        amount: Money,
    },
    /// Refund beyond what was paid and not yet refunded.
    #[error("refund of {requested} exceeds the refundable {refundable}")]
    RefundExceedsPaid {
        /// The amount given.
        requested: Money,
        /// Paid minus already refunded.
        refundable: Money,
    },
    /// A refund with this id was already issued.
    #[error("refund {refund_id} was already issued")]
    RefundDuplicate {
        /// The id.
        refund_id: RefundId,
    },
    /// Cancellation, rejection or refund reason empty or too long.
    #[error("reason {0}")]
    InvalidReason(Violation),
    /// Carrier or tracking number empty, too long or with control characters.
    #[error("shipment {field} {violation}")]
    InvalidShipment {
        /// `carrier` or `tracking_number`.
        field: &'static str,
        /// What is wrong.
        violation: Violation,
    },
    /// The order's stream is as long as it may get (for draft edits: as long
    /// as they may make it).
    #[error("order cannot have more than {max} events for this command")]
    TooManyEvents {
        /// The limit the command would pass.
        max: u64,
    },
    /// An id, currency or address in the command is malformed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl OrderError {
    /// Stable dotted code, e.g. `order.not_draft`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyExists => "order.already_exists",
            Self::NotFound => "order.not_found",
            Self::NotDraft { .. } => "order.not_draft",
            Self::InvalidTransition { .. } => "order.invalid_transition",
            Self::Empty => "order.empty",
            Self::MissingShippingAddress => "order.missing_shipping_address",
            Self::TooManyItems { .. } => "order.too_many_items",
            Self::ItemNotFound { .. } => "item.not_found",
            Self::PriceMismatch { .. } => "item.price_mismatch",
            Self::InvalidQuantity { .. } => "item.invalid_quantity",
            Self::LineQuantityExceeded { .. } => "item.line_quantity_exceeded",
            Self::TotalAboveCeiling { .. } => "order.total_above_ceiling",
            Self::InvalidName(_) => "item.invalid_name",
            Self::Money { error, .. } => error.code(),
            Self::PaymentAmountMismatch { .. } => "payment.amount_mismatch",
            Self::RefundNotAllowed => "refund.not_allowed",
            Self::RefundInvalidAmount { .. } => "refund.invalid_amount",
            Self::RefundExceedsPaid { .. } => "refund.exceeds_paid",
            Self::RefundDuplicate { .. } => "refund.duplicate",
            Self::InvalidReason(_) => "reason.invalid",
            Self::InvalidShipment { .. } => "shipment.invalid",
            Self::TooManyEvents { .. } => "order.too_many_events",
            Self::Invalid(e) => e.code(),
        }
    }

    /// The command field to blame, for per-field error reports. Field names
    /// are those of the command (for items and addresses: of the item or
    /// address object).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::AlreadyExists
            | Self::NotFound
            | Self::NotDraft { .. }
            | Self::InvalidTransition { .. }
            | Self::RefundNotAllowed
            | Self::TooManyEvents { .. } => None,
            Self::Empty | Self::TooManyItems { .. } => Some("items"),
            Self::MissingShippingAddress => Some("shipping_address"),
            Self::ItemNotFound { .. } => Some("sku"),
            Self::PriceMismatch { .. } => Some("unit_price"),
            Self::InvalidQuantity { .. }
            | Self::LineQuantityExceeded { .. }
            | Self::TotalAboveCeiling { .. } => Some("quantity"),
            Self::InvalidName(_) => Some("name"),
            Self::Money { field, .. } => *field,
            Self::PaymentAmountMismatch { .. }
            | Self::RefundInvalidAmount { .. }
            | Self::RefundExceedsPaid { .. } => Some("amount"),
            Self::RefundDuplicate { .. } => Some("refund_id"),
            Self::InvalidReason(_) => Some("reason"),
            Self::InvalidShipment { field, .. } => Some(field),
            Self::Invalid(e) => Some(e.field()),
        }
    }
}
