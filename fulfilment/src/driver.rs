//! Drives one instance: decide on an input, append, then issue whatever
//! the instance has outstanding and feed each outcome back, until nothing
//! is left. Re-running it on the same input is harmless at every point:
//! events and commands carry deterministic ids.

use std::sync::Arc;

use chrono::Utc;
use orderflow_command_api::CommandHandler;
use orderflow_domain::fulfilment::{
    Command, FulfilmentState, Input, OrderStep, decide, outstanding,
};
use orderflow_domain::{OrderCommand, OrderId};
use orderflow_event_store::EventStore;

use crate::error::FulfilmentError;
use crate::instance::{self, Appended};
use crate::orders;
use crate::ports::{RefundAnswer, RefundPort, StockPort};

/// Appends of one input that lost to a concurrent writer before giving up
/// (the runtime then retries the whole event).
const MAX_CONFLICTS: usize = 10;
/// Rounds of "issue outstanding, record outcomes" per input. Each round
/// settles at least one command, and an instance has a few per line.
const MAX_ROUNDS: usize = 64;

/// Everything an instance acts on.
#[derive(Clone)]
pub struct Driver {
    pub store: Arc<dyn EventStore>,
    pub orders: CommandHandler,
    pub stock: Arc<dyn StockPort>,
    pub refunds: Arc<dyn RefundPort>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

impl Driver {
    pub fn new(
        store: Arc<dyn EventStore>,
        stock: Arc<dyn StockPort>,
        refunds: Arc<dyn RefundPort>,
    ) -> Driver {
        Driver {
            orders: CommandHandler::new(Arc::clone(&store)),
            store,
            stock,
            refunds,
        }
    }

    /// Feeds `input` (named `input_key`, unique per input) to `order`'s
    /// instance, then settles what it has outstanding.
    pub async fn handle(
        &self,
        order: OrderId,
        input_key: &str,
        input: &Input,
    ) -> Result<FulfilmentState, FulfilmentError> {
        let state = self.apply(order, input_key, input).await?;
        self.settle(order, state).await
    }

    /// Decides and appends, reloading on a conflict.
    async fn apply(
        &self,
        order: OrderId,
        input_key: &str,
        input: &Input,
    ) -> Result<FulfilmentState, FulfilmentError> {
        self.apply_all(order, input_key, std::slice::from_ref(input), None)
            .await
    }

    /// Decides on each input in turn and appends all their events at once
    /// (under one key), reloading on a conflict. `known`: the instance as
    /// this driver last wrote it, which saves a read; a stale one shows as
    /// a conflict, or is reloaded before deciding that nothing is to do.
    async fn apply_all(
        &self,
        order: OrderId,
        input_key: &str,
        inputs: &[Input],
        mut known: Option<FulfilmentState>,
    ) -> Result<FulfilmentState, FulfilmentError> {
        for _ in 0..MAX_CONFLICTS {
            let (state, verified) = match known.take() {
                Some(state) => (state, false),
                None => (instance::load(&self.store, order).await?.0, true),
            };
            let mut next = state.clone();
            let mut events = Vec::new();
            for input in inputs {
                let decision = decide(&next, input);
                next = decision
                    .events
                    .iter()
                    .fold(next, orderflow_domain::fulfilment::evolve);
                events.extend(decision.events);
            }
            if events.is_empty() {
                if !verified {
                    continue;
                }
                return Ok(state);
            }
            match instance::append(&self.store, order, &state, input_key, &events).await? {
                Appended::Done => {
                    for event in &events {
                        metrics::counter!("orderflow_fulfilment_events_total", "type" => event.event_type()).increment(1);
                    }
                    return Ok(next);
                }
                Appended::Conflict => continue,
            }
        }
        Err(FulfilmentError::Contention(order.to_string()))
    }

    /// Issues every outstanding command and records its outcome, until
    /// none is left or only deferred ones (a refund waiting for its retry
    /// deadline) remain.
    async fn settle(
        &self,
        order: OrderId,
        mut state: FulfilmentState,
    ) -> Result<FulfilmentState, FulfilmentError> {
        for _ in 0..MAX_ROUNDS {
            let pending: Vec<Command> = outstanding(&state)
                .into_iter()
                .filter(|c| !deferred(&state, c))
                .collect();
            let stock: Vec<&Command> = pending.iter().filter(|c| is_stock(c)).collect();
            if stock.len() > 1 {
                // One per line, on different skus, none waiting for
                // another: issued at once, their outcomes recorded in one
                // append (the decision waits for every line's answer anyway).
                let issued = futures::future::try_join_all(
                    stock
                        .iter()
                        .map(|command| self.issue_between_boundaries(order, &state, command)),
                )
                .await?;
                let ids: Vec<String> = stock.iter().map(|c| c.id(order).to_string()).collect();
                let key = format!("{}/outcomes", ids.join("+"));
                let inputs: Vec<Input> = issued.into_iter().map(|(_, input)| input).collect();
                state = self.apply_all(order, &key, &inputs, Some(state)).await?;
                continue;
            }
            let Some(command) = pending.into_iter().next() else {
                return Ok(state);
            };
            let id = command.id(order);
            let (key, input) = self
                .issue_between_boundaries(order, &state, &command)
                .await?;
            let key = key.unwrap_or_else(|| format!("{id}/outcome"));
            state = self
                .apply_all(order, &key, std::slice::from_ref(&input), Some(state))
                .await?;
        }
        Ok(state)
    }

