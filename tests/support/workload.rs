//! A seeded random workload of orders, decided by the domain and appended
//! straight to the store, with the stock of their skus moving the way the
//! fulfilment process moves it (receipts, counts, reservations on submit,
//! releases, commits on shipping), and raw appends for shapes the code no
//! longer writes.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orderflow_domain::inventory::{self, InventoryCommand, InventoryState};
use orderflow_domain::{
    Channel, Currency, CustomerId, Money, OrderCommand, OrderEvent, OrderId, OrderState, PaymentId,
    RefundId, ShippingAddress, Sku, decide, evolve,
};
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore, Position,
    StreamId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap()
}

/// A seeded random workload: commands over many orders, decided by the
/// domain and appended with optimistic concurrency.
pub struct Workload {
    rng: StdRng,
    /// Stock decisions draw from their own generator, so the orders of a
    /// seed stay what they were before stock was added.
    stock_rng: StdRng,
    orders: Vec<(OrderId, OrderState)>,
    stock: HashMap<Sku, InventoryState>,
    step: i64,
    pub last: Position,
}

const SKUS: &[&str] = &["sku-a", "sku-b", "sku-c", "sku-d", "sku-e", "sku-f"];

impl Workload {
    pub fn new(seed: u64) -> Workload {
        Workload {
            rng: StdRng::seed_from_u64(seed),
            stock_rng: StdRng::seed_from_u64(seed ^ 0x0057_00c4),
            orders: Vec::new(),
            stock: HashMap::new(),
            step: 0,
            last: Position::START,
        }
    }

    fn address() -> ShippingAddress {
        ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "Hauptstraße 1".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        }
    }

    fn command(&mut self, state: &OrderState, id: OrderId) -> OrderCommand {
        let cur = state.currency.unwrap_or(Currency::EUR);
        let sku = SKUS[self.rng.random_range(0..SKUS.len())];
        // Prices depend on sku and currency so re-adding a sku matches.
        let price = Money::new(
            100 + 37 * (sku.len() as i64 + sku.as_bytes()[4] as i64),
            cur,
        );
        let r: u32 = self.rng.random_range(0..100);
        use orderflow_domain::OrderStatus as S;
        match state.status {
            None => OrderCommand::CreateOrder {
                order_id: id,
                customer_id: CustomerId::new(format!("cust-{}", self.rng.random_range(0..25)))
                    .unwrap(),
                currency: if r < 70 { Currency::EUR } else { Currency::USD },
                channel: Channel::ALL[r as usize % Channel::ALL.len()],
                items: vec![],
                shipping_address: None,
            },
            Some(S::Draft) => match r {
                0..40 => OrderCommand::AddItem {
                    sku: Sku::new(sku).unwrap(),
                    name: format!("Item {sku}"),
                    quantity: self.rng.random_range(1..4),
                    unit_price: price,
                },
                40..55 => OrderCommand::ChangeItemQuantity {
                    sku: Sku::new(sku).unwrap(),
                    quantity: self.rng.random_range(1..6),
                },
                55..62 => OrderCommand::RemoveItem {
                    sku: Sku::new(sku).unwrap(),
                },
                62..75 => OrderCommand::SetShippingAddress {
                    address: Self::address(),
                },
                75..97 => OrderCommand::SubmitOrder,
                _ => OrderCommand::CancelOrder {
                    reason: "changed mind".into(),
                },
            },
            Some(S::Submitted) => match r {
                0..85 => OrderCommand::ConfirmOrder,
                _ => OrderCommand::RejectOrder {
                    reason: "out of stock".into(),
                },
            },
            Some(S::Confirmed) => match r {
                0..90 => OrderCommand::RecordPayment {
                    payment_id: PaymentId::new(format!("pay-{}", id.0.simple())).unwrap(),
                    amount: state.total().unwrap_or(Money::zero(cur)),
                },
                _ => OrderCommand::CancelOrder {
                    reason: "no payment".into(),
                },
            },
            Some(S::Paid | S::Shipped | S::Delivered | S::Cancelled) if r < 15 => {
                OrderCommand::IssueRefund {
                    refund_id: RefundId::new(format!("ref-{}", self.step)).unwrap(),
                    amount: Money::new((state.refundable_minor() / 3).max(1), cur),
                    reason: "damaged".into(),
                }
            }
            Some(S::Paid) => match r {
                0..90 => OrderCommand::ShipOrder {
                    carrier: "DHL".into(),
                    tracking_number: format!("trk-{}", self.step),
                },
                _ => OrderCommand::CancelOrder {
                    reason: "late".into(),
                },
            },
            Some(_) => OrderCommand::MarkDelivered,
        }
    }

    /// Runs `commands` commands (failed decisions count too) against the
    /// store; new orders are opened as needed, up to `max_orders`.
    pub async fn run(&mut self, store: &PgEventStore, commands: usize, max_orders: usize) {
        for _ in 0..commands {
            self.step += 1;
            let pick_new = self.orders.len() < max_orders && self.rng.random_range(0..4) == 0;
            let index = if pick_new || self.orders.is_empty() {
                self.orders
                    .push((OrderId::new(Uuid::now_v7()), OrderState::default()));
                self.orders.len() - 1
            } else {
                self.rng.random_range(0..self.orders.len())
            };
            let (id, state) = self.orders[index].clone();
            let command = self.command(&state, id);
            // Spread domain time over several days.
            let at = base_time() + chrono::Duration::minutes(self.step * 7);
            let Ok(events) = decide(&state, &command, at) else {
                continue;
            };
            self.last = self
                .last
                .max(append(store, &id, state.version, &events).await);
            let mut next = state;
            for e in &events {
                next = evolve(next, e);
            }
            self.orders[index].1 = next.clone();
            for e in &events {
                self.stock_follows(store, id, &next, e, at).await;
            }
        }
    }

    /// The stock moves an order event causes, plus now and then goods
    /// arriving or a recount.
    async fn stock_follows(
        &mut self,
        store: &PgEventStore,
        id: OrderId,
        order: &OrderState,
        event: &OrderEvent,
        at: DateTime<Utc>,
    ) {
        let lines: Vec<(Sku, u32)> = order
            .items
            .iter()
            .map(|l| (l.sku.clone(), l.quantity))
            .collect();
        for (sku, quantity) in lines {
            let command = match event {
                OrderEvent::OrderSubmitted(_) => InventoryCommand::Reserve {
                    order_id: id,
                    quantity,
                },
                OrderEvent::OrderCancelled(_) | OrderEvent::OrderRejected(_) => {
                    InventoryCommand::Release { order_id: id }
                }
                OrderEvent::OrderShipped(_) => InventoryCommand::Commit { order_id: id },
                _ => continue,
            };
            self.stock_step(store, sku, command, at).await;
        }
        let sku = Sku::new(SKUS[self.stock_rng.random_range(0..SKUS.len())]).unwrap();
        let command = match self.stock_rng.random_range(0..100) {
            0..8 => InventoryCommand::ReceiveStock {
                quantity: self.stock_rng.random_range(5..40),
            },
            8..10 => {
                let reserved = self.stock.get(&sku).map_or(0, |s| s.reserved);
                InventoryCommand::AdjustStock {
                    on_hand: reserved + self.stock_rng.random_range(0..10),
                    reason: "stocktake".into(),
                }
            }
            _ => return,
        };
        self.stock_step(store, sku, command, at).await;
    }

    /// Decides `command` on the sku's stock and appends what it decided (a
    /// refusal, e.g. too little stock, appends nothing).
    async fn stock_step(
        &mut self,
        store: &PgEventStore,
        sku: Sku,
        command: InventoryCommand,
        at: DateTime<Utc>,
    ) {
        let state = self.stock.remove(&sku).unwrap_or_default();
        let events = inventory::decide(&state, &command, at).unwrap_or_default();
        if !events.is_empty() {
            let raw: Vec<(&str, u32, serde_json::Value)> = events
                .iter()
                .map(|e| (e.event_type(), e.schema_version(), e.payload()))
                .collect();
            let at = append_to(store, sku.stream_id(), state.version, &raw).await;
            self.last = self.last.max(at);
        }
        let next = events.iter().fold(state, inventory::evolve);
        self.stock.insert(sku, next);
    }
}

