//! Property tests: random, mostly valid command sequences keep the order's
//! invariants, and every event survives its stored form.

use chrono::{DateTime, Utc};
use orderflow_domain::limits::{MAX_AMOUNT_MINOR, MAX_LINE_ITEMS, MAX_QUANTITY, MIN_QUANTITY};
use orderflow_domain::{
    Channel, Currency, CustomerId, ItemAdded, ItemQuantityChanged, ItemRemoved, Money,
    OrderCancelled, OrderCommand, OrderConfirmed, OrderCreated, OrderDelivered, OrderEvent,
    OrderId, OrderRejected, OrderShipped, OrderState, OrderStatus, OrderSubmitted, PaymentId,
    PaymentRecorded, RefundId, RefundIssued, ShippingAddress, ShippingAddressSet, Sku, decide,
    evolve, fold,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::support::*;

// ---- command sequences ------------------------------------------------------------

const SKUS: [&str; 5] = ["A", "B", "C", "D", "E"];
const REFUND_IDS: [&str; 3] = ["r1", "r2", "r3"];

/// Prices are mostly the sku's usual one, so repeated adds usually agree.
#[derive(Debug, Clone, Copy)]
enum Price {
    Usual,
    Other,
    Foreign,
    Negative,
    Huge,
    /// At the ceiling: fine alone, too much with anything else.
    Ceiling,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemSeed {
    sku: usize,
    quantity: u32,
    price: Price,
}

/// A command before it meets the state: amounts that depend on the order
/// (payment, refund) are filled in from the state when the step runs.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Create {
        items: Vec<ItemSeed>,
        address: bool,
    },
    Add(ItemSeed),
    Change {
        sku: usize,
        quantity: u32,
    },
    Remove {
        sku: usize,
    },
    SetAddress {
        valid: bool,
    },
    Submit,
    Confirm,
    Reject {
        valid: bool,
    },
    Pay {
        exact: bool,
    },
    Ship {
        valid: bool,
    },
    Deliver,
    Cancel {
        valid: bool,
    },
    Refund {
        id: usize,
        percent: i64,
    },
    /// Free text a client might send: any Unicode, control characters
    /// included; `decide` must refuse what the store cannot keep.
    Hostile(HostileText),
}

#[derive(Debug, Clone)]
pub(crate) enum HostileText {
    Name(String),
    Address(String),
    Reject(String),
    Cancel(String),
    Ship(String),
    RefundReason(String),
}

/// Mostly printable text with, often, a control character (NUL first of
/// all) somewhere in it.
fn hostile_text() -> impl Strategy<Value = String> {
    let control = proptest::sample::select(vec![
        '\0', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\n', '\t',
    ]);
    prop_oneof![
        3 => ("\\PC{0,8}", control, "\\PC{0,8}").prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        1 => any::<String>(),
    ]
}

fn hostile_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        hostile_text().prop_map(HostileText::Name),
        hostile_text().prop_map(HostileText::Address),
        hostile_text().prop_map(HostileText::Reject),
        hostile_text().prop_map(HostileText::Cancel),
        hostile_text().prop_map(HostileText::Ship),
        hostile_text().prop_map(HostileText::RefundReason),
    ]
    .prop_map(Op::Hostile)
}

fn quantity() -> impl Strategy<Value = u32> {
    prop_oneof![
        12 => 1u32..=5,
        1 => Just(0),
        1 => Just(MAX_QUANTITY),
        1 => Just(MAX_QUANTITY + 1),
        1 => 6u32..=2 * MAX_QUANTITY,
    ]
}

fn price() -> impl Strategy<Value = Price> {
    prop_oneof![
        20 => Just(Price::Usual),
        1 => Just(Price::Other),
        1 => Just(Price::Foreign),
        1 => Just(Price::Negative),
        1 => Just(Price::Huge),
        1 => Just(Price::Ceiling),
    ]
}

fn item_seed() -> impl Strategy<Value = ItemSeed> {
    (0..SKUS.len(), quantity(), price()).prop_map(|(sku, quantity, price)| ItemSeed {
        sku,
        quantity,
        price,
    })
}

/// Mostly valid flags: `true` nine times in ten.
fn mostly() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.9)
}

