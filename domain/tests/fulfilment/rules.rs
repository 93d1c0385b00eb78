//! Given inputs so far, when one more, then these events and commands.

use orderflow_domain::fulfilment::{
    Command, DeadlineKind, FulfilmentEvent, FulfilmentState, Input, OrderStep, Outcome, Phase,
    Refund, ReleaseStock, ReserveStock, Step, Stock, decide, deterministic_id, fold, outstanding,
    stream_id,
};
use orderflow_domain::{OrderId, RefundId};
use uuid::Uuid;

use crate::support::*;

fn done(step: OrderStep) -> Input {
    Input::OrderCommand {
        step,
        outcome: Outcome::Applied,
        at: t(1),
    }
}

#[test]
fn a_submission_starts_the_instance_and_reserves_every_line() {
    let d = decide(
        &FulfilmentState::default(),
        &submitted(vec![line("A", 2), line("B", 1)]),
    );
    assert_eq!(d.events.len(), 1);
    assert!(matches!(d.events[0], FulfilmentEvent::Started { .. }));
    assert_eq!(names(&d.commands), ["reserve A x2", "reserve B x1"]);
}

#[test]
fn a_second_submission_changes_nothing() {
    let s = given(&[submitted(vec![line("A", 1)])]);
    let d = decide(&s, &submitted(vec![line("A", 5)]));
    assert!(d.events.is_empty() && d.commands.is_empty());
}

#[test]
fn events_of_an_order_without_an_instance_are_ignored() {
    for input in [
        confirmed(),
        paid(),
        reserved("A"),
        Input::OrderShipped { at: t(1) },
    ] {
        let d = decide(&FulfilmentState::default(), &input);
        assert!(d.events.is_empty(), "{input:?}");
    }
}

#[test]
fn all_reserved_confirms_the_order() {
    let s = given(&[submitted(vec![line("A", 2), line("B", 1)]), reserved("A")]);
    assert!(decide(&s, &reserved("A")).events.is_empty(), "duplicate");
    let d = decide(&s, &reserved("B"));
    assert!(matches!(
        d.events[..],
        [
            FulfilmentEvent::StockReserved { .. },
            FulfilmentEvent::ReservationsComplete { .. }
        ]
    ));
    assert_eq!(names(&d.commands), ["confirm"]);
}

#[test]
fn a_refusal_releases_the_reserved_and_rejects_naming_every_short_sku() {
    let s = given(&[
        submitted(vec![line("A", 1), line("B", 1), line("C", 1)]),
        refused("A"),
    ]);
    assert_eq!(s.phase, Phase::Reserving, "waits for every answer");
    let s = given(&[
        submitted(vec![line("A", 1), line("B", 1), line("C", 1)]),
        refused("A"),
        reserved("B"),
    ]);
    let d = decide(&s, &refused("C"));
    assert!(matches!(
        &d.events[1],
        FulfilmentEvent::Rejecting { reason, .. } if reason == "out_of_stock: A, C"
    ));
    assert_eq!(
        names(&d.commands),
        ["release B", "reject out_of_stock: A, C"]
    );
    assert!(!names(&d.commands).contains(&"confirm".to_string()));
}

#[test]
fn a_long_list_of_short_skus_is_cut_to_a_valid_reason() {
    let lines: Vec<_> = (0..60).map(|i| line(&format!("SKU-{i:060}"), 1)).collect();
    let mut s = given(&[submitted(lines.clone())]);
    for l in &lines {
        s = apply(s, &refused(l.sku.as_str())).0;
    }
    let reason = s.reject_reason.unwrap();
    assert!(
        reason.len() <= orderflow_domain::limits::MAX_REASON_LEN,
        "{}",
        reason.len()
    );
    assert!(reason.starts_with("out_of_stock: SKU-") && reason.contains("more"));
}

#[test]
fn the_rejection_outcome_is_recorded_once_and_the_order_event_releases() {
    let s = given(&[
        submitted(vec![line("A", 1), line("B", 1)]),
        reserved("A"),
        refused("B"),
    ]);
    let s = apply(s, &done(OrderStep::Reject)).0;
    assert!(decide(&s, &done(OrderStep::Reject)).events.is_empty());
    assert_eq!(names(&outstanding(&s)), ["release A"]);
    let s = apply(
        s,
        &Input::OrderRejected {
            reason: "out_of_stock: B".into(),
            at: t(2),
        },
    )
    .0;
    assert_eq!(s.phase, Phase::Rejected);
    let s = apply(
        s,
        &Input::StockReleased {
            sku: sku("A"),
            at: t(3),
        },
    )
    .0;
    assert!(outstanding(&s).is_empty());
}

