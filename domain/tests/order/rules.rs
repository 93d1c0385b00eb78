//! One test per rule, in given/when/then form.

use orderflow_domain::limits::{MAX_LINE_ITEMS, MAX_QUANTITY, MAX_REASON_LEN};
use orderflow_domain::{
    Currency, ItemQuantityChanged, ItemRemoved, OrderCancelled, OrderCommand, OrderConfirmed,
    OrderDelivered, OrderError, OrderRejected, OrderShipped, OrderStatus, OrderSubmitted,
    PaymentRecorded, fold,
};

use crate::support::*;

// ---- creation -----------------------------------------------------------------------

#[test]
fn create_opens_a_draft() {
    let state = given([])
        .when(create_cmd(vec![], None))
        .then([created_at(now())]);
    assert_eq!(state.status, Some(OrderStatus::Draft));
    assert_eq!(state.id, Some(order_id()));
    assert_eq!(state.customer_id, Some(customer()));
    assert_eq!(state.currency, Some(Currency::EUR));
    assert_eq!(state.placed_at, Some(now()));
    assert_eq!(state.version, 1);
    assert!(state.exists());
}

#[test]
fn create_with_items_and_address_emits_created_then_items_then_address() {
    let state = given([])
        .when(create_cmd(
            vec![new_item("A", 1, eur(100)), new_item("B", 3, eur(250))],
            Some(address()),
        ))
        .then([
            created_at(now()),
            item_added_at("A", 1, eur(100), now()),
            item_added_at("B", 3, eur(250), now()),
            address_set_at(address(), now()),
        ]);
    assert_eq!(state.total_minor(), 850);
    assert_eq!(state.version, 4);
}

#[test]
fn create_with_a_repeated_sku_sums_like_add_item() {
    let state = given([])
        .when(create_cmd(
            vec![new_item("A", 1, eur(100)), new_item("A", 2, eur(100))],
            None,
        ))
        .then([
            created_at(now()),
            item_added_at("A", 1, eur(100), now()),
            item_added_at("A", 2, eur(100), now()),
        ]);
    assert_eq!(state.items.len(), 1);
    assert_eq!(state.items[0].quantity, 3);
}

#[test]
fn create_applies_item_rules_to_initial_items() {
    given([])
        .when(create_cmd(vec![new_item("A", 0, eur(100))], None))
        .then_error("item.invalid_quantity");
    given([])
        .when(create_cmd(vec![new_item("A", 1, usd(100))], None))
        .then_error("money.currency_mismatch");
    given([])
        .when(create_cmd(
            vec![new_item("A", 1, eur(100)), new_item("A", 1, eur(101))],
            None,
        ))
        .then_error("item.price_mismatch");
    let too_many = (0..=MAX_LINE_ITEMS)
        .map(|i| new_item(&format!("S{i}"), 1, eur(1)))
        .collect();
    given([])
        .when(create_cmd(too_many, None))
        .then_error("order.too_many_items");
}

#[test]
fn create_validates_the_initial_address() {
    let mut bad = address();
    bad.country = "Deutschland".into();
    let err = given([])
        .when(create_cmd(vec![], Some(bad)))
        .then_error("address.invalid");
    assert_eq!(err.field(), Some("country"));
}

#[test]
fn create_twice_is_refused() {
    given(created())
        .when(create_cmd(vec![], None))
        .then_error("order.already_exists");
    given(delivered())
        .when(create_cmd(vec![], None))
        .then_error("order.already_exists");
}

#[test]
fn every_other_command_needs_an_existing_order() {
    for command in [
        add_cmd("A", 1, eur(1)),
        change_cmd("A", 1),
        remove_cmd("A"),
        OrderCommand::SetShippingAddress { address: address() },
        OrderCommand::SubmitOrder,
        OrderCommand::ConfirmOrder,
        reject_cmd("no"),
        pay_cmd(eur(0)),
        ship_cmd("DHL", "1"),
        OrderCommand::MarkDelivered,
        cancel_cmd("no"),
        refund_cmd("r1", eur(1)),
    ] {
        given([]).when(command).then_error("order.not_found");
    }
}

// ---- items ----------------------------------------------------------------------------

#[test]
fn add_item_appends_a_line() {
    let state = given(draft())
        .when(add_cmd("SKU-2", 1, eur(599)))
        .then([item_added_at("SKU-2", 1, eur(599), now())]);
    let skus: Vec<_> = state.items.iter().map(|l| l.sku.as_str()).collect();
    assert_eq!(skus, ["SKU-1", "SKU-2"]);
    assert_eq!(state.total_minor(), TOTAL + 599);
}