fn create_op() -> impl Strategy<Value = Op> {
    (vec(item_seed(), 0..4), prop::bool::weighted(0.85))
        .prop_map(|(items, address)| Op::Create { items, address })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => create_op(),
        6 => item_seed().prop_map(Op::Add),
        2 => (0..SKUS.len(), quantity()).prop_map(|(sku, quantity)| Op::Change { sku, quantity }),
        1 => (0..SKUS.len()).prop_map(|sku| Op::Remove { sku }),
        2 => mostly().prop_map(|valid| Op::SetAddress { valid }),
        4 => Just(Op::Submit),
        4 => Just(Op::Confirm),
        1 => mostly().prop_map(|valid| Op::Reject { valid }),
        4 => mostly().prop_map(|exact| Op::Pay { exact }),
        4 => mostly().prop_map(|valid| Op::Ship { valid }),
        4 => Just(Op::Deliver),
        1 => mostly().prop_map(|valid| Op::Cancel { valid }),
        4 => (
            0..REFUND_IDS.len(),
            prop_oneof![8 => 1i64..=100, 1 => Just(0), 1 => 101i64..=150],
        )
            .prop_map(|(id, percent)| Op::Refund { id, percent }),
        2 => hostile_op(),
    ]
}

/// A sequence that usually starts by creating an order with content.
pub(crate) fn ops() -> impl Strategy<Value = Vec<Op>> {
    (create_op(), vec(op(), 0..40)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

fn unit_price(seed: &ItemSeed) -> Money {
    let usual = (seed.sku as i64 + 1) * 125;
    match seed.price {
        Price::Usual => eur(usual),
        Price::Other => eur(usual + 1),
        Price::Foreign => usd(usual),
        Price::Negative => eur(-usual),
        Price::Huge => eur(i64::MAX / 4),
        Price::Ceiling => eur(MAX_AMOUNT_MINOR),
    }
}

fn item_command(seed: &ItemSeed) -> OrderCommand {
    add_cmd(SKUS[seed.sku], seed.quantity, unit_price(seed))
}

fn to_command(op: &Op, state: &OrderState) -> OrderCommand {
    let currency = state.currency.unwrap_or(Currency::EUR);
    match op {
        Op::Create { items, address: a } => create_cmd(
            items
                .iter()
                .map(|s| new_item(SKUS[s.sku], s.quantity, unit_price(s)))
                .collect(),
            a.then(address),
        ),
        Op::Add(seed) => item_command(seed),
        Op::Change { sku, quantity } => change_cmd(SKUS[*sku], *quantity),
        Op::Remove { sku } => remove_cmd(SKUS[*sku]),
        Op::SetAddress { valid } => {
            let mut a = other_address();
            if !valid {
                a.country = "xx".into();
            }
            OrderCommand::SetShippingAddress { address: a }
        }
        Op::Submit => OrderCommand::SubmitOrder,
        Op::Confirm => OrderCommand::ConfirmOrder,
        Op::Reject { valid } => reject_cmd(if *valid { "no stock" } else { "" }),
        Op::Pay { exact } => {
            let total = state.total_minor();
            pay_cmd(Money::new(if *exact { total } else { total + 1 }, currency))
        }
        Op::Ship { valid } => ship_cmd("DHL", if *valid { "JJD1" } else { "" }),
        Op::Deliver => OrderCommand::MarkDelivered,
        Op::Cancel { valid } => cancel_cmd(if *valid { "customer request" } else { " " }),
        Op::Refund { id, percent } => {
            let refundable = state.refundable_minor();
            let amount = if refundable > 0 {
                // i128: refundable × 150 could exceed i64 for huge orders;
                // past i64::MAX it is still an over-refund, so saturate.
                i64::try_from(i128::from(refundable) * i128::from(*percent) / 100)
                    .unwrap_or(i64::MAX)
            } else {
                *percent
            };
            refund_cmd(REFUND_IDS[*id], Money::new(amount, currency))
        }
        Op::Hostile(text) => match text {
            HostileText::Name(name) => OrderCommand::AddItem {
                sku: sku("H"),
                name: name.clone(),
                quantity: 1,
                unit_price: Money::new(1, currency),
            },
            HostileText::Address(line) => {
                let mut a = other_address();
                a.line1 = line.clone();
                OrderCommand::SetShippingAddress { address: a }
            }
            HostileText::Reject(reason) => reject_cmd(reason),
            HostileText::Cancel(reason) => cancel_cmd(reason),
            HostileText::Ship(tracking) => ship_cmd("DHL", tracking),
            HostileText::RefundReason(reason) => OrderCommand::IssueRefund {
                refund_id: refund_id("rh"),
                amount: Money::new(1, currency),
                reason: reason.clone(),
            },
        },
    }
}

/// Runs `ops` one step at a time, checking every invariant after each step
/// and that every event survives its serde_json text.
/// Returns the final state for coverage checks.
fn run(ops: &[Op]) -> Result<OrderState, TestCaseError> {
    run_with(ops, &mut check_round_trip)
}

/// [`run`], with `stored` checking that each accepted event survives its
/// stored form.
pub(crate) fn run_with(
    ops: &[Op],
    stored: &mut dyn FnMut(&OrderEvent) -> Result<(), TestCaseError>,
) -> Result<OrderState, TestCaseError> {
    let mut state = OrderState::default();
    let mut history: Vec<OrderEvent> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let command = to_command(op, &state);
        let at = t(step as i64);
        let before = state.clone();
        if let Ok(events) = decide(&state, &command, at) {
            prop_assert!(!events.is_empty(), "{command:?} accepted without events");
            if before.status.is_some_and(|s| s.is_terminal()) {
                prop_assert!(
                    matches!(command, OrderCommand::IssueRefund { .. }),
                    "{command:?} accepted in terminal {:?}",
                    before.status
                );
            }
            for event in &events {
                prop_assert_eq!(event.at(), at);
                stored(event)?;
                state = evolve(state, event);
            }
            history.extend(events);
        }
        if before.status.is_some_and(|s| s.is_terminal()) {
            prop_assert_eq!(state.status, before.status, "terminal status changed");
        }
        check_invariants(&state)?;
        prop_assert_eq!(state.version, history.len() as u64);
    }
    prop_assert_eq!(&fold(&history), &state, "fold from scratch differs");
    Ok(state)
}

fn check_invariants(state: &OrderState) -> Result<(), TestCaseError> {
    // The total is the sum of line totals, computed here independently.
    let wide: i128 = state
        .items
        .iter()
        .map(|l| i128::from(l.unit_price.amount_minor) * i128::from(l.quantity))
        .sum();
    prop_assert_eq!(i128::from(state.total_minor()), wide);
    prop_assert!(state.total_minor() <= MAX_AMOUNT_MINOR);
    prop_assert!(state.paid_minor <= MAX_AMOUNT_MINOR);
    prop_assert!(state.items.len() <= MAX_LINE_ITEMS);
    for (i, line) in state.items.iter().enumerate() {
        prop_assert!((MIN_QUANTITY..=MAX_QUANTITY).contains(&line.quantity));
        prop_assert!(line.unit_price.amount_minor >= 0);
        prop_assert_eq!(Some(line.unit_price.currency), state.currency);
        prop_assert!(state.items[..i].iter().all(|other| other.sku != line.sku));
    }
    prop_assert!(0 <= state.refunded_minor);
    prop_assert!(state.refunded_minor <= state.paid_minor);
    prop_assert!(0 <= state.refund_owed_minor);
    prop_assert!(state.refund_owed_minor <= state.paid_minor - state.refunded_minor);
    if state.paid_minor > 0 {
        prop_assert_eq!(state.paid_minor, state.total_minor());
    }
    if state.status == Some(OrderStatus::Draft) {
        prop_assert_eq!(state.paid_minor, 0);
    }
    Ok(())
}

fn check_round_trip(event: &OrderEvent) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(&event.payload()).map_err(fail)?;
    let payload = serde_json::from_str(&text).map_err(fail)?;
    let back = OrderEvent::from_payload(event.event_type(), event.schema_version(), payload);
    prop_assert_eq!(back.as_ref(), Ok(event));
    Ok(())
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_command_sequences_keep_the_invariants(ops in ops()) {
        run(&ops)?;
    }
}

