//! The fulfilment process manager end to end: the relay feeding it from
//! real NATS, the inventory and order handlers it issues commands through,
//! its own database; and as separate `orderflow fulfilment` processes, one
//! SIGKILLed mid-run.
//!
//! The crash tests (a process aborted at each step boundary, then
//! restarted) are in `fulfilment_crashes`.
//!
//! A binary of its own: the saga's batch transaction stays open while it
//! issues commands, which holds the cluster-wide watermark (see
//! `e2e_projector`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fulfilment_crashes;
mod support;

use std::sync::Arc;
use std::time::Duration;

use orderflow::{FulfilmentService, Services};
use orderflow_command_api::{CommandContext, CommandHandler, InventoryHandler};
use orderflow_domain::{InventoryCommand, OrderCommand, OrderId, OrderStatus, Sku};
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig, StreamId};
use orderflow_fulfilment::FulfilmentConfig;
use orderflow_subscriptions::RuntimeConfig;
use orderflow_testkit::TestDb;
use uuid::Uuid;

use support::{Env, Service, assert_same, dump, nats_url, rebuilt};

fn saga_config(env: &Env, db: &TestDb, payment_timeout: Duration) -> FulfilmentConfig {
    FulfilmentConfig {
        database_url: db.url().to_owned(),
        payment_timeout,
        scheduler_interval: Duration::from_millis(50),
        runtime: RuntimeConfig {
            nats_url: nats_url(),
            stream_name: env.stream_name.clone(),
            standby_interval: Duration::from_millis(100),
            ..FulfilmentConfig::default().runtime
        },
        ..FulfilmentConfig::default()
    }
}

/// The relay and the saga (no payment provider) in one pipeline.
async fn start_relay_and_saga(
    env: &Env,
    saga_db: &TestDb,
    payment_timeout: Duration,
) -> orderflow::Pipeline {
    env.start(Services {
        relay: Some(env.relay.clone()),
        fulfilment: Some(FulfilmentService::without_provider(saga_config(
            env,
            saga_db,
            payment_timeout,
        ))),
        ..Services::default()
    })
    .await
}

async fn receive(store: &Arc<dyn EventStore>, sku: &str, quantity: u32) {
    InventoryHandler::new(Arc::clone(store))
        .execute(
            Sku::new(sku).unwrap(),
            &InventoryCommand::ReceiveStock { quantity },
            &CommandContext::default(),
        )
        .await
        .unwrap();
}

/// A store pool of its own on the test's events, waiting longer for a
/// connection: fifty submissions at once queue for them on a loaded
/// machine, and a timeout there says nothing about the saga.
async fn own_pool(env: &Env) -> PgEventStore {
    PgEventStore::connect(PgStoreConfig {
        connect_timeout: Duration::from_secs(60),
        ..PgStoreConfig::new(env.events_db.url())
    })
    .await
    .unwrap()
}

/// The handler the fifty-at-once tests submit through.
async fn submitter(env: &Env) -> CommandHandler {
    CommandHandler::new(Arc::new(own_pool(env).await))
}

/// The projector keeping `stock_levels` (and the other read models) live,
/// on its own pool: its readers wait on the watermark that the saga's
/// open transactions hold back, and must not starve the test's pool.
async fn start_projector(env: &Env) -> orderflow::Pipeline {
    orderflow::Pipeline::start_on(
        orderflow::EventStores::on_postgres(own_pool(env).await),
        Services {
            projector: Some(env.config.clone()),
            ..Services::default()
        },
    )
    .await
    .unwrap()
}

async fn submit(orders: &CommandHandler, sku: &str, quantity: u32) -> OrderId {
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
    orders.execute(order, &create, &ctx).await.unwrap();
    orders
        .execute(order, &OrderCommand::SubmitOrder, &ctx)
        .await
        .unwrap();
    order
}

