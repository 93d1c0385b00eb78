//! An instance as folded from its events: what `decide` looks at.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fulfilment::event::FulfilmentEvent;
use crate::fulfilment::input::{Line, OrderStep};
use crate::ids::{OrderId, PaymentId, RefundId, Sku};
use crate::money::Money;

/// Where an instance is (see the picture in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No instance yet: the order was not submitted.
    #[default]
    Idle,
    /// Reserving every line.
    Reserving,
    /// All reserved; confirming the order.
    Confirming,
    /// Confirmed; the payment deadline runs.
    AwaitingPayment,
    Paid,
    /// Shipped: reservations are committed. Final.
    Shipped,
    /// A line was refused: releasing the rest, rejecting the order.
    Rejecting,
    /// The payment deadline fired: cancelling the order.
    TimedOut,
    /// The order was cancelled: stock released, a payment refunded. Final.
    Cancelled,
    /// The order was rejected: stock released. Final.
    Rejected,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Idle,
        Phase::Reserving,
        Phase::Confirming,
        Phase::AwaitingPayment,
        Phase::Paid,
        Phase::Shipped,
        Phase::Rejecting,
        Phase::TimedOut,
        Phase::Cancelled,
        Phase::Rejected,
    ];

    /// The serialized name, e.g. `"awaiting_payment"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Reserving => "reserving",
            Phase::Confirming => "confirming",
            Phase::AwaitingPayment => "awaiting_payment",
            Phase::Paid => "paid",
            Phase::Shipped => "shipped",
            Phase::Rejecting => "rejecting",
            Phase::TimedOut => "timed_out",
            Phase::Cancelled => "cancelled",
            Phase::Rejected => "rejected",
        }
    }

    /// The order's fate is sealed: nothing new starts, only compensation
    /// and commits finish.
    pub const fn is_final(&self) -> bool {
        matches!(self, Phase::Shipped | Phase::Cancelled | Phase::Rejected)
    }

    /// Reserved stock goes back in this phase.
    pub const fn releases_stock(&self) -> bool {
        matches!(self, Phase::Rejecting | Phase::Cancelled | Phase::Rejected)
    }
}

/// What the instance knows about one line's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stock {
    /// Reserve issued (or to be issued); no outcome recorded.
    Requested,
    Reserved,
    Refused,
    Released,
    Committed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineState {
    pub sku: Sku,
    pub quantity: u32,
    pub stock: Stock,
}

/// The refund of a cancelled paid order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Refund {
    #[default]
    None,
    /// Asked of the provider, not confirmed yet.
    Requested {
        refund_id: RefundId,
        payment_id: Option<PaymentId>,
        amount: Money,
    },
    /// The provider paid it; it is to be recorded on the order.
    Confirmed { refund_id: RefundId, amount: Money },
    /// Recorded on the order. Final.
    Recorded { refund_id: RefundId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// Cancel the order unless paid by then.
    Payment,
    /// Ask the payment provider for the refund again.
    RefundRetry,
}

impl DeadlineKind {
    pub const fn as_str(&self) -> &'static str {
        match self {
            DeadlineKind::Payment => "payment",
            DeadlineKind::RefundRetry => "refund_retry",
        }
    }
}

/// The deadline an instance currently waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub id: Uuid,
    pub kind: DeadlineKind,
    pub due_at: DateTime<Utc>,
}

/// Everything known about one instance. `default()` is the instance
/// before its first event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FulfilmentState {
    pub order: Option<OrderId>,
    pub phase: Phase,
    /// One per SKU, in the order's line order.
    pub lines: Vec<LineState>,
    /// Why the instance rejects the order (once a line was refused).
    pub reject_reason: Option<String>,
    /// Order commands whose outcome is recorded.
    pub order_steps_done: Vec<OrderStep>,
    pub payment: Option<(PaymentId, Money)>,
    pub deadline: Option<Deadline>,
    pub refund: Refund,
    /// Refund retries scheduled so far (names the next retry deadline).
    pub refund_retries: u32,
    /// Number of events folded; the stream version to expect on append.
    pub version: u64,
    /// Time of the latest event.
    pub updated_at: Option<DateTime<Utc>>,
}

impl FulfilmentState {
    pub fn line(&self, sku: &Sku) -> Option<&LineState> {
        self.lines.iter().find(|l| &l.sku == sku)
    }

    fn line_mut(&mut self, sku: &Sku) -> Option<&mut LineState> {
        self.lines.iter_mut().find(|l| &l.sku == sku)
    }

    pub fn step_done(&self, step: OrderStep) -> bool {
        self.order_steps_done.contains(&step)
    }
}