/// The generator is only useful if it drives orders through the whole
/// lifecycle; check that it does, with a fixed seed.
#[test]
fn generator_reaches_every_status_and_refunds() {
    let mut runner = TestRunner::deterministic();
    let strategy = ops();
    let mut seen = Vec::new();
    let mut refunded = false;
    for _ in 0..512 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let state = run(&ops).unwrap();
        seen.extend(state.status);
        refunded |= state.refunded_minor > 0;
    }
    for status in OrderStatus::ALL {
        assert!(seen.contains(&status), "never reached {status}");
    }
    assert!(refunded, "never refunded");
}

// ---- arbitrary events ------------------------------------------------------------------

pub(crate) fn time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1900..2100 with nanoseconds: RFC 3339 text must keep all of it.
    (-2_208_988_800i64..4_102_444_800, 0u32..1_000_000_000)
        .prop_filter_map("valid timestamp", |(s, n)| DateTime::from_timestamp(s, n))
}

pub(crate) fn channel() -> impl Strategy<Value = Channel> {
    proptest::sample::select(Channel::ALL.to_vec())
}

pub(crate) fn currency() -> impl Strategy<Value = Currency> {
    "[A-Z]{3}".prop_map(|c| Currency::new(&c).unwrap())
}

fn money() -> impl Strategy<Value = Money> {
    (any::<i64>(), currency()).prop_map(|(a, c)| Money::new(a, c))
}

