//! The inventory as the instance uses it: the command API's inventory
//! handler, in process, with the step's id as idempotency key (on top of
//! the inventory's own idempotency per order).

use std::sync::Arc;

use async_trait::async_trait;
use orderflow_command_api::{CommandContext, CommandError, IdempotencyInput, InventoryHandler};
use orderflow_domain::fulfilment::Outcome;
use orderflow_domain::{InventoryCommand, OrderId, Sku};
use orderflow_event_store::EventStore;
use uuid::Uuid;

use crate::orders::ACTOR;
use crate::ports::{EffectError, StockPort};

#[derive(Debug, Clone)]
pub struct InventoryStock {
    handler: InventoryHandler,
}

impl InventoryStock {
    pub fn new(store: Arc<dyn EventStore>) -> InventoryStock {
        InventoryStock {
            handler: InventoryHandler::new(store),
        }
    }

    async fn run(
        &self,
        id: Uuid,
        order: OrderId,
        sku: &Sku,
        command: InventoryCommand,
    ) -> Result<Outcome, EffectError> {
        let ctx = CommandContext {
            correlation_id: Some(order.to_string()),
            causation_id: Some(id.to_string()),
            actor: Some(ACTOR.to_owned()),
            actor_client_id: Some(ACTOR.to_owned()),
            idempotency: Some(IdempotencyInput {
                key: format!("{ACTOR}:{id}"),
                // A step is always the same request (see `orders::issue`).
                request_hash: id.to_string(),
                owner: None,
            }),
            ..CommandContext::default()
        };
        match self.handler.execute(sku.clone(), &command, &ctx).await {
            Ok(_) => Ok(Outcome::Applied),
            Err(CommandError::Rejected(e)) => Ok(Outcome::Refused {
                reason: e.code().to_owned(),
            }),
            Err(e @ (CommandError::Store(_) | CommandError::Contention(_))) => {
                Err(EffectError(e.to_string()))
            }
            Err(e) => Ok(Outcome::Refused {
                reason: e.to_string(),
            }),
        }
    }
}

#[async_trait]
impl StockPort for InventoryStock {
    async fn reserve(
        &self,
        id: Uuid,
        order: OrderId,
        sku: &Sku,
        quantity: u32,
    ) -> Result<Outcome, EffectError> {
        let command = InventoryCommand::Reserve {
            order_id: order,
            quantity,
        };
        self.run(id, order, sku, command).await
    }

    async fn release(&self, id: Uuid, order: OrderId, sku: &Sku) -> Result<Outcome, EffectError> {
        let command = InventoryCommand::Release { order_id: order };
        self.run(id, order, sku, command).await
    }

    async fn commit(&self, id: Uuid, order: OrderId, sku: &Sku) -> Result<Outcome, EffectError> {
        let command = InventoryCommand::Commit { order_id: order };
        self.run(id, order, sku, command).await
    }
}
