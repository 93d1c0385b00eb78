//! The process manager on the subscription runtime: order events become
//! inputs of their instance (whose commands are issued before the batch
//! commits, under deterministic ids), and the instances' own events are
//! folded into this subscriber's tables in the batch transaction.

use std::time::Duration;

use async_trait::async_trait;
use orderflow_domain::fulfilment::{FULFILMENT_CATEGORY, FulfilmentEvent, Input, Line};
use orderflow_domain::{ORDER_CATEGORY, OrderEvent, OrderId, fold};
use orderflow_event_store::RecordedEvent;
use orderflow_subscriptions::{HandleError, Subscriber};
use sqlx::PgConnection;

use crate::driver::Driver;
use crate::error::FulfilmentError;
use crate::tables;

/// The subscriber's name: its checkpoint, lease, consumer and metrics label.
pub const NAME: &str = "fulfilment";

#[derive(Debug)]
pub struct FulfilmentSubscriber {
    driver: Driver,
    payment_timeout: Duration,
}

impl FulfilmentSubscriber {
    pub fn new(driver: Driver, payment_timeout: Duration) -> FulfilmentSubscriber {
        FulfilmentSubscriber {
            driver,
            payment_timeout,
        }
    }

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

    async fn handle_one(
        &self,
        tx: &mut PgConnection,
        recorded: &RecordedEvent,
    ) -> Result<(), FulfilmentError> {
        let stream = recorded.stream_id.as_str();
        match recorded.stream_id.category() {
            ORDER_CATEGORY => {
                let order = OrderId::from_stream_id(stream)
                    .map_err(|e| FulfilmentError::Corrupt(e.to_string()))?;
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
            FULFILMENT_CATEGORY => {
                let order = instance_order(stream)?;
                let event =
                    FulfilmentEvent::from_stored(&recorded.event_type, recorded.payload.clone())
                        .map_err(|e| FulfilmentError::Corrupt(e.to_string()))?;
                tables::fold_event(tx, order, recorded.stream_version, &event).await?;
                Ok(())
            }
            _ => Ok(()),
        }
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

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        for (index, recorded) in events.iter().enumerate() {
            match self.handle_one(tx, recorded).await {
                Ok(()) => {}
                Err(FulfilmentError::Corrupt(message)) => {
                    return Err(HandleError::Poison { index, message });
                }
                Err(FulfilmentError::Database(e)) => return Err(HandleError::Database(e)),
                Err(e) => return Err(HandleError::Transient(e.to_string())),
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        // Nothing in memory: every input loads its instance afresh.
    }
}