#[test]
fn add_existing_sku_emits_the_added_quantity_and_sums() {
    let state = given(draft())
        .when(add_cmd(SKU, 3, eur(PRICE)))
        .then([item_added_at(SKU, 3, eur(PRICE), now())]);
    assert_eq!(state.items.len(), 1);
    assert_eq!(state.items[0].quantity, QTY + 3);
    assert_eq!(state.total_minor(), PRICE * 5);
}

#[test]
fn add_existing_sku_at_another_price_is_refused() {
    let err = given(draft())
        .when(add_cmd(SKU, 1, eur(PRICE + 1)))
        .then_error("item.price_mismatch");
    assert_eq!(err.field(), Some("unit_price"));
}

#[test]
fn quantity_must_be_within_limits() {
    given(draft())
        .when(add_cmd("N", 0, eur(1)))
        .then_error("item.invalid_quantity");
    given(draft())
        .when(add_cmd("N", MAX_QUANTITY + 1, eur(1)))
        .then_error("item.invalid_quantity");
    given(draft())
        .when(add_cmd("N", MAX_QUANTITY, eur(1)))
        .then_ok();
}

#[test]
fn summed_quantity_must_be_within_limits() {
    // The quantity is fine alone; the line is full: a rule of the order.
    let err = given(draft())
        .when(add_cmd(SKU, MAX_QUANTITY - QTY + 1, eur(PRICE)))
        .then_error("item.line_quantity_exceeded");
    assert_eq!(err.field(), Some("quantity"));
    assert_eq!(
        err,
        OrderError::LineQuantityExceeded {
            sku: sku(SKU),
            quantity: u64::from(MAX_QUANTITY) + 1,
            max: MAX_QUANTITY
        }
    );
    given(draft())
        .when(add_cmd(SKU, MAX_QUANTITY - QTY, eur(PRICE)))
        .then_ok();
}

#[test]
fn item_name_must_be_present_and_bounded() {
    let named = |name: &str| OrderCommand::AddItem {
        sku: sku("N"),
        name: name.into(),
        quantity: 1,
        unit_price: eur(1),
    };
    for bad in [String::new(), "   ".into(), "x".repeat(201), "a\nb".into()] {
        let err = given(draft())
            .when(named(&bad))
            .then_error("item.invalid_name");
        assert_eq!(err.field(), Some("name"));
    }
    given(draft()).when(named(&"x".repeat(200))).then_ok();
}

#[test]
fn unit_price_must_not_be_negative() {
    let err = given(draft())
        .when(add_cmd("N", 1, eur(-1)))
        .then_error("money.negative");
    assert_eq!(err.field(), Some("unit_price.amount_minor"));
    // Free items are fine.
    given(draft()).when(add_cmd("N", 1, eur(0))).then_ok();
}

#[test]
fn items_must_use_the_order_currency() {
    let err = given(draft())
        .when(add_cmd("N", 1, usd(100)))
        .then_error("money.currency_mismatch");
    assert_eq!(err.field(), Some("unit_price"));
}

#[test]
fn at_most_max_lines() {
    let mut history = created();
    for i in 0..MAX_LINE_ITEMS {
        history.push(item_added_at(&format!("S{i}"), 1, eur(1), t(1)));
    }
    given(history.clone())
        .when(add_cmd("ONE-MORE", 1, eur(1)))
        .then_error("order.too_many_items");
    // Raising an existing line adds no line.
    given(history).when(add_cmd("S0", 1, eur(1))).then_ok();
}

#[test]
fn totals_that_overflow_are_refused() {
    let huge = i64::MAX / 2;
    // Prices above the ceiling never get this far (see limits.rs); orders
    // stored before the ceiling existed still must not overflow.
    given(created())
        .when(add_cmd("BIG", 3, eur(huge)))
        .then_error("money.above_ceiling");
    // Each line fits, their sum does not.
    let mut history = created();
    history.push(item_added_at("BIG1", 1, eur(huge), t(1)));
    history.push(item_added_at("BIG2", 1, eur(huge), t(1)));
    given(history.clone())
        .when(add_cmd("BIG3", 2, eur(1)))
        .then_error("money.overflow");
    given(history)
        .when(change_cmd("BIG1", 2))
        .then_error("money.overflow");
}

#[test]
fn change_quantity_sets_the_quantity() {
    let state = given(draft())
        .when(change_cmd(SKU, 7))
        .then([ItemQuantityChanged {
            sku: sku(SKU),
            quantity: 7,
            at: now(),
        }
        .into()]);
    assert_eq!(state.items[0].quantity, 7);
    assert_eq!(state.total_minor(), PRICE * 7);
}

