//! The process manager against real Postgres (event store, its own
//! database): concurrency without overselling, the payment deadline, and
//! redelivery without second effects. The runtime polls the store (no
//! relay runs here; the NATS path is the runtime's own, tested there).
//!
//! Stock is a small table-backed `StockPort` (real Postgres, idempotent per
//! order and sku) until the inventory command handler is on main.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_command_api::{CommandContext, CommandHandler};
use orderflow_domain::fulfilment::{Outcome, RequestRefund, stream_id};
use orderflow_domain::{OrderCommand, OrderId, OrderStatus, Sku};
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig, StreamId};
use orderflow_fulfilment::{
    Driver, EffectError, FulfilmentConfig, RefundAnswer, RefundPort, StockPort, run_fulfilment,
};
use orderflow_subscriptions::RuntimeConfig;
use orderflow_testkit::TestDb;
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Stock in a table: `reserve` holds units for (order, sku) once, never
/// beyond what is on hand.
struct TableStock {
    pool: PgPool,
    calls: AtomicUsize,
    /// Answer this many reserves that took effect with an error, as a
    /// process dying between the effect and recording it would.
    lose_answers: AtomicUsize,
}

impl TableStock {
    async fn new(pool: PgPool) -> TableStock {
        sqlx::raw_sql(
            "CREATE TABLE stock (sku text PRIMARY KEY, on_hand int NOT NULL, reserved int NOT NULL, \
               CHECK (reserved <= on_hand));
             CREATE TABLE holds (order_id uuid, sku text, quantity int NOT NULL, state text NOT NULL, \
               PRIMARY KEY (order_id, sku));",
        )
        .execute(&pool)
        .await
        .unwrap();
        TableStock {
            pool,
            calls: AtomicUsize::new(0),
            lose_answers: AtomicUsize::new(0),
        }
    }

    async fn receive(&self, sku: &str, n: i32) {
        sqlx::query("INSERT INTO stock VALUES ($1, $2, 0)")
            .bind(sku)
            .bind(n)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn level(&self, sku: &str) -> (i32, i32) {
        sqlx::query_as("SELECT on_hand, reserved FROM stock WHERE sku = $1")
            .bind(sku)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Holds by state, e.g. {"held": 10, "released": 2}.
    async fn holds(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM holds GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        rows.into_iter().collect()
    }
}

fn effect(e: sqlx::Error) -> EffectError {
    EffectError(e.to_string())
}

#[async_trait]
impl StockPort for TableStock {
    async fn reserve(
        &self,
        _id: Uuid,
        order: OrderId,
        sku: &Sku,
        quantity: u32,
    ) -> Result<Outcome, EffectError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut tx = self.pool.begin().await.map_err(effect)?;
        let held: Option<(String,)> =
            sqlx::query_as("SELECT state FROM holds WHERE order_id = $1 AND sku = $2")
                .bind(order.as_uuid())
                .bind(sku.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(effect)?;
        if held.is_some() {
            return Ok(Outcome::Applied);
        }
        let q = i32::try_from(quantity).unwrap();
        let done = sqlx::query(
            "UPDATE stock SET reserved = reserved + $2 WHERE sku = $1 AND on_hand - reserved >= $2",
        )
        .bind(sku.as_str())
        .bind(q)
        .execute(&mut *tx)
        .await
        .map_err(effect)?;
        if done.rows_affected() == 0 {
            return Ok(Outcome::Refused {
                reason: "inventory.insufficient_stock".into(),
            });
        }
        sqlx::query("INSERT INTO holds VALUES ($1, $2, $3, 'held')")
            .bind(order.as_uuid())
            .bind(sku.as_str())
            .bind(q)
            .execute(&mut *tx)
            .await
            .map_err(effect)?;
        tx.commit().await.map_err(effect)?;
        if self
            .lose_answers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(EffectError("the answer was lost".into()));
        }
        Ok(Outcome::Applied)
    }

    async fn release(&self, _id: Uuid, order: OrderId, sku: &Sku) -> Result<Outcome, EffectError> {
        self.settle(order, sku, "released", "reserved = reserved - h.quantity")
            .await
    }

    async fn commit(&self, _id: Uuid, order: OrderId, sku: &Sku) -> Result<Outcome, EffectError> {
        self.settle(
            order,
            sku,
            "committed",
            "reserved = reserved - h.quantity, on_hand = on_hand - h.quantity",
        )
        .await
    }
}

impl TableStock {
    async fn settle(
        &self,
        order: OrderId,
        sku: &Sku,
        to: &str,
        set: &str,
    ) -> Result<Outcome, EffectError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let sql = format!(
            "WITH h AS (UPDATE holds SET state = $3 WHERE order_id = $1 AND sku = $2 AND state = 'held' \
               RETURNING sku, quantity) \
             UPDATE stock SET {set} FROM h WHERE stock.sku = h.sku"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order.as_uuid())
            .bind(sku.as_str())
            .bind(to)
            .execute(&self.pool)
            .await
            .map_err(effect)?;
        Ok(Outcome::Applied)
    }
}

