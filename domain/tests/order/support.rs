//! Fixtures and the given/when/then harness.

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_domain::{Channel, Currency, NewItem};
use orderflow_domain::{
    CustomerId, ItemAdded, Money, OrderCancelled, OrderCommand, OrderConfirmed, OrderCreated,
    OrderDelivered, OrderError, OrderEvent, OrderId, OrderRejected, OrderShipped, OrderState,
    OrderStatus, OrderSubmitted, PaymentId, PaymentRecorded, RefundId, RefundIssued,
    ShippingAddress, ShippingAddressSet, Sku, decide, evolve, fold,
};

/// Domain time `minutes` after a fixed epoch; tests never read the clock.
pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// The time every `when` command is decided at.
pub fn now() -> DateTime<Utc> {
    t(1_000)
}

pub fn order_id() -> OrderId {
    "01956f4a-1c00-7000-8000-000000000001".parse().unwrap()
}

pub fn customer() -> CustomerId {
    CustomerId::new("cust-1").unwrap()
}

pub fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

pub fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

pub fn payment_id(s: &str) -> PaymentId {
    PaymentId::new(s).unwrap()
}

pub fn refund_id(s: &str) -> RefundId {
    RefundId::new(s).unwrap()
}

pub fn address() -> ShippingAddress {
    ShippingAddress {
        name: "Ada Lovelace".into(),
        line1: "Hauptstraße 1".into(),
        line2: None,
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country: "DE".into(),
    }
}

pub fn other_address() -> ShippingAddress {
    ShippingAddress {
        line2: Some("Hinterhaus".into()),
        city: "Hamburg".into(),
        postal_code: "20095".into(),
        ..address()
    }
}

// ---- events, at a given time -------------------------------------------------

pub fn created_at(at: DateTime<Utc>) -> OrderEvent {
    OrderCreated {
        order_id: order_id(),
        customer_id: customer(),
        currency: Currency::EUR,
        channel: Channel::Unknown,
        at,
    }
    .into()
}

pub fn item_added_at(s: &str, quantity: u32, unit_price: Money, at: DateTime<Utc>) -> OrderEvent {
    ItemAdded {
        sku: sku(s),
        name: format!("Item {s}"),
        quantity,
        unit_price,
        at,
    }
    .into()
}

pub fn address_set_at(address: ShippingAddress, at: DateTime<Utc>) -> OrderEvent {
    ShippingAddressSet { address, at }.into()
}

// ---- histories: one per status ----------------------------------------------------

/// The line every history starts with: 2 × 10.00 EUR.
pub const SKU: &str = "SKU-1";
pub const PRICE: i64 = 1_000;
pub const QTY: u32 = 2;
pub const TOTAL: i64 = 2_000;

pub fn created() -> Vec<OrderEvent> {
    vec![created_at(t(0))]
}

/// Draft with one line and an address: ready to submit.
pub fn draft() -> Vec<OrderEvent> {
    let mut h = created();
    h.push(item_added_at(SKU, QTY, eur(PRICE), t(1)));
    h.push(address_set_at(address(), t(2)));
    h
}

pub fn submitted() -> Vec<OrderEvent> {
    let mut h = draft();
    h.push(
        OrderSubmitted {
            total: eur(TOTAL),
            at: t(3),
        }
        .into(),
    );
    h
}

pub fn confirmed() -> Vec<OrderEvent> {
    let mut h = submitted();
    h.push(OrderConfirmed { at: t(4) }.into());
    h
}

pub fn paid() -> Vec<OrderEvent> {
    let mut h = confirmed();
    h.push(
        PaymentRecorded {
            payment_id: payment_id("pay-1"),
            amount: eur(TOTAL),
            at: t(5),
        }
        .into(),
    );
    h
}

pub fn shipped() -> Vec<OrderEvent> {
    let mut h = paid();
    h.push(
        OrderShipped {
            carrier: "DHL".into(),
            tracking_number: "JJD000390007".into(),
            at: t(6),
        }
        .into(),
    );
    h
}

pub fn delivered() -> Vec<OrderEvent> {
    let mut h = shipped();
    h.push(OrderDelivered { at: t(7) }.into());
    h
}

pub fn cancelled_unpaid() -> Vec<OrderEvent> {
    let mut h = draft();
    h.push(
        OrderCancelled {
            reason: "changed my mind".into(),
            refund_owed: None,
            at: t(3),
        }
        .into(),
    );
    h
}

pub fn cancelled_paid() -> Vec<OrderEvent> {
    let mut h = paid();
    h.push(
        OrderCancelled {
            reason: "out of stock".into(),
            refund_owed: Some(eur(TOTAL)),
            at: t(6),
        }
        .into(),
    );
    h
}