#[test]
fn change_quantity_checks_limits_and_line() {
    given(draft())
        .when(change_cmd(SKU, 0))
        .then_error("item.invalid_quantity");
    given(draft())
        .when(change_cmd(SKU, MAX_QUANTITY + 1))
        .then_error("item.invalid_quantity");
    let err = given(draft())
        .when(change_cmd("NOPE", 1))
        .then_error("item.not_found");
    assert_eq!(err.field(), Some("sku"));
}

#[test]
fn remove_item_drops_the_line() {
    let state = given(draft()).when(remove_cmd(SKU)).then([ItemRemoved {
        sku: sku(SKU),
        at: now(),
    }
    .into()]);
    assert!(state.items.is_empty());
    assert_eq!(state.total_minor(), 0);
    given(draft())
        .when(remove_cmd("NOPE"))
        .then_error("item.not_found");
}

#[test]
fn a_removed_sku_can_come_back_at_a_new_price_as_the_last_line() {
    let mut history = draft();
    history.push(item_added_at("SKU-2", 1, eur(5), t(3)));
    history.push(
        ItemRemoved {
            sku: sku(SKU),
            at: t(4),
        }
        .into(),
    );
    let state = given(history)
        .when(add_cmd(SKU, 1, eur(PRICE * 2)))
        .then_ok();
    let skus: Vec<_> = state.items.iter().map(|l| l.sku.as_str()).collect();
    assert_eq!(skus, ["SKU-2", "SKU-1"]);
}

// ---- address --------------------------------------------------------------------------

#[test]
fn set_address_sets_or_replaces() {
    let state = given(draft())
        .when(OrderCommand::SetShippingAddress {
            address: other_address(),
        })
        .then([address_set_at(other_address(), now())]);
    assert_eq!(state.shipping_address, Some(other_address()));
}

#[test]
fn set_address_validates_each_field() {
    let mut bad = address();
    bad.postal_code = " ".into();
    let err = given(draft())
        .when(OrderCommand::SetShippingAddress { address: bad })
        .then_error("address.invalid");
    assert_eq!(err.field(), Some("postal_code"));
}

#[test]
fn items_address_and_submit_need_a_draft() {
    for history in [submitted(), paid(), cancelled_unpaid()] {
        let status = status_of(&history).unwrap();
        for command in [
            add_cmd("N", 1, eur(1)),
            change_cmd(SKU, 1),
            remove_cmd(SKU),
            OrderCommand::SetShippingAddress { address: address() },
            OrderCommand::SubmitOrder,
        ] {
            let err = given(history.clone())
                .when(command)
                .then_error("order.not_draft");
            assert_eq!(err, OrderError::NotDraft { status });
        }
    }
}

// ---- lifecycle ------------------------------------------------------------------------

#[test]
fn submit_fixes_the_total() {
    let state = given(draft())
        .when(OrderCommand::SubmitOrder)
        .then([OrderSubmitted {
            total: eur(TOTAL),
            at: now(),
        }
        .into()]);
    assert_eq!(state.status, Some(OrderStatus::Submitted));
    assert_eq!(state.submitted_at, Some(now()));
}

#[test]
fn submit_needs_items() {
    let err = given([created_at(t(0)), address_set_at(address(), t(1))])
        .when(OrderCommand::SubmitOrder)
        .then_error("order.empty");
    assert_eq!(err.field(), Some("items"));
}

#[test]
fn submit_needs_an_address() {
    given([created_at(t(0)), item_added_at("A", 1, eur(1), t(1))])
        .when(OrderCommand::SubmitOrder)
        .then_error("order.missing_shipping_address");
}

#[test]
fn confirm_a_submitted_order() {
    let state = given(submitted())
        .when(OrderCommand::ConfirmOrder)
        .then([OrderConfirmed { at: now() }.into()]);
    assert_eq!(state.status, Some(OrderStatus::Confirmed));
    assert_eq!(state.confirmed_at, Some(now()));
}

#[test]
fn reject_a_submitted_order_with_a_reason() {
    let state = given(submitted())
        .when(reject_cmd("fraud suspected"))
        .then([OrderRejected {
            reason: "fraud suspected".into(),
            at: now(),
        }
        .into()]);
    assert_eq!(state.status, Some(OrderStatus::Rejected));
    assert_eq!(state.rejection_reason.as_deref(), Some("fraud suspected"));
}

