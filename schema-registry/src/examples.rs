//! Example payloads for the schema files: a scripted, deterministic order
//! life, a sku's stock life and fulfilment instances (fixed ids and times)
//! that emit every event type at least once, at its newest version; older
//! versions get the same events in their own shape (see [`older_versions`]).

use chrono::{DateTime, TimeZone, Utc};
use orderflow_domain::fulfilment::{
    self, FulfilmentEvent, FulfilmentState, Input, Line, OrderStep, Outcome, Refund,
};
use orderflow_domain::inventory::{self, InventoryCommand, InventoryEvent, InventoryState};
use orderflow_domain::order::legacy::order_created_v1;
use orderflow_domain::{
    Channel, Currency, CustomerId, Money, NewItem, OrderCommand, OrderEvent, OrderId, OrderState,
    PaymentId, RefundId, ShippingAddress, Sku, decide, evolve,
};
use serde_json::Value;

/// `(event type, schema version, payload)` for every event the script emits.
pub fn example_payloads() -> Vec<(String, u32, Value)> {
    let mut out: Vec<(String, u32, Value)> = Vec::new();
    for script in [happy_path(), rejected(), cancelled_after_payment()] {
        let mut state = OrderState::default();
        for (minute, command) in script.into_iter().enumerate() {
            let Ok(events) = decide(&state, &command, at(minute as u32)) else {
                continue;
            };
            for event in &events {
                state = evolve(state, event);
                if !out.iter().any(|(t, _, _)| t == event.event_type()) {
                    out.push(record(event));
                    out.extend(older_versions(event));
                }
            }
        }
    }
    out.extend(stock_payloads());
    out.extend(fulfilment_payloads());
    out
}

/// One step of a fulfilment script: an input, or one made from the state
/// (a deadline fires, a refund is confirmed, with the id the instance
/// chose).
enum Feed {
    Input(Input),
    FireDeadline,
    ConfirmRefund,
}

/// Three instances: one order reserved, confirmed, paid and shipped; one
/// rejected for a short sku; one paid, cancelled and refunded after the
/// provider asked for a retry; and one not paid in time.
fn fulfilment_payloads() -> Vec<(String, u32, Value)> {
    let Some(scripts) = fulfilment_scripts() else {
        return Vec::new();
    };
    let mut out: Vec<(String, u32, Value)> = Vec::new();
    for script in scripts {
        let mut state = FulfilmentState::default();
        for feed in script {
            let input = match feed {
                Feed::Input(i) => i,
                Feed::FireDeadline => match state.deadline {
                    Some(d) => Input::DeadlineFired {
                        deadline_id: d.id,
                        at: d.due_at,
                    },
                    None => continue,
                },
                Feed::ConfirmRefund => match &state.refund {
                    Refund::Requested { refund_id, .. } => Input::RefundConfirmed {
                        refund_id: refund_id.clone(),
                        at: at(8),
                    },
                    _ => continue,
                },
            };
            for event in fulfilment::decide(&state, &input).events {
                state = fulfilment::evolve(state, &event);
                if !out.iter().any(|(t, _, _)| t == event.event_type()) {
                    out.push(fulfilment_record(&event));
                }
            }
        }
    }
    out
}

fn fulfilment_record(event: &FulfilmentEvent) -> (String, u32, Value) {
    (
        event.event_type().to_owned(),
        event.schema_version(),
        event.payload(),
    )
}