/// A provider that answers "later" (as an open circuit breaker does) the
/// first `later` times, then pays; it records every refund id it paid.
#[derive(Default)]
struct FlakyRefunds {
    later: AtomicUsize,
    /// Pay, then answer "later" this many times (a lost answer).
    lose_answers: AtomicUsize,
    asked: AtomicUsize,
    paid: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl RefundPort for FlakyRefunds {
    async fn refund(&self, _order: OrderId, refund: &RequestRefund) -> RefundAnswer {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let later = self.later.load(Ordering::Relaxed);
        if later > 0 {
            self.later.store(later - 1, Ordering::Relaxed);
            return RefundAnswer::Later {
                retry_after: Duration::from_millis(200),
            };
        }
        let mut paid = self.paid.lock().unwrap();
        if !paid.contains(&refund.refund_id.to_string()) {
            paid.push(refund.refund_id.to_string());
        }
        if self
            .lose_answers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return RefundAnswer::Later {
                retry_after: Duration::from_millis(100),
            };
        }
        RefundAnswer::Confirmed
    }
}

struct Env {
    _events_db: TestDb,
    _saga_db: TestDb,
    store: Arc<dyn EventStore>,
    pool: PgPool,
    stock: Arc<TableStock>,
    refunds: Arc<FlakyRefunds>,
    orders: CommandHandler,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Env {
    async fn start(payment_timeout: Duration) -> Env {
        let events_db = TestDb::new().await;
        let saga_db = TestDb::new().await;
        let store: Arc<dyn EventStore> = Arc::new(
            PgEventStore::connect(PgStoreConfig::new(events_db.url()))
                .await
                .unwrap(),
        );
        let pool = orderflow_fulfilment::connect(saga_db.url()).await.unwrap();
        let stock = Arc::new(TableStock::new(pool.clone()).await);
        let mut env = Env {
            _events_db: events_db,
            _saga_db: saga_db,
            orders: CommandHandler::new(Arc::clone(&store)),
            store,
            pool,
            stock,
            refunds: Arc::new(FlakyRefunds::default()),
            stop: None,
            task: None,
        };
        env.run(payment_timeout);
        env
    }

    fn run(&mut self, payment_timeout: Duration) {
        let driver = Driver::new(
            Arc::clone(&self.store),
            self.stock.clone(),
            self.refunds.clone(),
        );
        let config = FulfilmentConfig {
            payment_timeout,
            scheduler_interval: Duration::from_millis(50),
            runtime: RuntimeConfig {
                nats_url: String::new(),
                batch_size: 16,
                poll_interval: Duration::from_millis(10),
                standby_interval: Duration::from_millis(50),
                retry_backoff: Duration::from_millis(5),
                ..RuntimeConfig::default()
            },
            ..FulfilmentConfig::default()
        };
        let (stop, rx) = oneshot::channel::<()>();
        let (store, pool) = (Arc::clone(&self.store), self.pool.clone());
        self.task = Some(tokio::spawn(async move {
            run_fulfilment(store, pool, driver, config, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
        self.stop = Some(stop);
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Creates and submits an order of `quantity` × `sku`.
    async fn submit(&self, sku: &str, quantity: u32) -> OrderId {
        let order = OrderId::new(Uuid::now_v7());
        let create: OrderCommand = serde_json::from_value(serde_json::json!({
            "type": "CreateOrder",
            "order_id": order,
            "customer_id": "customer-1",
            "currency": "EUR",
            "items": [{ "sku": sku, "name": "Thing", "quantity": quantity,
                        "unit_price": { "amount_minor": 1000, "currency": "EUR" } }],
            "shipping_address": { "name": "A", "line1": "Street 1", "city": "Town",
                                   "postal_code": "12345", "country": "DE" },
        }))
        .unwrap();
        let ctx = CommandContext::default();
        self.orders.execute(order, &create, &ctx).await.unwrap();
        self.orders
            .execute(order, &OrderCommand::SubmitOrder, &ctx)
            .await
            .unwrap();
        order
    }

    async fn status(&self, order: OrderId) -> OrderStatus {
        self.orders.load(order).await.unwrap().0.status.unwrap()
    }

    async fn wait_until<F: AsyncFn() -> bool>(&self, what: &str, done: F) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stream_version(&self, stream: String) -> usize {
        self.store
            .read_stream(&StreamId::new(stream).unwrap())
            .await
            .unwrap()
            .len()
    }

    async fn phases(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT phase, count(*) FROM fulfilment_instances GROUP BY phase")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        rows.into_iter().collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_orders_for_ten_units_confirm_ten_and_reject_forty_and_a_replay_changes_nothing() {
    let mut env = Env::start(Duration::from_secs(3600)).await;
    env.stock.receive("WIDGET", 10).await;
    let orders: Vec<OrderId> =
        futures::future::join_all((0..50).map(|_| env.submit("WIDGET", 1))).await;

    env.wait_until("every instance settled", async || {
        let p = env.phases().await;
        p.get("awaiting_payment").copied().unwrap_or(0) + p.get("rejected").copied().unwrap_or(0)
            == 50
    })
    .await;
    let mut confirmed = 0;
    let mut rejected = 0;
    for &order in &orders {
        let (state, _) = env.orders.load(order).await.unwrap();
        match state.status.unwrap() {
            OrderStatus::Confirmed => confirmed += 1,
            OrderStatus::Rejected => {
                assert_eq!(
                    state.rejection_reason.as_deref(),
                    Some("out_of_stock: WIDGET")
                );
                rejected += 1;
            }
            other => panic!("order {order} is {other}"),
        }
    }
    assert_eq!((confirmed, rejected), (10, 40));
    assert_eq!(
        env.stock.level("WIDGET").await,
        (10, 10),
        "nothing oversold"
    );
    assert_eq!(env.stock.holds().await.get("held"), Some(&10));
    let status = orderflow_fulfilment::status(&env.pool, &env.store, Duration::ZERO)
        .await
        .unwrap();
    let phase = |name: &str| {
        status
            .by_phase
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, n)| *n)
    };
    assert_eq!(phase("awaiting_payment"), Some(10));
    assert_eq!(phase("rejected"), Some(40));
    assert_eq!(phase("reserving"), Some(0));
    assert!(status.stuck.is_empty(), "{:?}", status.stuck);
    assert_eq!(status.deadlines_pending, 10);
    let subscriber = status.subscriber.unwrap();
    assert_eq!(
        (subscriber.state.as_str(), subscriber.dead_letters),
        ("running", 0)
    );

    // Redelivery: the whole log again, from position zero.
    let versions = |env: &Env| {
        let orders = orders.clone();
        let store = Arc::clone(&env.store);
        async move {
            let mut v = Vec::new();
            for o in orders {
                for s in [o.stream_id(), stream_id(o)] {
                    v.push(
                        store
                            .read_stream(&StreamId::new(s).unwrap())
                            .await
                            .unwrap()
                            .len(),
                    );
                }
            }
            v
        }
    };
    let before = versions(&env).await;
    let calls = env.stock.calls.load(Ordering::Relaxed);
    env.stop().await;
    {
        let mut tx = env.pool.begin().await.unwrap();
        orderflow_subscriptions::checkpoint::restart(
            &mut tx,
            orderflow_fulfilment::NAME,
            1,
            orderflow_event_store::Position::START,
        )
        .await
        .unwrap();
        sqlx::query("DELETE FROM fulfilment_instances")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    env.run(Duration::from_secs(3600));
    env.wait_until("replayed to the head", async || {
        let head = env.store.head().await.unwrap();
        let mut conn = env.pool.acquire().await.unwrap();
        orderflow_subscriptions::checkpoint::load(&mut conn, orderflow_fulfilment::NAME)
            .await
            .unwrap()
            .is_some_and(|c| c.position >= head)
    })
    .await;
    assert_eq!(versions(&env).await, before, "no stream grew");
    assert_eq!(
        env.stock.calls.load(Ordering::Relaxed),
        calls,
        "no command issued again: nothing was outstanding"
    );
    let p = env.phases().await;
    assert_eq!(p.get("awaiting_payment"), Some(&10));
    assert_eq!(p.get("rejected"), Some(&40));
    assert_eq!(env.stock.level("WIDGET").await, (10, 10));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaid_order_is_cancelled_at_its_deadline_and_its_stock_released() {
    let mut env = Env::start(Duration::from_millis(300)).await;
    env.stock.receive("GADGET", 5).await;
    let order = env.submit("GADGET", 2).await;
    env.wait_until("cancelled", async || {
        env.status(order).await == OrderStatus::Cancelled
    })
    .await;
    let (state, _) = env.orders.load(order).await.unwrap();
    assert_eq!(
        state.cancellation_reason.as_deref(),
        Some("payment_timeout")
    );
    env.wait_until("stock back", async || {
        env.stock.level("GADGET").await == (5, 0)
    })
    .await;
    let fired: (i64,) = sqlx::query_as(
        "SELECT count(*) FROM fulfilment_deadlines WHERE kind = 'payment' AND fired_at IS NOT NULL",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(fired.0, 1);
    // The release is recorded just after it took effect.
    env.wait_until("the release recorded", async || {
        env.stream_version(stream_id(order)).await == 9
    })
    .await;
    let timeline = orderflow_fulfilment::timeline(&env.store, order)
        .await
        .unwrap();
    let mut types: Vec<&str> = timeline.iter().map(|e| e.event_type.as_str()).collect();
    // The cancel's own record and the order's OrderCancelled arriving from
    // the log race each other; either may be recorded first.
    types[6..8].sort_unstable();
    assert_eq!(
        types,
        [
            "FulfilmentStarted",
            "FulfilmentStockReserved",
            "FulfilmentReservationsComplete",
            "FulfilmentOrderCommandDone",
            "FulfilmentPaymentDeadlineSet",
            "FulfilmentPaymentTimedOut",
            "FulfilmentOrderCancelled",
            "FulfilmentOrderCommandDone",
            "FulfilmentStockReleased",
        ]
    );
    assert_eq!(env.stream_version(stream_id(order)).await, 9);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_order_is_not_cancelled_when_its_deadline_fires_late() {
    let mut env = Env::start(Duration::from_millis(400)).await;
    env.stock.receive("BOOK", 1).await;
    let order = env.submit("BOOK", 1).await;
    env.wait_until("confirmed", async || {
        env.status(order).await == OrderStatus::Confirmed
    })
    .await;
    let pay: OrderCommand = serde_json::from_value(serde_json::json!({
        "type": "RecordPayment", "payment_id": "pay-1",
        "amount": { "amount_minor": 1000, "currency": "EUR" },
    }))
    .unwrap();
    env.orders
        .execute(order, &pay, &CommandContext::default())
        .await
        .unwrap();
    env.wait_until("the deadline fired", async || {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM fulfilment_deadlines WHERE fired_at IS NOT NULL")
                .fetch_one(&env.pool)
                .await
                .unwrap();
        n == 1
    })
    .await;
    assert_eq!(env.status(order).await, OrderStatus::Paid);
    assert_eq!(env.stock.level("BOOK").await, (1, 1));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadline_that_came_due_while_nothing_ran_fires_after_the_restart() {
    // Long enough that a loaded machine stops the saga before it is due.
    let mut env = Env::start(Duration::from_secs(5)).await;
    env.stock.receive("LAMP", 1).await;
    let order = env.submit("LAMP", 1).await;
    env.wait_until("the deadline is stored", async || {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM fulfilment_deadlines")
            .fetch_one(&env.pool)
            .await
            .unwrap();
        n == 1
    })
    .await;
    env.stop().await;
    // Wait out the stored deadline with nothing running.
    let (fired,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM fulfilment_deadlines WHERE fired_at IS NOT NULL")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(fired, 0, "the deadline fired before the stop");
    env.wait_until("the deadline is due", async || {
        let (due,): (bool,) =
            sqlx::query_as("SELECT bool_and(due_at < now()) FROM fulfilment_deadlines")
                .fetch_one(&env.pool)
                .await
                .unwrap();
        due
    })
    .await;
    assert_eq!(
        env.status(order).await,
        OrderStatus::Confirmed,
        "nothing ran"
    );
    env.run(Duration::from_secs(5));
    env.wait_until("cancelled after the restart", async || {
        env.status(order).await == OrderStatus::Cancelled
    })
    .await;
    env.wait_until("stock back", async || {
        env.stock.level("LAMP").await == (1, 0)
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_paid_order_is_refunded_once_after_the_provider_said_later_twice() {
    let mut env = Env::start(Duration::from_secs(3600)).await;
    env.refunds.later.store(2, Ordering::Relaxed);
    env.stock.receive("CHAIR", 3).await;
    let order = env.submit("CHAIR", 1).await;
    env.wait_until("confirmed", async || {
        env.status(order).await == OrderStatus::Confirmed
    })
    .await;
    let pay: OrderCommand = serde_json::from_value(serde_json::json!({
        "type": "RecordPayment", "payment_id": "pay-7",
        "amount": { "amount_minor": 1000, "currency": "EUR" },
    }))
    .unwrap();
    let ctx = CommandContext::default();
    env.orders.execute(order, &pay, &ctx).await.unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: "customer changed their mind".into(),
    };
    env.orders.execute(order, &cancel, &ctx).await.unwrap();
    env.wait_until("the refund is recorded on the order", async || {
        let (state, _) = env.orders.load(order).await.unwrap();
        state.refunded_minor == 1000
    })
    .await;
    let (state, _) = env.orders.load(order).await.unwrap();
    assert_eq!(state.refund_ids.len(), 1, "recorded once");
    assert_eq!(env.refunds.paid.lock().unwrap().len(), 1, "paid once");
    assert_eq!(
        env.refunds.asked.load(Ordering::Relaxed),
        3,
        "later, later, paid"
    );
    env.wait_until("stock back", async || {
        env.stock.level("CHAIR").await == (3, 0)
    })
    .await;
    // A row is marked fired once its instance handled it, which includes
    // recording the refund: wait for the mark.
    env.wait_until("both retry deadlines fired", async || {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM fulfilment_deadlines \
             WHERE kind = 'refund_retry' AND fired_at IS NOT NULL",
        )
        .fetch_one(&env.pool)
        .await
        .unwrap();
        n == 2
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn effects_whose_answers_were_lost_are_not_repeated() {
    let mut env = Env::start(Duration::from_secs(3600)).await;
    env.stock.receive("DESK", 2).await;
    env.stock.lose_answers.store(1, Ordering::Relaxed);
    env.refunds.lose_answers.store(1, Ordering::Relaxed);
    // Reserved, then the answer lost: the batch is retried, the reserve
    // issued again, and it holds nothing more.
    let order = env.submit("DESK", 1).await;
    env.wait_until("confirmed", async || {
        env.status(order).await == OrderStatus::Confirmed
    })
    .await;
    assert_eq!(env.stock.level("DESK").await, (2, 1));
    assert_eq!(env.stock.lose_answers.load(Ordering::Relaxed), 0);
    // Paid back, then the answer lost: asked again, paid once, recorded once.
    let ctx = CommandContext::default();
    let pay: OrderCommand = serde_json::from_value(serde_json::json!({
        "type": "RecordPayment", "payment_id": "pay-9",
        "amount": { "amount_minor": 1000, "currency": "EUR" },
    }))
    .unwrap();
    env.orders.execute(order, &pay, &ctx).await.unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: "customer".into(),
    };
    env.orders.execute(order, &cancel, &ctx).await.unwrap();
    env.wait_until("refund recorded", async || {
        env.orders.load(order).await.unwrap().0.refunded_minor == 1000
    })
    .await;
    assert_eq!(env.refunds.asked.load(Ordering::Relaxed), 2);
    assert_eq!(env.refunds.paid.lock().unwrap().len(), 1);
    assert_eq!(env.orders.load(order).await.unwrap().0.refund_ids.len(), 1);
    env.wait_until("stock back", async || {
        env.stock.level("DESK").await == (2, 0)
    })
    .await;
    env.stop().await;
}