#[test]
fn confirmation_sets_the_payment_deadline_from_the_input() {
    let s = given(&[
        submitted(vec![line("A", 1)]),
        reserved("A"),
        done(OrderStep::Confirm),
    ]);
    let d = decide(&s, &confirmed());
    assert_eq!(d.deadlines.len(), 1);
    assert_eq!(d.deadlines[0].1, DeadlineKind::Payment);
    assert_eq!(d.deadlines[0].2, t(32));
    assert!(d.commands.is_empty());
    let s = apply(s, &confirmed()).0;
    assert_eq!(s.phase, Phase::AwaitingPayment);
    assert!(decide(&s, &confirmed()).events.is_empty(), "duplicate");
}

fn awaiting_payment() -> FulfilmentState {
    given(&[
        submitted(vec![line("A", 1)]),
        reserved("A"),
        done(OrderStep::Confirm),
        confirmed(),
    ])
}

fn fire(s: &FulfilmentState) -> Input {
    Input::DeadlineFired {
        deadline_id: s.deadline.unwrap().id,
        at: t(32),
    }
}

#[test]
fn an_unpaid_order_is_cancelled_when_the_deadline_fires() {
    let s = awaiting_payment();
    let d = decide(&s, &fire(&s));
    assert!(matches!(
        d.events[..],
        [FulfilmentEvent::PaymentTimedOut { .. }]
    ));
    assert_eq!(names(&d.commands), ["cancel payment_timeout"]);
    // Stock goes back once the order is cancelled, not on the intent: the
    // payment may have won the race and the cancel be refused.
    let s = apply(s, &fire(&awaiting_payment())).0;
    assert_eq!(s.phase, Phase::TimedOut);
    let s = apply(
        s,
        &Input::OrderCancelled {
            reason: "payment_timeout".into(),
            refund_owed: None,
            at: t(33),
        },
    )
    .0;
    assert_eq!(s.phase, Phase::Cancelled);
    assert_eq!(names(&outstanding(&s)), ["release A"]);
}

#[test]
fn a_payment_clears_the_deadline_and_a_late_firing_is_ignored() {
    let s = awaiting_payment();
    let id = s.deadline.unwrap().id;
    let s = apply(s, &paid()).0;
    assert_eq!(s.phase, Phase::Paid);
    assert!(s.deadline.is_none());
    let d = decide(
        &s,
        &Input::DeadlineFired {
            deadline_id: id,
            at: t(40),
        },
    );
    assert!(d.events.is_empty() && d.commands.is_empty());
}

#[test]
fn an_unknown_deadline_is_ignored() {
    let s = awaiting_payment();
    let d = decide(
        &s,
        &Input::DeadlineFired {
            deadline_id: Uuid::nil(),
            at: t(40),
        },
    );
    assert!(d.events.is_empty());
}

#[test]
fn a_payment_after_the_timeout_stops_the_cancel() {
    let s = apply(awaiting_payment(), &fire(&awaiting_payment())).0;
    let s = apply(s, &paid()).0;
    assert_eq!(s.phase, Phase::Paid);
    assert!(outstanding(&s).is_empty());
}

#[test]
fn a_cancelled_paid_order_is_refunded_once_then_recorded() {
    let s = apply(awaiting_payment(), &paid()).0;
    let cancel = Input::OrderCancelled {
        reason: "customer".into(),
        refund_owed: Some(eur(1000)),
        at: t(10),
    };
    let d = decide(&s, &cancel);
    assert_eq!(names(&d.commands), ["release A", "request refund 1000"]);
    let s = apply(s, &cancel).0;
    assert!(decide(&s, &cancel).events.is_empty(), "duplicate");
    let Refund::Requested { refund_id, .. } = s.refund.clone() else {
        panic!("{:?}", s.refund)
    };
    let expected = deterministic_id(&format!("{}/refund", stream_id(order())));
    assert_eq!(refund_id.as_str(), expected.hyphenated().to_string());

    // The provider is unavailable: retry later, once per deferral.
    let defer = Input::RefundDeferred {
        retry_at: t(11),
        at: t(10),
    };
    let d = decide(&s, &defer);
    assert_eq!(d.deadlines.len(), 1);
    assert!(d.commands.is_empty(), "the refund stays outstanding");
    let s = apply(s, &defer).0;
    assert!(decide(&s, &defer).events.is_empty());

    let confirm = Input::RefundConfirmed {
        refund_id: refund_id.clone(),
        at: t(12),
    };
    let wrong = Input::RefundConfirmed {
        refund_id: RefundId::new("other").unwrap(),
        at: t(12),
    };
    assert!(decide(&s, &wrong).events.is_empty());
    let d = decide(&s, &confirm);
    assert_eq!(names(&d.commands), ["record refund 1000"]);
    let s = apply(s, &confirm).0;
    assert!(s.deadline.is_none());
    let s = apply(s, &done(OrderStep::RecordRefund)).0;
    assert_eq!(s.refund, Refund::Recorded { refund_id });
    assert_eq!(names(&outstanding(&s)), ["release A"]);
}

