//! The rules: which commands an order accepts, and what follows from them.
//!
//! Checks run in a fixed order: existence, then status, then the command's
//! own fields, then rules that compare the command with the order. So a
//! command in the wrong status is refused for its status, whatever it holds.

use chrono::{DateTime, Utc};

use crate::ids::{PaymentId, RefundId, Sku};
use crate::limits::{
    EVENTS_RESERVED_AFTER_DRAFT, MAX_CARRIER_LEN, MAX_EVENTS_PER_ORDER, MAX_LINE_ITEMS,
    MAX_QUANTITY, MAX_REASON_LEN, MAX_TRACKING_NUMBER_LEN,
};
use crate::money::{Currency, Money, MoneyError};
use crate::order::address::ShippingAddress;
use crate::order::command::OrderCommand;
use crate::order::error::OrderError;
use crate::order::event::{
    ItemAdded, ItemQuantityChanged, ItemRemoved, OrderCancelled, OrderConfirmed, OrderCreated,
    OrderDelivered, OrderEvent, OrderRejected, OrderShipped, OrderSubmitted, PaymentRecorded,
    RefundIssued, ShippingAddressSet,
};
use crate::order::evolve::evolve;
use crate::order::item::{NewItem, check_item, check_quantity};
use crate::order::state::OrderState;
use crate::order::status::OrderStatus;
use crate::validation::{TextKind, check_line, check_text};

/// Decides what `command` means for the order in `state`: the events to
/// append, or why not. `at` is the domain time stamped on every event.
pub fn decide(
    state: &OrderState,
    command: &OrderCommand,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    let events = decide_unbounded(state, command, at)?;
    // Checked last, like every rule that compares the command with the
    // order: a command refused for its own sake says so first.
    let max = event_limit(command);
    if state.version.saturating_add(events.len() as u64) > max {
        return Err(OrderError::TooManyEvents { max });
    }
    Ok(events)
}

/// How long the stream may be after `command`: draft edits leave room for
/// the rest of the lifecycle.
fn event_limit(command: &OrderCommand) -> u64 {
    use OrderCommand as C;
    match command {
        C::CreateOrder { .. }
        | C::AddItem { .. }
        | C::ChangeItemQuantity { .. }
        | C::RemoveItem { .. }
        | C::SetShippingAddress { .. } => MAX_EVENTS_PER_ORDER - EVENTS_RESERVED_AFTER_DRAFT,
        C::SubmitOrder
        | C::ConfirmOrder
        | C::RejectOrder { .. }
        | C::RecordPayment { .. }
        | C::ShipOrder { .. }
        | C::MarkDelivered
        | C::CancelOrder { .. }
        | C::IssueRefund { .. } => MAX_EVENTS_PER_ORDER,
    }
}

fn decide_unbounded(
    state: &OrderState,
    command: &OrderCommand,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    use OrderCommand as C;
    match command {
        C::CreateOrder {
            order_id,
            customer_id,
            currency,
            channel,
            items,
            shipping_address,
        } => create(
            state,
            OrderCreated {
                order_id: *order_id,
                customer_id: customer_id.clone(),
                currency: *currency,
                channel: *channel,
                at,
            },
            items,
            shipping_address.as_ref(),
            at,
        ),
        C::AddItem {
            sku,
            name,
            quantity,
            unit_price,
        } => add_item(state, sku, name, *quantity, *unit_price, at).map(one),
        C::ChangeItemQuantity { sku, quantity } => {
            change_quantity(state, sku, *quantity, at).map(one)
        }
        C::RemoveItem { sku } => remove_item(state, sku, at).map(one),
        C::SetShippingAddress { address } => set_address(state, address, at).map(one),
        C::SubmitOrder => submit(state, at).map(one),
        C::ConfirmOrder => {
            require_status(state, command, &[OrderStatus::Submitted])?;
            Ok(one(OrderConfirmed { at }.into()))
        }
        C::RejectOrder { reason } => {
            require_status(state, command, &[OrderStatus::Submitted])?;
            check_reason(reason)?;
            Ok(one(OrderRejected {
                reason: reason.clone(),
                at,
            }
            .into()))
        }
        C::RecordPayment { payment_id, amount } => {
            record_payment(state, command, payment_id, *amount, at).map(one)
        }
        C::ShipOrder {
            carrier,
            tracking_number,
        } => ship(state, command, carrier, tracking_number, at).map(one),
        C::MarkDelivered => {
            require_status(state, command, &[OrderStatus::Shipped])?;
            Ok(one(OrderDelivered { at }.into()))
        }
        C::CancelOrder { reason } => cancel(state, command, reason, at).map(one),
        C::IssueRefund {
            refund_id,
            amount,
            reason,
        } => refund(state, refund_id, *amount, reason, at).map(one),
    }
}

fn one(event: OrderEvent) -> Vec<OrderEvent> {
    vec![event]
}

