//! The documented limits: the money ceiling, control characters in free
//! text, and the number of events one order may hold.

use orderflow_domain::limits::{
    EVENTS_RESERVED_AFTER_DRAFT, MAX_AMOUNT_MINOR, MAX_EVENTS_PER_ORDER, MAX_QUANTITY,
};
use orderflow_domain::{
    CustomerId, ItemQuantityChanged, OrderCommand, OrderError, OrderEvent, PaymentId, RefundId,
    ShippingAddress, decide, fold,
};
use proptest::prelude::*;

use crate::support::*;

// ---- money ceiling ----------------------------------------------------------------

#[test]
fn unit_prices_are_bounded_by_the_ceiling() {
    given(created())
        .when(add_cmd("MAX", 1, eur(MAX_AMOUNT_MINOR)))
        .then_ok();
    let err = given(created())
        .when(add_cmd("MAX", 1, eur(MAX_AMOUNT_MINOR + 1)))
        .then_error("money.above_ceiling");
    assert_eq!(err.field(), Some("unit_price.amount_minor"));
    // The price that broke three projections (2^62) is refused outright.
    given(created())
        .when(add_cmd("BIG", 1, eur(1 << 62)))
        .then_error("money.above_ceiling");
    // Initial items go through the same rule.
    given([])
        .when(create_cmd(vec![new_item("BIG", 1, eur(1 << 62))], None))
        .then_error("money.above_ceiling");
}

#[test]
fn an_order_total_is_bounded_by_the_ceiling() {
    let half = MAX_AMOUNT_MINOR / 2;
    let state = given(created()).when(add_cmd("A", 2, eur(half))).then_ok();
    assert_eq!(state.total_minor(), MAX_AMOUNT_MINOR);
    let mut history = created();
    history.push(item_added_at("A", 2, eur(half), t(1)));
    // Each amount is fine alone; the order as a whole is full (409).
    let err = given(history.clone())
        .when(add_cmd("B", 1, eur(1)))
        .then_error("order.total_above_ceiling");
    assert_eq!(
        err,
        OrderError::TotalAboveCeiling {
            max: MAX_AMOUNT_MINOR
        }
    );
    given(history.clone())
        .when(add_cmd("A", 1, eur(half)))
        .then_error("order.total_above_ceiling");
    given(history.clone())
        .when(change_cmd("A", 3))
        .then_error("order.total_above_ceiling");
    given(history).when(change_cmd("A", 1)).then_ok();
    // A single line can pass it too: the ceiling price, twice.
    given(created())
        .when(add_cmd("MAX", 2, eur(MAX_AMOUNT_MINOR)))
        .then_error("order.total_above_ceiling");
}

#[test]
fn payments_and_refunds_are_bounded_by_the_ceiling() {
    let err = given(confirmed())
        .when(pay_cmd(eur(MAX_AMOUNT_MINOR + 1)))
        .then_error("money.above_ceiling");
    assert_eq!(err.field(), Some("amount.amount_minor"));
    let err = given(paid())
        .when(refund_cmd("r1", eur(i64::MAX)))
        .then_error("money.above_ceiling");
    assert_eq!(err.field(), Some("amount.amount_minor"));
    // Within the ceiling, the usual rules answer.
    given(paid())
        .when(refund_cmd("r1", eur(MAX_AMOUNT_MINOR)))
        .then_error("refund.exceeds_paid");
}

proptest! {
    /// Whatever the price and quantity, an accepted item keeps every
    /// amount of the order within the ceiling, and an item within every
    /// limit is accepted.
    #[test]
    fn accepted_items_stay_within_the_ceiling(
        existing in 0..=MAX_AMOUNT_MINOR,
        price in prop_oneof![0..=MAX_AMOUNT_MINOR, any::<i64>()],
        quantity in 1..=MAX_QUANTITY,
    ) {
        let mut history = created();
        history.push(item_added_at("OLD", 1, eur(existing), t(1)));
        let state = fold(&history);
        let total = i128::from(existing) + i128::from(price) * i128::from(quantity);
        let within = (0..=MAX_AMOUNT_MINOR).contains(&price)
            && total <= i128::from(MAX_AMOUNT_MINOR);
        match decide(&state, &add_cmd("NEW", quantity, eur(price)), now()) {
            Ok(_) => prop_assert!(within, "accepted {price} × {quantity} on {existing}"),
            Err(e) => {
                prop_assert!(!within, "refused {price} × {quantity} on {existing}: {e}");
                let expected = if price < 0 {
                    "money.negative"
                } else if price > MAX_AMOUNT_MINOR {
                    "money.above_ceiling"
                } else {
                    "order.total_above_ceiling"
                };
                prop_assert_eq!(e.code(), expected);
            }
        }
    }
}

// ---- control characters -------------------------------------------------------------

/// NUL first: Postgres cannot store it in jsonb. The others would corrupt
/// logs and terminals (ESC), or are invisible (DEL, C1 controls).
const CONTROL: [&str; 5] = ["x\u{0}y", "x\u{1b}[2Jy", "x\u{7f}", "x\u{85}y", "x\u{8}"];

fn field_of(err: &OrderError) -> Option<&'static str> {
    assert!(
        err.to_string().contains("control characters"),
        "{err} names the control characters"
    );
    err.field()
}