fn sku_value() -> impl Strategy<Value = Sku> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| Sku::new(s).unwrap())
}

/// Printable text that passes the single-line id rules.
pub(crate) fn id_text() -> impl Strategy<Value = String> {
    "\\PC{1,64}".prop_filter("not blank", |s| !s.trim().is_empty())
}

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn shipping_address() -> impl Strategy<Value = ShippingAddress> {
    (
        text(),
        text(),
        proptest::option::of(text()),
        text(),
        text(),
        "[A-Z]{2}",
    )
        .prop_map(
            |(name, line1, line2, city, postal_code, country)| ShippingAddress {
                name,
                line1,
                line2,
                city,
                postal_code,
                country,
            },
        )
}

fn event() -> impl Strategy<Value = OrderEvent> {
    prop_oneof![
        (any::<u128>(), id_text(), currency(), channel(), time()).prop_map(
            |(id, c, currency, channel, at)| OrderCreated {
                order_id: OrderId::new(uuid::Uuid::from_u128(id)),
                customer_id: CustomerId::new(c).unwrap(),
                currency,
                channel,
                at,
            }
            .into()
        ),
        (sku_value(), text(), any::<u32>(), money(), time()).prop_map(
            |(sku, name, quantity, unit_price, at)| ItemAdded {
                sku,
                name,
                quantity,
                unit_price,
                at
            }
            .into()
        ),
        (sku_value(), any::<u32>(), time())
            .prop_map(|(sku, quantity, at)| { ItemQuantityChanged { sku, quantity, at }.into() }),
        (sku_value(), time()).prop_map(|(sku, at)| ItemRemoved { sku, at }.into()),
        (shipping_address(), time())
            .prop_map(|(address, at)| ShippingAddressSet { address, at }.into()),
        (money(), time()).prop_map(|(total, at)| OrderSubmitted { total, at }.into()),
        time().prop_map(|at| OrderConfirmed { at }.into()),
        (text(), time()).prop_map(|(reason, at)| OrderRejected { reason, at }.into()),
        (id_text(), money(), time()).prop_map(|(p, amount, at)| {
            PaymentRecorded {
                payment_id: PaymentId::new(p).unwrap(),
                amount,
                at,
            }
            .into()
        }),
        (text(), text(), time()).prop_map(|(carrier, tracking_number, at)| {
            OrderShipped {
                carrier,
                tracking_number,
                at,
            }
            .into()
        }),
        time().prop_map(|at| OrderDelivered { at }.into()),
        (text(), proptest::option::of(money()), time()).prop_map(|(reason, refund_owed, at)| {
            OrderCancelled {
                reason,
                refund_owed,
                at,
            }
            .into()
        }),
        (id_text(), money(), text(), time()).prop_map(|(r, amount, reason, at)| {
            RefundIssued {
                refund_id: RefundId::new(r).unwrap(),
                amount,
                reason,
                at,
            }
            .into()
        }),
    ]
}

proptest! {
    #[test]
    fn any_event_round_trips_through_its_payload(event in event()) {
        check_round_trip(&event)?;
    }
}