fn fulfilment_scripts() -> Option<Vec<Vec<Feed>>> {
    let order = |n: u128| {
        OrderId::new(uuid::Uuid::from_u128(
            0x0193_0000_0000_7000_8000_0000_0000_0000 + n,
        ))
    };
    let line = |s: &str, quantity: u32| {
        Some(Line {
            sku: sku(s)?,
            quantity,
        })
    };
    let submitted = |n: u128, lines: Vec<Line>| {
        Feed::Input(Input::OrderSubmitted {
            order: order(n),
            lines,
            at: at(0),
        })
    };
    let reserved = |s: &str, minute: u32| {
        Some(Feed::Input(Input::Reservation {
            sku: sku(s)?,
            outcome: Outcome::Applied,
            at: at(minute),
        }))
    };
    let done = |step: OrderStep, minute: u32| {
        Feed::Input(Input::OrderCommand {
            step,
            outcome: Outcome::Applied,
            at: at(minute),
        })
    };
    let confirmed = |minute: u32| {
        Feed::Input(Input::OrderConfirmed {
            at: at(minute),
            pay_by: at(minute + 30),
        })
    };
    let paid = |id: &str, amount: i64, minute: u32| {
        Some(Feed::Input(Input::PaymentRecorded {
            payment_id: PaymentId::new(id).ok()?,
            amount: eur(amount),
            at: at(minute),
        }))
    };
    let shipped_and_paid = vec![
        submitted(1, vec![line("MUG-CER", 3)?]),
        reserved("MUG-CER", 1)?,
        done(OrderStep::Confirm, 2),
        confirmed(2),
        paid("pay-7781", 3750, 5)?,
        Feed::Input(Input::OrderShipped { at: at(9) }),
        Feed::Input(Input::StockCommitted {
            sku: sku("MUG-CER")?,
            at: at(9),
        }),
    ];
    let rejected = vec![
        submitted(2, vec![line("MUG-CER", 2)?, line("TEA-GRN", 5)?]),
        reserved("MUG-CER", 1)?,
        Feed::Input(Input::Reservation {
            sku: sku("TEA-GRN")?,
            outcome: Outcome::Refused {
                reason: "inventory.insufficient_stock".into(),
            },
            at: at(1),
        }),
        Feed::Input(Input::StockReleased {
            sku: sku("MUG-CER")?,
            at: at(2),
        }),
        done(OrderStep::Reject, 2),
        Feed::Input(Input::OrderRejected {
            reason: "out_of_stock: TEA-GRN".into(),
            at: at(2),
        }),
    ];
    let refunded = vec![
        submitted(3, vec![line("MUG-CER", 2)?]),
        reserved("MUG-CER", 1)?,
        done(OrderStep::Confirm, 2),
        confirmed(2),
        paid("pay-7782", 2500, 4)?,
        Feed::Input(Input::OrderCancelled {
            reason: "customer changed their mind".into(),
            refund_owed: Some(eur(2500)),
            at: at(6),
        }),
        Feed::Input(Input::RefundDeferred {
            retry_at: at(8),
            at: at(6),
        }),
        Feed::ConfirmRefund,
    ];
    let timed_out = vec![
        submitted(4, vec![line("TEA-GRN", 1)?]),
        reserved("TEA-GRN", 1)?,
        done(OrderStep::Confirm, 2),
        confirmed(2),
        Feed::FireDeadline,
    ];
    Some(vec![shipped_and_paid, rejected, refunded, timed_out])
}

/// The stock of one sku: received, counted, reserved by two orders, one
/// released, one shipped.
fn stock_payloads() -> Vec<(String, u32, Value)> {
    let order = |n: u128| {
        OrderId::new(uuid::Uuid::from_u128(
            0x0193_0000_0000_7000_8000_0000_0000_0000 + n,
        ))
    };
    let script = [
        InventoryCommand::ReceiveStock { quantity: 40 },
        InventoryCommand::AdjustStock {
            on_hand: 38,
            reason: "stocktake: 2 mugs chipped".into(),
        },
        InventoryCommand::Reserve {
            order_id: order(1),
            quantity: 3,
        },
        InventoryCommand::Reserve {
            order_id: order(3),
            quantity: 2,
        },
        InventoryCommand::Release { order_id: order(3) },
        InventoryCommand::Commit { order_id: order(1) },
    ];
    let mut out: Vec<(String, u32, Value)> = Vec::new();
    let mut state = InventoryState::default();
    for (minute, command) in script.iter().enumerate() {
        let Ok(events) = inventory::decide(&state, command, at(minute as u32)) else {
            continue;
        };
        for event in &events {
            state = inventory::evolve(state, event);
            if !out.iter().any(|(t, _, _)| t == event.event_type()) {
                out.push(stock_record(event));
            }
        }
    }
    out
}

fn stock_record(event: &InventoryEvent) -> (String, u32, Value) {
    (
        event.event_type().to_owned(),
        event.schema_version(),
        event.payload(),
    )
}