pub async fn append(
    store: &PgEventStore,
    id: &OrderId,
    version: u64,
    events: &[OrderEvent],
) -> Position {
    let raw: Vec<(&str, u32, serde_json::Value)> = events
        .iter()
        .map(|e| (e.event_type(), e.schema_version(), e.payload()))
        .collect();
    append_raw(store, id, version, &raw).await
}

/// Appends `(event type, schema version, payload)` exactly as given, so a
/// test can store shapes the current code no longer writes.
pub async fn append_raw(
    store: &PgEventStore,
    id: &OrderId,
    version: u64,
    events: &[(&str, u32, serde_json::Value)],
) -> Position {
    append_to(store, id.stream_id(), version, events).await
}

/// [`append_raw`] to any stream.
pub async fn append_to(
    store: &PgEventStore,
    stream: String,
    version: u64,
    events: &[(&str, u32, serde_json::Value)],
) -> Position {
    let new = events
        .iter()
        .map(|(event_type, schema_version, payload)| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: (*event_type).into(),
            schema_version: *schema_version,
            payload: payload.clone(),
            metadata: EventMetadata::default(),
        })
        .collect();
    store
        .append(AppendRequest::new(
            StreamId::new(stream).unwrap(),
            ExpectedVersion::Exact(version),
            new,
        ))
        .await
        .unwrap()
        .position
}

/// Waits until `read_all` can see `position` (the watermark is cluster-wide,
/// so other tests' transactions may hold it back for a moment).
pub async fn wait_visible(store: &PgEventStore, position: Position) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.head().await.unwrap() < position {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{position} never became visible"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