    /// [`issue`](Driver::issue) between the crash points of its step.
    async fn issue_between_boundaries(
        &self,
        order: OrderId,
        state: &FulfilmentState,
        command: &Command,
    ) -> Result<(Option<String>, Input), FulfilmentError> {
        crate::failpoints::boundary("before", command.name());
        let issued = self.issue(order, state, command).await?;
        crate::failpoints::boundary("after", command.name());
        Ok(issued)
    }

    /// Issues one command; the input its outcome is, and that input's key
    /// when it is not simply the command's.
    async fn issue(
        &self,
        order: OrderId,
        state: &FulfilmentState,
        command: &Command,
    ) -> Result<(Option<String>, Input), FulfilmentError> {
        let id = command.id(order);
        let at = Utc::now();
        metrics::counter!("orderflow_fulfilment_commands_total", "step" => command.name())
            .increment(1);
        let order_step = |step, outcome| Input::OrderCommand { step, outcome, at };
        let input = match command {
            Command::Reserve(r) => Input::Reservation {
                sku: r.sku.clone(),
                outcome: self.stock.reserve(id, order, &r.sku, r.quantity).await?,
                at,
            },
            Command::Release(r) => {
                self.stock.release(id, order, &r.sku).await?;
                Input::StockReleased {
                    sku: r.sku.clone(),
                    at,
                }
            }
            Command::Commit(r) => {
                self.stock.commit(id, order, &r.sku).await?;
                Input::StockCommitted {
                    sku: r.sku.clone(),
                    at,
                }
            }
            Command::Confirm(_) => order_step(
                OrderStep::Confirm,
                orders::issue(&self.orders, id, order, &OrderCommand::ConfirmOrder).await?,
            ),
            Command::Reject(r) => order_step(
                OrderStep::Reject,
                orders::issue(
                    &self.orders,
                    id,
                    order,
                    &OrderCommand::RejectOrder {
                        reason: r.reason.clone(),
                    },
                )
                .await?,
            ),
            Command::Cancel(c) => order_step(
                OrderStep::Cancel,
                orders::issue(
                    &self.orders,
                    id,
                    order,
                    &OrderCommand::CancelOrder {
                        reason: c.reason.clone(),
                    },
                )
                .await?,
            ),
            Command::RecordRefund(r) => order_step(
                OrderStep::RecordRefund,
                orders::issue(
                    &self.orders,
                    id,
                    order,
                    &OrderCommand::IssueRefund {
                        refund_id: r.refund_id.clone(),
                        amount: r.amount,
                        reason: r.reason.clone(),
                    },
                )
                .await?,
            ),
            Command::RequestRefund(r) => match self.refunds.refund(order, r).await {
                RefundAnswer::Confirmed => Input::RefundConfirmed {
                    refund_id: r.refund_id.clone(),
                    at,
                },
                RefundAnswer::Later { retry_after } => {
                    let retry_at = at
                        + chrono::Duration::from_std(retry_after)
                            .unwrap_or(chrono::Duration::seconds(1));
                    let key = format!("{id}/deferred/{}", state.refund_retries);
                    return Ok((Some(key), Input::RefundDeferred { retry_at, at }));
                }
            },
        };
        Ok((None, input))
    }
}

/// A command on a sku's stock: it never depends on another line's.
fn is_stock(command: &Command) -> bool {
    matches!(
        command,
        Command::Reserve(_) | Command::Release(_) | Command::Commit(_)
    )
}

/// A refund whose retry deadline has not come yet waits for it.
fn deferred(state: &FulfilmentState, command: &Command) -> bool {
    use orderflow_domain::fulfilment::DeadlineKind;
    matches!(command, Command::RequestRefund(_))
        && state
            .deadline
            .is_some_and(|d| d.kind == DeadlineKind::RefundRetry && d.due_at > Utc::now())
}