/// The examples of older schema versions: the same event as a writer of
/// that version stored it. A committed version's examples never change, so
/// these must reproduce what the script emitted back then.
fn older_versions(event: &OrderEvent) -> Vec<(String, u32, Value)> {
    match event {
        OrderEvent::OrderCreated(e) => {
            let v1 = order_created_v1::OrderCreated::from(e);
            serde_json::to_value(v1)
                .map(|p| vec![("OrderCreated".to_owned(), 1, p)])
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn record(event: &OrderEvent) -> (String, u32, Value) {
    (
        event.event_type().to_owned(),
        event.schema_version(),
        event.payload(),
    )
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, minute.min(59), 0)
        .single()
        .unwrap_or_default()
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn sku(s: &str) -> Option<Sku> {
    Sku::new(s).ok()
}

fn create(order: u128) -> Option<OrderCommand> {
    Some(OrderCommand::CreateOrder {
        order_id: OrderId::new(uuid::Uuid::from_u128(order)),
        customer_id: CustomerId::new("customer-42").ok()?,
        currency: Currency::EUR,
        channel: Channel::Web,
        items: vec![NewItem {
            sku: sku("MUG-CER")?,
            name: "Ceramic mug".into(),
            quantity: 2,
            unit_price: eur(1250),
        }],
        shipping_address: Some(ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "12 Analytical Row".into(),
            line2: None,
            city: "London".into(),
            postal_code: "N1 9GU".into(),
            country: "GB".into(),
        }),
    })
}

fn happy_path() -> Vec<OrderCommand> {
    let steps = || -> Option<Vec<OrderCommand>> {
        Some(vec![
            create(0x0193_0000_0000_7000_8000_0000_0000_0001)?,
            OrderCommand::AddItem {
                sku: sku("TEA-GRN")?,
                name: "Green tea, 100 g".into(),
                quantity: 1,
                unit_price: eur(890),
            },
            OrderCommand::ChangeItemQuantity {
                sku: sku("MUG-CER")?,
                quantity: 3,
            },
            OrderCommand::RemoveItem {
                sku: sku("TEA-GRN")?,
            },
            OrderCommand::SubmitOrder,
            OrderCommand::ConfirmOrder,
            OrderCommand::RecordPayment {
                payment_id: PaymentId::new("pay-7781").ok()?,
                amount: eur(3750),
            },
            OrderCommand::ShipOrder {
                carrier: "DHL".into(),
                tracking_number: "JD014600006101".into(),
            },
            OrderCommand::MarkDelivered,
            OrderCommand::IssueRefund {
                refund_id: RefundId::new("refund-1").ok()?,
                amount: eur(1250),
                reason: "one mug arrived broken".into(),
            },
        ])
    };
    steps().unwrap_or_default()
}

fn rejected() -> Vec<OrderCommand> {
    let Some(create) = create(0x0193_0000_0000_7000_8000_0000_0000_0002) else {
        return Vec::new();
    };
    vec![
        create,
        OrderCommand::SubmitOrder,
        OrderCommand::RejectOrder {
            reason: "out of stock".into(),
        },
    ]
}

fn cancelled_after_payment() -> Vec<OrderCommand> {
    let steps = || -> Option<Vec<OrderCommand>> {
        Some(vec![
            create(0x0193_0000_0000_7000_8000_0000_0000_0003)?,
            OrderCommand::SubmitOrder,
            OrderCommand::ConfirmOrder,
            OrderCommand::RecordPayment {
                payment_id: PaymentId::new("pay-7782").ok()?,
                amount: eur(2500),
            },
            OrderCommand::CancelOrder {
                reason: "customer changed their mind".into(),
            },
        ])
    };
    steps().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::example_payloads;

    #[test]
    fn every_stock_and_fulfilment_event_type_has_an_example() {
        let examples = example_payloads();
        let types = orderflow_domain::inventory::EVENT_TYPES
            .iter()
            .chain(orderflow_domain::fulfilment::FULFILMENT_EVENT_TYPES);
        for t in types {
            assert!(
                examples.iter().any(|(e, ver, _)| e == t && *ver == 1),
                "no example of {t}"
            );
        }
    }

    #[test]
    fn every_event_type_has_an_example_of_every_version() {
        let examples = example_payloads();
        for t in orderflow_domain::OrderEvent::EVENT_TYPES {
            let current = orderflow_domain::current_schema_version(t).unwrap_or(0);
            for v in 1..=current {
                assert!(
                    examples.iter().any(|(e, ver, _)| e == t && *ver == v),
                    "no example of {t} v{v}"
                );
            }
        }
    }
}