#[test]
fn reasons_must_be_present_and_bounded() {
    for bad in [String::new(), " \n ".into(), "x".repeat(MAX_REASON_LEN + 1)] {
        let err = given(submitted())
            .when(reject_cmd(&bad))
            .then_error("reason.invalid");
        assert_eq!(err.field(), Some("reason"));
        given(draft())
            .when(cancel_cmd(&bad))
            .then_error("reason.invalid");
        given(paid())
            .when(OrderCommand::IssueRefund {
                refund_id: refund_id("r1"),
                amount: eur(1),
                reason: bad.clone(),
            })
            .then_error("reason.invalid");
    }
    given(submitted())
        .when(reject_cmd(&"x".repeat(MAX_REASON_LEN)))
        .then_ok();
    given(submitted())
        .when(reject_cmd("line one\nline two"))
        .then_ok();
}

#[test]
fn record_payment_of_the_total() {
    let state = given(confirmed())
        .when(pay_cmd(eur(TOTAL)))
        .then([PaymentRecorded {
            payment_id: payment_id("pay-1"),
            amount: eur(TOTAL),
            at: now(),
        }
        .into()]);
    assert_eq!(state.status, Some(OrderStatus::Paid));
    assert_eq!(state.paid_minor, TOTAL);
    assert_eq!(state.payment_id, Some(payment_id("pay-1")));
}

#[test]
fn payment_must_match_the_total_and_currency() {
    for wrong in [eur(TOTAL - 1), eur(TOTAL + 1), usd(TOTAL), eur(0)] {
        let err = given(confirmed())
            .when(pay_cmd(wrong))
            .then_error("payment.amount_mismatch");
        assert_eq!(
            err,
            OrderError::PaymentAmountMismatch {
                expected: eur(TOTAL),
                given: wrong
            }
        );
        assert_eq!(err.field(), Some("amount"));
    }
}

#[test]
fn payment_only_once_and_only_when_confirmed() {
    given(submitted())
        .when(pay_cmd(eur(TOTAL)))
        .then_error("order.invalid_transition");
    given(paid())
        .when(pay_cmd(eur(TOTAL)))
        .then_error("order.invalid_transition");
}

#[test]
fn ship_a_paid_order() {
    let state = given(paid())
        .when(ship_cmd("UPS", "1Z999"))
        .then([OrderShipped {
            carrier: "UPS".into(),
            tracking_number: "1Z999".into(),
            at: now(),
        }
        .into()]);
    assert_eq!(state.status, Some(OrderStatus::Shipped));
    assert_eq!(state.carrier.as_deref(), Some("UPS"));
    assert_eq!(state.tracking_number.as_deref(), Some("1Z999"));
}

#[test]
fn shipment_needs_carrier_and_tracking_number() {
    let cases = [
        (ship_cmd("", "1Z"), "carrier"),
        (ship_cmd(&"c".repeat(101), "1Z"), "carrier"),
        (ship_cmd("UPS", " "), "tracking_number"),
        (ship_cmd("UPS", &"t".repeat(101)), "tracking_number"),
    ];
    for (command, field) in cases {
        let err = given(paid()).when(command).then_error("shipment.invalid");
        assert_eq!(err.field(), Some(field));
    }
}

#[test]
fn deliver_a_shipped_order() {
    let state = given(shipped())
        .when(OrderCommand::MarkDelivered)
        .then([OrderDelivered { at: now() }.into()]);
    assert_eq!(state.status, Some(OrderStatus::Delivered));
    assert_eq!(state.delivered_at, Some(now()));
}

#[test]
fn wrong_status_names_status_and_command() {
    let err = given(draft())
        .when(ship_cmd("UPS", "1Z"))
        .then_error("order.invalid_transition");
    assert_eq!(
        err,
        OrderError::InvalidTransition {
            status: OrderStatus::Draft,
            command: "ShipOrder"
        }
    );
    assert_eq!(err.to_string(), "cannot ShipOrder an order that is draft");
    assert_eq!(err.field(), None);
}

// ---- cancellation ---------------------------------------------------------------------

#[test]
fn cancel_before_payment_owes_nothing() {
    for history in [draft(), submitted(), confirmed()] {
        let state = given(history)
            .when(cancel_cmd("no longer needed"))
            .then([OrderCancelled {
                reason: "no longer needed".into(),
                refund_owed: None,
                at: now(),
            }
            .into()]);
        assert_eq!(state.status, Some(OrderStatus::Cancelled));
        assert_eq!(state.refund_owed_minor, 0);
        assert_eq!(state.cancelled_at, Some(now()));
    }
}

