//! The process manager on the subscription runtime: order events become
//! inputs of their instance (whose commands are issued outside the batch's
//! transaction, under deterministic ids, see [`UnderWay`]), and the
//! instances' own events are folded into this subscriber's tables in that
//! transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orderflow_domain::fulfilment::{FULFILMENT_CATEGORY, FulfilmentEvent, Input, Line};
use orderflow_domain::{OrderEvent, OrderId, fold};
use orderflow_event_store::RecordedEvent;
use orderflow_subscriptions::{HandleError, Prepared, Subscriber};
use sqlx::PgConnection;

use crate::driver::Driver;
use crate::error::FulfilmentError;
use crate::tables;
use crate::under_way::UnderWay;

/// The subscriber's name: its checkpoint, lease, consumer and metrics label.
pub const NAME: &str = "fulfilment";

#[derive(Debug)]
pub struct FulfilmentSubscriber {
    actor: Arc<Actor>,
    under_way: UnderWay,
}

impl FulfilmentSubscriber {
    pub fn new(driver: Driver, payment_timeout: Duration) -> FulfilmentSubscriber {
        FulfilmentSubscriber {
            actor: Arc::new(Actor {
                driver,
                payment_timeout,
            }),
            under_way: UnderWay::default(),
        }
    }

    /// The batch's instance events (the instances' own), decoded, with
    /// their index for a poison report.
    fn instance_events(
        events: &[RecordedEvent],
    ) -> Result<Vec<tables::InstanceEvent>, HandleError> {
        let mut out = Vec::new();
        for (index, recorded) in events.iter().enumerate() {
            if recorded.stream_id.category() != FULFILMENT_CATEGORY {
                continue;
            }
            let decoded = instance_order(recorded.stream_id.as_str()).and_then(|order| {
                FulfilmentEvent::from_stored(&recorded.event_type, recorded.payload.clone())
                    .map(|event| (order, recorded.stream_version, event))
                    .map_err(|e| FulfilmentError::Corrupt(e.to_string()))
            });
            out.push(decoded.map_err(|e| handle_error(index, e))?);
        }
        Ok(out)
    }
}

/// What an order event makes its instance do.
#[derive(Debug)]
struct Actor {
    driver: Driver,
    payment_timeout: Duration,
}

impl Actor {
    /// The instance input an order event is, if any.
    async fn input_of(
        &self,
        order: OrderId,
        recorded: &RecordedEvent,
        event: OrderEvent,
    ) -> Result<Option<Input>, FulfilmentError> {
        Ok(Some(match event {
            OrderEvent::OrderSubmitted(e) => Input::OrderSubmitted {
                order,
                lines: self.lines_at(order, recorded.stream_version).await?,
                at: e.at,
            },
            OrderEvent::OrderConfirmed(e) => Input::OrderConfirmed {
                at: e.at,
                pay_by: e.at
                    + chrono::Duration::from_std(self.payment_timeout)
                        .unwrap_or(chrono::Duration::MAX),
            },
            OrderEvent::PaymentRecorded(e) => Input::PaymentRecorded {
                payment_id: e.payment_id,
                amount: e.amount,
                at: e.at,
            },
            OrderEvent::OrderCancelled(e) => Input::OrderCancelled {
                reason: e.reason,
                refund_owed: e.refund_owed,
                at: e.at,
            },
            OrderEvent::OrderRejected(e) => Input::OrderRejected {
                reason: e.reason,
                at: e.at,
            },
            OrderEvent::OrderShipped(e) => Input::OrderShipped { at: e.at },
            _ => return Ok(None),
        }))
    }

    /// The order's lines when it was submitted: the event says only the
    /// total, so the order's stream is folded up to it.
    async fn lines_at(&self, order: OrderId, version: u64) -> Result<Vec<Line>, FulfilmentError> {
        let (_, events) = self
            .driver
            .orders
            .load(order)
            .await
            .map_err(|e| FulfilmentError::Corrupt(e.to_string()))?;
        let state = fold(
            events
                .iter()
                .filter(|(r, _)| r.stream_version <= version)
                .map(|(_, e)| e),
        );
        Ok(state
            .items
            .into_iter()
            .map(|l| Line {
                sku: l.sku,
                quantity: l.quantity,
            })
            .collect())
    }

    /// Feeds an order event to its instance, which issues its commands.
    async fn act(&self, order: OrderId, recorded: &RecordedEvent) -> Result<(), FulfilmentError> {
        let event = OrderEvent::from_payload(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload.clone(),
        )
        .map_err(|e| FulfilmentError::Corrupt(e.to_string()))?;
        if let Some(input) = self.input_of(order, recorded, event).await? {
            let key = recorded.event_id.to_string();
            self.driver.handle(order, &key, &input).await?;
        }
        Ok(())
    }
}

/// What a failure at event `index` means to the runtime.
pub(crate) fn handle_error(index: usize, e: FulfilmentError) -> HandleError {
    match e {
        FulfilmentError::Corrupt(message) => HandleError::Poison { index, message },
        FulfilmentError::Database(e) => HandleError::Database(e),
        e => HandleError::Transient(e.to_string()),
    }
}

/// The order of an instance stream `fulfilment-<uuid>`.
pub fn instance_order(stream: &str) -> Result<OrderId, FulfilmentError> {
    stream
        .strip_prefix(FULFILMENT_CATEGORY)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|uuid| uuid::Uuid::try_parse(uuid).ok())
        .map(OrderId::new)
        .ok_or_else(|| FulfilmentError::Corrupt(format!("not an instance stream: {stream}")))
}

#[async_trait]
impl Subscriber for FulfilmentSubscriber {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    /// The instances act outside the batch's transaction, each order on
    /// its own and different orders at once: commands take a few store
    /// round trips each, and done inside the transaction they held back
    /// every reader of the log (see [`Subscriber::prepare`]). Their acts
    /// run on across batches, so a slow order holds back only its own
    /// events and the checkpoint, not the next orders' start. Orders only
    /// meet at a sku's stock, where the inventory's version check (and the
    /// handler's per-sku turn-taking) decides who gets the last unit.
    async fn prepare(&mut self, events: &[RecordedEvent]) -> Result<Prepared, HandleError> {
        let actor = Arc::clone(&self.actor);
        self.under_way
            .prepare(events, move |order, recorded| {
                let actor = Arc::clone(&actor);
                async move { actor.act(order, &recorded).await }
            })
            .await
    }

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        let instance_events = Self::instance_events(events)?;
        tables::fold_batch(tx, &instance_events).await?;
        Ok(())
    }

    fn reset(&mut self) {
        // Every input loads its instance afresh; only the acts under way
        // are in memory, and they start again from the checkpoint.
        self.under_way.reset();
    }
}