/// Waits until every order left `submitted`; (confirmed, rejected).
async fn settle(orders: &CommandHandler, ids: &[OrderId], within: Duration) -> (usize, usize) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut confirmed = 0;
        let mut rejected = 0;
        for &id in ids {
            let (state, _) = orders.load(id).await.unwrap();
            match state.status.unwrap() {
                OrderStatus::Confirmed => confirmed += 1,
                OrderStatus::Rejected => {
                    assert_eq!(
                        state.rejection_reason.as_deref(),
                        Some("out_of_stock: WIDGET")
                    );
                    rejected += 1;
                }
                _ => {}
            }
        }
        if confirmed + rejected == ids.len() {
            return (confirmed, rejected);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{confirmed} confirmed, {rejected} rejected of {}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stock(store: &Arc<dyn EventStore>, sku: &str) -> orderflow_domain::InventoryState {
    InventoryHandler::new(Arc::clone(store))
        .load(Sku::new(sku).unwrap())
        .await
        .unwrap()
        .0
}

/// `stock_levels`, kept live by the projector, shows `sku` fully reserved
/// (`on_hand` units, none available) and equals its rebuild from the store
/// (as does every other read model), once the projector has passed the
/// last event of `sku` and of the `orders`. (Not `head()`: that is the
/// watermark, which another database's open transaction on the shared
/// cluster can hold behind them.)
async fn stock_levels_equal_their_rebuild(env: &Env, sku: &str, on_hand: i64, orders: &[OrderId]) {
    let mut streams = vec![format!("product-{sku}")];
    streams.extend(orders.iter().map(|id| format!("order-{id}")));
    let mut last = orderflow_event_store::Position::START;
    for stream in &streams {
        let events = env
            .store
            .read_stream(&StreamId::new(stream.as_str()).unwrap())
            .await
            .unwrap();
        last = last.max(events.last().unwrap().position);
    }
    env.wait_for(last, &[]).await;
    let row: (i64, i64, i64) =
        sqlx::query_as("SELECT on_hand, reserved, available FROM stock_levels WHERE sku = $1")
            .bind(sku)
            .fetch_one(&env.read)
            .await
            .unwrap();
    assert_eq!(row, (on_hand, on_hand, 0), "stock_levels of {sku}");
    let live = dump(&env.read).await;
    assert_eq!(live["stock_levels"].len(), 1);
    assert_same(&live, &rebuilt(env).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_orders_for_ten_units_confirm_exactly_ten_through_the_pipeline() {
    let env = Env::new().await;
    let saga_db = TestDb::new().await;
    let store = env.store();
    receive(&store, "WIDGET", 10).await;
    let running = start_relay_and_saga(&env, &saga_db, Duration::from_secs(3600)).await;
    let projector = start_projector(&env).await;
    let orders = submitter(&env).await;
    let ids = futures::future::join_all((0..50).map(|_| submit(&orders, "WIDGET", 1))).await;
    let (confirmed, rejected) = settle(&orders, &ids, Duration::from_secs(120)).await;
    assert_eq!((confirmed, rejected), (10, 40));
    let level = stock(&store, "WIDGET").await;
    assert_eq!(
        (level.on_hand, level.reserved),
        (10, 10),
        "nothing oversold"
    );
    assert_eq!(level.reservations.len(), 10);
    // Every refused order got nothing held; every confirmed one its unit.
    for &id in &ids {
        let (state, _) = orders.load(id).await.unwrap();
        let held = level.reservation(&id);
        match state.status.unwrap() {
            OrderStatus::Confirmed => assert_eq!(held, Some(1)),
            _ => assert_eq!(held, None),
        }
    }
    stock_levels_equal_their_rebuild(&env, "WIDGET", 10, &ids).await;
    projector.shutdown().await.unwrap();
    running.shutdown().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaid_order_is_cancelled_at_its_deadline_and_its_stock_released() {
    let env = Env::new().await;
    let saga_db = TestDb::new().await;
    let store = env.store();
    receive(&store, "GADGET", 5).await;
    let running = start_relay_and_saga(&env, &saga_db, Duration::from_millis(500)).await;
    let orders = CommandHandler::new(Arc::clone(&store));
    let id = submit(&orders, "GADGET", 2).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (state, _) = orders.load(id).await.unwrap();
        let level = stock(&store, "GADGET").await;
        if state.status == Some(OrderStatus::Cancelled) && level.reserved == 0 {
            assert_eq!(
                state.cancellation_reason.as_deref(),
                Some("payment_timeout")
            );
            assert_eq!(level.on_hand, 5);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{state:?} {level:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Exactly one reserve and one release reached the stock.
    let product = store
        .read_stream(&StreamId::new("product-GADGET").unwrap())
        .await
        .unwrap();
    let types: Vec<&str> = product.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["StockReceived", "StockReserved", "StockReleased"]);

    // What an operator sees, once the instance recorded the release (just
    // after it took effect).
    let instance = StreamId::new(orderflow_domain::fulfilment::stream_id(id)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.read_stream(&instance).await.unwrap().len() < 9 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "release never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let vars = [
        ("DATABASE_URL", env.events_db.url().to_owned()),
        ("FULFILMENT_DATABASE_URL", saga_db.url().to_owned()),
    ];
    // (Output is read by threads: wait for it rather than dump at exit.)
    let mut show = Service::start("sagas show", &["sagas", "show", &id.to_string()], &vars);
    for step in [
        "FulfilmentStarted",
        "FulfilmentPaymentTimedOut",
        "FulfilmentOrderCancelled",
        "FulfilmentStockReleased",
    ] {
        show.wait_for(step, 1, Duration::from_secs(30)).await;
    }
    assert!(show.exit_status(Duration::from_secs(30)).await.success());
    let mut status = Service::start("sagas status", &["sagas", "status", "--json"], &vars);
    status
        .wait_for("\"dead_letters\": 0", 1, Duration::from_secs(30))
        .await;
    assert!(status.exit_status(Duration::from_secs(30)).await.success());
    running.shutdown().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_one_sigkilled_mid_run_still_confirm_exactly_ten() {
    let env = Env::new().await;
    let saga_db = TestDb::new().await;
    let store = env.store();
    receive(&store, "WIDGET", 10).await;
    let relay = env
        .start(Services {
            relay: Some(env.relay.clone()),
            ..Services::default()
        })
        .await;
    let projector = start_projector(&env).await;
    let vars = vec![
        ("DATABASE_URL", env.events_db.url().to_owned()),
        ("FULFILMENT_DATABASE_URL", saga_db.url().to_owned()),
        ("NATS_URL", nats_url()),
        ("EVENTS_STREAM", env.stream_name.clone()),
        ("SUBJECT_PREFIX", env.prefix.clone()),
        ("PAYMENT_TIMEOUT", "1h".to_owned()),
    ];
    let mut first = Service::start("fulfilment-1", &["fulfilment"], &vars);
    first
        .wait_for(
            "subscriber owned by this process",
            1,
            Duration::from_secs(30),
        )
        .await;
    // Started second, it stands by until the first is gone.
    let second = Service::start("fulfilment-2", &["fulfilment"], &vars);
    let orders = submitter(&env).await;
    let ids = futures::future::join_all((0..50).map(|_| submit(&orders, "WIDGET", 1))).await;
    // Mid-run: as soon as some orders are decided, the owner dies.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let level = stock(&store, "WIDGET").await;
        if level.reserved > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing reserved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    second
        .wait_for(
            "subscriber owned by this process",
            1,
            Duration::from_secs(30),
        )
        .await;
    let (confirmed, rejected) = settle(&orders, &ids, Duration::from_secs(120)).await;
    assert_eq!((confirmed, rejected), (10, 40), "{}", second.dump());
    let level = stock(&store, "WIDGET").await;
    assert_eq!(
        (level.on_hand, level.reserved),
        (10, 10),
        "nothing oversold"
    );
    // The product stream: one receipt, ten reservations, nothing twice.
    let product = store
        .read_stream(&StreamId::new("product-WIDGET").unwrap())
        .await
        .unwrap();
    assert_eq!(product.len(), 11);
    stock_levels_equal_their_rebuild(&env, "WIDGET", 10, &ids).await;
    projector.shutdown().await.unwrap();
    second.terminate();
    relay.shutdown().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_paid_order_is_refunded_once_by_a_provider_that_failed_then_recovered() {
    use orderflow_payments::{BreakerConfig, ProviderConfig, RetryConfig, SharedSecret};
    use orderflow_testkit::{FakePaymentProvider, ProviderBehaviour};

    let env = Env::new().await;
    let saga_db = TestDb::new().await;
    let store = env.store();
    receive(&store, "SOFA", 1).await;
    let provider = FakePaymentProvider::start().await;
    provider.set_behaviour(ProviderBehaviour::Fail);
    let provider_config = ProviderConfig {
        call_timeout: Duration::from_millis(500),
        retry: RetryConfig {
            max_retries: 1,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        breaker: BreakerConfig {
            failure_threshold: 2,
            cool_down: Duration::from_millis(300),
        },
        ..ProviderConfig::new(provider.url(), SharedSecret::new("s3cret").unwrap())
    };
    let config = FulfilmentConfig {
        refund_retry: Duration::from_millis(200),
        ..saga_config(&env, &saga_db, Duration::from_secs(3600))
    };
    let running = env
        .start(Services {
            relay: Some(env.relay.clone()),
            fulfilment: Some(
                FulfilmentService::with_provider(config, Some(provider_config)).unwrap(),
            ),
            ..Services::default()
        })
        .await;
    let orders = CommandHandler::new(Arc::clone(&store));
    let id = submit(&orders, "SOFA", 1).await;
    settle(&orders, &[id], Duration::from_secs(60)).await;
    let ctx = CommandContext::default();
    let pay: OrderCommand = serde_json::from_value(serde_json::json!({
        "type": "RecordPayment", "payment_id": "pay-1",
        "amount": { "amount_minor": 1000, "currency": "EUR" },
    }))
    .unwrap();
    orders.execute(id, &pay, &ctx).await.unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: "customer".into(),
    };
    orders.execute(id, &cancel, &ctx).await.unwrap();
    // Failing: the refund waits (the breaker opens), nothing is recorded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while provider.requests() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(orders.load(id).await.unwrap().0.refunded_minor, 0);
    assert!(provider.refunds().is_empty());
    // Recovered: paid once, recorded once.
    provider.set_behaviour(ProviderBehaviour::Answer);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while orders.load(id).await.unwrap().0.refunded_minor != 1000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "refund never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(provider.refunds().len(), 1);
    let (state, _) = orders.load(id).await.unwrap();
    assert_eq!(state.refund_ids.len(), 1);
    assert_eq!(state.refund_ids[0].as_str(), provider.refunds()[0]);
    running.shutdown().await.unwrap();
    env.cleanup().await;
}