fn create(
    state: &OrderState,
    created: OrderCreated,
    items: &[NewItem],
    address: Option<&ShippingAddress>,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    if state.exists() {
        return Err(OrderError::AlreadyExists);
    }
    let created: OrderEvent = created.into();
    // Initial items and address go through the very rules of AddItem and
    // SetShippingAddress, applied to the draft as it builds up, so creating
    // with items can never reach a state the single commands could not.
    let mut draft = evolve(OrderState::default(), &created);
    let mut events = vec![created];
    for item in items {
        let added = add_item(
            &draft,
            &item.sku,
            &item.name,
            item.quantity,
            item.unit_price,
            at,
        )?;
        draft = evolve(draft, &added);
        events.push(added);
    }
    if let Some(address) = address {
        events.push(set_address(&draft, address, at)?);
    }
    Ok(events)
}

fn add_item(
    state: &OrderState,
    sku: &Sku,
    name: &str,
    quantity: u32,
    unit_price: Money,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    let currency = require_draft(state)?;
    check_item(name, quantity, unit_price)?;
    Money::zero(currency)
        .same_currency(&unit_price)
        .map_err(money_error("unit_price"))?;
    let new_quantity = match state.item(sku) {
        Some(line) => {
            if line.unit_price != unit_price {
                return Err(OrderError::PriceMismatch {
                    sku: sku.clone(),
                    existing: line.unit_price,
                    given: unit_price,
                });
            }
            let sum = u64::from(line.quantity) + u64::from(quantity);
            // The added quantity is fine on its own (checked above); the
            // line it lands on is what is full.
            if sum > u64::from(MAX_QUANTITY) {
                return Err(OrderError::LineQuantityExceeded {
                    sku: sku.clone(),
                    quantity: sum,
                    max: MAX_QUANTITY,
                });
            }
            // Bounded by MAX_QUANTITY just above, far below u32::MAX.
            u32::try_from(sum).unwrap_or(MAX_QUANTITY)
        }
        None => {
            if state.items.len() >= MAX_LINE_ITEMS {
                return Err(OrderError::TooManyItems {
                    max: MAX_LINE_ITEMS,
                });
            }
            quantity
        }
    };
    total_with(state, currency, sku, new_quantity, unit_price).map_err(total_error)?;
    Ok(ItemAdded {
        sku: sku.clone(),
        name: name.to_owned(),
        quantity,
        unit_price,
        at,
    }
    .into())
}

fn change_quantity(
    state: &OrderState,
    sku: &Sku,
    quantity: u32,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    let currency = require_draft(state)?;
    check_quantity(u64::from(quantity))?;
    let line = state
        .item(sku)
        .ok_or_else(|| OrderError::ItemNotFound { sku: sku.clone() })?;
    total_with(state, currency, sku, quantity, line.unit_price).map_err(total_error)?;
    Ok(ItemQuantityChanged {
        sku: sku.clone(),
        quantity,
        at,
    }
    .into())
}

fn remove_item(state: &OrderState, sku: &Sku, at: DateTime<Utc>) -> Result<OrderEvent, OrderError> {
    require_draft(state)?;
    if state.item(sku).is_none() {
        return Err(OrderError::ItemNotFound { sku: sku.clone() });
    }
    Ok(ItemRemoved {
        sku: sku.clone(),
        at,
    }
    .into())
}

fn set_address(
    state: &OrderState,
    address: &ShippingAddress,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    require_draft(state)?;
    address.validate()?;
    Ok(ShippingAddressSet {
        address: address.clone(),
        at,
    }
    .into())
}

fn submit(state: &OrderState, at: DateTime<Utc>) -> Result<OrderEvent, OrderError> {
    let currency = require_draft(state)?;
    if state.items.is_empty() {
        return Err(OrderError::Empty);
    }
    if state.shipping_address.is_none() {
        return Err(OrderError::MissingShippingAddress);
    }
    let total = order_total(state, currency).map_err(money_error(None))?;
    Ok(OrderSubmitted { total, at }.into())
}

fn record_payment(
    state: &OrderState,
    command: &OrderCommand,
    payment_id: &PaymentId,
    amount: Money,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    let (_, currency) = require_status(state, command, &[OrderStatus::Confirmed])?;
    amount
        .ensure_within_ceiling()
        .map_err(money_error("amount.amount_minor"))?;
    let expected = order_total(state, currency).map_err(money_error(None))?;
    // Partial payments are not modelled: the payment settles the order.
    if amount != expected {
        return Err(OrderError::PaymentAmountMismatch {
            expected,
            given: amount,
        });
    }
    Ok(PaymentRecorded {
        payment_id: payment_id.clone(),
        amount,
        at,
    }
    .into())
}

fn ship(
    state: &OrderState,
    command: &OrderCommand,
    carrier: &str,
    tracking_number: &str,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    require_status(state, command, &[OrderStatus::Paid])?;
    check_line(carrier, MAX_CARRIER_LEN).map_err(|violation| OrderError::InvalidShipment {
        field: "carrier",
        violation,
    })?;
    check_line(tracking_number, MAX_TRACKING_NUMBER_LEN).map_err(|violation| {
        OrderError::InvalidShipment {
            field: "tracking_number",
            violation,
        }
    })?;
    Ok(OrderShipped {
        carrier: carrier.to_owned(),
        tracking_number: tracking_number.to_owned(),
        at,
    }
    .into())
}

