//! Example payloads for the schema files: a scripted, deterministic order
//! life and a sku's stock life (fixed ids and times) that emit every event
//! type at least once, at its newest version; older versions get the same
//! events in their own shape (see [`older_versions`]).

use chrono::{DateTime, TimeZone, Utc};
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
    out
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
    fn every_stock_event_type_has_an_example() {
        let examples = example_payloads();
        for t in orderflow_domain::inventory::EVENT_TYPES {
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
