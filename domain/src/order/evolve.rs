//! Applying events to state. `evolve` trusts its input (events were decided
//! against the state they follow) and is total: it never panics and never
//! fails, even on a sequence `decide` would not produce.

use crate::order::event::OrderEvent;
use crate::order::item::LineItem;
use crate::order::state::OrderState;
use crate::order::status::OrderStatus;

/// The state after `event`.
pub fn evolve(mut state: OrderState, event: &OrderEvent) -> OrderState {
    match event {
        OrderEvent::OrderCreated(e) => {
            state.id = Some(e.order_id);
            state.customer_id = Some(e.customer_id.clone());
            state.currency = Some(e.currency);
            state.status = Some(OrderStatus::Draft);
            state.placed_at = Some(e.at);
        }
        OrderEvent::ItemAdded(e) => {
            match state.items.iter_mut().find(|line| line.sku == e.sku) {
                // Same sku again: the event carries the added units.
                Some(line) => line.quantity = line.quantity.saturating_add(e.quantity),
                None => state.items.push(LineItem {
                    sku: e.sku.clone(),
                    name: e.name.clone(),
                    quantity: e.quantity,
                    unit_price: e.unit_price,
                }),
            }
        }
        OrderEvent::ItemQuantityChanged(e) => {
            if let Some(line) = state.items.iter_mut().find(|line| line.sku == e.sku) {
                line.quantity = e.quantity;
            }
        }
        OrderEvent::ItemRemoved(e) => state.items.retain(|line| line.sku != e.sku),
        OrderEvent::ShippingAddressSet(e) => state.shipping_address = Some(e.address.clone()),
        OrderEvent::OrderSubmitted(e) => {
            // The total is derived from the lines, which can no longer
            // change; the event's copy is for readers of the stream.
            state.status = Some(OrderStatus::Submitted);
            state.submitted_at = Some(e.at);
        }
        OrderEvent::OrderConfirmed(e) => {
            state.status = Some(OrderStatus::Confirmed);
            state.confirmed_at = Some(e.at);
        }
        OrderEvent::OrderRejected(e) => {
            state.status = Some(OrderStatus::Rejected);
            state.rejection_reason = Some(e.reason.clone());
            state.rejected_at = Some(e.at);
        }
        OrderEvent::PaymentRecorded(e) => {
            state.status = Some(OrderStatus::Paid);
            state.payment_id = Some(e.payment_id.clone());
            state.paid_minor = state.paid_minor.saturating_add(e.amount.amount_minor);
            state.paid_at = Some(e.at);
        }
        OrderEvent::OrderShipped(e) => {
            state.status = Some(OrderStatus::Shipped);
            state.carrier = Some(e.carrier.clone());
            state.tracking_number = Some(e.tracking_number.clone());
            state.shipped_at = Some(e.at);
        }
        OrderEvent::OrderDelivered(e) => {
            state.status = Some(OrderStatus::Delivered);
            state.delivered_at = Some(e.at);
        }
        OrderEvent::OrderCancelled(e) => {
            state.status = Some(OrderStatus::Cancelled);
            state.cancellation_reason = Some(e.reason.clone());
            state.refund_owed_minor = e.refund_owed.map_or(0, |m| m.amount_minor);
            state.cancelled_at = Some(e.at);
        }
        OrderEvent::RefundIssued(e) => {
            let amount = e.amount.amount_minor;
            state.refunded_minor = state.refunded_minor.saturating_add(amount);
            state.refund_owed_minor = state.refund_owed_minor.saturating_sub(amount).max(0);
            state.refund_ids.push(e.refund_id.clone());
        }
    }
    state.version = state.version.saturating_add(1);
    state.updated_at = Some(event.at());
    state
}

/// Folds a whole stream from the empty state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a OrderEvent>) -> OrderState {
    events.into_iter().fold(OrderState::default(), evolve)
}
