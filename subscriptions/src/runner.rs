//! The owner loop: one task per subscriber. It waits for the subscriber's
//! lease, brings it to its version, then handles events (live from
//! JetStream when caught up, from the store otherwise) until the lease is
//! lost; transient failures back off and try again, poison stops it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use orderflow_event_store::{EventStore, RecordedEvent};
use orderflow_observability::{link_remote, set_remote_parent, trace_id_of, tracing_exported};
use sqlx::PgPool;
use tracing::Instrument;

use crate::batch::{Outcome, Worker};
use crate::checkpoint::{self, Checkpoint};
use crate::error::SubscriptionError;
use crate::live::{Received, SharedFeed, unbroken_run};
use crate::{Lease, RuntimeConfig, Subscriber, catch_up, metrics, status};

/// Most events counted every second per subscriber to refresh its lag
/// metrics (as for status): `orderflow_subscription_lag_events` stops at
/// this many; `orderflow_subscription_lag_seconds` is exact.
const LAG_METRIC_LIMIT: u64 = crate::STATUS_LAG_LIMIT;

/// While a subscriber has effects under way (see
/// [`Prepared::First`](crate::Prepared::First)), the live loop waits at
/// most this long for new messages before offering the unfinished events
/// again, so their checkpoint moves once they are done ...
const UNDER_WAY_WAIT: Duration = Duration::from_millis(20);
/// ... and goes round no more often than this, so that events trickling in
/// one at a time do not each cost a transaction.
const UNDER_WAY_TICK: Duration = Duration::from_millis(5);

/// Runs subscribers: the store they read, the database their effects and
/// checkpoints live in, and the live feed.
#[derive(Clone)]
pub struct Runtime {
    store: Arc<dyn EventStore>,
    pool: PgPool,
    nats: Option<async_nats::Client>,
    config: RuntimeConfig,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// `pool` holds the subscribers' effects and the runtime's tables
    /// (migrated by [`migrate`](crate::migrate)). `nats`: the live feed;
    /// without it every subscriber polls the store.
    pub fn new(
        store: Arc<dyn EventStore>,
        pool: PgPool,
        nats: Option<async_nats::Client>,
        config: RuntimeConfig,
    ) -> Runtime {
        Runtime {
            store,
            pool,
            nats,
            config,
        }
    }

    /// A NATS client for [`Runtime::new`] that connects in the background
    /// and keeps reconnecting: subscribers work from the store meanwhile.
    pub async fn connect_nats(url: &str) -> Option<async_nats::Client> {
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(url)
            .await
            .ok()
    }