#[test]
fn a_cancel_of_an_unpaid_order_owes_nothing() {
    let s = awaiting_payment();
    let d = decide(
        &s,
        &Input::OrderCancelled {
            reason: "customer".into(),
            refund_owed: None,
            at: t(10),
        },
    );
    assert_eq!(names(&d.commands), ["release A"]);
}

#[test]
fn a_cancel_while_reserving_releases_even_unanswered_lines() {
    let s = given(&[submitted(vec![line("A", 1), line("B", 1)]), reserved("A")]);
    let d = decide(
        &s,
        &Input::OrderCancelled {
            reason: "customer".into(),
            refund_owed: None,
            at: t(2),
        },
    );
    assert_eq!(names(&d.commands), ["release A", "release B"]);
    let s = apply(
        s,
        &Input::OrderCancelled {
            reason: "customer".into(),
            refund_owed: None,
            at: t(2),
        },
    )
    .0;
    assert!(
        !names(&outstanding(&s))
            .iter()
            .any(|n| n.starts_with("reserve"))
    );
    // A late reservation answer is recorded and released too.
    let s = apply(s, &reserved("B")).0;
    assert_eq!(s.line(&sku("B")).unwrap().stock, Stock::Reserved);
    assert_eq!(names(&outstanding(&s)), ["release A", "release B"]);
}

#[test]
fn shipping_commits_the_reservations() {
    let s = apply(awaiting_payment(), &paid()).0;
    let d = decide(&s, &Input::OrderShipped { at: t(20) });
    assert_eq!(names(&d.commands), ["commit A"]);
    let s = apply(s, &Input::OrderShipped { at: t(20) }).0;
    let s = apply(
        s,
        &Input::StockCommitted {
            sku: sku("A"),
            at: t(21),
        },
    )
    .0;
    assert!(outstanding(&s).is_empty());
    assert_eq!(s.phase, Phase::Shipped);
}

#[test]
fn a_refused_confirm_waits_for_the_orders_own_event() {
    let s = given(&[submitted(vec![line("A", 1)]), reserved("A")]);
    let refused = Input::OrderCommand {
        step: OrderStep::Confirm,
        outcome: Outcome::Refused {
            reason: "invalid_transition".into(),
        },
        at: t(2),
    };
    let s = apply(s, &refused).0;
    assert!(outstanding(&s).is_empty(), "nothing more to issue");
}

#[test]
fn step_ids_are_deterministic_and_distinct() {
    let a = Command::from(ReserveStock {
        sku: sku("A"),
        quantity: 1,
    });
    let b = Command::from(ReserveStock {
        sku: sku("B"),
        quantity: 1,
    });
    let release = Command::from(ReleaseStock { sku: sku("A") });
    assert_eq!(a.id(order()), a.clone().id(order()));
    assert_ne!(a.id(order()), b.id(order()));
    assert_ne!(a.id(order()), release.id(order()));
    let other = OrderId::new(Uuid::from_u128(7));
    assert_ne!(a.id(order()), a.id(other));
    assert_eq!(
        a.key(order()),
        format!("fulfilment-{}/reserve/A", order().as_uuid())
    );
    assert_eq!(a.id(order()).get_version_num(), 8);
}

#[test]
fn every_step_declares_its_compensation() {
    let reserve = ReserveStock {
        sku: sku("A"),
        quantity: 1,
    };
    assert_eq!(
        Command::from(reserve.clone()).compensation(),
        Some(Command::from(reserve.compensation()))
    );
    assert_eq!(
        Command::from(orderflow_domain::fulfilment::ConfirmOrder)
            .compensation()
            .map(|c| c.name()),
        Some("cancel")
    );
    assert_eq!(
        Command::from(ReleaseStock { sku: sku("A") }).compensation(),
        None
    );
}

#[test]
fn events_round_trip_through_their_stored_form() {
    let s = apply(awaiting_payment(), &paid()).0;
    let cancel = Input::OrderCancelled {
        reason: "customer".into(),
        refund_owed: Some(eur(1000)),
        at: t(10),
    };
    let mut events = Vec::new();
    let mut state = FulfilmentState::default();
    for input in [
        submitted(vec![line("A", 1)]),
        reserved("A"),
        done(OrderStep::Confirm),
        confirmed(),
        paid(),
        cancel,
    ] {
        let (next, d) = apply(state, &input);
        state = next;
        events.extend(d.events);
    }
    assert_eq!(fold(&events), state);
    assert_eq!(state.phase, Phase::Cancelled);
    assert_eq!(s.phase, Phase::Paid);
    for e in &events {
        let back = FulfilmentEvent::from_stored(e.event_type(), e.payload()).unwrap();
        assert_eq!(&back, e);
        assert!(orderflow_domain::fulfilment::FULFILMENT_EVENT_TYPES.contains(&e.event_type()));
    }
    assert!(FulfilmentEvent::from_stored("FulfilmentNope", serde_json::json!({})).is_err());
}
