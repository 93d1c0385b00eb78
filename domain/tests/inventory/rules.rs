//! One test per rule, in given/when/then form.

use orderflow_domain::InventoryError;
use orderflow_domain::Settlement;
use orderflow_domain::limits::{MAX_REASON_LEN, MAX_RESERVATION, MAX_STOCK};

use crate::support::*;

// ---- receiving ----------------------------------------------------------------------

#[test]
fn receiving_puts_units_on_hand_of_a_new_sku() {
    let state = given([]).when(receive(5)).then([received(5, now())]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (5, 0, 5)
    );
    assert_eq!(state.version, 1);
    assert_eq!(state.updated_at, Some(now()));
    assert!(state.exists());
}

#[test]
fn receiving_adds_to_what_is_there_and_reserved_stays() {
    let state = given(reserving())
        .when(receive(5))
        .then([received(5, now())]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (15, 7, 8)
    );
}

#[test]
fn receiving_nothing_or_too_much_at_once_is_invalid() {
    let e = given([])
        .when(receive(0))
        .then_error("inventory.invalid_quantity");
    assert_eq!(e.field(), Some("quantity"));
    assert!(!e.is_conflict());
    given([])
        .when(receive(MAX_STOCK + 1))
        .then_error("inventory.invalid_quantity");
    given([])
        .when(receive(MAX_STOCK))
        .then([received(MAX_STOCK, now())]);
}

#[test]
fn receiving_past_the_ceiling_is_a_conflict() {
    let e = given([received(MAX_STOCK - 1, t(0))])
        .when(receive(2))
        .then_error("inventory.stock_above_ceiling");
    assert_eq!(
        e,
        InventoryError::StockAboveCeiling {
            on_hand: u64::from(MAX_STOCK) + 1,
            max: MAX_STOCK
        }
    );
    assert!(e.is_conflict());
    given([received(MAX_STOCK - 1, t(0))])
        .when(receive(1))
        .then([received(1, now())]);
}

// ---- adjusting ----------------------------------------------------------------------

#[test]
fn adjusting_sets_the_count_and_records_the_delta() {
    let state = given(stocked())
        .when(adjust(7, "stocktake: 3 damaged"))
        .then([adjusted(7, -3, "stocktake: 3 damaged", now())]);
    assert_eq!(state.on_hand, 7);
    let state = given(stocked())
        .when(adjust(12, "found a box"))
        .then([adjusted(12, 2, "found a box", now())]);
    assert_eq!(state.on_hand, 12);
}

#[test]
fn adjusting_an_unknown_sku_starts_its_stock() {
    let state =
        given([])
            .when(adjust(4, "first count"))
            .then([adjusted(4, 4, "first count", now())]);
    assert_eq!((state.on_hand, state.version), (4, 1));
}

#[test]
fn adjusting_to_the_same_count_is_recorded_as_a_confirmed_count() {
    given(stocked())
        .when(adjust(10, "stocktake"))
        .then([adjusted(10, 0, "stocktake", now())]);
}

#[test]
fn adjusting_down_to_exactly_the_reserved_units_is_allowed() {
    let state = given(reserving())
        .when(adjust(7, "shrinkage"))
        .then([adjusted(7, -3, "shrinkage", now())]);
    assert_eq!(state.available(), 0);
    given(stocked())
        .when(adjust(0, "all gone"))
        .then([adjusted(0, -10, "all gone", now())]);
}

#[test]
fn adjusting_below_the_reserved_units_is_a_conflict() {
    let e = given(reserving())
        .when(adjust(6, "shrinkage"))
        .then_error("inventory.below_reserved");
    assert_eq!(
        e,
        InventoryError::BelowReserved {
            on_hand: 6,
            reserved: 7
        }
    );
    assert_eq!(e.field(), Some("on_hand"));
    assert!(e.is_conflict());
}

