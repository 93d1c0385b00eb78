//! The order events whose instances are acting, across batches: each
//! order's events act in log order, different orders at once, and a batch
//! no longer waits for its slowest order before the next events start (see
//! [`Prepared::First`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use orderflow_domain::{ORDER_CATEGORY, OrderId};
use orderflow_event_store::{Position, RecordedEvent};
use orderflow_subscriptions::{HandleError, Prepared};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;

use crate::error::FulfilmentError;

/// Orders acting at once. Each holds at most one store connection at a
/// time, and the store's pool (16 by default) is shared with the rest of
/// the process: with 64, a backlog's acts could take every connection and
/// leave the command API's requests waiting (16 gave the lower p99 in
/// `bench checkout`). Steady load needs few: at 200 orders/s an order's
/// acts take about 40 ms, so about 8 run at once.
const ACTING_AT_ONCE: usize = 16;

/// When a call starts nothing new and nothing finished, how long it waits
/// for an act to finish before answering (new events may be waiting).
const PROGRESS_WAIT: Duration = Duration::from_millis(10);

/// How one order event's act ended.
enum Ended {
    Done,
    Failed(FulfilmentError),
    /// Not run: an earlier event of the same order did not succeed.
    Blocked,
}

struct Act {
    order: OrderId,
    task: JoinHandle<Ended>,
}

/// Acts in the background; dropping it (or [`reset`](UnderWay::reset))
/// aborts whatever is still running, which the deterministic command ids
/// make as harmless as a crash.
pub(crate) struct UnderWay {
    /// Started and not yet reported done, by the order event's position.
    acts: BTreeMap<Position, Act>,
    /// Each order's last started event and how it will end, for the next
    /// event of that order to wait on.
    tails: HashMap<OrderId, (Position, oneshot::Receiver<bool>)>,
    /// Every event at or below this has been seen (order events started).
    seen_through: Position,
    permits: Arc<Semaphore>,
    finished: Arc<Notify>,
}

impl std::fmt::Debug for UnderWay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnderWay")
            .field("acting", &self.acts.len())
            .field("seen_through", &self.seen_through)
            .finish_non_exhaustive()
    }
}

impl Default for UnderWay {
    fn default() -> Self {
        UnderWay {
            acts: BTreeMap::new(),
            tails: HashMap::new(),
            seen_through: Position::START,
            permits: Arc::new(Semaphore::new(ACTING_AT_ONCE)),
            finished: Arc::new(Notify::new()),
        }
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.reset();
    }
}

impl UnderWay {
    /// Starts `act` for every order event of `events` not seen before,
    /// then says how many of `events` are done: the leading run whose acts
    /// succeeded (other events need none). An act that failed at the head
    /// of that run is the batch's error, and everything under way is
    /// dropped, to be started again from the checkpoint.
    pub async fn prepare<F, Fut>(
        &mut self,
        events: &[RecordedEvent],
        act: F,
    ) -> Result<Prepared, HandleError>
    where
        F: Fn(OrderId, RecordedEvent) -> Fut,
        Fut: Future<Output = Result<(), FulfilmentError>> + Send + 'static,
    {
        let mut started = false;
        for recorded in events {
            if recorded.position <= self.seen_through {
                continue;
            }
            self.seen_through = recorded.position;
            if recorded.stream_id.category() != ORDER_CATEGORY {
                continue;
            }
            started = true;
            let position = recorded.position;
            match OrderId::from_stream_id(recorded.stream_id.as_str()) {
                Ok(order) => self.start(order, position, act(order, recorded.clone())),
                Err(e) => {
                    // Reported when it reaches the head, like any failure.
                    let task = tokio::spawn(async move {
                        Ended::Failed(FulfilmentError::Corrupt(e.to_string()))
                    });
                    let order = OrderId::new(uuid::Uuid::nil());
                    self.acts.insert(position, Act { order, task });
                }
            }
        }
        metrics::gauge!("orderflow_fulfilment_acting").set(self.acts.len() as f64);
        loop {
            // Registered before looking, so a finish in between still wakes.
            let finished = Arc::clone(&self.finished);
            let progress = finished.notified();
            let done = self.done_prefix(events)?;
            if done == events.len() {
                return Ok(Prepared::All);
            }
            if started || done > 0 {
                return Ok(Prepared::First(done));
            }
            if tokio::time::timeout(PROGRESS_WAIT, progress).await.is_err() {
                return Ok(Prepared::First(0));
            }
            started = false;
        }
    }

    fn start<Fut>(&mut self, order: OrderId, position: Position, act: Fut)
    where
        Fut: Future<Output = Result<(), FulfilmentError>> + Send + 'static,
    {
        let (ended, next) = oneshot::channel();
        let before = self
            .tails
            .insert(order, (position, next))
            .map(|(_, before)| before);
        let permits = Arc::clone(&self.permits);
        let finished = Arc::clone(&self.finished);
        let task = tokio::spawn(async move {
            let outcome = async {
                if let Some(before) = before
                    && !before.await.unwrap_or(false)
                {
                    return Ended::Blocked;
                }
                // Never closed: `Err` cannot happen, and would only mean
                // acting without a permit.
                let _permit = permits.acquire_owned().await;
                match act.await {
                    Ok(()) => Ended::Done,
                    Err(e) => Ended::Failed(e),
                }
            }
            .await;
            let _ = ended.send(matches!(outcome, Ended::Done));
            finished.notify_one();
            outcome
        });
        self.acts.insert(position, Act { order, task });
    }

    /// How many leading `events` are done; takes their acts out.
    fn done_prefix(&mut self, events: &[RecordedEvent]) -> Result<usize, HandleError> {
        for (index, recorded) in events.iter().enumerate() {
            let Some(act) = self.acts.get_mut(&recorded.position) else {
                // No act (not an order event), or reported done before.
                continue;
            };
            let Some(ended) = (&mut act.task).now_or_never() else {
                return Ok(index);
            };
            let order = act.order;
            self.acts.remove(&recorded.position);
            if self
                .tails
                .get(&order)
                .is_some_and(|(last, _)| *last == recorded.position)
            {
                self.tails.remove(&order);
            }
            let error = match ended {
                Ok(Ended::Done) => continue,
                Ok(Ended::Failed(e)) => crate::subscriber::handle_error(index, e),
                Ok(Ended::Blocked) => {
                    HandleError::Transient("an earlier event of the order failed".into())
                }
                Err(e) => HandleError::Transient(format!("acting on an order event: {e}")),
            };
            self.reset();
            return Err(error);
        }
        Ok(events.len())
    }

    /// Forgets (and aborts) everything under way.
    pub fn reset(&mut self) {
        for act in self.acts.values() {
            act.task.abort();
        }
        self.acts.clear();
        self.tails.clear();
        self.seen_through = Position::START;
    }
}
