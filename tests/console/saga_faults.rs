//! The fulfilment process manager when things go wrong, as the console
//! and `orderflow sagas` show it:
//! - a **stuck instance**: its payment deadline fires, but the order
//!   cannot be cancelled (the store refuses that append, through the
//!   `EventStore` trait the saga's commands go through), so it stays
//!   `timed_out` while the saga's subscriber runs on;
//! - a **dead letter**: an instance event the saga cannot decode, appended
//!   through the `EventStore` trait; retried (dead-lettered again) and
//!   skipped from the console, then the same from the CLI, each act in the
//!   saga database's audit log.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orderflow_command_api::{CommandContext, InventoryHandler};
use orderflow_domain::{InventoryCommand, OrderId, Sku};
use orderflow_event_store::{
    AppendRequest, AppendResult, EventMetadata, EventStore, ExpectedVersion, IdempotencyRecord,
    NewEvent, Position, RecordedEvent, StoreError, StreamId, Watermark,
};
use orderflow_fulfilment::{Driver, FulfilmentConfig, InventoryStock, NoProvider};
use orderflow_subscriptions::RuntimeConfig;
use orderflow_testkit::TestDb;
use serde_json::json;

use super::acts::act;
use super::{get, orderflow, sign_in, state_of, wait_state};
use crate::support::{Stack, Step, nats_url};

/// The real store, except that appending `OrderCancelled` fails as an
/// unreachable database would.
struct CancelsFail(Arc<dyn EventStore>);

#[async_trait]
impl EventStore for CancelsFail {
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        if request
            .events
            .iter()
            .any(|e| e.event_type == "OrderCancelled")
        {
            return Err(StoreError::Unavailable(
                "test: cancellations cannot be written".into(),
            ));
        }
        self.0.append(request).await
    }
    async fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_stream(stream).await
    }
    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_all(after, limit).await
    }
    async fn head(&self) -> Result<Position, StoreError> {
        self.0.head().await
    }
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.0.find_idempotency(key).await
    }
    async fn delete_expired_idempotency(&self, limit: usize) -> Result<u64, StoreError> {
        self.0.delete_expired_idempotency(limit).await
    }
    async fn watermark(&self) -> Result<Watermark, StoreError> {
        self.0.watermark().await
    }
    async fn relay_checkpoint(&self, name: &str) -> Result<Option<Position>, StoreError> {
        self.0.relay_checkpoint(name).await
    }
    async fn save_relay_checkpoint(
        &self,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        self.0.save_relay_checkpoint(name, position).await
    }
}

/// A stack whose console reads `saga_db` (instances stuck after 1 s), and
/// the process manager on it, issuing its commands through `commands`;
/// stopped by dropping the sender.
struct Saga {
    stack: Stack,
    saga_db: TestDb,
    stop: tokio::sync::oneshot::Sender<()>,
    run: tokio::task::JoinHandle<()>,
}

async fn start(payment_timeout: Duration, cancels_fail: bool) -> Saga {
    let saga_db = TestDb::new().await;
    let url = saga_db.url().to_owned();
    let stack = Stack::start_with(|q| {
        q.console.fulfilment_database_url = Some(url);
        q.console.stuck_after = Duration::from_secs(1);
    })
    .await;
    let store = stack.store();
    let commands: Arc<dyn EventStore> = if cancels_fail {
        Arc::new(CancelsFail(Arc::clone(&store)))
    } else {
        Arc::clone(&store)
    };
    let driver = Driver::new(
        Arc::clone(&commands),
        Arc::new(InventoryStock::new(commands)),
        Arc::new(NoProvider {
            retry_after: Duration::from_secs(60),
        }),
    );
    let config = FulfilmentConfig {
        database_url: saga_db.url().to_owned(),
        payment_timeout,
        stuck_after: Duration::from_secs(1),
        scheduler_interval: Duration::from_millis(200),
        runtime: RuntimeConfig {
            nats_url: nats_url(),
            stream_name: stack.stream_name.clone(),
            standby_interval: Duration::from_millis(100),
            retry_backoff: Duration::from_millis(20),
            ..FulfilmentConfig::default().runtime
        },
        ..FulfilmentConfig::default()
    };
    let pool = orderflow_fulfilment::connect(saga_db.url()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        let _ = orderflow_fulfilment::run_fulfilment(store, pool, driver, config, async {
            let _ = stopped.await;
        })
        .await;
    });
    Saga {
        stack,
        saga_db,
        stop,
        run,
    }
}