#[test]
fn adjusting_needs_a_sane_count_and_reason() {
    let e = given([])
        .when(adjust(MAX_STOCK + 1, "x"))
        .then_error("inventory.invalid_quantity");
    assert_eq!(e.field(), Some("on_hand"));
    given([]).when(adjust(MAX_STOCK, "x")).then([adjusted(
        MAX_STOCK,
        i64::from(MAX_STOCK),
        "x",
        now(),
    )]);
    for bad in [
        String::new(),
        "  \n".into(),
        "x".repeat(MAX_REASON_LEN + 1),
        "a\0b".into(),
    ] {
        let e = given(stocked())
            .when(adjust(3, &bad))
            .then_error("reason.invalid");
        assert_eq!(e.field(), Some("reason"), "{bad:?}");
        assert!(!e.is_conflict());
    }
    given(stocked())
        .when(adjust(3, "line one\nline two"))
        .then([adjusted(3, -7, "line one\nline two", now())]);
}

#[test]
fn field_rules_come_before_stock_rules() {
    // Both a bad reason and a count below reserved: the reason is named.
    given(reserving())
        .when(adjust(0, ""))
        .then_error("reason.invalid");
    // Both a bad quantity and no stock: the quantity is named.
    given([])
        .when(reserve(1, 0))
        .then_error("inventory.invalid_quantity");
}

// ---- reserving ----------------------------------------------------------------------

#[test]
fn reserving_holds_units_for_the_order() {
    let state = given(stocked())
        .when(reserve(1, 3))
        .then([reserved(1, 3, now())]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (10, 3, 7)
    );
    assert_eq!(state.reservation(&order(1)), Some(3));
}

#[test]
fn reserving_everything_available_is_allowed() {
    let state = given(reserving())
        .when(reserve(3, 3))
        .then([reserved(3, 3, now())]);
    assert_eq!(state.available(), 0);
}

#[test]
fn reserving_more_than_available_is_refused_never_oversold() {
    let e = given(reserving())
        .when(reserve(3, 4))
        .then_error("inventory.insufficient_stock");
    assert_eq!(
        e,
        InventoryError::InsufficientStock {
            requested: 4,
            available: 3
        }
    );
    assert_eq!(e.field(), Some("quantity"));
    assert!(e.is_conflict());
}

#[test]
fn reserving_an_unknown_sku_is_refused_for_lack_of_stock() {
    let e = given([])
        .when(reserve(1, 1))
        .then_error("inventory.insufficient_stock");
    assert_eq!(
        e,
        InventoryError::InsufficientStock {
            requested: 1,
            available: 0
        }
    );
}

#[test]
fn reserving_again_with_the_same_quantity_changes_nothing() {
    given(reserving()).when(reserve(1, 3)).then_nothing();
    // Even when no more units are available: the order already holds them.
    let mut h = reserving();
    h.push(reserved(3, 3, t(3)));
    given(h).when(reserve(2, 4)).then_nothing();
}

#[test]
fn reserving_again_with_another_quantity_is_a_conflict() {
    let e = given(reserving())
        .when(reserve(1, 2))
        .then_error("inventory.reservation_mismatch");
    assert_eq!(
        e,
        InventoryError::ReservationMismatch {
            order_id: order(1),
            reserved: 3,
            requested: 2
        }
    );
}

#[test]
fn reserving_after_the_reservation_ended_is_a_conflict() {
    let mut h = reserving();
    h.push(released(1, 3, t(3)));
    let e = given(h.clone())
        .when(reserve(1, 3))
        .then_error("inventory.reservation_settled");
    assert_eq!(
        e,
        InventoryError::ReservationSettled {
            order_id: order(1),
            settlement: Settlement::Released
        }
    );
    assert_eq!(e.field(), Some("order_id"));
    h.push(committed(2, 4, t(4)));
    let e = given(h)
        .when(reserve(2, 1))
        .then_error("inventory.reservation_settled");
    assert_eq!(
        e,
        InventoryError::ReservationSettled {
            order_id: order(2),
            settlement: Settlement::Committed
        }
    );
}

#[test]
fn reservation_quantity_is_bounded_like_an_order_line() {
    for bad in [0, MAX_RESERVATION + 1, u32::MAX] {
        given([received(MAX_STOCK, t(0))])
            .when(reserve(1, bad))
            .then_error("inventory.invalid_quantity");
    }
    given([received(MAX_STOCK, t(0))])
        .when(reserve(1, MAX_RESERVATION))
        .then([reserved(1, MAX_RESERVATION, now())]);
}

// ---- releasing ----------------------------------------------------------------------

