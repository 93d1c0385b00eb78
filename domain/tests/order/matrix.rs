//! Every status × every command kind, against an explicit table. A changed
//! rule must change this table.

use orderflow_domain::{COMMAND_NAMES, OrderCommand, OrderEvent, OrderStatus, decide, evolve};

use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Accepted; the order is then in this status.
    To(OrderStatus),
    /// Refused with this code.
    Refused(&'static str),
}

use OrderStatus::{Cancelled, Confirmed, Delivered, Draft, Paid, Rejected, Shipped, Submitted};
use Outcome::To;

const NF: Outcome = Outcome::Refused("order.not_found");
const AE: Outcome = Outcome::Refused("order.already_exists");
const ND: Outcome = Outcome::Refused("order.not_draft");
const IT: Outcome = Outcome::Refused("order.invalid_transition");
const NA: Outcome = Outcome::Refused("refund.not_allowed");

/// Column order of [`MATRIX`].
const COLUMNS: [&str; 13] = [
    "CreateOrder",
    "AddItem",
    "ChangeItemQuantity",
    "RemoveItem",
    "SetShippingAddress",
    "SubmitOrder",
    "ConfirmOrder",
    "RejectOrder",
    "RecordPayment",
    "ShipOrder",
    "MarkDelivered",
    "CancelOrder",
    "IssueRefund",
];

type History = fn() -> Vec<OrderEvent>;

#[rustfmt::skip]
const MATRIX: [(&str, History, [Outcome; 13]); 10] = [
    //                                    Create     Add        Change     Remove     Address    Submit         Confirm        Reject        Pay       Ship         Deliver        Cancel         Refund
    ("none",               Vec::new,         [To(Draft), NF,        NF,        NF,        NF,        NF,            NF,            NF,           NF,       NF,          NF,            NF,            NF]),
    ("draft",              draft,            [AE,        To(Draft), To(Draft), To(Draft), To(Draft), To(Submitted), IT,            IT,           IT,       IT,          IT,            To(Cancelled), NA]),
    ("submitted",          submitted,        [AE,        ND,        ND,        ND,        ND,        ND,            To(Confirmed), To(Rejected), IT,       IT,          IT,            To(Cancelled), NA]),
    ("confirmed",          confirmed,        [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           To(Paid), IT,          IT,            To(Cancelled), NA]),
    ("paid",               paid,             [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           IT,       To(Shipped), IT,            To(Cancelled), To(Paid)]),
    ("shipped",            shipped,          [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           IT,       IT,          To(Delivered), IT,            To(Shipped)]),
    ("delivered",          delivered,        [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           IT,       IT,          IT,            IT,            To(Delivered)]),
    ("cancelled (unpaid)", cancelled_unpaid, [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           IT,       IT,          IT,            IT,            NA]),
    ("cancelled (paid)",   cancelled_paid,   [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           IT,       IT,          IT,            IT,            To(Cancelled)]),
    ("rejected",           rejected,         [AE,        ND,        ND,        ND,        ND,        ND,            IT,            IT,           IT,       IT,          IT,            IT,            NA]),
];

/// One valid instance of each command kind, in [`COLUMNS`] order, chosen so
/// that only the order's status decides the outcome.
fn commands() -> [OrderCommand; 13] {
    [
        create_cmd(vec![new_item("A", 1, eur(100))], Some(address())),
        add_cmd("SKU-2", 1, eur(500)),
        change_cmd(SKU, 3),
        remove_cmd(SKU),
        OrderCommand::SetShippingAddress {
            address: other_address(),
        },
        OrderCommand::SubmitOrder,
        OrderCommand::ConfirmOrder,
        reject_cmd("no stock"),
        pay_cmd(eur(TOTAL)),
        ship_cmd("DHL", "JJD1"),
        OrderCommand::MarkDelivered,
        cancel_cmd("customer request"),
        refund_cmd("r-1", eur(TOTAL)),
    ]
}

#[test]
fn table_covers_every_command_and_status() {
    assert_eq!(COLUMNS.as_slice(), COMMAND_NAMES);
    let names: Vec<_> = commands().iter().map(OrderCommand::name).collect();
    assert_eq!(names, COLUMNS);
    let mut statuses: Vec<_> = MATRIX
        .iter()
        .filter_map(|(_, h, _)| status_of(&h()))
        .collect();
    statuses.sort();
    statuses.dedup();
    assert_eq!(statuses, OrderStatus::ALL);
}

#[test]
fn transition_matrix() {
    let mut mismatches = Vec::new();
    for (label, history, row) in MATRIX {
        let state = given_state(history());
        for ((command, column), expected) in commands().iter().zip(COLUMNS).zip(row) {
            let actual = match decide(&state, command, now()) {
                Ok(events) => {
                    let after = events.iter().fold(state.clone(), evolve);
                    To(after.status.unwrap())
                }
                Err(e) => Outcome::Refused(e.code()),
            };
            if actual != expected {
                mismatches.push(format!(
                    "{label} × {column}: expected {expected:?}, got {actual:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

fn given_state(history: Vec<OrderEvent>) -> orderflow_domain::OrderState {
    orderflow_domain::fold(&history)
}
