//! The command handler, the write side's only loop: load the stream, fold
//! it, decide, append with the expected version; on a version conflict,
//! load again and decide again (bounded). Usable without HTTP, e.g. by a
//! process manager. One loop for every aggregate ([`Aggregate`]): orders
//! ([`CommandHandler`]) and the stock of skus ([`InventoryHandler`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use orderflow_domain::{CustomerId, EventDecodeError, OrderError};
use orderflow_event_store::{
    AppendRequest, AppendResult, EventMetadata, EventStore, ExpectedVersion, IdempotencyClaim,
    IdempotencyRecord, NewEvent, Position, RecordedEvent, StoreError, StreamId,
};
use orderflow_observability::traceparent_of;
use tracing::Instrument;
use uuid::Uuid;

use crate::aggregate::{Aggregate, Inventory, Order};

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
    /// `If-Match`: apply only if the stream is at exactly this version.
    pub traceparent: Option<String>,
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
pub enum CommandOutcome<A: Aggregate = Order> {
    /// The command's events were appended; or, when the decision was that
    /// the command had taken effect before (a repeated reservation), none
    /// were and `result` names the stream's last event.
    Applied {
        state: Box<A::State>,
        result: AppendResult,
    },
    /// The idempotency key was seen before with the same request: nothing
    /// was appended; this is the instance as the first run left it.
    Replayed {
        /// The first run's instance (a replayed create names the order it
        /// created, not the id minted for the retry).
        id: A::Id,
        state: Box<A::State>,
        result: AppendResult,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError<R = OrderError> {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(R),
    #[error("the stream is at version {current}, not the expected {expected}")]
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

impl From<OrderError> for CommandError<OrderError> {
    fn from(e: OrderError) -> Self {
        CommandError::Rejected(e)
    }
}

impl From<orderflow_domain::InventoryError> for CommandError<orderflow_domain::InventoryError> {
    fn from(e: orderflow_domain::InventoryError) -> Self {
        CommandError::Rejected(e)
    }
}

/// Lock stripes serialising commands on one instance within this process.
const LOCK_STRIPES: usize = 1024;
/// Folded instances remembered per stripe (so about 64 000 in all).
const CACHED_PER_STRIPE: usize = 64;

/// The instances of one lock stripe as last written by this process.
type StripeCache<A> = HashMap<<A as Aggregate>::Id, <A as Aggregate>::State>;

/// The handler of orders.
pub type CommandHandler = AggregateHandler<Order>;

/// The handler of the stock of skus (`product-<sku>` streams).
pub type InventoryHandler = AggregateHandler<Inventory>;

/// Loads, decides and appends for one aggregate; cheap to clone.
pub struct AggregateHandler<A: Aggregate> {
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
    locks: Arc<[tokio::sync::Mutex<StripeCache<A>>]>,
    /// Conflict retries of this handler (and its clones) alone, so a test can
    /// tell that its own handlers raced whatever else runs in the process.
    conflict_retries: Arc<AtomicU64>,
    /// Appends this handler lost to a twin with the same idempotency key in
    /// the store itself (both passed the look-up before either committed).
    claims_lost: Arc<AtomicU64>,
}

// By hand: a derive would ask `A: Clone`, which the marker types need not be.
impl<A: Aggregate> Clone for AggregateHandler<A> {
    fn clone(&self) -> Self {
        AggregateHandler {
            store: self.store.clone(),
            max_attempts: self.max_attempts,
            idempotency_ttl: self.idempotency_ttl,
            locks: self.locks.clone(),
            conflict_retries: self.conflict_retries.clone(),
            claims_lost: self.claims_lost.clone(),
        }
    }
}

impl<A: Aggregate> std::fmt::Debug for AggregateHandler<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateHandler")
            .field("aggregate", &std::any::type_name::<A>())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> AggregateHandler<A> {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        AggregateHandler {
            store,
            max_attempts: 10,
            idempotency_ttl: IdempotencyClaim::DEFAULT_TTL,
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(StripeCache::<A>::new()))
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

    /// The instance as folded from its stream, with the stream's events.
    #[allow(clippy::type_complexity)]
    pub async fn load(
        &self,
        id: A::Id,
    ) -> Result<(A::State, Vec<(RecordedEvent, A::Event)>), CommandError<A::Error>> {
        let recorded = self.store.read_stream(&stream_of::<A>(&id)?).await?;
        let mut decoded = Vec::with_capacity(recorded.len());
        for r in recorded {
            let e = A::decode(&r.event_type, r.schema_version, r.payload.clone())?;
            decoded.push((r, e));
        }
        let state = decoded
            .iter()
            .fold(A::State::default(), |s, (_, e)| A::evolve(s, e));
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
        id: A::Id,
        command: &A::Command,
        ctx: &CommandContext,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>> {
        let span = tracing::info_span!(
            "command",
            command = A::command_name(command),
            stream = %A::stream_id(&id),
        );
        self.execute_inner(&id, command, ctx).instrument(span).await
    }

    async fn execute_inner(
        &self,
        id: &A::Id,
        command: &A::Command,
        ctx: &CommandContext,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>> {
        let stream = stream_of::<A>(id)?;
        // A repeat of an answered request needs no turn on the stripe. The
        // look-up is a round trip, so it is made before queueing for the
        // lock, which then covers the decision and the append alone: on a
        // busy stream (a popular sku) that halves each command's turn. A
        // twin that claims the key after this look-up is caught by the
        // append, which claims keys atomically with the events.
        if let Some(replay) = self.replay(ctx).await? {
            return Ok(replay);
        }
        let stripe = (A::stripe(id) % LOCK_STRIPES as u64) as usize;
        let mut cache = self.locks[stripe].lock().await;
        // A new instance needs no read: if it does exist, the append says so.
        let mut known = cache
            .remove(id)
            .or_else(|| A::creates(command).then(A::State::default));
        let mut attempt = 0;
        while attempt < self.max_attempts {
            // After a conflict: a racing twin with the same key may have
            // won since the look-up.
            if attempt > 0
                && let Some(replay) = self.replay(ctx).await?
            {
                return Ok(replay);
            }
            let (state, last_position, verified) = match known.take() {
                Some(state) => (state, None, false),
                None => {
                    let (state, events) = self.load(id.clone()).await?;
                    (state, events.last().map(|(r, _)| r.position), true)
                }
            };
            if let Some(owner) = &ctx.owner
                && let Err(not_yours) = A::check_owner(&state, owner)
            {
                if !verified {
                    continue;
                }
                return self
                    .unless_replayed(ctx, Err(CommandError::Rejected(not_yours)))
                    .await;
            }
            let version = A::version(&state);
            if let Some(expected) = ctx.expected_version
                && expected != version
            {
                if !verified {
                    continue;
                }
                let failed = CommandError::PreconditionFailed {
                    expected,
                    current: version,
                };
                return self.unless_replayed(ctx, Err(failed)).await;
            }
            let events = match A::decide(&state, command, Utc::now()) {
                Ok(events) => events,
                Err(_) if !verified => continue,
                Err(rejected) => {
                    return self
                        .unless_replayed(ctx, Err(CommandError::Rejected(rejected)))
                        .await;
                }
            };
            if events.is_empty() {
                // Decided to be done already (a repeated reservation). A
                // cached state may be stale, so only the stream's own
                // answers; nothing is appended, and so no idempotency key
                // is recorded: a retry decides the same again.
                if !verified {
                    continue;
                }
                // An empty stream (releasing stock of a sku never stocked)
                // has nothing to wait for: its position is the start.
                let position = last_position.unwrap_or(Position::START);
                cache.insert(id.clone(), state.clone());
                let done = CommandOutcome::Applied {
                    state: Box::new(state),
                    result: AppendResult {
                        stream_version: version,
                        position,
                    },
                };
                return self.unless_replayed(ctx, Ok(done)).await;
            }
            let new_state = events.iter().fold(state.clone(), |s, e| A::evolve(s, e));
            let expected = match version {
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
                    .map(|e| to_new_event::<A>(e, ctx, traceparent.clone()))
                    .collect(),
                idempotency: ctx.idempotency.as_ref().map(|i| IdempotencyClaim {
                    key: i.store_key(),
                    request_hash: i.request_hash.clone(),
                    // Only a note for whoever reads the table: a replay
                    // folds the stream up to the recorded version instead.
                    response: serde_json::json!({ "command": A::command_name(command) }),
                    ttl: self.idempotency_ttl,
                }),
            };
            match self.store.append(request).instrument(append_span).await {
                Ok(result) => {
                    if cache.len() >= CACHED_PER_STRIPE
                        && let Some(evict) = cache.keys().next().cloned()
                    {
                        cache.remove(&evict);
                    }
                    cache.insert(id.clone(), new_state.clone());
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

    /// `answer`, an answer made without an append, unless a twin with the
    /// same idempotency key was answered after the look-up before the lock
    /// (it took its turn first): then the twin's outcome, as before the
    /// look-up moved. An append checks the key itself.
    async fn unless_replayed(
        &self,
        ctx: &CommandContext,
        answer: Result<CommandOutcome<A>, CommandError<A::Error>>,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>> {
        match self.replay(ctx).await? {
            Some(replayed) => Ok(replayed),
            None => answer,
        }
    }

    async fn replay(
        &self,
        ctx: &CommandContext,
    ) -> Result<Option<CommandOutcome<A>>, CommandError<A::Error>> {
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
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>> {
        let same = ctx
            .idempotency
            .as_ref()
            .is_some_and(|i| i.request_hash == record.request_hash);
        if !same {
            return Err(CommandError::IdempotencyKeyReused);
        }
        // The first request's instance: a replayed create minted a fresh id
        // that names nothing. A key first used on another aggregate's
        // stream is the same key for another request.
        let Ok(id) = A::id_from_stream(record.stream_id.as_str()) else {
            return Err(CommandError::IdempotencyKeyReused);
        };
        let (_, events) = self.load(id.clone()).await?;
        let state = events
            .iter()
            .filter(|(r, _)| r.stream_version <= record.result.stream_version)
            .fold(A::State::default(), |s, (_, e)| A::evolve(s, e));
        if let Some(owner) = &ctx.owner {
            A::check_owner(&state, owner).map_err(CommandError::Rejected)?;
        }
        Ok(CommandOutcome::Replayed {
            id,
            state: Box::new(state),
            result: record.result,
        })
    }
}

fn stream_of<A: Aggregate>(id: &A::Id) -> Result<StreamId, CommandError<A::Error>> {
    // Ids are validated when built, and always make a valid stream id
    // ("order-<uuid>", "product-<sku>").
    StreamId::new(A::stream_id(id)).map_err(|e| StoreError::Corrupt(e.to_string()).into())
}

fn to_new_event<A: Aggregate>(
    event: &A::Event,
    ctx: &CommandContext,
    traceparent: Option<String>,
) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: A::event_type(event).to_owned(),
        schema_version: A::schema_version(event),
        payload: A::payload(event),
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
