//! The projector: one task per projection, each owning its projection
//! through a Postgres advisory lock (so several processes can run, one owner
//! per projection), folding live from JetStream and catching up from the
//! store when behind or when NATS is away.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use orderflow_event_store::{EventStore, RecordedEvent};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection, PgPool};

use orderflow_observability::{link_remote, set_remote_parent, trace_id_of, tracing_exported};
use tracing::Instrument;

use crate::ProjectorConfig;
use crate::db;
use crate::error::ProjectionError;
use crate::fold::{PROJECTIONS, ProjectionDef, projection};
use crate::live::{LiveFeed, to_event};
use crate::notify::publish_changes;
use crate::rebuild::{Source, rebuild_defs};
use crate::worker::{Applied, Outcome, Worker};

/// Everything a projection task shares with the others.
#[derive(Clone)]
pub(crate) struct Env {
    pub store: Arc<dyn EventStore>,
    pub read: PgPool,
    pub events: Option<PgPool>,
    pub nats: Option<async_nats::Client>,
    pub config: ProjectorConfig,
}

/// Runs the projections of `config.projections` (all by default) until
/// `shutdown` resolves, connecting to the databases and NATS of `config`.
pub async fn run_projector(
    config: ProjectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProjectionError> {
    orderflow_event_store::ensure_database(&config.events_database_url).await?;
    let mut store_config = orderflow_event_store::PgStoreConfig::new(&config.events_database_url);
    store_config.max_connections = 8;
    store_config.writers = 1;
    let store = orderflow_event_store::PgEventStore::connect(store_config).await?;
    let read = db::connect_read_db(&config.read_database_url, 16).await?;
    let events = store.pool().clone();
    run_projector_with(Arc::new(store), read, Some(events), config, shutdown).await
}

/// Read every second per projection, when there is no events pool, to
/// measure its lag through the store: `orderflow_projection_lag_events`
/// then stops at this many (`orderflow_projection_lag_seconds` is exact).
const LAG_METRIC_LIMIT: usize = 1_000;

/// Same, on existing connections (for `orderflow up`, other stores such as
/// KurrentDB, and tests). `events_pool`, the Postgres store's database if
/// given, is read directly to build projections (faster than `store`) and to
/// count the lag metrics; without it both go through `store`, and the lag
/// count stops at 1000 events.
pub async fn run_projector_with(
    store: Arc<dyn EventStore>,
    read: PgPool,
    events_pool: Option<PgPool>,
    config: ProjectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProjectionError> {
    let defs: Vec<&'static ProjectionDef> = match &config.projections {
        None => PROJECTIONS.iter().collect(),
        Some(names) => names
            .iter()
            .map(|n| projection(n).ok_or_else(|| ProjectionError::UnknownProjection(n.clone())))
            .collect::<Result<_, _>>()?,
    };
    // Connects in the background and keeps reconnecting: the projector
    // works from the store meanwhile.
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .connect(config.nats_url.as_str())
        .await
        .ok();
    let env = Env {
        store,
        read,
        events: events_pool,
        nats,
        config,
    };
    let tasks: Vec<_> = defs
        .into_iter()
        .map(|def| tokio::spawn(run_projection(def, env.clone())))
        .collect();
    shutdown.await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn run_projection(def: &'static ProjectionDef, env: Env) {
    // Present (at zero) from the start, so alerts and dashboards see them.
    metrics::counter!("orderflow_projection_dead_letters_total", "projection" => def.name)
        .increment(0);
    metrics::counter!("orderflow_projection_errors_total", "projection" => def.name).increment(0);
    metrics::gauge!("orderflow_projection_backing_off", "projection" => def.name).set(0.0);
    let options = (*env.read.connect_options()).clone();
    let lock_name = format!("orderflow-projection:{}", def.name);
    loop {
        let mut lock = acquire(&options, &lock_name, env.config.standby_interval).await;
        tracing::info!(projection = def.name, "projection owned by this process");
        metrics::gauge!("orderflow_projection_owned", "projection" => def.name).set(1.0);
        let mut backoff = Duration::from_millis(100);
        // True at first: the first progress clears whatever backoff state a
        // previous owner (a crashed process) left in the checkpoint row.
        let mut backing_off = true;
        loop {
            match own(def, &env, &mut lock, &mut backing_off).await {
                Ok(()) | Err(OwnError::LostLock) => break,
                Err(OwnError::Failed(e)) => {
                    // Transient by construction: poison events are dead-
                    // lettered by the worker and never come back here.
                    tracing::warn!(projection = def.name, error = %e, ?backoff, "projection backing off");
                    metrics::counter!("orderflow_projection_errors_total", "projection" => def.name)
                        .increment(1);
                    metrics::gauge!("orderflow_projection_backing_off", "projection" => def.name)
                        .set(1.0);
                    let until = Utc::now()
                        + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::zero());
                    // Best effort: with the read database away, status
                    // cannot be read either.
                    backing_off = true;
                    let _ =
                        db::set_backoff(&env.read, def.name, Some((&e.to_string(), until))).await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    if sqlx::query("SELECT 1").execute(&mut lock).await.is_err() {
                        break;
                    }
                }
            }
        }
        metrics::gauge!("orderflow_projection_owned", "projection" => def.name).set(0.0);
    }
}

async fn acquire(options: &PgConnectOptions, name: &str, interval: Duration) -> PgConnection {
    loop {
        if let Ok(mut conn) = options.connect().await {
            let got: Result<bool, _> =
                sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await;
            if matches!(got, Ok(true)) {
                return conn;
            }
        }
        tokio::time::sleep(interval).await;
    }
}

enum OwnError {
    LostLock,
    Failed(ProjectionError),
}

impl<E: Into<ProjectionError>> From<E> for OwnError {
    fn from(e: E) -> Self {
        OwnError::Failed(e.into())
    }
}

/// Rebuilds `def` if it was never built or its version changed.
async fn ensure_current(
    def: &'static ProjectionDef,
    env: &Env,
) -> Result<db::Checkpoint, ProjectionError> {
    let mut conn = env.read.acquire().await?;
    if let Some(cp) = db::load_checkpoint(&mut conn, def.name).await? {
        if cp.version == def.version {
            return Ok(cp);
        }
        // Never downgrade: during a rolling deploy the old build waits
        // (backing off) instead of fighting the new one's rebuild.
        if cp.version > def.version {
            return Err(ProjectionError::Checkpoint(
                def.name.into(),
                format!(
                    "tables were built by version {}; this build has version {}",
                    cp.version, def.version
                ),
            ));
        }
    }
    drop(conn);
    tracing::info!(
        projection = def.name,
        version = def.version,
        "building projection from the store"
    );
    let source = match &env.events {
        Some(pool) => Source::Pg(pool.clone()),
        None => Source::Store(Arc::clone(&env.store)),
    };
    let report = rebuild_defs(&source, &env.read, None, &[def], &env.config, &mut |_| {}).await?;
    tracing::info!(
        projection = def.name,
        events = report.events,
        seconds = report.seconds,
        "projection built"
    );
    let mut conn = env.read.acquire().await?;
    db::load_checkpoint(&mut conn, def.name)
        .await?
        .ok_or_else(|| ProjectionError::Checkpoint(def.name.into(), "missing after rebuild".into()))
}

/// Runs `def` while this process holds its lock. Returns only with an error.
async fn own(
    def: &'static ProjectionDef,
    env: &Env,
    lock: &mut PgConnection,
    backing_off: &mut bool,
) -> Result<(), OwnError> {
    let config = &env.config;
    let cp = ensure_current(def, env).await?;
    let mut w = Worker::new(def, &cp, config);
    let js = env.nats.as_ref().map(|c| jetstream::new(c.clone()));
    let mut live: Option<LiveFeed> = None;
    let mut live_retry_at = Instant::now();
    let mut caught_up = false;
    let mut last_check = Instant::now();
    metrics::gauge!("orderflow_projection_stopped", "projection" => def.name).set(if w.stopped {
        1.0
    } else {
        0.0
    });
    loop {
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if sqlx::query("SELECT 1").execute(&mut *lock).await.is_err() {
                return Err(OwnError::LostLock);
            }
            let mut conn = env.read.acquire().await?;
            let cp = db::load_checkpoint(&mut conn, def.name).await?;
            drop(conn);
            match cp {
                Some(cp) if cp.version == def.version => {
                    if cp.generation != w.generation || cp.stopped != w.stopped {
                        w.resync(&cp);
                        caught_up = false;
                    }
                }
                // Rebuilt by another version, or dropped: start over
                // (`ensure_current` rebuilds or waits).
                _ => {
                    return Err(OwnError::Failed(ProjectionError::Checkpoint(
                        def.name.into(),
                        "checkpoint changed version".into(),
                    )));
                }
            }
            metrics::gauge!("orderflow_projection_stopped", "projection" => def.name)
                .set(if w.stopped { 1.0 } else { 0.0 });
            let lag = match &env.events {
                Some(events) => crate::status::lag(events, w.position).await.ok(),
                // Through the trait the count means reading the events, so
                // it stops at LAG_METRIC_LIMIT; the age stays exact.
                None => crate::status::lag_via_store(&*env.store, w.position, LAG_METRIC_LIMIT)
                    .await
                    .ok(),
            };
            if let Some((n, secs)) = lag {
                metrics::gauge!("orderflow_projection_lag_events", "projection" => def.name)
                    .set(n as f64);
                metrics::gauge!("orderflow_projection_lag_seconds", "projection" => def.name)
                    .set(secs);
            }
        }
        if w.stopped {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if !caught_up {
            let events = env
                .store
                .read_all(w.position, config.batch_size.max(1))
                .await?;
            caught_up = events.len() < config.batch_size.max(1);
            if !events.is_empty() {
                apply(&mut w, env, &events).await?;
            }
            if *backing_off {
                // Moving again: the status stops saying `backing off`.
                db::set_backoff(&env.read, def.name, None).await?;
                metrics::gauge!("orderflow_projection_backing_off", "projection" => def.name)
                    .set(0.0);
                *backing_off = false;
            }
            continue;
        }
        let nats_up = env
            .nats
            .as_ref()
            .is_some_and(|c| c.connection_state() == async_nats::connection::State::Connected);
        if live.is_none()
            && nats_up
            && Instant::now() >= live_retry_at
            && let Some(js) = &js
        {
            match LiveFeed::open(js, config, def.name).await {
                Ok(feed) => live = Some(feed),
                Err(e) => {
                    tracing::debug!(projection = def.name, error = %e, "no live feed; reading the store");
                    live_retry_at = Instant::now() + Duration::from_secs(2);
                }
            }
        }
        let Some(feed) = live.as_mut() else {
            tokio::time::sleep(config.poll_interval).await;
            caught_up = false;
            continue;
        };
        let msgs = match feed
            .next_batch(config.idle_check, config.batch_size.max(1))
            .await
        {
            Ok(Some(msgs)) => msgs,
            Ok(None) => {
                // Quiet stream: make sure the store agrees (relay down?).
                caught_up = false;
                continue;
            }
            Err(e) => {
                tracing::debug!(projection = def.name, error = %e, "live feed failed; reading the store");
                live = None;
                live_retry_at = Instant::now() + Duration::from_secs(1);
                caught_up = false;
                continue;
            }
        };
        // Apply the unbroken run that follows the checkpoint; on a gap, or
        // anything unreadable, let the store fill in.
        let mut expected = w.position;
        let mut events = Vec::with_capacity(msgs.len());
        for m in &msgs {
            match to_event(m) {
                Some((e, _)) if e.position <= expected => {}
                Some((e, prev)) if prev == expected => {
                    expected = e.position;
                    events.push(e);
                }
                _ => {
                    caught_up = false;
                    break;
                }
            }
        }
        if !events.is_empty() {
            apply(&mut w, env, &events).await?;
        }
        // Everything here is now applied, or will be read from the store:
        // redelivery is not needed for any of it. The consumer acks all
        // (AckPolicy::All), so the last message covers the batch.
        if let Some(last) = msgs.last() {
            let _ = last.ack().await;
        }
    }
}

async fn apply(w: &mut Worker, env: &Env, events: &[RecordedEvent]) -> Result<(), OwnError> {
    let span = batch_span(w.def.name, events);
    match w.process(&env.read, events).instrument(span).await? {
        Outcome::Applied(a) => after_commit(w, env, &a),
        Outcome::Resynced => {}
        Outcome::Stopped(e) => tracing::error!(error = %e, "projection stopped"),
    }
    Ok(())
}

/// Most links one batch span carries (OpenTelemetry's default limit).
const MAX_LINKS: usize = 128;

/// The span of one applied batch. With tracing on, it links to the trace
/// of every event in it (the relay's publish span, or the append span when
/// read from the store), and is their child when they all share one trace.
fn batch_span(projection: &'static str, events: &[RecordedEvent]) -> tracing::Span {
    let span = tracing::info_span!(
        "projection_batch",
        otel.kind = "consumer",
        projection,
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

fn after_commit(w: &Worker, env: &Env, a: &Applied) {
    if a.events == 0 {
        return;
    }
    if let Some(at) = a.last_recorded_at {
        let age = (Utc::now() - at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
        metrics::histogram!("orderflow_projection_event_age_seconds", "projection" => w.def.name)
            .record(age);
    }
    if let Some(client) = &env.nats {
        publish_changes(
            client,
            &env.config.subject_prefix,
            w.def.name,
            &a.orders,
            w.position,
        );
    }
}
