//! What happened to an instance: the events of `fulfilment-<order>`.
//! Stored as `(event_type, payload)` like order events; the types carry a
//! `Fulfilment` prefix so they never share a name (and a registry entry)
//! with an order or inventory event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fulfilment::input::{Line, OrderStep, Outcome};
use crate::ids::{OrderId, PaymentId, RefundId, Sku};
use crate::money::Money;

/// Every instance event. Serialized externally tagged: the tag is the
/// stored event type, the content the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FulfilmentEvent {
    /// The order was submitted: its lines are to be reserved.
    #[serde(rename = "FulfilmentStarted")]
    Started {
        order: OrderId,
        lines: Vec<Line>,
        at: DateTime<Utc>,
    },
    #[serde(rename = "FulfilmentStockReserved")]
    StockReserved { sku: Sku, at: DateTime<Utc> },
    #[serde(rename = "FulfilmentReservationRefused")]
    ReservationRefused {
        sku: Sku,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Every line is reserved: the order is to be confirmed.
    #[serde(rename = "FulfilmentReservationsComplete")]
    ReservationsComplete { at: DateTime<Utc> },
    /// A line was refused: release the rest and reject with `reason`.
    #[serde(rename = "FulfilmentRejecting")]
    Rejecting { reason: String, at: DateTime<Utc> },
    #[serde(rename = "FulfilmentStockReleased")]
    StockReleased { sku: Sku, at: DateTime<Utc> },
    #[serde(rename = "FulfilmentStockCommitted")]
    StockCommitted { sku: Sku, at: DateTime<Utc> },
    /// An order command the instance issued came back.
    #[serde(rename = "FulfilmentOrderCommandDone")]
    OrderCommandDone {
        step: OrderStep,
        outcome: Outcome,
        at: DateTime<Utc>,
    },
    /// The order was confirmed; unpaid at `due_at` it is cancelled.
    #[serde(rename = "FulfilmentPaymentDeadlineSet")]
    PaymentDeadlineSet {
        deadline_id: Uuid,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    #[serde(rename = "FulfilmentPaymentReceived")]
    PaymentReceived {
        payment_id: PaymentId,
        amount: Money,
        at: DateTime<Utc>,
    },
    /// The payment deadline fired before a payment: cancel.
    #[serde(rename = "FulfilmentPaymentTimedOut")]
    PaymentTimedOut {
        deadline_id: Uuid,
        at: DateTime<Utc>,
    },
    #[serde(rename = "FulfilmentOrderCancelled")]
    OrderCancelled { reason: String, at: DateTime<Utc> },
    #[serde(rename = "FulfilmentOrderRejected")]
    OrderRejected { reason: String, at: DateTime<Utc> },
    #[serde(rename = "FulfilmentOrderShipped")]
    OrderShipped { at: DateTime<Utc> },
    /// A cancelled paid order: the provider is to pay `amount` back.
    #[serde(rename = "FulfilmentRefundRequested")]
    RefundRequested {
        refund_id: RefundId,
        payment_id: Option<PaymentId>,
        amount: Money,
        at: DateTime<Utc>,
    },
    #[serde(rename = "FulfilmentRefundRetryScheduled")]
    RefundRetryScheduled {
        deadline_id: Uuid,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    #[serde(rename = "FulfilmentRefundConfirmed")]
    RefundConfirmed {
        refund_id: RefundId,
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