/// Applies one event.
pub fn evolve(mut state: FulfilmentState, event: &FulfilmentEvent) -> FulfilmentState {
    use FulfilmentEvent as E;
    match event {
        E::Started { order, lines, .. } => {
            state.order = Some(*order);
            state.phase = Phase::Reserving;
            state.lines = merge_lines(lines);
        }
        E::StockReserved { sku, .. } => set_stock(&mut state, sku, Stock::Reserved),
        E::ReservationRefused { sku, .. } => set_stock(&mut state, sku, Stock::Refused),
        E::StockReleased { sku, .. } => set_stock(&mut state, sku, Stock::Released),
        E::StockCommitted { sku, .. } => set_stock(&mut state, sku, Stock::Committed),
        E::ReservationsComplete { .. } => state.phase = Phase::Confirming,
        E::Rejecting { reason, .. } => {
            state.phase = Phase::Rejecting;
            state.reject_reason = Some(reason.clone());
        }
        E::OrderCommandDone { step, .. } => {
            if !state.order_steps_done.contains(step) {
                state.order_steps_done.push(*step);
            }
            if *step == OrderStep::RecordRefund
                && let Refund::Confirmed { refund_id, .. } = &state.refund
            {
                state.refund = Refund::Recorded {
                    refund_id: refund_id.clone(),
                };
            }
        }
        E::PaymentDeadlineSet {
            deadline_id,
            due_at,
            ..
        } => {
            state.phase = Phase::AwaitingPayment;
            state.deadline = Some(Deadline {
                id: *deadline_id,
                kind: DeadlineKind::Payment,
                due_at: *due_at,
            });
        }
        E::PaymentReceived {
            payment_id, amount, ..
        } => {
            state.payment = Some((payment_id.clone(), *amount));
            clear_deadline(&mut state, DeadlineKind::Payment);
            if matches!(
                state.phase,
                Phase::Confirming | Phase::AwaitingPayment | Phase::TimedOut
            ) {
                state.phase = Phase::Paid;
            }
        }
        E::PaymentTimedOut { .. } => {
            state.phase = Phase::TimedOut;
            clear_deadline(&mut state, DeadlineKind::Payment);
        }
        E::OrderCancelled { .. } => {
            state.phase = Phase::Cancelled;
            clear_deadline(&mut state, DeadlineKind::Payment);
        }
        E::OrderRejected { .. } => {
            state.phase = Phase::Rejected;
            clear_deadline(&mut state, DeadlineKind::Payment);
        }
        E::OrderShipped { .. } => {
            state.phase = Phase::Shipped;
            clear_deadline(&mut state, DeadlineKind::Payment);
        }
        E::RefundRequested {
            refund_id,
            payment_id,
            amount,
            ..
        } => {
            state.refund = Refund::Requested {
                refund_id: refund_id.clone(),
                payment_id: payment_id.clone(),
                amount: *amount,
            };
        }
        E::RefundRetryScheduled {
            deadline_id,
            due_at,
            ..
        } => {
            state.refund_retries += 1;
            state.deadline = Some(Deadline {
                id: *deadline_id,
                kind: DeadlineKind::RefundRetry,
                due_at: *due_at,
            });
        }
        E::RefundConfirmed { refund_id, .. } => {
            if let Refund::Requested { amount, .. } = &state.refund {
                state.refund = Refund::Confirmed {
                    refund_id: refund_id.clone(),
                    amount: *amount,
                };
            }
            clear_deadline(&mut state, DeadlineKind::RefundRetry);
        }
    }
    state.version += 1;
    state.updated_at = Some(event.at());
    state
}

/// Folds a stream from the start.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a FulfilmentEvent>) -> FulfilmentState {
    events.into_iter().fold(FulfilmentState::default(), evolve)
}

/// One line per SKU (an order never repeats one, but the instance must
/// not reserve a SKU twice even if handed such lines).
pub(crate) fn merge_lines(lines: &[Line]) -> Vec<LineState> {
    let mut merged: Vec<LineState> = Vec::with_capacity(lines.len());
    for line in lines {
        match merged.iter_mut().find(|l| l.sku == line.sku) {
            Some(existing) => existing.quantity = existing.quantity.saturating_add(line.quantity),
            None => merged.push(LineState {
                sku: line.sku.clone(),
                quantity: line.quantity,
                stock: Stock::Requested,
            }),
        }
    }
    merged
}

fn set_stock(state: &mut FulfilmentState, sku: &Sku, stock: Stock) {
    if let Some(line) = state.line_mut(sku) {
        line.stock = stock;
    }
}

fn clear_deadline(state: &mut FulfilmentState, kind: DeadlineKind) {
    if state.deadline.is_some_and(|d| d.kind == kind) {
        state.deadline = None;
    }
}
