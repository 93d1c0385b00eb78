//! The command handler, the write side's only loop: load the stream, fold
//! it, decide, append with the expected version; on a version conflict,
//! load again and decide again (bounded). Usable without HTTP, e.g. by a
//! process manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use orderflow_domain::{
    CustomerId, EventDecodeError, OrderCommand, OrderError, OrderEvent, OrderId, OrderState,
    decide, evolve, fold,
};
use orderflow_event_store::{
    AppendRequest, AppendResult, EventMetadata, EventStore, ExpectedVersion, IdempotencyClaim,
    IdempotencyRecord, NewEvent, RecordedEvent, StoreError, StreamId,
};
use orderflow_observability::traceparent_of;
use tracing::Instrument;
use uuid::Uuid;

/// Conflict retries since the process started (also a Prometheus counter);
/// the benchmarks report it.
static CONFLICT_RETRIES: AtomicU64 = AtomicU64::new(0);

pub fn conflict_retries_total() -> u64 {
    CONFLICT_RETRIES.load(Ordering::Relaxed)
}

/// Who sent a command and under which conditions.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    /// Who asked: the bearer token's subject, with its roles and client.
    pub actor: Option<String>,
    pub actor_roles: Vec<String>,
    pub actor_client_id: Option<String>,
    /// Set for a customer: the command applies only to this customer's
    /// orders, and another's is answered exactly like a missing order.
    pub owner: Option<CustomerId>,
    pub traceparent: Option<String>,
    /// `If-Match`: apply only if the stream is at exactly this version.
    pub expected_version: Option<u64>,
    pub idempotency: Option<IdempotencyInput>,
}

/// An `Idempotency-Key` and the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyInput {
    pub key: String,
    pub request_hash: String,
    /// Whose key it is (the token's subject): two callers picking the same
    /// key never see each other's responses. `None` outside HTTP.
    pub owner: Option<String>,
}

impl IdempotencyInput {
    /// The key as the store records it: the owner's length and name before
    /// the caller's key, so no two (owner, key) pairs can collide.
    pub fn store_key(&self) -> String {
        match &self.owner {
            Some(owner) => format!("{}:{owner}:{}", owner.len(), self.key),
            None => self.key.clone(),
        }
    }
}

#[derive(Debug)]
pub enum CommandOutcome {
    /// The command's events were appended.
    Applied {
        state: Box<OrderState>,
        result: AppendResult,
    },
    /// The idempotency key was seen before with the same request: nothing
    /// was appended; this is the order as the first run left it.
    Replayed {
        /// The first run's order (a replayed create names the order it
        /// created, not the id minted for the retry).
        order_id: OrderId,
        state: Box<OrderState>,
        result: AppendResult,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] OrderError),
    #[error("order is at version {current}, not the expected {expected}")]
    PreconditionFailed { expected: u64, current: u64 },
    #[error("idempotency key was used before for a different request")]
    IdempotencyKeyReused,
    #[error("gave up after {0} version conflicts")]
    Contention(usize),
    #[error("stored event cannot be read: {0}")]
    Decode(#[from] EventDecodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lock stripes serialising commands on one order within this process.
const ORDER_LOCK_STRIPES: usize = 1024;
/// Folded orders remembered per stripe (so about 64 000 in all).
const CACHED_PER_STRIPE: usize = 64;

/// The orders of one lock stripe as last written by this process.
type StripeCache = std::collections::HashMap<OrderId, OrderState>;

/// Loads, decides and appends; cheap to clone.
#[derive(Clone)]
pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    max_attempts: usize,
    /// How long an `Idempotency-Key` is remembered.
    idempotency_ttl: Duration,
    /// Commands on the same order from one process take turns, so they
    /// never race each other into a version conflict (with group commit,
    /// N racers would need N rounds). Conflicts with other processes are
    /// still possible and are retried. Orders share a stripe by hash, which
    /// only ever serialises unrelated orders briefly.
    ///
    /// Each stripe also caches the orders it wrote: the next command decides
    /// on the cached state and appends with its version, skipping the read.
    /// A cache made stale by another process shows up as a version conflict
    /// (reload and retry), or is reloaded before a rejection or an `If-Match`
    /// mismatch is reported, so it never changes an answer.
    order_locks: Arc<[tokio::sync::Mutex<StripeCache>]>,
    /// Conflict retries of this handler (and its clones) alone, so a test can
    /// tell that its own handlers raced whatever else runs in the process.
    conflict_retries: Arc<AtomicU64>,
    /// Appends this handler lost to a twin with the same idempotency key in
    /// the store itself (both passed the look-up before either committed).
    claims_lost: Arc<AtomicU64>,
}