    /// Runs every subscriber (one task each, all fed by one live feed)
    /// until `shutdown` resolves.
    pub async fn run(
        &self,
        subscribers: Vec<Box<dyn Subscriber>>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let feed = self
            .nats
            .clone()
            .map(|client| SharedFeed::start(client, &self.config));
        let tasks: Vec<_> = subscribers
            .into_iter()
            .map(|sub| tokio::spawn(self.clone().run_one(sub, feed.clone())))
            .collect();
        shutdown.await;
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    async fn run_one(self, sub: Box<dyn Subscriber>, feed: Option<SharedFeed>) {
        let name = sub.name();
        metrics::register(name);
        let options = (*self.pool.connect_options()).clone();
        // The name the projector used before the runtime existed, so old and
        // new builds exclude each other during a rolling deploy.
        let lease_name = format!("orderflow-projection:{name}");
        let mut w = Worker::new(sub, &self.config);
        loop {
            let mut lease =
                Lease::acquire(&options, &lease_name, self.config.standby_interval).await;
            tracing::info!(subscriber = name, "subscriber owned by this process");
            metrics::owned(name, true);
            let mut backoff = Duration::from_millis(100);
            // True at first: the first progress clears whatever backoff
            // state a previous owner (a crashed process) left behind.
            let mut backing_off = true;
            loop {
                match self
                    .own(&mut w, &mut lease, &mut backing_off, feed.as_ref())
                    .await
                {
                    Ok(()) | Err(OwnError::LostLease) => {
                        // Effects still under way belong to the new owner.
                        w.sub.reset();
                        break;
                    }
                    Err(OwnError::Failed(e)) => {
                        // Transient by construction: poison events are
                        // dead-lettered by the worker and never come here.
                        tracing::warn!(subscriber = name, error = %e, ?backoff, "subscriber backing off");
                        metrics::error(name);
                        metrics::backing_off(name, true);
                        let until = Utc::now()
                            + chrono::Duration::from_std(backoff)
                                .unwrap_or(chrono::Duration::zero());
                        backing_off = true;
                        // Best effort: with the database away, status
                        // cannot be read either.
                        let _ = checkpoint::set_backoff(
                            &self.pool,
                            name,
                            Some((&e.to_string(), until)),
                        )
                        .await;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        if !lease.is_held().await {
                            break;
                        }
                    }
                }
            }
            metrics::owned(name, false);
        }
    }

    /// The checkpoint at this subscriber's version, running its
    /// [`start_version`](Subscriber::start_version) hook first if needed.
    async fn ensure_current(&self, w: &mut Worker) -> Result<Checkpoint, SubscriptionError> {
        let (name, version) = (w.name, w.sub.version());
        let mut conn = self.pool.acquire().await?;
        if let Some(cp) = checkpoint::load(&mut conn, name).await? {
            if cp.version == version {
                return Ok(cp);
            }
            // Never downgrade: during a rolling deploy the old build waits
            // (backing off) instead of fighting the new one.
            if cp.version > version {
                return Err(SubscriptionError::Checkpoint(
                    name.into(),
                    format!(
                        "tables were built by version {}; this build has version {version}",
                        cp.version
                    ),
                ));
            }
        }
        drop(conn);
        tracing::info!(
            subscriber = name,
            version,
            "starting subscriber version from zero"
        );
        w.sub.reset();
        w.sub.start_version(&self.pool).await?;
        let mut conn = self.pool.acquire().await?;
        checkpoint::load(&mut conn, name)
            .await?
            .filter(|cp| cp.version == version)
            .ok_or_else(|| {
                SubscriptionError::Checkpoint(name.into(), "missing after start_version".into())
            })
    }

    /// Runs the worker's subscriber while this process holds its lease.
    /// Returns only with an error.
    async fn own(
        &self,
        w: &mut Worker,
        lease: &mut Lease,
        backing_off: &mut bool,
        feed: Option<&SharedFeed>,
    ) -> Result<(), OwnError> {
        let config = &self.config;
        let name = w.name;
        let cp = self.ensure_current(w).await?;
        w.resync(&cp);
        // Listening before catching up: whatever is published meanwhile
        // waits here, and joins the store's events without a gap.
        let mut listener = feed.map(SharedFeed::listen);
        let mut caught_up = false;
        // Live events after the checkpoint whose effects are still under
        // way: offered again, in front of the next messages.
        let mut pending: Vec<RecordedEvent> = Vec::new();
        let mut last_round = Instant::now();
        let mut last_check = Instant::now();
        metrics::stopped(name, w.stopped);
        loop {
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                self.check(w, lease, &mut caught_up).await?;
            }
            if w.stopped {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            if !caught_up {
                pending.clear();
                let (events, done) =
                    catch_up::next(&*self.store, w.position, config.batch_size).await?;
                if !events.is_empty() {
                    self.apply(w, &events).await?;
                }
                // Live only once everything read is handled: events left
                // under way are read again from the store meanwhile (not
                // in a tight loop).
                let left = events.last().is_some_and(|e| e.position > w.position);
                caught_up = done && !left;
                if left {
                    tokio::time::sleep(UNDER_WAY_TICK).await;
                }
                if *backing_off {
                    // Moving again: the status stops saying `backing off`.
                    checkpoint::set_backoff(&self.pool, name, None).await?;
                    metrics::backing_off(name, false);
                    *backing_off = false;
                }
                continue;
            }
            let live_up = feed.is_some_and(SharedFeed::attached)
                && self.nats.as_ref().is_some_and(|c| {
                    c.connection_state() == async_nats::connection::State::Connected
                });
            let Some(listener) = listener.as_mut().filter(|_| live_up) else {
                tokio::time::sleep(config.poll_interval).await;
                caught_up = false;
                continue;
            };
            let under_way = !pending.is_empty();
            if under_way {
                tokio::time::sleep_until((last_round + UNDER_WAY_TICK).into()).await;
            }
            last_round = Instant::now();
            let room = config.batch_size.max(1).saturating_sub(pending.len());
            let wait = if under_way {
                UNDER_WAY_WAIT
            } else {
                config.idle_check
            };
            let received = if room == 0 {
                Received::Events(Vec::new())
            } else {
                listener.next_batch(wait, room).await
            };
            let items = match received {
                Received::Events(items) => items,
                Received::Quiet if under_way => Vec::new(),
                Received::Quiet => {
                    // Quiet stream: make sure the store agrees (relay down?).
                    caught_up = false;
                    continue;
                }
                Received::Lagged => {
                    tracing::debug!(
                        subscriber = name,
                        "fell behind the live feed; reading the store"
                    );
                    caught_up = false;
                    continue;
                }
            };
            // Handle the unbroken run that follows the checkpoint (and the
            // events still under way); on a gap, or anything unreadable,
            // let the store fill in.
            let after = pending.last().map_or(w.position, |e| e.position);
            let (events, whole) = unbroken_run(&items, after);
            if !whole {
                caught_up = false;
            }
            pending.extend(events);
            if !pending.is_empty() && !self.apply(w, &pending).await? {
                // The checkpoint moved elsewhere: start from the store.
                caught_up = false;
            }
            pending.retain(|e| e.position > w.position);
        }
    }

    /// Once a second: still the owner? Did the checkpoint move elsewhere
    /// (skip, retry, rebuild)? And the lag metrics.
    async fn check(
        &self,
        w: &mut Worker,
        lease: &mut Lease,
        caught_up: &mut bool,
    ) -> Result<(), OwnError> {
        let name = w.name;
        if !lease.is_held().await {
            return Err(OwnError::LostLease);
        }
        let mut conn = self.pool.acquire().await?;
        let cp = checkpoint::load(&mut conn, name).await?;
        drop(conn);
        match cp {
            Some(cp) if cp.version == w.sub.version() => {
                if cp.generation != w.generation || cp.stopped != w.stopped {
                    w.resync(&cp);
                    *caught_up = false;
                }
            }
            // Restarted by another version, or dropped: start over
            // (`ensure_current` rebuilds or waits).
            _ => {
                return Err(OwnError::Failed(SubscriptionError::Checkpoint(
                    name.into(),
                    "checkpoint changed version".into(),
                )));
            }
        }
        metrics::stopped(name, w.stopped);
        if let Ok((n, secs)) = status::lag(&*self.store, w.position, LAG_METRIC_LIMIT).await {
            metrics::lag(name, n, secs);
        }
        Ok(())
    }

    /// Handles `events` (or the first of them, when the subscriber leaves
    /// effects under way); `false` when the worker was resynced or stopped
    /// instead.
    async fn apply(&self, w: &mut Worker, events: &[RecordedEvent]) -> Result<bool, OwnError> {
        let span = batch_span(w.name, events);
        match w.process(&self.pool, events).instrument(span).await? {
            Outcome::Applied(a) => {
                if let Some(at) = a.last_recorded_at {
                    let age = (Utc::now() - at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                    metrics::event_age(w.name, age);
                }
                Ok(true)
            }
            Outcome::Resynced => Ok(false),
            Outcome::Stopped(e) => {
                tracing::error!(error = %e, "subscriber stopped");
                Ok(false)
            }
        }
    }
}

enum OwnError {
    LostLease,
    Failed(SubscriptionError),
}

impl<E: Into<SubscriptionError>> From<E> for OwnError {
    fn from(e: E) -> Self {
        OwnError::Failed(e.into())
    }
}

/// Most links one batch span carries (OpenTelemetry's default limit).
const MAX_LINKS: usize = 128;

/// The span of one handled batch. With tracing on, it links to the trace
/// of every event in it (the relay's publish span, or the append span when
/// read from the store), and is their child when they all share one trace.
fn batch_span(subscriber: &'static str, events: &[RecordedEvent]) -> tracing::Span {
    let span = tracing::info_span!(
        "subscription_batch",
        otel.kind = "consumer",
        subscriber,
        events = events.len(),
        first = tracing::field::Empty,
        last = tracing::field::Empty,
    );
    if let (Some(first), Some(last)) = (events.first(), events.last()) {
        span.record("first", tracing::field::display(first.position));
        span.record("last", tracing::field::display(last.position));
    }
    if !tracing_exported() {
        return span;
    }
    let mut parents: Vec<&str> = Vec::new();
    let mut traces = std::collections::HashSet::new();
    for tp in events
        .iter()
        .filter_map(|e| e.metadata.traceparent.as_deref())
    {
        if let Some(trace) = trace_id_of(tp) {
            traces.insert(trace);
            if parents.len() < MAX_LINKS && !parents.contains(&tp) {
                parents.push(tp);
            }
        }
    }
    match (traces.len(), parents.first()) {
        (1, Some(only)) => set_remote_parent(&span, only),
        _ => {
            for tp in parents {
                link_remote(&span, tp);
            }
        }
    }
    span
}
