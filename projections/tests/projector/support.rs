//! Fixtures: databases, a randomized order workload, table dumps, waits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orderflow_domain::{
    Channel, Currency, CustomerId, Money, OrderCommand, OrderEvent, OrderId, OrderState, PaymentId,
    RefundId, ShippingAddress, Sku, decide, evolve,
};
use orderflow_event_store::relay::RelayConfig;
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore,
    PgStoreConfig, Position, StreamId,
};
use orderflow_projections::{
    PROJECTIONS, ProjectorConfig, connect_read_db, rebuild_with, status_with,
};
use orderflow_testkit::TestDb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

#[allow(dead_code)] // The databases live as long as the fixture.
pub struct Env {
    pub events_db: TestDb,
    pub read_db: TestDb,
    pub store: PgEventStore,
    pub read: PgPool,
    pub config: ProjectorConfig,
    pub relay: RelayConfig,
}

impl Env {
    pub async fn new() -> Env {
        // `RUST_LOG=orderflow_projections=debug` shows what the projector does.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let events_db = TestDb::new().await;
        let read_db = TestDb::new().await;
        let store = PgEventStore::connect(PgStoreConfig::new(events_db.url()))
            .await
            .unwrap();
        let read = connect_read_db(read_db.url(), 8).await.unwrap();
        let id = Uuid::now_v7().simple().to_string();
        let config = ProjectorConfig {
            events_database_url: events_db.url().to_owned(),
            read_database_url: read_db.url().to_owned(),
            nats_url: nats_url(),
            stream_name: format!("TEST_{id}"),
            subject_prefix: format!("t{id}"),
            batch_size: 200,
            rebuild_batch_size: 500,
            rebuild_flush_events: 1500,
            retry_backoff: Duration::from_millis(10),
            standby_interval: Duration::from_millis(200),
            ..ProjectorConfig::default()
        };
        let relay = RelayConfig {
            nats_url: nats_url(),
            stream_name: config.stream_name.clone(),
            subject_prefix: config.subject_prefix.clone(),
            max_age: Duration::from_secs(600),
            ..RelayConfig::default()
        };
        Env {
            events_db,
            read_db,
            store,
            read,
            config,
            relay,
        }
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    pub fn start_projector(&self) -> Running {
        self.start_projector_with(self.config.clone())
    }

    pub fn start_projector_with(&self, config: ProjectorConfig) -> Running {
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(orderflow_projections::run_projector_with(
            self.store(),
            self.read.clone(),
            Some(self.store.pool().clone()),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        Running {
            stop: Some(stop),
            task: tokio::spawn(async move {
                task.await.unwrap().unwrap();
            }),
        }
    }

    pub fn start_relay(&self) -> Running {
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(orderflow_event_store::relay::run_relay(
            self.store(),
            self.store.pool().clone(),
            self.relay.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Running {
            stop: Some(stop),
            task: tokio::spawn(async move {
                task.await.unwrap().unwrap();
            }),
        }
    }

    pub async fn cleanup(&self) {
        if let Ok(c) = async_nats::connect(nats_url()).await {
            let _ = async_nats::jetstream::new(c)
                .delete_stream(&self.config.stream_name)
                .await;
        }
    }

    /// Waits until every projection not in `stopped` has reached `target`.
    pub async fn wait_for(&self, target: Position, stopped: &[&str]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let status = status_with(self.store.pool(), &self.read).await.unwrap();
            let done = status.iter().all(|s| {
                stopped.contains(&s.name.as_str()) || s.position.is_some_and(|p| p >= target)
            });
            if done {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projections never reached {target}: {status:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// Every read-model table, row for row, as sorted JSON text.
pub async fn dump(read: &PgPool) -> BTreeMap<String, Vec<String>> {
    let tables = PROJECTIONS.iter().flat_map(|d| d.tables.iter().copied());
    orderflow_testkit::dump_tables(read, tables).await.unwrap()
}

/// Rebuilds every projection from the store, then dumps the tables.
pub async fn rebuilt(env: &Env) -> BTreeMap<String, Vec<String>> {
    rebuild_with(
        env.store(),
        &env.read,
        None,
        "all",
        &env.config,
        &mut |_| {},
    )
    .await
    .unwrap();
    dump(&env.read).await
}

pub fn assert_same(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (table, rows) in a {
        let other = &b[table];
        assert_eq!(rows.len(), other.len(), "row count of {table}");
        for (x, y) in rows.iter().zip(other) {
            assert_eq!(x, y, "table {table}");
        }
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap()
}

/// A seeded random workload: commands over many orders, decided by the
/// domain and appended with optimistic concurrency.
pub struct Workload {
    rng: StdRng,
    orders: Vec<(OrderId, OrderState)>,
    step: i64,
    pub last: Position,
}

const SKUS: &[&str] = &["sku-a", "sku-b", "sku-c", "sku-d", "sku-e", "sku-f"];

impl Workload {
    pub fn new(seed: u64) -> Workload {
        Workload {
            rng: StdRng::seed_from_u64(seed),
            orders: Vec::new(),
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
            self.orders[index].1 = next;
        }
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
            StreamId::new(id.stream_id()).unwrap(),
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
