//! The rules: which commands a sku's stock accepts, and what follows.
//!
//! Checks run in a fixed order: the command's own fields first, then the
//! rules that compare it with the stock. A repeated `Reserve`, `Release` or
//! `Commit` for an order decides to no events at all (`Ok(vec![])`): the
//! effect happened once, and the caller (a redelivered process-manager
//! step) learns that it did.

use chrono::{DateTime, Utc};

use crate::ids::OrderId;
use crate::inventory::command::InventoryCommand;
use crate::inventory::error::InventoryError;
use crate::inventory::event::{
    InventoryEvent, ReservationCommitted, StockAdjusted, StockReceived, StockReleased,
    StockReserved,
};
use crate::inventory::state::{InventoryState, Settlement};
use crate::limits::{MAX_REASON_LEN, MAX_RESERVATION, MAX_STOCK, MIN_QUANTITY};
use crate::validation::{TextKind, check_text};

/// Decides what `command` means for the stock in `state`: the events to
/// append (none for a repeat), or why not. `at` is stamped on every event.
pub fn decide(
    state: &InventoryState,
    command: &InventoryCommand,
    at: DateTime<Utc>,
) -> Result<Vec<InventoryEvent>, InventoryError> {
    use InventoryCommand as C;
    match command {
        C::ReceiveStock { quantity } => receive(state, *quantity, at),
        C::AdjustStock { on_hand, reason } => adjust(state, *on_hand, reason, at),
        C::Reserve { order_id, quantity } => reserve(state, *order_id, *quantity, at),
        C::Release { order_id } => Ok(release(state, *order_id, at)),
        C::Commit { order_id } => commit(state, *order_id, at),
    }
}

fn receive(
    state: &InventoryState,
    quantity: u32,
    at: DateTime<Utc>,
) -> Result<Vec<InventoryEvent>, InventoryError> {
    check_range("quantity", quantity, MIN_QUANTITY, MAX_STOCK)?;
    let on_hand = u64::from(state.on_hand) + u64::from(quantity);
    if on_hand > u64::from(MAX_STOCK) {
        return Err(InventoryError::StockAboveCeiling {
            on_hand,
            max: MAX_STOCK,
        });
    }
    Ok(vec![StockReceived { quantity, at }.into()])
}

fn adjust(
    state: &InventoryState,
    on_hand: u32,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Vec<InventoryEvent>, InventoryError> {
    check_range("on_hand", on_hand, 0, MAX_STOCK)?;
    check_text(reason, MAX_REASON_LEN, TextKind::Lines).map_err(InventoryError::InvalidReason)?;
    // Units held for orders are on the shelf by definition; a count below
    // them would promise goods that are not there.
    if on_hand < state.reserved {
        return Err(InventoryError::BelowReserved {
            on_hand,
            reserved: state.reserved,
        });
    }
    // A count equal to the old one is still recorded: it is a stocktake
    // that confirmed the number, with its reason.
    Ok(vec![
        StockAdjusted {
            on_hand,
            delta: i64::from(on_hand) - i64::from(state.on_hand),
            reason: reason.to_owned(),
            at,
        }
        .into(),
    ])
}

fn reserve(
    state: &InventoryState,
    order_id: OrderId,
    quantity: u32,
    at: DateTime<Utc>,
) -> Result<Vec<InventoryEvent>, InventoryError> {
    check_range("quantity", quantity, MIN_QUANTITY, MAX_RESERVATION)?;
    if let Some(reserved) = state.reservation(&order_id) {
        return if reserved == quantity {
            Ok(vec![])
        } else {
            Err(InventoryError::ReservationMismatch {
                order_id,
                reserved,
                requested: quantity,
            })
        };
    }
    // A reservation that ended never comes back: a late, redelivered
    // Reserve must not hold stock for an order that let go of it.
    if let Some(settlement) = state.settlement(&order_id) {
        return Err(InventoryError::ReservationSettled {
            order_id,
            settlement,
        });
    }
    let available = state.available();
    if quantity > available {
        return Err(InventoryError::InsufficientStock {
            requested: quantity,
            available,
        });
    }
    Ok(vec![
        StockReserved {
            order_id,
            quantity,
            at,
        }
        .into(),
    ])
}

/// Releasing is always allowed: an order that holds nothing (never
/// reserved, released, shipped) has nothing to give back.
fn release(state: &InventoryState, order_id: OrderId, at: DateTime<Utc>) -> Vec<InventoryEvent> {
    match state.reservation(&order_id) {
        Some(quantity) => vec![
            StockReleased {
                order_id,
                quantity,
                at,
            }
            .into(),
        ],
        None => vec![],
    }
}

fn commit(
    state: &InventoryState,
    order_id: OrderId,
    at: DateTime<Utc>,
) -> Result<Vec<InventoryEvent>, InventoryError> {
    if let Some(quantity) = state.reservation(&order_id) {
        return Ok(vec![
            ReservationCommitted {
                order_id,
                quantity,
                at,
            }
            .into(),
        ]);
    }
    match state.settlement(&order_id) {
        Some(Settlement::Committed) => Ok(vec![]),
        Some(settlement @ Settlement::Released) => Err(InventoryError::ReservationSettled {
            order_id,
            settlement,
        }),
        None => Err(InventoryError::NoReservation { order_id }),
    }
}

fn check_range(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), InventoryError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(InventoryError::InvalidQuantity {
            field,
            quantity: u64::from(value),
            min,
            max,
        })
    }
}