impl std::fmt::Debug for CommandHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandHandler")
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl CommandHandler {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        CommandHandler {
            store,
            max_attempts: 10,
            idempotency_ttl: IdempotencyClaim::DEFAULT_TTL,
            order_locks: (0..ORDER_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(StripeCache::new()))
                .collect(),
            conflict_retries: Arc::new(AtomicU64::new(0)),
            claims_lost: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Remembers idempotency keys for `ttl` (from their append's commit);
    /// after that a key is new again.
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// Requests of this handler whose idempotency key was claimed by a
    /// racing twin between the look-up and the append, and that were
    /// answered with the twin's response.
    pub fn idempotency_claims_lost(&self) -> u64 {
        self.claims_lost.load(Ordering::Relaxed)
    }

    /// Version conflicts this handler retried (see [`conflict_retries_total`]
    /// for the whole process).
    pub fn conflict_retries(&self) -> u64 {
        self.conflict_retries.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The order as folded from its stream, with the stream's events.
    pub async fn load(
        &self,
        order_id: OrderId,
    ) -> Result<(OrderState, Vec<(RecordedEvent, OrderEvent)>), CommandError> {
        let recorded = self.store.read_stream(&stream_of(order_id)?).await?;
        let mut decoded = Vec::with_capacity(recorded.len());
        for r in recorded {
            let e = OrderEvent::from_payload(&r.event_type, r.schema_version, r.payload.clone())?;
            decoded.push((r, e));
        }
        let state = fold(decoded.iter().map(|(_, e)| e));
        Ok((state, decoded))
    }

    /// Runs `command` against the order. With an idempotency key, a retry
    /// gets [`CommandOutcome::Replayed`] with the order as the first run left
    /// it (folded again from the stream up to that run's version), so the
    /// caller renders both the same way and nothing of its rendering is
    /// stored.
    ///
    /// Runs in a `command` span (a child of the caller's, e.g. the HTTP
    /// request's); each append gets an `append` span whose W3C trace context
    /// is stored with the events, so the relay and the projectors continue
    /// the trace. Without OpenTelemetry the caller's `traceparent` is stored
    /// as given.
    pub async fn execute(
        &self,
        order_id: OrderId,
        command: &OrderCommand,
        ctx: &CommandContext,
    ) -> Result<CommandOutcome, CommandError> {
        let span = tracing::info_span!(
            "command",
            command = command.name(),
            order_id = %order_id.as_uuid(),
        );
        self.execute_inner(order_id, command, ctx)
            .instrument(span)
            .await
    }

    async fn execute_inner(
        &self,
        order_id: OrderId,
        command: &OrderCommand,
        ctx: &CommandContext,
    ) -> Result<CommandOutcome, CommandError> {
        let stream = stream_of(order_id)?;
        let stripe = (order_id.as_uuid().as_u128() % ORDER_LOCK_STRIPES as u128) as usize;
        let mut cache = self.order_locks[stripe].lock().await;
        // A new order needs no read: if it does exist, the append says so.
        let mut known = cache.remove(&order_id).or_else(|| {
            matches!(command, OrderCommand::CreateOrder { .. }).then(OrderState::default)
        });
        let mut attempt = 0;
        while attempt < self.max_attempts {
            // A racing twin with the same key may have won since last time.
            if let Some(replay) = self.replay(ctx).await? {
                return Ok(replay);
            }
            let (state, verified) = match known.take() {
                Some(state) => (state, false),
                None => (self.load(order_id).await?.0, true),
            };
            if !owned_by(&state, ctx) {
                if !verified {
                    continue;
                }
                return Err(OrderError::NotFound.into());
            }
            if let Some(expected) = ctx.expected_version
                && expected != state.version
            {
                if !verified {
                    continue;
                }
                return Err(CommandError::PreconditionFailed {
                    expected,
                    current: state.version,
                });
            }
            let events = match decide(&state, command, Utc::now()) {
                Ok(events) => events,
                Err(_) if !verified => continue,
                Err(rejected) => return Err(rejected.into()),
            };
            let new_state = events.iter().fold(state.clone(), evolve);
            let expected = match state.version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            };
            let append_span = tracing::info_span!(
                "append",
                stream = %stream.as_str(),
                events = events.len(),
                attempt,
            );
            let traceparent = traceparent_of(&append_span).or_else(|| ctx.traceparent.clone());
            let request = AppendRequest {
                stream_id: stream.clone(),
                expected,
                events: events
                    .iter()
                    .map(|e| to_new_event(e, ctx, traceparent.clone()))
                    .collect(),
                idempotency: ctx.idempotency.as_ref().map(|i| IdempotencyClaim {
                    key: i.store_key(),
                    request_hash: i.request_hash.clone(),
                    // Only a note for whoever reads the table: a replay
                    // folds the stream up to the recorded version instead.
                    response: serde_json::json!({ "command": command.name() }),
                    ttl: self.idempotency_ttl,
                }),
            };
            match self.store.append(request).instrument(append_span).await {
                Ok(result) => {
                    if cache.len() >= CACHED_PER_STRIPE
                        && let Some(evict) = cache.keys().next().copied()
                    {
                        cache.remove(&evict);
                    }
                    cache.insert(order_id, new_state.clone());
                    return Ok(CommandOutcome::Applied {
                        state: Box::new(new_state),
                        result,
                    });
                }
                Err(StoreError::WrongExpectedVersion { .. }) => {
                    attempt += 1;
                    CONFLICT_RETRIES.fetch_add(1, Ordering::Relaxed);
                    self.conflict_retries.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("orderflow_command_conflict_retries_total").increment(1);
                }
                Err(StoreError::IdempotencyKeyUsed(record)) => {
                    self.claims_lost.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("orderflow_idempotency_claims_lost_total").increment(1);
                    return self.replay_or_reject(ctx, *record).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contention(self.max_attempts))
    }

    async fn replay(&self, ctx: &CommandContext) -> Result<Option<CommandOutcome>, CommandError> {
        let Some(idem) = &ctx.idempotency else {
            return Ok(None);
        };
        match self.store.find_idempotency(&idem.store_key()).await? {
            Some(record) => self.replay_or_reject(ctx, record).await.map(Some),
            None => Ok(None),
        }
    }

    /// The first run's outcome for a retry of the same request; a reused
    /// key with another request is refused.
    async fn replay_or_reject(
        &self,
        ctx: &CommandContext,
        record: IdempotencyRecord,
    ) -> Result<CommandOutcome, CommandError> {
        let same = ctx
            .idempotency
            .as_ref()
            .is_some_and(|i| i.request_hash == record.request_hash);
        if !same {
            return Err(CommandError::IdempotencyKeyReused);
        }
        // The first request's order: a replayed create minted a fresh id
        // that names nothing.
        let order_id = OrderId::from_stream_id(record.stream_id.as_str())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (_, events) = self.load(order_id).await?;
        let state = fold(
            events
                .iter()
                .filter(|(r, _)| r.stream_version <= record.result.stream_version)
                .map(|(_, e)| e),
        );
        if !owned_by(&state, ctx) {
            return Err(OrderError::NotFound.into());
        }
        Ok(CommandOutcome::Replayed {
            order_id,
            state: Box::new(state),
            result: record.result,
        })
    }
}

/// Whether the context may act on `state`: no owner required, or the
/// order is that owner's (or does not exist yet: decide says what then).
fn owned_by(state: &OrderState, ctx: &CommandContext) -> bool {
    match (&ctx.owner, &state.customer_id) {
        (Some(owner), Some(customer)) => owner == customer,
        _ => true,
    }
}

fn stream_of(order_id: OrderId) -> Result<StreamId, CommandError> {
    // An order id always makes a valid stream id ("order-<uuid>").
    StreamId::new(order_id.stream_id()).map_err(|e| StoreError::Corrupt(e.to_string()).into())
}

fn to_new_event(event: &OrderEvent, ctx: &CommandContext, traceparent: Option<String>) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        payload: event.payload(),
        metadata: EventMetadata {
            correlation_id: ctx.correlation_id.clone(),
            causation_id: ctx.causation_id.clone(),
            actor: ctx.actor.clone(),
            actor_roles: ctx.actor_roles.clone(),
            actor_client_id: ctx.actor_client_id.clone(),
            traceparent,
            idempotency_key: ctx.idempotency.as_ref().map(|i| i.key.clone()),
        },
    }
}
