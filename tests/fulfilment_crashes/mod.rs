//! Crash tests (issue 15): a real `orderflow fulfilment` process aborts at
//! a step boundary (a failpoint, see `orderflow_fulfilment::failpoints`),
//! a fresh process takes over, and every order ends as it would have
//! without the crash: its end state, the stock exact, one refund at the
//! provider, no event twice.
//!
//! Each test first checks what the crash left (so the process died where
//! it was meant to, with the effect done and its record missing, or the
//! reverse), then the end state after the restart; the streams are
//! compared whole, so a second reservation, release, cancellation or
//! refund is caught.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use orderflow::{Pipeline, Services};
use orderflow_command_api::{CommandContext, CommandHandler};
use orderflow_domain::{OrderCommand, OrderId, OrderState, OrderStatus};
use orderflow_event_store::{EventStore, StreamId};
use orderflow_testkit::{FakePaymentProvider, TestDb};

use super::{receive, stock, submit};
use crate::support::{Env, Service, nats_url};

/// SIGABRT: what `std::process::abort` ends a process with.
const SIGABRT: i32 = 6;
/// How long any one wait of a crash test may take.
const WITHIN: Duration = Duration::from_secs(20);

/// A test's store, relay (in this process), fake provider and the saga's
/// database; the saga itself runs as `orderflow fulfilment` processes.
struct Rig {
    env: Env,
    saga_db: TestDb,
    store: Arc<dyn EventStore>,
    orders: CommandHandler,
    relay: Pipeline,
    provider: FakePaymentProvider,
    sku: &'static str,
}

impl Rig {
    async fn new(sku: &'static str, on_hand: u32) -> Rig {
        let env = Env::new().await;
        let saga_db = TestDb::new().await;
        let store = env.store();
        receive(&store, sku, on_hand).await;
        let relay = env
            .start(Services {
                relay: Some(env.relay.clone()),
                ..Services::default()
            })
            .await;
        Rig {
            orders: CommandHandler::new(Arc::clone(&store)),
            provider: FakePaymentProvider::start().await,
            env,
            saga_db,
            store,
            relay,
            sku,
        }
    }

    /// An `orderflow fulfilment` process; with `failpoint`, it aborts there.
    async fn start(&self, name: &str, failpoint: Option<&str>, payment_timeout: &str) -> Service {
        let mut vars = vec![
            ("DATABASE_URL", self.env.events_db.url().to_owned()),
            ("FULFILMENT_DATABASE_URL", self.saga_db.url().to_owned()),
            ("NATS_URL", nats_url()),
            ("EVENTS_STREAM", self.env.stream_name.clone()),
            ("SUBJECT_PREFIX", self.env.prefix.clone()),
            ("PAYMENT_TIMEOUT", payment_timeout.to_owned()),
            ("PAYMENT_PROVIDER_URL", self.provider.url()),
            ("PAYMENT_PROVIDER_SECRET", "s3cret".to_owned()),
        ];
        if let Some(failpoint) = failpoint {
            vars.push(("FAILPOINTS", format!("{failpoint}=return")));
        }
        let service = Service::start(name, &["fulfilment"], &vars);
        service
            .wait_for("subscriber owned by this process", 1, WITHIN)
            .await;
        service
    }

    async fn order(&self, id: OrderId) -> OrderState {
        self.orders.load(id).await.unwrap().0
    }

