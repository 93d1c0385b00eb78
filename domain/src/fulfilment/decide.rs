//! The rules: which instance events follow from an input, and which
//! commands the resulting state still has to issue.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::fulfilment::event::FulfilmentEvent as E;
use crate::fulfilment::input::{Input, OrderStep, Outcome};
use crate::fulfilment::state::{DeadlineKind, FulfilmentState, Phase, Refund, Stock, evolve};
use crate::fulfilment::step::{
    Command, CommitStock, ConfirmOrder, RecordRefund, RejectOrder, RequestRefund, ReserveStock,
    Step, deterministic_id,
};
use crate::fulfilment::{OUT_OF_STOCK, stream_id};
use crate::ids::{OrderId, RefundId, Sku};
use crate::limits::MAX_REASON_LEN;

/// What follows from one input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Instance events to append, in order.
    pub events: Vec<E>,
    /// Commands that became outstanding with these events. (After a crash
    /// the caller issues [`outstanding`] of the loaded state instead, which
    /// includes these.)
    pub commands: Vec<Command>,
    /// Deadlines these events set: `(id, kind, due_at)`.
    pub deadlines: Vec<(Uuid, DeadlineKind, DateTime<Utc>)>,
}

/// Decides what `input` means for the instance in `state`. Inputs that no
/// longer matter (a duplicate, a deadline already overtaken, an event of
/// an order without an instance) yield an empty decision.
pub fn decide(state: &FulfilmentState, input: &Input) -> Decision {
    let events = events_for(state, input);
    let mut next = state.clone();
    for event in &events {
        next = evolve(next, event);
    }
    let before = outstanding(state);
    let commands = outstanding(&next)
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    let deadlines = events
        .iter()
        .filter_map(|e| match e {
            E::PaymentDeadlineSet {
                deadline_id,
                due_at,
                ..
            } => Some((*deadline_id, DeadlineKind::Payment, *due_at)),
            E::RefundRetryScheduled {
                deadline_id,
                due_at,
                ..
            } => Some((*deadline_id, DeadlineKind::RefundRetry, *due_at)),
            _ => None,
        })
        .collect();
    Decision {
        events,
        commands,
        deadlines,
    }
}

