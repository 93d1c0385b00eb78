//! What an instance reacts to: order events (enriched where the event
//! alone is not enough), the outcomes of its own commands, and deadlines.
//! Time comes in with every input.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{OrderId, PaymentId, RefundId, Sku};
use crate::money::Money;

/// One order line as the instance needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Line {
    /// The sku to reserve.
    pub sku: Sku,
    /// Units to reserve, positive.
    pub quantity: u32,
}

/// How a command the instance issued went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Outcome {
    /// It took effect (or had taken effect before: a replay).
    Applied,
    /// The receiver refused it for a business rule.
    Refused {
        /// The receiver's refusal code.
        reason: String,
    },
}

/// The order commands whose outcome the instance records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum OrderStep {
    Confirm,
    Reject,
    Cancel,
    RecordRefund,
}

/// Everything `decide` reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The order was submitted; `lines` come from the order's stream.
    OrderSubmitted {
        order: OrderId,
        lines: Vec<Line>,
        at: DateTime<Utc>,
    },
    /// The order was confirmed; payment is due by `pay_by` (confirmation
    /// time plus the configured payment timeout).
    OrderConfirmed {
        at: DateTime<Utc>,
        pay_by: DateTime<Utc>,
    },
    PaymentRecorded {
        payment_id: PaymentId,
        amount: Money,
        at: DateTime<Utc>,
    },
    OrderCancelled {
        reason: String,
        /// What the order says it owes back (`None`: nothing was paid).
        refund_owed: Option<Money>,
        at: DateTime<Utc>,
    },
    OrderRejected {
        reason: String,
        at: DateTime<Utc>,
    },
    OrderShipped {
        at: DateTime<Utc>,
    },
    /// Outcome of a `Reserve` for `sku`.
    Reservation {
        sku: Sku,
        outcome: Outcome,
        at: DateTime<Utc>,
    },
    /// A `Release` of `sku` took effect.
    StockReleased {
        sku: Sku,
        at: DateTime<Utc>,
    },
    /// A `Commit` of `sku` took effect.
    StockCommitted {
        sku: Sku,
        at: DateTime<Utc>,
    },
    /// Outcome of an order command the instance issued.
    OrderCommand {
        step: OrderStep,
        outcome: Outcome,
        at: DateTime<Utc>,
    },
    /// The payment provider confirmed the refund.
    RefundConfirmed {
        refund_id: RefundId,
        at: DateTime<Utc>,
    },
    /// The provider cannot take the refund now (breaker open, outage):
    /// ask again at `retry_at`.
    RefundDeferred {
        retry_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A deadline the instance set came due.
    DeadlineFired {
        deadline_id: Uuid,
        at: DateTime<Utc>,
    },
}

impl Input {
    /// Domain time of the input.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Input::OrderSubmitted { at, .. }
            | Input::OrderConfirmed { at, .. }
            | Input::PaymentRecorded { at, .. }
            | Input::OrderCancelled { at, .. }
            | Input::OrderRejected { at, .. }
            | Input::OrderShipped { at }
            | Input::Reservation { at, .. }
            | Input::StockReleased { at, .. }
            | Input::StockCommitted { at, .. }
            | Input::OrderCommand { at, .. }
            | Input::RefundConfirmed { at, .. }
            | Input::RefundDeferred { at, .. }
            | Input::DeadlineFired { at, .. } => *at,
        }
    }
}