fn cancel(
    state: &OrderState,
    command: &OrderCommand,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    use OrderStatus::{Confirmed, Draft, Paid, Submitted};
    let (status, currency) = require_status(state, command, &[Draft, Submitted, Confirmed, Paid])?;
    check_reason(reason)?;
    // Once paid, cancelling means the shop owes back what it still holds.
    let refund_owed = (status == Paid).then(|| Money::new(state.refundable_minor(), currency));
    Ok(OrderCancelled {
        reason: reason.to_owned(),
        refund_owed,
        at,
    }
    .into())
}

fn refund(
    state: &OrderState,
    refund_id: &RefundId,
    amount: Money,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<OrderEvent, OrderError> {
    let (_, currency) = require_existing(state)?;
    // Refunds follow the money, not the status: any order that was paid
    // (Paid, Shipped, Delivered, or Cancelled after payment) may refund.
    if state.paid_minor <= 0 {
        return Err(OrderError::RefundNotAllowed);
    }
    // Checked before the amount so a retried refund is reported as what it is.
    if state.has_refund(refund_id) {
        return Err(OrderError::RefundDuplicate {
            refund_id: refund_id.clone(),
        });
    }
    check_reason(reason)?;
    Money::zero(currency)
        .same_currency(&amount)
        .map_err(money_error("amount"))?;
    if amount.amount_minor <= 0 {
        return Err(OrderError::RefundInvalidAmount { amount });
    }
    amount
        .ensure_within_ceiling()
        .map_err(money_error("amount.amount_minor"))?;
    let refundable = Money::new(state.refundable_minor(), currency);
    if amount.amount_minor > refundable.amount_minor {
        return Err(OrderError::RefundExceedsPaid {
            requested: amount,
            refundable,
        });
    }
    Ok(RefundIssued {
        refund_id: refund_id.clone(),
        amount,
        reason: reason.to_owned(),
        at,
    }
    .into())
}

/// The status and currency of an existing order.
fn require_existing(state: &OrderState) -> Result<(OrderStatus, Currency), OrderError> {
    // Both are set by OrderCreated, so they are present or absent together.
    match (state.status, state.currency) {
        (Some(status), Some(currency)) => Ok((status, currency)),
        _ => Err(OrderError::NotFound),
    }
}

/// Item and address changes and submission: only while drafting.
fn require_draft(state: &OrderState) -> Result<Currency, OrderError> {
    match require_existing(state)? {
        (OrderStatus::Draft, currency) => Ok(currency),
        (status, _) => Err(OrderError::NotDraft { status }),
    }
}

fn require_status(
    state: &OrderState,
    command: &OrderCommand,
    allowed: &[OrderStatus],
) -> Result<(OrderStatus, Currency), OrderError> {
    let (status, currency) = require_existing(state)?;
    if allowed.contains(&status) {
        Ok((status, currency))
    } else {
        Err(OrderError::InvalidTransition {
            status,
            command: command.name(),
        })
    }
}

fn check_reason(reason: &str) -> Result<(), OrderError> {
    check_text(reason, MAX_REASON_LEN, TextKind::Lines).map_err(OrderError::InvalidReason)
}

fn money_error(field: impl Into<Option<&'static str>>) -> impl FnOnce(MoneyError) -> OrderError {
    let field = field.into();
    move |error| OrderError::Money { error, field }
}

/// The order's total would pass the ceiling: a rule of the order as a whole
/// (409), since each amount and quantity in the command is fine alone.
fn total_error(error: MoneyError) -> OrderError {
    match error {
        MoneyError::AboveCeiling { max } => OrderError::TotalAboveCeiling { max },
        error => OrderError::Money {
            error,
            field: Some("quantity"),
        },
    }
}

/// Sum of line totals, checked.
fn order_total(state: &OrderState, currency: Currency) -> Result<Money, MoneyError> {
    state
        .items
        .iter()
        .try_fold(Money::zero(currency), |sum, line| {
            sum.add(line.line_total()?)
        })
}

/// The order total if `sku`'s line held `quantity` units at `unit_price`
/// (added when absent), refused above the ceiling. Prices are never
/// negative, so when the total is within the ceiling every line is too.
fn total_with(
    state: &OrderState,
    currency: Currency,
    sku: &Sku,
    quantity: u32,
    unit_price: Money,
) -> Result<Money, MoneyError> {
    let others = state
        .items
        .iter()
        .filter(|line| &line.sku != sku)
        .try_fold(Money::zero(currency), |sum, line| {
            sum.add(line.line_total()?)
        })?;
    let total = others.add(unit_price.mul(quantity)?)?;
    total.ensure_within_ceiling()?;
    Ok(total)
}