#[test]
fn cancel_after_payment_owes_what_was_not_refunded() {
    given(paid())
        .when(cancel_cmd("out of stock"))
        .then([OrderCancelled {
            reason: "out of stock".into(),
            refund_owed: Some(eur(TOTAL)),
            at: now(),
        }
        .into()]);

    let mut history = paid();
    history.push(refund_issued("r1", eur(300), t(6)));
    let state = given(history)
        .when(cancel_cmd("out of stock"))
        .then([OrderCancelled {
            reason: "out of stock".into(),
            refund_owed: Some(eur(TOTAL - 300)),
            at: now(),
        }
        .into()]);
    assert_eq!(state.refund_owed_minor, TOTAL - 300);
}

#[test]
fn cancel_is_refused_once_shipped() {
    for history in [shipped(), delivered(), cancelled_unpaid(), rejected()] {
        given(history)
            .when(cancel_cmd("too late"))
            .then_error("order.invalid_transition");
    }
}

// ---- refunds --------------------------------------------------------------------------

#[test]
fn refund_after_payment_keeps_the_status() {
    for history in [paid(), shipped(), delivered(), cancelled_paid()] {
        let status = status_of(&history);
        let state = given(history)
            .when(refund_cmd("r1", eur(500)))
            .then([refund_issued("r1", eur(500), now())]);
        assert_eq!(state.status, status);
        assert_eq!(state.refunded_minor, 500);
        assert_eq!(state.refund_ids, [refund_id("r1")]);
    }
}

#[test]
fn refund_lowers_what_a_cancelled_order_owes() {
    let state = given(cancelled_paid())
        .when(refund_cmd("r1", eur(TOTAL)))
        .then_ok();
    assert_eq!(state.refund_owed_minor, 0);
    assert_eq!(state.refunded_minor, TOTAL);
}

#[test]
fn refund_needs_a_payment() {
    for history in [
        draft(),
        submitted(),
        confirmed(),
        cancelled_unpaid(),
        rejected(),
    ] {
        given(history)
            .when(refund_cmd("r1", eur(1)))
            .then_error("refund.not_allowed");
    }
}

#[test]
fn refund_amount_must_be_positive() {
    for amount in [eur(0), eur(-1)] {
        let err = given(paid())
            .when(refund_cmd("r1", amount))
            .then_error("refund.invalid_amount");
        assert_eq!(err.field(), Some("amount"));
    }
}

#[test]
fn refund_must_use_the_order_currency() {
    let err = given(paid())
        .when(refund_cmd("r1", usd(1)))
        .then_error("money.currency_mismatch");
    assert_eq!(err.field(), Some("amount"));
}

#[test]
fn refunds_never_exceed_what_was_paid() {
    given(paid())
        .when(refund_cmd("r1", eur(TOTAL + 1)))
        .then_error("refund.exceeds_paid");
    let mut history = paid();
    history.push(refund_issued("r1", eur(1_500), t(6)));
    let err = given(history.clone())
        .when(refund_cmd("r2", eur(501)))
        .then_error("refund.exceeds_paid");
    assert_eq!(
        err,
        OrderError::RefundExceedsPaid {
            requested: eur(501),
            refundable: eur(500)
        }
    );
    let state = given(history).when(refund_cmd("r2", eur(500))).then_ok();
    assert_eq!(state.refunded_minor, state.paid_minor);
}

#[test]
fn refund_ids_are_unique() {
    let mut history = paid();
    history.push(refund_issued("r1", eur(100), t(6)));
    let err = given(history)
        .when(refund_cmd("r1", eur(100)))
        .then_error("refund.duplicate");
    assert_eq!(err.field(), Some("refund_id"));
}

// ---- state bookkeeping ----------------------------------------------------------------

#[test]
fn state_tracks_version_and_timestamps() {
    let history = delivered();
    let state = fold(&history);
    assert_eq!(state.version, history.len() as u64);
    assert_eq!(state.placed_at, Some(t(0)));
    assert_eq!(state.submitted_at, Some(t(3)));
    assert_eq!(state.confirmed_at, Some(t(4)));
    assert_eq!(state.paid_at, Some(t(5)));
    assert_eq!(state.shipped_at, Some(t(6)));
    assert_eq!(state.delivered_at, Some(t(7)));
    assert_eq!(state.updated_at, Some(t(7)));
    assert_eq!(state.total(), Some(eur(TOTAL)));
}

#[test]
fn state_serializes() {
    let json = serde_json::to_value(fold(&paid())).unwrap();
    assert_eq!(json["status"], "paid");
    assert_eq!(json["paid_minor"], TOTAL);
    assert_eq!(json["items"][0]["unit_price"]["currency"], "EUR");
}