impl Saga {
    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", self.stack.events_db.url().to_owned()),
            ("FULFILMENT_DATABASE_URL", self.saga_db.url().to_owned()),
            ("SAGA_STUCK_AFTER", "1s".to_owned()),
        ]
    }

    async fn finish(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.run).await;
        self.stack.finish().await;
    }
}

#[tokio::test]
async fn an_instance_whose_order_cannot_be_cancelled_is_shown_stuck() {
    let saga = start(Duration::from_secs(1), true).await;
    let stack = &saga.stack;
    let cookie = sign_in(stack, "ops-cy").await;
    InventoryHandler::new(stack.store())
        .execute(
            Sku::new("SKU-7").unwrap(),
            &InventoryCommand::ReceiveStock { quantity: 5 },
            &CommandContext::default(),
        )
        .await
        .unwrap();
    let (order, _) = stack.create_order("c-7", "EUR", &[("SKU-7", 1, 900)]).await;
    stack.advance(order, &[Step::Submit]).await;

    // Reserved, confirmed, unpaid for 1 s: the deadline fires, the
    // cancellation fails every time, and the instance stays timed out.
    // (With a 1 s threshold a loaded machine may also show it stuck on the
    // way, while the saga's subscriber trails the instance by over 1 s.)
    let id = order.to_string();
    let row = format!(
        "<a href=\"/console/orders/{id}\">{id}</a></td><td>timed_out</td>\
         <td>FulfilmentPaymentTimedOut</td>"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let html = loop {
        let p = get(&stack.query, Some(&cookie), "/console").await;
        assert_eq!(p.status, 200, "{}", p.html);
        if p.html.contains(&row) {
            break p.html;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", p.html);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let section = &html[html.find("<h2>Stuck fulfilment instances</h2>").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert_eq!(
        section.matches("<tr>").count(),
        2,
        "one instance: {section}"
    );
    assert!(
        html.contains("<dt>Stuck fulfilment instances</dt><dd><span class=\"state bad\">1</span>"),
        "{html}"
    );
    // The saga's subscriber itself is fine: only the instance is stuck.
    assert_eq!(state_of(&html, "fulfilment").as_deref(), Some("running"));

    let (ok, out) = orderflow(&["sagas", "status"], &saga.vars()).await;
    assert!(ok, "{out}");
    assert!(out.contains("stuck (no progress for 1s): 1"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("timed_out"), "{line}");
    assert!(line.contains("FulfilmentPaymentTimedOut"), "{line}");
    saga.finish().await;
}

/// Appends an event the process manager cannot decode to an instance
/// stream.
async fn undecodable(stack: &Stack) {
    let order = OrderId::new(uuid::Uuid::new_v4());
    let stream = StreamId::new(orderflow_domain::fulfilment::stream_id(order)).unwrap();
    stack
        .store()
        .append(AppendRequest::new(
            stream,
            ExpectedVersion::Any,
            vec![NewEvent {
                event_id: uuid::Uuid::new_v4(),
                event_type: "FulfilmentFrobnicated".into(),
                schema_version: 1,
                payload: json!({ "frob": true }),
                metadata: EventMetadata::default(),
            }],
        ))
        .await
        .unwrap();
}

async fn letters(saga: &Saga) -> (i64, i64) {
    let pool = orderflow_fulfilment::connect(saga.saga_db.url())
        .await
        .unwrap();
    let n = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE resolution IS NULL) FROM dead_letters \
         WHERE projection = 'fulfilment'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    n
}

async fn wait_letters(saga: &Saga, total: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while letters(saga).await.0 < total {
        assert!(tokio::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_saga_dead_letter_is_shown_retried_and_skipped_from_console_and_cli() {
    let saga = start(Duration::from_secs(600), false).await;
    let stack = &saga.stack;
    let base = &stack.query;
    let cookie = sign_in(stack, "ops-cy").await;
    undecodable(stack).await;
    wait_letters(&saga, 1).await;
    let p = wait_state(base, &cookie, "fulfilment", "stopped").await;
    assert!(
        p.html
            .contains("/console/dead-letters?subscriber=fulfilment\">1 open"),
        "{}",
        p.html
    );

    // Listed and shown in full.
    let list = get(
        base,
        Some(&cookie),
        "/console/dead-letters?subscriber=fulfilment",
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.html);
    assert!(list.html.contains("FulfilmentFrobnicated"), "{}", list.html);
    let pool = orderflow_fulfilment::connect(saga.saga_db.url())
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    let detail = get(
        base,
        Some(&cookie),
        &format!("/console/dead-letters/fulfilment/{id}"),
    )
    .await;
    assert_eq!(detail.status, 200, "{}", detail.html);
    for needle in ["FulfilmentFrobnicated", "fulfilment-", "frob"] {
        assert!(detail.html.contains(needle), "{needle}: {}", detail.html);
    }

    // Retry from the console: tried again, dead-lettered again.
    let p = act(base, &cookie, "fulfilment", "retry").await;
    assert_eq!(p.status, 303, "{}", p.html);
    wait_letters(&saga, 2).await;
    wait_state(base, &cookie, "fulfilment", "stopped").await;
    // Skip from the console: running past it, nothing open.
    let p = act(base, &cookie, "fulfilment", "skip").await;
    assert_eq!(p.status, 303, "{}", p.html);
    wait_state(base, &cookie, "fulfilment", "running").await;
    assert_eq!(letters(&saga).await, (2, 0));

    // Another one, retried and skipped from the CLI.
    undecodable(stack).await;
    wait_letters(&saga, 3).await;
    wait_state(base, &cookie, "fulfilment", "stopped").await;
    let (ok, out) = orderflow(&["sagas", "retry", "--actor", "alice"], &saga.vars()).await;
    assert!(ok, "{out}");
    assert!(out.contains("resumed by cli:alice"), "{out}");
    wait_letters(&saga, 4).await;
    wait_state(base, &cookie, "fulfilment", "stopped").await;
    let (ok, out) = orderflow(&["sagas", "skip", "--actor", "alice"], &saga.vars()).await;
    assert!(ok, "{out}");
    wait_state(base, &cookie, "fulfilment", "running").await;
    assert_eq!(letters(&saga).await, (4, 0));
    // Nothing left: refused, and not recorded.
    let (ok, out) = orderflow(&["sagas", "skip", "--actor", "alice"], &saga.vars()).await;
    assert!(!ok, "{out}");

    // The saga database's audit log, in order; the console and `sagas
    // status` show it.
    let log: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT actor, via, action, subscriber FROM operator_actions ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let row = |a: &str, v: &str, act: &str| {
        (
            a.to_owned(),
            v.to_owned(),
            act.to_owned(),
            "fulfilment".into(),
        )
    };
    assert_eq!(
        log,
        [
            row("ops-cy", "console", "retry"),
            row("ops-cy", "console", "skip"),
            row("alice", "cli", "retry"),
            row("alice", "cli", "skip"),
        ]
    );
    let p = get(base, Some(&cookie), "/console").await;
    let audit = &p.html[p.html.find("Audit log").unwrap()..];
    assert_eq!(
        audit
            .matches("<td>alice</td><td>cli</td><td>skip</td><td>fulfilment</td>")
            .count(),
        1,
        "{audit}"
    );
    assert_eq!(
        audit.matches("<td>ops-cy</td><td>console</td>").count(),
        2,
        "{audit}"
    );
    let (ok, out) = orderflow(&["sagas", "status"], &saga.vars()).await;
    assert!(ok, "{out}");
    assert!(out.contains("audit log (latest 4)"), "{out}");
    assert!(out.contains("cli:alice"), "{out}");
    pool.close().await;
    saga.finish().await;
}