fn events_for(state: &FulfilmentState, input: &Input) -> Vec<E> {
    let at = input.at();
    let Some(order) = state.order else {
        // Only a submission starts an instance; anything else about an
        // order without one (submitted before the saga ran) is not ours.
        return match input {
            Input::OrderSubmitted { order, lines, .. } => {
                let started = E::Started {
                    order: *order,
                    lines: lines.clone(),
                    at,
                };
                let mut events = vec![started];
                if lines.is_empty() {
                    events.push(E::ReservationsComplete { at });
                }
                events
            }
            _ => Vec::new(),
        };
    };
    let phase = state.phase;
    match input {
        Input::OrderSubmitted { .. } => Vec::new(),
        Input::Reservation { sku, outcome, .. } => reservation(state, sku, outcome, at),
        // An outcome counts only for a command the instance has out.
        Input::StockReleased { sku, .. } => match state.line(sku).map(|l| l.stock) {
            Some(Stock::Requested | Stock::Reserved) if phase.releases_stock() => {
                vec![E::StockReleased {
                    sku: sku.clone(),
                    at,
                }]
            }
            _ => Vec::new(),
        },
        Input::StockCommitted { sku, .. } => match state.line(sku).map(|l| l.stock) {
            Some(Stock::Reserved) if phase == Phase::Shipped => vec![E::StockCommitted {
                sku: sku.clone(),
                at,
            }],
            _ => Vec::new(),
        },
        Input::OrderCommand { step, outcome, .. } => {
            let expected = match step {
                OrderStep::RecordRefund => matches!(state.refund, Refund::Confirmed { .. }),
                _ => true,
            };
            if state.step_done(*step) || !expected {
                Vec::new()
            } else {
                vec![E::OrderCommandDone {
                    step: *step,
                    outcome: outcome.clone(),
                    at,
                }]
            }
        }
        Input::OrderConfirmed { pay_by, .. } => match phase {
            Phase::Reserving | Phase::Confirming => vec![E::PaymentDeadlineSet {
                deadline_id: deadline_id(order, "payment"),
                due_at: *pay_by,
                at,
            }],
            _ => Vec::new(),
        },
        Input::PaymentRecorded {
            payment_id, amount, ..
        } => {
            if state.payment.is_some() {
                Vec::new()
            } else {
                vec![E::PaymentReceived {
                    payment_id: payment_id.clone(),
                    amount: *amount,
                    at,
                }]
            }
        }
        Input::DeadlineFired { deadline_id, .. } => match state.deadline {
            Some(d)
                if d.id == *deadline_id
                    && d.kind == DeadlineKind::Payment
                    && phase == Phase::AwaitingPayment
                    && state.payment.is_none() =>
            {
                vec![E::PaymentTimedOut {
                    deadline_id: *deadline_id,
                    at,
                }]
            }
            // A refund retry has no event of its own: the caller issues
            // whatever is outstanding after any input.
            _ => Vec::new(),
        },
        Input::OrderCancelled {
            reason,
            refund_owed,
            ..
        } => {
            // Goods with a carrier are not released by a late cancel.
            if matches!(phase, Phase::Cancelled | Phase::Rejected | Phase::Shipped) {
                return Vec::new();
            }
            let mut events = vec![E::OrderCancelled {
                reason: reason.clone(),
                at,
            }];
            // The payment's compensation: the order says what it owes.
            if let Some(owed) = refund_owed
                && owed.amount_minor > 0
                && state.refund == Refund::None
            {
                events.push(E::RefundRequested {
                    refund_id: refund_id(order),
                    payment_id: state.payment.as_ref().map(|(p, _)| p.clone()),
                    amount: *owed,
                    at,
                });
            }
            events
        }
        Input::OrderRejected { reason, .. } => {
            if matches!(phase, Phase::Cancelled | Phase::Rejected | Phase::Shipped) {
                Vec::new()
            } else {
                vec![E::OrderRejected {
                    reason: reason.clone(),
                    at,
                }]
            }
        }
        Input::OrderShipped { .. } => {
            if matches!(
                phase,
                Phase::Shipped | Phase::Cancelled | Phase::Rejected | Phase::Rejecting
            ) {
                Vec::new()
            } else {
                vec![E::OrderShipped { at }]
            }
        }
        Input::RefundConfirmed { refund_id, .. } => match &state.refund {
            Refund::Requested { refund_id: id, .. } if id == refund_id => {
                vec![E::RefundConfirmed {
                    refund_id: refund_id.clone(),
                    at,
                }]
            }
            _ => Vec::new(),
        },
        Input::RefundDeferred { retry_at, .. } => {
            let waiting = state
                .deadline
                .is_some_and(|d| d.kind == DeadlineKind::RefundRetry && d.due_at > at);
            if matches!(state.refund, Refund::Requested { .. }) && !waiting {
                let n = state.refund_retries + 1;
                vec![E::RefundRetryScheduled {
                    deadline_id: deadline_id(order, &format!("refund-retry/{n}")),
                    due_at: *retry_at,
                    at,
                }]
            } else {
                Vec::new()
            }
        }
    }
}

fn reservation(state: &FulfilmentState, sku: &Sku, outcome: &Outcome, at: DateTime<Utc>) -> Vec<E> {
    if state.line(sku).map(|l| l.stock) != Some(Stock::Requested) {
        return Vec::new();
    }
    let event = match outcome {
        Outcome::Applied => E::StockReserved {
            sku: sku.clone(),
            at,
        },
        Outcome::Refused { reason } => E::ReservationRefused {
            sku: sku.clone(),
            reason: reason.clone(),
            at,
        },
    };
    let next = evolve(state.clone(), &event);
    let mut events = vec![event];
    // Wait for every line's answer, so the rejection names every SKU
    // that is short.
    let answered = next.lines.iter().all(|l| l.stock != Stock::Requested);
    if next.phase == Phase::Reserving && answered {
        let refused: Vec<&str> = next
            .lines
            .iter()
            .filter(|l| l.stock == Stock::Refused)
            .map(|l| l.sku.as_str())
            .collect();
        if refused.is_empty() {
            events.push(E::ReservationsComplete { at });
        } else {
            events.push(E::Rejecting {
                reason: out_of_stock_reason(&refused),
                at,
            });
        }
    }
    events
}