#[test]
fn releasing_gives_the_whole_reservation_back() {
    let state = given(reserving())
        .when(release(2))
        .then([released(2, 4, now())]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (10, 3, 7)
    );
    assert_eq!(state.reservation(&order(2)), None);
    assert_eq!(state.settlement(&order(2)), Some(Settlement::Released));
}

#[test]
fn releasing_twice_changes_nothing() {
    let mut h = reserving();
    h.push(released(2, 4, t(3)));
    given(h).when(release(2)).then_nothing();
}

#[test]
fn releasing_for_an_order_that_reserved_nothing_changes_nothing() {
    given(reserving()).when(release(9)).then_nothing();
    given([]).when(release(9)).then_nothing();
}

#[test]
fn releasing_after_the_commit_changes_nothing() {
    let mut h = reserving();
    h.push(committed(1, 3, t(3)));
    given(h).when(release(1)).then_nothing();
}

// ---- committing ---------------------------------------------------------------------

#[test]
fn committing_takes_the_reserved_units_off_the_shelf() {
    let state = given(reserving())
        .when(commit(2))
        .then([committed(2, 4, now())]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (6, 3, 3)
    );
    assert_eq!(state.settlement(&order(2)), Some(Settlement::Committed));
}

#[test]
fn committing_twice_changes_nothing() {
    let mut h = reserving();
    h.push(committed(2, 4, t(3)));
    given(h).when(commit(2)).then_nothing();
}

#[test]
fn committing_a_released_reservation_is_a_conflict() {
    let mut h = reserving();
    h.push(released(2, 4, t(3)));
    let e = given(h)
        .when(commit(2))
        .then_error("inventory.reservation_settled");
    assert_eq!(
        e,
        InventoryError::ReservationSettled {
            order_id: order(2),
            settlement: Settlement::Released
        }
    );
}

#[test]
fn committing_without_a_reservation_is_a_conflict() {
    let e = given(reserving())
        .when(commit(9))
        .then_error("inventory.no_reservation");
    assert_eq!(e, InventoryError::NoReservation { order_id: order(9) });
    assert_eq!(e.field(), Some("order_id"));
    given([])
        .when(commit(9))
        .then_error("inventory.no_reservation");
}

// ---- the whole life of a sku ---------------------------------------------------------

#[test]
fn a_day_in_the_life_of_a_sku() {
    let s = given([]).when(receive(10)).then_ok_state();
    let s = given_state(s).when(reserve(1, 4)).then_ok_state();
    let s = given_state(s).when(reserve(2, 6)).then_ok_state();
    assert_eq!(s.available(), 0);
    given_state(s.clone())
        .when(reserve(3, 1))
        .then_error("inventory.insufficient_stock");
    let s = given_state(s).when(release(1)).then_ok_state();
    let s = given_state(s).when(reserve(3, 1)).then_ok_state();
    let s = given_state(s).when(commit(2)).then_ok_state();
    assert_eq!((s.on_hand, s.reserved, s.available()), (4, 1, 3));
    let s = given_state(s).when(adjust(1, "stocktake")).then_ok_state();
    assert_eq!((s.on_hand, s.reserved, s.available()), (1, 1, 0));
    assert_eq!(s.version, 7);
}

#[test]
fn error_codes_are_distinct_and_dotted() {
    let errors = [
        InventoryError::InvalidQuantity {
            field: "quantity",
            quantity: 0,
            min: 1,
            max: 2,
        },
        InventoryError::InvalidReason(orderflow_domain::Violation::Empty),
        InventoryError::StockAboveCeiling { on_hand: 1, max: 1 },
        InventoryError::BelowReserved {
            on_hand: 1,
            reserved: 2,
        },
        InventoryError::InsufficientStock {
            requested: 1,
            available: 0,
        },
        InventoryError::ReservationMismatch {
            order_id: order(1),
            reserved: 1,
            requested: 2,
        },
        InventoryError::ReservationSettled {
            order_id: order(1),
            settlement: Settlement::Released,
        },
        InventoryError::NoReservation { order_id: order(1) },
    ];
    let mut codes: Vec<&str> = errors.iter().map(InventoryError::code).collect();
    assert!(codes.iter().all(|c| c.split('.').count() == 2), "{codes:?}");
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
    assert_eq!(
        errors[6].to_string(),
        format!("the reservation of order {} was released", order(1))
    );
}
