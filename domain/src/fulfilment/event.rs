//! What happened to an instance: the events of `fulfilment-<order>`.
//! Stored as `(event_type, payload)` like order events; the types carry a
//! `Fulfilment` prefix so they never share a name (and a registry entry)
//! with an order or inventory event.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fulfilment::input::{Line, OrderStep, Outcome};
use crate::ids::{OrderId, PaymentId, RefundId, Sku};
use crate::money::Money;

/// Every instance event. Serialized externally tagged: the tag is the
/// stored event type, the content the payload. The doc comments make up
/// the registry's schema files (`schemas/Fulfilment*/v1.json`), which never
/// change once committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FulfilmentEvent {
    /// The order was submitted: its lines are to be reserved.
    #[serde(rename = "FulfilmentStarted")]
    Started {
        /// The order this instance fulfils.
        order: OrderId,
        /// What to reserve: one entry per sku of the order.
        lines: Vec<Line>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A line's stock was reserved for the order.
    #[serde(rename = "FulfilmentStockReserved")]
    StockReserved {
        /// The line's sku.
        sku: Sku,
        /// When.
        at: DateTime<Utc>,
    },
    /// The inventory refused to reserve a line.
    #[serde(rename = "FulfilmentReservationRefused")]
    ReservationRefused {
        /// The line's sku.
        sku: Sku,
        /// The inventory's refusal code, e.g. `inventory.insufficient_stock`.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Every line is reserved: the order is to be confirmed.
    #[serde(rename = "FulfilmentReservationsComplete")]
    ReservationsComplete {
        /// When.
        at: DateTime<Utc>,
    },
    /// A line was refused: release the rest and reject with `reason`.
    #[serde(rename = "FulfilmentRejecting")]
    Rejecting {
        /// The rejection reason, `out_of_stock: <skus>`.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A line's reservation was given back.
    #[serde(rename = "FulfilmentStockReleased")]
    StockReleased {
        /// The line's sku.
        sku: Sku,
        /// When.
        at: DateTime<Utc>,
    },
    /// A line's reservation left the shelf with the shipment.
    #[serde(rename = "FulfilmentStockCommitted")]
    StockCommitted {
        /// The line's sku.
        sku: Sku,
        /// When.
        at: DateTime<Utc>,
    },
    /// An order command the instance issued came back.
    #[serde(rename = "FulfilmentOrderCommandDone")]
    OrderCommandDone {
        /// Which command.
        step: OrderStep,
        /// Whether the order took it.
        outcome: Outcome,
        /// When.
        at: DateTime<Utc>,
    },
    /// The order was confirmed; unpaid at `due_at` it is cancelled.
    #[serde(rename = "FulfilmentPaymentDeadlineSet")]
    PaymentDeadlineSet {
        /// The deadline, derived from the instance stream (deterministic).
        deadline_id: Uuid,
        /// When the order is cancelled if still unpaid.
        due_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The order's payment was recorded: the payment deadline no longer
    /// matters.
    #[serde(rename = "FulfilmentPaymentReceived")]
    PaymentReceived {
        /// The provider's payment id.
        payment_id: PaymentId,
        /// What was paid.
        amount: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// The payment deadline fired before a payment: cancel.
    #[serde(rename = "FulfilmentPaymentTimedOut")]
    PaymentTimedOut {
        /// The deadline that fired.
        deadline_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The order was cancelled: its stock is to be released.
    #[serde(rename = "FulfilmentOrderCancelled")]
    OrderCancelled {
        /// The order's cancellation reason.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The order was rejected: its stock is to be released.
    #[serde(rename = "FulfilmentOrderRejected")]
    OrderRejected {
        /// The order's rejection reason.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The order shipped: its reservations are to be committed.
    #[serde(rename = "FulfilmentOrderShipped")]
    OrderShipped {
        /// When.
        at: DateTime<Utc>,
    },
    /// A cancelled paid order: the provider is to pay `amount` back.
    #[serde(rename = "FulfilmentRefundRequested")]
    RefundRequested {
        /// The refund, derived from the instance stream (deterministic).
        refund_id: RefundId,
        /// The payment refunded, when the instance saw it.
        payment_id: Option<PaymentId>,
        /// What the order owes back.
        amount: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// The provider could not take the refund now: ask again at `due_at`.
    #[serde(rename = "FulfilmentRefundRetryScheduled")]
    RefundRetryScheduled {
        /// The retry's deadline (deterministic per attempt).
        deadline_id: Uuid,
        /// When to ask the provider again.
        due_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The provider confirmed the refund.
    #[serde(rename = "FulfilmentRefundConfirmed")]
    RefundConfirmed {
        /// The refund.
        refund_id: RefundId,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Every instance event type, as returned by [`FulfilmentEvent::event_type`].
pub const EVENT_TYPES: &[&str] = &[
    "FulfilmentStarted",
    "FulfilmentStockReserved",
    "FulfilmentReservationRefused",
    "FulfilmentReservationsComplete",
    "FulfilmentRejecting",
    "FulfilmentStockReleased",
    "FulfilmentStockCommitted",
    "FulfilmentOrderCommandDone",
    "FulfilmentPaymentDeadlineSet",
    "FulfilmentPaymentReceived",
    "FulfilmentPaymentTimedOut",
    "FulfilmentOrderCancelled",
    "FulfilmentOrderRejected",
    "FulfilmentOrderShipped",
    "FulfilmentRefundRequested",
    "FulfilmentRefundRetryScheduled",
    "FulfilmentRefundConfirmed",
];

/// A stored event that is not a readable instance event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a fulfilment event {event_type:?}: {message}")]
pub struct FulfilmentDecodeError {
    pub event_type: String,
    pub message: String,
}

impl FulfilmentEvent {
    /// The stored event type, e.g. `"FulfilmentStarted"`.
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "FulfilmentStarted",
            Self::StockReserved { .. } => "FulfilmentStockReserved",
            Self::ReservationRefused { .. } => "FulfilmentReservationRefused",
            Self::ReservationsComplete { .. } => "FulfilmentReservationsComplete",
            Self::Rejecting { .. } => "FulfilmentRejecting",
            Self::StockReleased { .. } => "FulfilmentStockReleased",
            Self::StockCommitted { .. } => "FulfilmentStockCommitted",
            Self::OrderCommandDone { .. } => "FulfilmentOrderCommandDone",
            Self::PaymentDeadlineSet { .. } => "FulfilmentPaymentDeadlineSet",
            Self::PaymentReceived { .. } => "FulfilmentPaymentReceived",
            Self::PaymentTimedOut { .. } => "FulfilmentPaymentTimedOut",
            Self::OrderCancelled { .. } => "FulfilmentOrderCancelled",
            Self::OrderRejected { .. } => "FulfilmentOrderRejected",
            Self::OrderShipped { .. } => "FulfilmentOrderShipped",
            Self::RefundRequested { .. } => "FulfilmentRefundRequested",
            Self::RefundRetryScheduled { .. } => "FulfilmentRefundRetryScheduled",
            Self::RefundConfirmed { .. } => "FulfilmentRefundConfirmed",
        }
    }

    /// Domain time of the event.
    pub const fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Started { at, .. }
            | Self::StockReserved { at, .. }
            | Self::ReservationRefused { at, .. }
            | Self::ReservationsComplete { at }
            | Self::Rejecting { at, .. }
            | Self::StockReleased { at, .. }
            | Self::StockCommitted { at, .. }
            | Self::OrderCommandDone { at, .. }
            | Self::PaymentDeadlineSet { at, .. }
            | Self::PaymentReceived { at, .. }
            | Self::PaymentTimedOut { at, .. }
            | Self::OrderCancelled { at, .. }
            | Self::OrderRejected { at, .. }
            | Self::OrderShipped { at }
            | Self::RefundRequested { at, .. }
            | Self::RefundRetryScheduled { at, .. }
            | Self::RefundConfirmed { at, .. } => *at,
        }
    }

    /// The stored payload: the variant's fields, without the tag.
    pub fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut tagged)) => tagged
                .remove(self.event_type())
                .unwrap_or(serde_json::Value::Null),
            // Every variant has fields, so the external tag is always an
            // object with one key; anything else cannot happen.
            _ => serde_json::Value::Null,
        }
    }

    /// Reads a stored event back.
    pub fn from_stored(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Self, FulfilmentDecodeError> {
        let mut tagged = serde_json::Map::new();
        tagged.insert(event_type.to_owned(), payload);
        serde_json::from_value(serde_json::Value::Object(tagged)).map_err(|e| {
            FulfilmentDecodeError {
                event_type: event_type.to_owned(),
                message: e.to_string(),
            }
        })
    }
}
