//! Order commands issued through the command API's own handler, in
//! process: the same load → decide → append loop as REST, with the step's
//! deterministic id as idempotency key, so a repeat is a replay.

use orderflow_command_api::{CommandContext, CommandError, CommandHandler, IdempotencyInput};
use orderflow_domain::fulfilment::Outcome;
use orderflow_domain::{OrderCommand, OrderId};
use uuid::Uuid;

use crate::ports::EffectError;

/// The audit actor of everything the process manager does.
pub const ACTOR: &str = "fulfilment";

/// Runs `command` on `order` as step `id` of its instance.
pub async fn issue(
    handler: &CommandHandler,
    id: Uuid,
    order: OrderId,
    command: &OrderCommand,
) -> Result<Outcome, EffectError> {
    let ctx = CommandContext {
        correlation_id: Some(order.to_string()),
        causation_id: Some(id.to_string()),
        actor: Some(ACTOR.to_owned()),
        actor_client_id: Some(ACTOR.to_owned()),
        idempotency: Some(IdempotencyInput {
            key: format!("{ACTOR}:{id}"),
            // The id names the step, and a step is always the same
            // request: the key can never meet a different one.
            request_hash: id.to_string(),
            owner: None,
        }),
        ..CommandContext::default()
    };
    match handler.execute(order, command, &ctx).await {
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
