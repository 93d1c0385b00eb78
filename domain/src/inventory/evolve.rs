//! Applying events to state. `evolve` trusts its input (events were decided
//! against the state they follow) and is total: it never panics and never
//! fails, even on a sequence `decide` would not produce (it saturates).

use crate::inventory::event::InventoryEvent;
use crate::inventory::state::{InventoryState, Settlement};

/// The state after `event`.
pub fn evolve(mut state: InventoryState, event: &InventoryEvent) -> InventoryState {
    match event {
        InventoryEvent::StockReceived(e) => {
            state.on_hand = state.on_hand.saturating_add(e.quantity);
        }
        InventoryEvent::StockAdjusted(e) => state.on_hand = e.on_hand,
        InventoryEvent::StockReserved(e) => {
            // Replaces a reservation the order might hold already, so
            // `reserved` stays the sum of the open ones.
            let before = state.reservations.insert(e.order_id, e.quantity);
            state.reserved = state
                .reserved
                .saturating_sub(before.unwrap_or(0))
                .saturating_add(e.quantity);
            state.settled.remove(&e.order_id);
        }
        InventoryEvent::StockReleased(e) => {
            let held = state.reservations.remove(&e.order_id).unwrap_or(0);
            state.reserved = state.reserved.saturating_sub(held);
            state.settled.insert(e.order_id, Settlement::Released);
        }
        InventoryEvent::ReservationCommitted(e) => {
            let held = state.reservations.remove(&e.order_id).unwrap_or(0);
            state.reserved = state.reserved.saturating_sub(held);
            state.on_hand = state.on_hand.saturating_sub(held);
            state.settled.insert(e.order_id, Settlement::Committed);
        }
    }
    state.version = state.version.saturating_add(1);
    state.updated_at = Some(event.at());
    state
}

/// Folds a whole stream from the empty state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a InventoryEvent>) -> InventoryState {
    events.into_iter().fold(InventoryState::default(), evolve)
}