/// `out_of_stock: A, B`, cut to what an order accepts as a reason.
fn out_of_stock_reason(skus: &[&str]) -> String {
    let mut reason = format!("{OUT_OF_STOCK}: ");
    for (i, sku) in skus.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let more = format!(", +{} more", skus.len() - i);
        if reason.len() + sep.len() + sku.len() + more.len() > MAX_REASON_LEN {
            reason.push_str(&more);
            return reason;
        }
        reason.push_str(sep);
        reason.push_str(sku);
    }
    reason
}

fn deadline_id(order: OrderId, name: &str) -> Uuid {
    deterministic_id(&format!("{}/deadline/{name}", stream_id(order)))
}

fn refund_id(order: OrderId) -> RefundId {
    let id = deterministic_id(&format!("{}/refund", stream_id(order)));
    // A hyphenated UUID (36 printable ASCII characters) is always a valid
    // refund id: one line, at most MAX_ID_LEN (64).
    #[allow(clippy::expect_used)]
    RefundId::new(id.hyphenated().to_string()).expect("a UUID is a valid refund id")
}

/// The commands the instance in `state` has yet to see answered. Issuing
/// them again is harmless: each carries its step's deterministic id.
pub fn outstanding(state: &FulfilmentState) -> Vec<Command> {
    let mut commands = Vec::new();
    if state.order.is_none() {
        return commands;
    }
    let phase = state.phase;
    for line in &state.lines {
        let reserve = ReserveStock {
            sku: line.sku.clone(),
            quantity: line.quantity,
        };
        match line.stock {
            // A line still `Requested` may have been reserved by a run that
            // crashed before recording it: release it too (releasing what
            // was never reserved is a no-op for the inventory).
            Stock::Requested | Stock::Reserved if phase.releases_stock() => {
                commands.push(reserve.compensation().into())
            }
            Stock::Requested if phase != Phase::Shipped => commands.push(reserve.into()),
            Stock::Reserved if phase == Phase::Shipped => commands.push(
                CommitStock {
                    sku: line.sku.clone(),
                }
                .into(),
            ),
            _ => {}
        }
    }
    match phase {
        Phase::Confirming if !state.step_done(OrderStep::Confirm) => {
            commands.push(ConfirmOrder.into());
        }
        Phase::Rejecting if !state.step_done(OrderStep::Reject) => {
            commands.push(
                RejectOrder {
                    reason: state
                        .reject_reason
                        .clone()
                        .unwrap_or_else(|| OUT_OF_STOCK.to_owned()),
                }
                .into(),
            );
        }
        // Cancelling is what undoes the confirmation once payment is late.
        Phase::TimedOut if !state.step_done(OrderStep::Cancel) => {
            commands.push(ConfirmOrder.compensation().into());
        }
        _ => {}
    }
    match &state.refund {
        Refund::Requested {
            refund_id,
            payment_id,
            amount,
        } => commands.push(
            RequestRefund {
                refund_id: refund_id.clone(),
                payment_id: payment_id.clone(),
                amount: *amount,
            }
            .into(),
        ),
        Refund::Confirmed { refund_id, amount } => commands.push(
            RecordRefund {
                refund_id: refund_id.clone(),
                amount: *amount,
                reason: "order cancelled".to_owned(),
            }
            .into(),
        ),
        Refund::None | Refund::Recorded { .. } => {}
    }
    commands
}
