//! Property tests: random command sequences keep the stock's invariants
//! (on hand ≥ reserved ≥ 0, never oversold), and a reservation, release or
//! commit that took effect never takes effect a second time, however often
//! and however late it is repeated.

use std::collections::BTreeMap;

use orderflow_domain::inventory::{decide, evolve, fold};
use orderflow_domain::limits::{MAX_RESERVATION, MAX_STOCK};
use orderflow_domain::{InventoryCommand, InventoryEvent, InventoryState, Settlement};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::*;

/// Few orders, so the same order comes back often; quantities mostly
/// small so reservations mostly fit, sometimes at or past the limits.
fn quantity() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => 1u32..=6,
        1 => Just(0u32),
        1 => Just(MAX_RESERVATION),
        1 => Just(MAX_RESERVATION + 1),
    ]
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..=30,
        1 => Just(MAX_STOCK),
        1 => Just(MAX_STOCK + 1),
    ]
}

fn command() -> impl Strategy<Value = InventoryCommand> {
    let order_no = 1u8..=6;
    prop_oneof![
        2 => prop_oneof![8 => 1u32..=20, 1 => Just(0u32), 1 => Just(MAX_STOCK)]
            .prop_map(receive),
        1 => (count(), prop_oneof![5 => Just("stocktake"), 1 => Just("")])
            .prop_map(|(n, reason)| adjust(n, reason)),
        4 => (order_no.clone(), quantity()).prop_map(|(n, q)| reserve(n, q)),
        2 => order_no.clone().prop_map(release),
        2 => order_no.prop_map(commit),
    ]
}

fn is_reservation_step(command: &InventoryCommand) -> bool {
    matches!(
        command,
        InventoryCommand::Reserve { .. }
            | InventoryCommand::Release { .. }
            | InventoryCommand::Commit { .. }
    )
}

#[track_caller]
fn assert_invariants(state: &InventoryState) {
    assert!(state.reserved <= state.on_hand, "oversold: {state:?}");
    assert!(state.on_hand <= MAX_STOCK, "{state:?}");
    let sum: u64 = state.reservations.values().map(|q| u64::from(*q)).sum();
    assert_eq!(u64::from(state.reserved), sum, "{state:?}");
    assert!(state.reservations.values().all(|q| *q >= 1));
    assert!(
        state
            .reservations
            .keys()
            .all(|o| !state.settled.contains_key(o)),
        "an order both open and settled: {state:?}"
    );
}

/// Runs `commands`, checking the invariants after each, and returns the
/// final state, every event, and the reservation steps that took effect.
fn run(
    commands: &[InventoryCommand],
) -> (InventoryState, Vec<InventoryEvent>, Vec<InventoryCommand>) {
    let mut state = InventoryState::default();
    let mut history = Vec::new();
    let mut effective: Vec<InventoryCommand> = Vec::new();
    for command in commands {
        if let Ok(events) = decide(&state, command, now()) {
            state = events.iter().fold(state, evolve);
            if !events.is_empty() && is_reservation_step(command) {
                effective.push(command.clone());
            }
            history.extend(events);
        }
        assert_invariants(&state);
        // Every earlier effect, repeated now, is not an effect again.
        for done in &effective {
            if let Ok(events) = decide(&state, done, now()) {
                assert_eq!(events, vec![], "{done:?} took effect twice");
            }
        }
    }
    (state, history, effective)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_keeps_on_hand_at_least_reserved(commands in vec(command(), 0..60)) {
        run(&commands);
    }

    #[test]
    fn the_state_is_the_fold_of_the_events_and_they_survive_storage(
        commands in vec(command(), 0..60)
    ) {
        let (state, history, _) = run(&commands);
        prop_assert_eq!(&fold(&history), &state);
        prop_assert_eq!(state.version, history.len() as u64);
        let stored: Vec<InventoryEvent> = history
            .iter()
            .map(|e| {
                let json = serde_json::to_string(&e.payload()).unwrap();
                InventoryEvent::from_payload(
                    e.event_type(),
                    e.schema_version(),
                    serde_json::from_str(&json).unwrap(),
                )
                .unwrap()
            })
            .collect();
        prop_assert_eq!(stored, history);
    }

    #[test]
    fn repeating_every_command_right_away_changes_nothing_more(
        commands in vec(command(), 0..40)
    ) {
        // A redelivered step arrives twice in a row: the result is the same
        // as with each arriving once.
        let doubled: Vec<InventoryCommand> = commands
            .iter()
            .flat_map(|c| {
                let twice = if is_reservation_step(c) { 2 } else { 1 };
                std::iter::repeat_n(c.clone(), twice)
            })
            .collect();
        let (once, _, _) = run(&commands);
        let (twice, _, _) = run(&doubled);
        prop_assert_eq!(once.on_hand, twice.on_hand);
        prop_assert_eq!(once.reservations, twice.reservations);
        prop_assert_eq!(once.settled, twice.settled);
    }

    #[test]
    fn units_are_conserved(commands in vec(command(), 0..60)) {
        // What is on hand is what came in, corrected by counts, minus what
        // shipped; what is reserved is what was held and not yet settled.
        let (state, history, _) = run(&commands);
        let mut on_hand: i64 = 0;
        let mut open: BTreeMap<_, u32> = BTreeMap::new();
        let mut settled = BTreeMap::new();
        for e in &history {
            match e {
                InventoryEvent::StockReceived(r) => on_hand += i64::from(r.quantity),
                InventoryEvent::StockAdjusted(a) => {
                    prop_assert_eq!(on_hand + a.delta, i64::from(a.on_hand));
                    on_hand = i64::from(a.on_hand);
                }
                InventoryEvent::StockReserved(r) => {
                    prop_assert!(open.insert(r.order_id, r.quantity).is_none());
                    prop_assert!(!settled.contains_key(&r.order_id));
                }
                InventoryEvent::StockReleased(r) => {
                    prop_assert_eq!(open.remove(&r.order_id), Some(r.quantity));
                    settled.insert(r.order_id, Settlement::Released);
                }
                InventoryEvent::ReservationCommitted(c) => {
                    prop_assert_eq!(open.remove(&c.order_id), Some(c.quantity));
                    on_hand -= i64::from(c.quantity);
                    settled.insert(c.order_id, Settlement::Committed);
                }
            }
            prop_assert!(on_hand >= 0);
        }
        prop_assert_eq!(on_hand, i64::from(state.on_hand));
        prop_assert_eq!(open, state.reservations);
        prop_assert_eq!(settled, state.settled);
    }

    #[test]
    fn evolve_is_total_on_any_event_sequence(
        steps in vec((0u8..5, 1u8..=4, any::<u32>()), 0..40)
    ) {
        // Sequences decide would never produce: evolve saturates, never panics.
        let history: Vec<InventoryEvent> = steps
            .into_iter()
            .map(|(kind, n, q)| match kind {
                0 => received(q, t(0)),
                1 => adjusted(q, 0, "x", t(0)),
                2 => reserved(n, q, t(0)),
                3 => released(n, q, t(0)),
                _ => committed(n, q, t(0)),
            })
            .collect();
        let state = fold(&history);
        prop_assert_eq!(state.version, history.len() as u64);
    }
}