#[test]
fn free_text_fields_refuse_control_characters() {
    for bad in CONTROL {
        let err = given(created())
            .when(add_cmd("S", 1, eur(1)).with_name(bad))
            .then_error("item.invalid_name");
        assert_eq!(field_of(&err), Some("name"));

        for field in ["name", "line1", "line2", "city", "postal_code"] {
            let mut address = address();
            match field {
                "name" => address.name = bad.into(),
                "line1" => address.line1 = bad.into(),
                "line2" => address.line2 = Some(bad.into()),
                "city" => address.city = bad.into(),
                _ => address.postal_code = bad.into(),
            }
            let err = given(draft())
                .when(OrderCommand::SetShippingAddress { address })
                .then_error("address.invalid");
            assert_eq!(field_of(&err), Some(field));
        }

        let err = given(submitted())
            .when(reject_cmd(bad))
            .then_error("reason.invalid");
        assert_eq!(field_of(&err), Some("reason"));
        given(draft())
            .when(cancel_cmd(bad))
            .then_error("reason.invalid");
        given(paid())
            .when(OrderCommand::IssueRefund {
                refund_id: refund_id("r1"),
                amount: eur(1),
                reason: bad.into(),
            })
            .then_error("reason.invalid");

        for (command, field) in [
            (ship_cmd(bad, "1Z"), "carrier"),
            (ship_cmd("UPS", bad), "tracking_number"),
        ] {
            let err = given(paid()).when(command).then_error("shipment.invalid");
            assert_eq!(field_of(&err), Some(field));
        }

        // Ids are checked when they are built, so no command can hold one.
        let codes = [
            CustomerId::new(bad).err().map(|e| e.code()),
            PaymentId::new(bad).err().map(|e| e.code()),
            RefundId::new(bad).err().map(|e| e.code()),
            orderflow_domain::Sku::new(bad).err().map(|e| e.code()),
        ];
        assert_eq!(
            codes,
            [
                Some("customer.invalid"),
                Some("payment.invalid_id"),
                Some("refund.invalid_id"),
                Some("sku.invalid"),
            ],
            "{bad:?}"
        );
    }
}

#[test]
fn reasons_may_span_lines_but_names_may_not() {
    given(submitted())
        .when(reject_cmd("line one\r\nline two\tindented"))
        .then_ok();
    given(draft())
        .when(add_cmd("S", 1, eur(1)).with_name("two\nlines"))
        .then_error("item.invalid_name");
    let mut a: ShippingAddress = address();
    a.line1 = "tab\there".into();
    given(draft())
        .when(OrderCommand::SetShippingAddress { address: a })
        .then_error("address.invalid");
}

// ---- events per order -----------------------------------------------------------------

/// A draft whose stream holds exactly `len` events (creation, one item,
/// an address, then quantity changes).
fn draft_of_length(len: u64) -> Vec<OrderEvent> {
    let mut history = draft();
    while (history.len() as u64) < len {
        let quantity = 1 + (history.len() as u32 % 2);
        history.push(
            ItemQuantityChanged {
                sku: sku(SKU),
                quantity,
                at: t(2),
            }
            .into(),
        );
    }
    history
}

#[test]
fn draft_edits_stop_short_of_the_event_cap() {
    let draft_max = MAX_EVENTS_PER_ORDER - EVENTS_RESERVED_AFTER_DRAFT;
    given(draft_of_length(draft_max - 1))
        .when(change_cmd(SKU, 5))
        .then_ok();
    let full = draft_of_length(draft_max);
    for command in [
        change_cmd(SKU, 5),
        add_cmd("NEW", 1, eur(1)),
        remove_cmd(SKU),
        OrderCommand::SetShippingAddress { address: address() },
    ] {
        let err = given(full.clone())
            .when(command)
            .then_error("order.too_many_events");
        assert_eq!(err, OrderError::TooManyEvents { max: draft_max });
        assert_eq!(err.field(), None);
    }
    // The rest of the lifecycle still fits.
    given(full.clone())
        .when(OrderCommand::SubmitOrder)
        .then_ok();
    given(full).when(cancel_cmd("too long")).then_ok();
}

#[test]
fn no_command_goes_beyond_the_event_cap() {
    let mut history = draft_of_length(MAX_EVENTS_PER_ORDER - EVENTS_RESERVED_AFTER_DRAFT);
    let total = fold(&history).total_minor();
    for command in [
        OrderCommand::SubmitOrder,
        OrderCommand::ConfirmOrder,
        pay_cmd(eur(total)),
    ] {
        let state = fold(&history);
        history.extend(decide(&state, &command, now()).unwrap());
    }
    let mut refunds = 0;
    loop {
        let state = fold(&history);
        let id = format!("r{refunds}");
        match decide(&state, &refund_cmd(&id, eur(1)), now()) {
            Ok(events) => {
                history.extend(events);
                refunds += 1;
            }
            Err(e) => {
                assert_eq!(e.code(), "order.too_many_events");
                break;
            }
        }
    }
    assert_eq!(history.len() as u64, MAX_EVENTS_PER_ORDER);
    assert!(refunds > 0);
    given(history.clone())
        .when(ship_cmd("UPS", "1Z"))
        .then_error("order.too_many_events");
    // Refused for its own sake first: the cap is the last rule checked.
    given(history)
        .when(OrderCommand::ConfirmOrder)
        .then_error("order.invalid_transition");
}

trait WithName {
    fn with_name(self, name: &str) -> Self;
}

impl WithName for OrderCommand {
    fn with_name(self, new_name: &str) -> Self {
        match self {
            OrderCommand::AddItem {
                sku,
                quantity,
                unit_price,
                ..
            } => OrderCommand::AddItem {
                sku,
                name: new_name.into(),
                quantity,
                unit_price,
            },
            other => other,
        }
    }
}