pub fn rejected() -> Vec<OrderEvent> {
    let mut h = submitted();
    h.push(
        OrderRejected {
            reason: "address undeliverable".into(),
            at: t(4),
        }
        .into(),
    );
    h
}

pub fn refund_issued(id: &str, amount: Money, at: DateTime<Utc>) -> OrderEvent {
    RefundIssued {
        refund_id: refund_id(id),
        amount,
        reason: "damaged".into(),
        at,
    }
    .into()
}

/// The status each history ends in (`None`: no history).
pub fn status_of(history: &[OrderEvent]) -> Option<OrderStatus> {
    fold(history).status
}

// ---- commands ----------------------------------------------------------------------

pub fn create_cmd(items: Vec<NewItem>, shipping_address: Option<ShippingAddress>) -> OrderCommand {
    OrderCommand::CreateOrder {
        order_id: order_id(),
        customer_id: customer(),
        currency: Currency::EUR,
        channel: Channel::Unknown,
        items,
        shipping_address,
    }
}

pub fn new_item(s: &str, quantity: u32, unit_price: Money) -> NewItem {
    NewItem {
        sku: sku(s),
        name: format!("Item {s}"),
        quantity,
        unit_price,
    }
}

pub fn add_cmd(s: &str, quantity: u32, unit_price: Money) -> OrderCommand {
    OrderCommand::AddItem {
        sku: sku(s),
        name: format!("Item {s}"),
        quantity,
        unit_price,
    }
}

pub fn change_cmd(s: &str, quantity: u32) -> OrderCommand {
    OrderCommand::ChangeItemQuantity {
        sku: sku(s),
        quantity,
    }
}

pub fn remove_cmd(s: &str) -> OrderCommand {
    OrderCommand::RemoveItem { sku: sku(s) }
}

pub fn pay_cmd(amount: Money) -> OrderCommand {
    OrderCommand::RecordPayment {
        payment_id: payment_id("pay-1"),
        amount,
    }
}

pub fn ship_cmd(carrier: &str, tracking_number: &str) -> OrderCommand {
    OrderCommand::ShipOrder {
        carrier: carrier.into(),
        tracking_number: tracking_number.into(),
    }
}

pub fn cancel_cmd(reason: &str) -> OrderCommand {
    OrderCommand::CancelOrder {
        reason: reason.into(),
    }
}

pub fn reject_cmd(reason: &str) -> OrderCommand {
    OrderCommand::RejectOrder {
        reason: reason.into(),
    }
}

pub fn refund_cmd(id: &str, amount: Money) -> OrderCommand {
    OrderCommand::IssueRefund {
        refund_id: refund_id(id),
        amount,
        reason: "damaged".into(),
    }
}

// ---- given / when / then -------------------------------------------------------------

/// The order as it stands after `history`.
pub fn given(history: impl IntoIterator<Item = OrderEvent>) -> Given {
    let history: Vec<OrderEvent> = history.into_iter().collect();
    Given {
        state: fold(&history),
    }
}

pub struct Given {
    state: OrderState,
}

impl Given {
    /// Decides `command` at [`now`].
    pub fn when(self, command: OrderCommand) -> When {
        let result = decide(&self.state, &command, now());
        When {
            state: self.state,
            command,
            result,
        }
    }
}

pub struct When {
    state: OrderState,
    command: OrderCommand,
    result: Result<Vec<OrderEvent>, OrderError>,
}

impl When {
    /// Asserts exactly these events, and returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = OrderEvent>) -> OrderState {
        let expected: Vec<OrderEvent> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "events for {:?}", self.command);
                events.iter().fold(self.state, evolve)
            }
            Err(e) => panic!(
                "expected {expected:?} for {:?}, got error {} ({e})",
                self.command,
                e.code()
            ),
        }
    }

    /// Asserts acceptance whatever the events, and returns the state after.
    #[track_caller]
    pub fn then_ok(self) -> OrderState {
        match self.result {
            Ok(events) => events.iter().fold(self.state, evolve),
            Err(e) => panic!(
                "expected {:?} to be accepted, got {} ({e})",
                self.command,
                e.code()
            ),
        }
    }

    /// Asserts refusal with `code`, and returns the error for more checks.
    #[track_caller]
    pub fn then_error(self, code: &str) -> OrderError {
        match self.result {
            Ok(events) => panic!(
                "expected {code} for {:?}, got events {events:?}",
                self.command
            ),
            Err(e) => {
                assert_eq!(e.code(), code, "error for {:?}: {e}", self.command);
                e
            }
        }
    }
}