    async fn types(&self, stream: &str) -> Vec<String> {
        self.store
            .read_stream(&StreamId::new(stream).unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// The event types of the order's and the product's streams, and the
    /// instance's sorted: a restart may settle what it has outstanding in
    /// another order than an uninterrupted run, never more of it.
    async fn streams(&self, id: OrderId) -> [Vec<String>; 3] {
        let mut instance = self
            .types(&orderflow_domain::fulfilment::stream_id(id))
            .await;
        instance.sort();
        [
            self.types(&format!("order-{id}")).await,
            self.types(&format!("product-{}", self.sku)).await,
            instance,
        ]
    }

    /// Waits until the streams are `expected` (the instance's in any
    /// order), then a little longer: a duplicate effect of the restart
    /// arriving late is caught too.
    async fn settles_to(&self, id: OrderId, expected: [&[&str]; 3], process: &Service) {
        let mut instance = expected[2].to_vec();
        instance.sort_unstable();
        let expected = [expected[0].to_vec(), expected[1].to_vec(), instance];
        let deadline = tokio::time::Instant::now() + WITHIN;
        while self.streams(id).await != expected {
            assert!(
                tokio::time::Instant::now() < deadline,
                "streams {:#?}\nexpected {expected:#?}\n{}",
                self.streams(id).await,
                process.dump()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(self.streams(id).await, expected, "{}", process.dump());
    }

    async fn finish(self, process: Service) {
        process.terminate();
        drop(process);
        self.relay.shutdown().await.unwrap();
        self.env.cleanup().await;
    }
}

/// Waits until `process` died at `failpoint`, hard.
async fn crashes_at(process: &mut Service, failpoint: &str) {
    let status = process.exit_status(WITHIN).await;
    assert_eq!(
        status.signal(),
        Some(SIGABRT),
        "{status:?}\n{}",
        process.dump()
    );
    assert_eq!(
        process
            .found(&format!("failpoint {failpoint}: aborting"))
            .len(),
        1,
        "{}",
        process.dump()
    );
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CONFIRMED_ORDER: &[&str] = &[
    "OrderCreated",
    "ItemAdded",
    "ShippingAddressSet",
    "OrderSubmitted",
    "OrderConfirmed",
];
const RESERVED: &[&str] = &["StockReceived", "StockReserved"];
const RELEASED: &[&str] = &["StockReceived", "StockReserved", "StockReleased"];
/// The instance of a one-line order up to its payment deadline.
const CONFIRMED_INSTANCE: &[&str] = &[
    "FulfilmentStarted",
    "FulfilmentStockReserved",
    "FulfilmentReservationsComplete",
    "FulfilmentOrderCommandDone",
    "FulfilmentPaymentDeadlineSet",
];

/// Step 1, reserve then confirm: the process dies at `failpoint` while it
/// handles `OrderSubmitted`; the next one confirms the order once.
async fn crash_between_reserving_and_confirming(failpoint: &str) {
    let rig = Rig::new("LAMP", 5).await;
    let mut first = rig
        .start("fulfilment-crashing", Some(failpoint), "1h")
        .await;
    let id = submit(&rig.orders, "LAMP", 2).await;
    crashes_at(&mut first, failpoint).await;

    let level = stock(&rig.store, "LAMP").await;
    assert_eq!(
        (level.on_hand, level.reserved),
        (5, 2),
        "reserved before the crash"
    );
    let status = rig.order(id).await.status;
    match failpoint {
        "fulfilment-after-confirm" => assert_eq!(status, Some(OrderStatus::Confirmed)),
        _ => assert_eq!(status, Some(OrderStatus::Submitted)),
    }

    let second = rig.start("fulfilment-restarted", None, "1h").await;
    rig.settles_to(id, [CONFIRMED_ORDER, RESERVED, CONFIRMED_INSTANCE], &second)
        .await;
    let level = stock(&rig.store, "LAMP").await;
    assert_eq!((level.on_hand, level.reserved), (5, 2));
    assert_eq!(level.reservation(&id), Some(2));
    rig.finish(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_reserving_before_recording_it() {
    crash_between_reserving_and_confirming("fulfilment-after-reserve").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_reserving_before_confirming() {
    crash_between_reserving_and_confirming("fulfilment-before-confirm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_confirming_before_recording_it() {
    crash_between_reserving_and_confirming("fulfilment-after-confirm").await;
}

/// Step 2, the payment deadline: it fires (a 1 s timeout), the process
/// dies at `failpoint`; the next one fires it again, which cancels the
/// order and releases its stock once.
async fn crash_between_deadline_and_cancelling(failpoint: &str) {
    let rig = Rig::new("DESK", 5).await;
    let mut first = rig
        .start("fulfilment-crashing", Some(failpoint), "1s")
        .await;
    let id = submit(&rig.orders, "DESK", 2).await;
    crashes_at(&mut first, failpoint).await;

    let [order, product, instance] = rig.streams(id).await;
    assert_eq!(product, RESERVED, "nothing released before the crash");
    assert!(
        instance.contains(&"FulfilmentPaymentTimedOut".to_owned()),
        "{instance:?}"
    );
    match failpoint {
        "fulfilment-after-cancel" => assert_eq!(order.last().unwrap(), "OrderCancelled"),
        _ => assert_eq!(order, CONFIRMED_ORDER),
    }

    let second = rig.start("fulfilment-restarted", None, "1s").await;
    let cancelled: &[&str] = &[
        "OrderCreated",
        "ItemAdded",
        "ShippingAddressSet",
        "OrderSubmitted",
        "OrderConfirmed",
        "OrderCancelled",
    ];
    let instance: &[&str] = &[
        "FulfilmentStarted",
        "FulfilmentStockReserved",
        "FulfilmentReservationsComplete",
        "FulfilmentOrderCommandDone",
        "FulfilmentPaymentDeadlineSet",
        "FulfilmentPaymentTimedOut",
        "FulfilmentOrderCommandDone",
        "FulfilmentOrderCancelled",
        "FulfilmentStockReleased",
    ];
    rig.settles_to(id, [cancelled, RELEASED, instance], &second)
        .await;
    let state = rig.order(id).await;
    assert_eq!(
        state.cancellation_reason.as_deref(),
        Some("payment_timeout")
    );
    let level = stock(&rig.store, "DESK").await;
    assert_eq!((level.on_hand, level.reserved), (5, 0));
    rig.finish(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_deadline_fired_before_cancelling() {
    crash_between_deadline_and_cancelling("fulfilment-before-cancel").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_cancelling_before_recording_it() {
    crash_between_deadline_and_cancelling("fulfilment-after-cancel").await;
}

/// Step 3, the refund of a paid order cancelled: the process dies at
/// `failpoint`; the next one finishes it, and the provider paid once.
/// `calls` is how often the provider is asked in all: a refund whose
/// confirmation was lost is asked again, under the same idempotency key.
async fn crash_around_the_refund(failpoint: &str, calls: usize) {
    let rig = Rig::new("SOFA", 3).await;
    let mut first = rig
        .start("fulfilment-crashing", Some(failpoint), "1h")
        .await;
    let id = submit(&rig.orders, "SOFA", 1).await;
    wait_until("confirmed", async || {
        rig.order(id).await.status == Some(OrderStatus::Confirmed)
    })
    .await;
    let ctx = CommandContext::default();
    let pay: OrderCommand = serde_json::from_value(serde_json::json!({
        "type": "RecordPayment", "payment_id": "pay-1",
        "amount": { "amount_minor": 1000, "currency": "EUR" },
    }))
    .unwrap();
    rig.orders.execute(id, &pay, &ctx).await.unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: "customer".into(),
    };
    rig.orders.execute(id, &cancel, &ctx).await.unwrap();
    crashes_at(&mut first, failpoint).await;

    assert_eq!(rig.provider.refunds().len(), 1, "paid before the crash");
    let refunded = rig.order(id).await.refunded_minor;
    match failpoint {
        "fulfilment-after-record-refund" => assert_eq!(refunded, 1000),
        _ => assert_eq!(refunded, 0, "the crash came before the order knew"),
    }

    let second = rig.start("fulfilment-restarted", None, "1h").await;
    let order: &[&str] = &[
        "OrderCreated",
        "ItemAdded",
        "ShippingAddressSet",
        "OrderSubmitted",
        "OrderConfirmed",
        "PaymentRecorded",
        "OrderCancelled",
        "RefundIssued",
    ];
    let instance: &[&str] = &[
        "FulfilmentStarted",
        "FulfilmentStockReserved",
        "FulfilmentReservationsComplete",
        "FulfilmentOrderCommandDone",
        "FulfilmentPaymentDeadlineSet",
        "FulfilmentPaymentReceived",
        "FulfilmentOrderCancelled",
        "FulfilmentRefundRequested",
        "FulfilmentStockReleased",
        "FulfilmentRefundConfirmed",
        "FulfilmentOrderCommandDone",
    ];
    rig.settles_to(id, [order, RELEASED, instance], &second)
        .await;
    let state = rig.order(id).await;
    assert_eq!(state.refunded_minor, 1000);
    assert_eq!(
        rig.provider.refunds().len(),
        1,
        "one refund at the provider"
    );
    assert_eq!(state.refund_ids.len(), 1);
    assert_eq!(state.refund_ids[0].as_str(), rig.provider.refunds()[0]);
    assert_eq!(rig.provider.requests(), calls, "calls to the provider");
    let level = stock(&rig.store, "SOFA").await;
    assert_eq!((level.on_hand, level.reserved), (3, 0));
    rig.finish(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_refund_call_before_recording_it() {
    crash_around_the_refund("fulfilment-after-refund", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_refund_is_recorded_on_the_order() {
    crash_around_the_refund("fulfilment-after-record-refund", 1).await;
}
