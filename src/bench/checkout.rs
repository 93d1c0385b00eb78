//! `orderflow bench checkout`: orders submitted at a fixed rate through the
//! command API with the relay, NATS and the fulfilment saga running; for
//! each, the time from sending `submit` to its `OrderConfirmed` being
//! appended — the saga reserved every line, then confirmed the order.
//!
//! The baseline, in the same run, is the plain command path: the same
//! orders on a fresh database without the saga, confirmed by a staff
//! `confirm` sent as soon as `submit` returns.
//!
//! "Appended" is the event's `recorded_at`, which Postgres stamps with its
//! transaction's start, against the wall clock when `submit` was sent: the
//! bench's database is on this host, so both read the same clock. A
//! watcher tailing the log (`read_all` about every millisecond) finds the
//! events; when it sees them is reported too ("visible"), which adds the
//! store's watermark: a transaction open anywhere on the Postgres cluster
//! holds every log reader back, the relay included.
//!
//! Orders are created before measuring (a cart exists before its checkout),
//! so the rate is one of submits; the saga has handled their creation by
//! the time the first submit is sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use futures::StreamExt;
use hdrhistogram::Histogram;
use orderflow::{CommandApiService, EventStores, FulfilmentService, Pipeline, Services};
use orderflow_command_api::CommandApiConfig;
use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::FULFILMENT_CATEGORY;
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig, Position};
use orderflow_fulfilment::FulfilmentConfig;
use orderflow_relay::RelayConfig;
use orderflow_subscriptions::RuntimeConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use uuid::Uuid;

use super::latency_svg::{self, Curve};
use super::load::{new_histogram, progress_bar};
use super::report;
use crate::cli::unreachable_hint;
use crate::rest_client::{OrderClient, SeenOrder};

#[derive(Debug, Args)]
pub struct CheckoutArgs {
    /// Orders submitted per second, on a fixed schedule (open loop).
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Measured time per side, after a 2 s warm-up each ("20s", "1m").
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    #[command(flatten)]
    pub scratch: super::Scratch,
    #[arg(long, env = "NATS_URL", hide_env_values = true, default_value_t = orderflow_relay::RelayConfig::default().nats_url)]
    pub nats_url: String,
}

/// Submits in flight beyond this are not sent (and counted): an open loop
/// must not queue without bound when the system falls behind.
const MAX_IN_FLIGHT: usize = 2048;
/// Units of every catalogue sku received before the run: more than any
/// run reserves, so no order is rejected for stock.
const STOCK_PER_SKU: u64 = 10_000_000;
/// How long confirmations are awaited after the last submit.
const GIVE_UP: Duration = Duration::from_secs(10);
const WARMUP: Duration = Duration::from_secs(2);

/// Which path confirms the orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Submit only; the fulfilment saga reserves and confirms.
    Saga,
    /// Submit, then a staff `confirm`; no saga runs.
    DirectConfirm,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Saga => "saga",
            Side::DirectConfirm => "direct confirm",
        }
    }
}

/// One side's figures.
struct SideStats {
    /// Submit sent → `OrderConfirmed` appended, in microseconds.
    confirmed_us: Histogram<u64>,
    /// Submit sent → `OrderConfirmed` seen by the watcher.
    visible_us: Histogram<u64>,
    /// Submit sent → the saga's `FulfilmentStarted` appended: the submit
    /// went through the relay and NATS and the saga took it up (empty on
    /// the baseline).
    picked_up_us: Histogram<u64>,
    /// Response time of the HTTP calls of one checkout (submit; submit and
    /// confirm on the baseline).
    response_us: Histogram<u64>,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
    /// `OrderRejected` instead of a confirmation.
    rejected: u64,
    /// Not confirmed within [`GIVE_UP`] of the last submit.
    unconfirmed: u64,
    /// Ticks without a submit: `MAX_IN_FLIGHT` outstanding, or no order left.
    skipped: u64,
    elapsed: Duration,
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

pub async fn run(args: CheckoutArgs) -> anyhow::Result<()> {
    let rate = args.rate.max(1);
    let measure = args.duration.max(Duration::from_secs(1));
    let saga = run_side(&args, Side::Saga, rate, measure).await?;
    let baseline = run_side(&args, Side::DirectConfirm, rate, measure).await?;
    print(&args, rate, measure, &saga, &baseline);
    latency_svg::write_if_asked(
        args.scratch.svg.as_deref(),
        &format!("bench checkout: {rate} orders/s, submit → OrderConfirmed appended"),
        &[
            Curve {
                label: "saga".into(),
                latency_us: &saga.confirmed_us,
                colour: latency_svg::MEASURED[0],
            },
            Curve {
                label: "baseline: direct confirm".into(),
                latency_us: &baseline.confirmed_us,
                colour: latency_svg::BASELINE[0],
            },
        ],
    )
}

/// A fresh events database, the pipeline for `side`, the orders, the load.
async fn run_side(
    args: &CheckoutArgs,
    side: Side,
    rate: u32,
    measure: Duration,
) -> anyhow::Result<SideStats> {
    let url = args.scratch.database_url.clone();
    super::scratch::recreate_database(&url)
        .await
        .with_context(|| unreachable_hint(&url))?;
    let saga_url = format!("{url}_fulfilment");
    // Its own stream and subjects, so a running system is not disturbed.
    let tag = Uuid::now_v7().simple().to_string();
    let prefix = format!("benchco{}", &tag[tag.len() - 8..]);
    let stream_name = prefix.to_uppercase();

    let store = PgEventStore::connect(PgStoreConfig::new(&url)).await?;
    let (verifier, tokens) = super::auth::bench_auth().await?;
    let fulfilment = match side {
        Side::Saga => {
            super::scratch::recreate_database(&saga_url).await?;
            Some(FulfilmentService::without_provider(FulfilmentConfig {
                database_url: saga_url.clone(),
                runtime: RuntimeConfig {
                    nats_url: args.nats_url.clone(),
                    stream_name: stream_name.clone(),
                    ..FulfilmentConfig::default().runtime
                },
                ..FulfilmentConfig::default()
            }))
        }
        Side::DirectConfirm => None,
    };
    let running = Pipeline::start_on(
        EventStores::on_postgres(store.clone()),
        Services {
            // On both sides: the relay's reads of the store are part of the
            // load a checkout meets.
            relay: Some(RelayConfig {
                nats_url: args.nats_url.clone(),
                stream_name: stream_name.clone(),
                subject_prefix: prefix.clone(),
                ..RelayConfig::default()
            }),
            projector: None,
            command_api: Some(CommandApiService {
                config: CommandApiConfig {
                    addr: "127.0.0.1:0".parse()?,
                    // Load from one address is what is measured, not the limiter.
                    rate_limit: orderflow_auth::RateLimitConfig::disabled(),
                    ..CommandApiConfig::default()
                },
                verifier,
            }),
            query_api: None,
            fulfilment,
        },
    )
    .await?;
    let base = format!(
        "http://{}",
        running
            .command_api_addr()
            .context("the command API did not start")?
    );
    let client = OrderClient::new(&base, tokens)?;
    client.stock_catalogue(STOCK_PER_SKU).await?;

    // Every tick of the run gets an order, plus slack for a slow clock.
    let wanted = (u64::from(rate) * (WARMUP + measure).as_secs()).saturating_mul(21) / 20 + 16;
    let mut orders = create_orders(&client, wanted as usize + 1).await?;
    if side == Side::Saga {
        let probe = orders.pop().context("no order created")?;
        wait_until_confirming(&client, &probe).await?;
    }
    let events: Arc<dyn EventStore> = Arc::new(store.clone());
    let stats = drive(&client, events, side, orders, rate, measure).await;

    running.shutdown().await?;
    delete_stream(&args.nats_url, &stream_name).await;
    store.pool().close().await;
    stats
}

/// `n` draft orders, created with bounded concurrency.
async fn create_orders(client: &OrderClient, n: usize) -> anyhow::Result<Vec<SeenOrder>> {
    let created: Vec<anyhow::Result<SeenOrder>> = futures::stream::iter(0..n)
        .map(|_| {
            let client = client.clone();
            async move {
                let mut rng = StdRng::from_rng(&mut rand::rng());
                client
                    .create(&OrderClient::new_order_body(&mut rng, 1000))
                    .await
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    created.into_iter().collect()
}

/// Submits `order` and waits until the saga confirmed it: by then the
/// saga has handled every order's creation (it reads the log in order), so
/// the measured submits do not queue behind that backlog.
async fn wait_until_confirming(client: &OrderClient, order: &SeenOrder) -> anyhow::Result<()> {
    let submitted = client.act(order, "submit", None).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = client.reload(&submitted).await?;
        match now.status.as_str() {
            "confirmed" => return Ok(()),
            "submitted" => {}
            other => anyhow::bail!("the saga's probe order ended {other}"),
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the saga did not confirm an order within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An order whose confirmation is awaited.
struct Pending {
    since: Instant,
    /// The same moment by the wall clock, to compare with `recorded_at`.
    since_wall: DateTime<Utc>,
    measured: bool,
}

/// What the watcher found.
struct Seen {
    confirmed_us: Histogram<u64>,
    visible_us: Histogram<u64>,
    picked_up_us: Histogram<u64>,
    rejected: u64,
    unconfirmed: u64,
}

/// Records `us` microseconds (at least 1: the histogram's floor).
fn record(h: &mut Histogram<u64>, us: i64) {
    let _ = h.record(u64::try_from(us.max(1)).unwrap_or(1));
}

type PendingMap = Arc<Mutex<HashMap<Uuid, Pending>>>;

/// Tails the log from `from` about every millisecond; each `OrderConfirmed`
/// (or `OrderRejected`) of a pending order ends its wait. Returns once
/// `done` is set and nothing is pending, or [`GIVE_UP`] after `done`.
async fn watch_log(
    events: Arc<dyn EventStore>,
    from: Position,
    pending: PendingMap,
    done: Arc<tokio::sync::Notify>,
) -> anyhow::Result<Seen> {
    let mut seen = Seen {
        confirmed_us: new_histogram(),
        visible_us: new_histogram(),
        picked_up_us: new_histogram(),
        rejected: 0,
        unconfirmed: 0,
    };
    let mut after = from;
    let mut finished_at: Option<Instant> = None;
    let finished = done.notified();
    tokio::pin!(finished);
    let mut polls = tokio::time::interval(Duration::from_millis(1));
    polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut finished, if finished_at.is_none() => {
                finished_at = Some(Instant::now());
            }
            _ = polls.tick() => {}
        }
        let page = events.read_all(after, 1000).await?;
        let now = Instant::now();
        if let Some(last) = page.last() {
            after = last.position;
        }
        let mut map = pending.lock().unwrap_or_else(PoisonError::into_inner);
        for e in &page {
            let stream = e.stream_id.as_str();
            let confirmed = match e.event_type.as_str() {
                "OrderConfirmed" => true,
                "OrderRejected" => false,
                "FulfilmentStarted" => {
                    let order = stream
                        .strip_prefix(FULFILMENT_CATEGORY)
                        .and_then(|s| s.strip_prefix('-'))
                        .and_then(|s| s.parse::<Uuid>().ok());
                    if let Some(p) = order.and_then(|o| map.get(&o))
                        && p.measured
                    {
                        let us = (e.recorded_at - p.since_wall).num_microseconds();
                        record(&mut seen.picked_up_us, us.unwrap_or(i64::MAX));
                    }
                    continue;
                }
                _ => continue,
            };
            let Ok(order) = OrderId::from_stream_id(stream) else {
                continue;
            };
            let Some(p) = map.remove(order.as_uuid()) else {
                continue;
            };
            if !p.measured {
                continue;
            }
            if confirmed {
                let appended = (e.recorded_at - p.since_wall).num_microseconds();
                record(&mut seen.confirmed_us, appended.unwrap_or(i64::MAX));
                let visible = now.saturating_duration_since(p.since).as_micros();
                record(
                    &mut seen.visible_us,
                    i64::try_from(visible).unwrap_or(i64::MAX),
                );
            } else {
                seen.rejected += 1;
            }
        }
        if let Some(at) = finished_at
            && (map.is_empty() || at.elapsed() > GIVE_UP)
        {
            seen.unconfirmed = map.values().filter(|p| p.measured).count() as u64;
            return Ok(seen);
        }
    }
}

/// Response times, errors.
#[derive(Default)]
struct Calls {
    response_us: Option<Histogram<u64>>,
    errors: u64,
    first_error: Option<String>,
}

async fn drive(
    client: &OrderClient,
    events: Arc<dyn EventStore>,
    side: Side,
    orders: Vec<SeenOrder>,
    rate: u32,
    measure: Duration,
) -> anyhow::Result<SideStats> {
    let pending: PendingMap = Arc::default();
    let done = Arc::new(tokio::sync::Notify::new());
    let head = events.head().await?;
    let watcher = tokio::spawn(watch_log(
        Arc::clone(&events),
        head,
        Arc::clone(&pending),
        Arc::clone(&done),
    ));
    let calls = Arc::new(Mutex::new(Calls {
        response_us: Some(new_histogram()),
        ..Calls::default()
    }));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut orders = orders.into_iter();

    let started = Instant::now();
    let measure_from = started + WARMUP;
    let end = measure_from + measure;
    let bar = progress_bar(side.label(), WARMUP + measure);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut skipped) = (0u64, 0u64);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let now = ticks.tick().await.into_std();
        if now >= end {
            break;
        }
        bar.set_position(started.elapsed().as_millis() as u64);
        let measured = now >= measure_from;
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            skipped += u64::from(measured);
            continue;
        };
        let Some(order) = orders.next() else {
            skipped += u64::from(measured);
            continue;
        };
        let Ok(id) = order.id.parse::<Uuid>() else {
            continue;
        };
        sent += u64::from(measured);
        let (client, pending, calls) = (client.clone(), Arc::clone(&pending), Arc::clone(&calls));
        tasks.spawn(async move {
            let _permit = permit;
            let (since, since_wall) = (Instant::now(), Utc::now());
            // Awaited before the submit is sent, so the watcher cannot see
            // the confirmation first.
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(
                    id,
                    Pending {
                        since,
                        since_wall,
                        measured,
                    },
                );
            let result = checkout(&client, &order, side).await;
            let took = since.elapsed();
            let mut c = calls.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(()) if measured => {
                    if let Some(h) = c.response_us.as_mut() {
                        let us = took.as_micros().max(1);
                        let _ = h.record(u64::try_from(us).unwrap_or(u64::MAX));
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    // Never confirmed: not awaited, counted as an error.
                    pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                    if measured {
                        c.errors += 1;
                        c.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
        });
        // Reap finished tasks so the set does not grow for the whole run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    bar.finish_and_clear();
    let elapsed = measure_from.elapsed().max(measure);
    done.notify_one();
    let seen = watcher.await.context("watcher task")??;
    let mut c = calls.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(SideStats {
        confirmed_us: seen.confirmed_us,
        visible_us: seen.visible_us,
        picked_up_us: seen.picked_up_us,
        response_us: c.response_us.take().unwrap_or_else(new_histogram),
        sent,
        errors: c.errors,
        first_error: c.first_error.take(),
        rejected: seen.rejected,
        unconfirmed: seen.unconfirmed,
        skipped,
        elapsed,
    })
}

/// One checkout: the customer submits; on the baseline staff confirm at once.
async fn checkout(client: &OrderClient, order: &SeenOrder, side: Side) -> anyhow::Result<()> {
    let submitted = client.act(order, "submit", None).await?;
    if side == Side::DirectConfirm {
        client.act(&submitted, "confirm", None).await?;
    }
    Ok(())
}

async fn delete_stream(nats_url: &str, name: &str) {
    if let Ok(client) = async_nats::connect(nats_url).await {
        let _ = async_nats::jetstream::new(client).delete_stream(name).await;
    }
}

/// The target of issue 15: p99 at most this at 200 orders/s.
const TARGET_P99_MS: f64 = 100.0;

fn print(args: &CheckoutArgs, rate: u32, measure: Duration, s: &SideStats, b: &SideStats) {
    let title = format!(
        "bench checkout: {rate} orders/s for {} s, submit sent → OrderConfirmed appended",
        measure.as_secs()
    );
    println!("{title}\n{}", "-".repeat(title.chars().count()));
    let row = |name: &str, x: &SideStats| {
        println!(
            "{name:<30} {:>6.0} sent/s   p50 {:>8.2} ms   p99 {:>8.2} ms   p99.9 {:>8.2} ms   max {:>8.2} ms   unconfirmed {}   rejected {}   errors {}   skipped {}",
            x.sent as f64 / x.elapsed.as_secs_f64(),
            ms(&x.confirmed_us, 0.50),
            ms(&x.confirmed_us, 0.99),
            ms(&x.confirmed_us, 0.999),
            x.confirmed_us.max() as f64 / 1000.0,
            x.unconfirmed,
            x.rejected,
            x.errors,
            x.skipped,
        );
        if let Some(e) = &x.first_error {
            println!("{:<30} first error: {e}", "");
        }
    };
    row("saga: reserve, then confirm", s);
    row("baseline: staff confirm", b);
    println!(
        "saga took the submit up (FulfilmentStarted appended): p50 {:.2} / p99 {:.2} ms after it was sent",
        ms(&s.picked_up_us, 0.50),
        ms(&s.picked_up_us, 0.99),
    );
    println!(
        "visible to log readers (watcher): saga p50 {:.2} / p99 {:.2} ms, baseline p50 {:.2} / p99 {:.2} ms",
        ms(&s.visible_us, 0.50),
        ms(&s.visible_us, 0.99),
        ms(&b.visible_us, 0.50),
        ms(&b.visible_us, 0.99),
    );
    println!(
        "HTTP: submit p50 {:.2} / p99 {:.2} ms; baseline submit + confirm p50 {:.2} / p99 {:.2} ms",
        ms(&s.response_us, 0.50),
        ms(&s.response_us, 0.99),
        ms(&b.response_us, 0.50),
        ms(&b.response_us, 0.99),
    );
    let ratio = |q| ms(&s.confirmed_us, q) / ms(&b.confirmed_us, q).max(f64::MIN_POSITIVE);
    let p99 = ms(&s.confirmed_us, 0.99);
    let clean = s.unconfirmed == 0 && s.rejected == 0 && s.errors == 0 && s.skipped == 0;
    println!(
        "ratio (saga ÷ baseline): p50 {:.2}, p99 {:.2}; target p99 ≤ {TARGET_P99_MS} ms at 200/s: {}",
        ratio(0.50),
        ratio(0.99),
        match (rate >= 200, p99 <= TARGET_P99_MS && clean) {
            (false, _) => "not measured (rate below 200)",
            (true, true) => "met",
            (true, false) => "missed",
        }
    );
    let peak_rss = report::print_peak_memory();
    if args.scratch.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "checkout",
                "peak_rss_bytes": peak_rss,
                "rate": rate,
                "seconds": measure.as_secs(),
                "sent": s.sent,
                "confirmed": s.confirmed_us.len(),
                "errors": s.errors,
                "rejected": s.rejected,
                "unconfirmed": s.unconfirmed,
                "skipped": s.skipped,
                "p50_ms": ms(&s.confirmed_us, 0.50),
                "p99_ms": p99,
                "p999_ms": ms(&s.confirmed_us, 0.999),
                "picked_up_p50_ms": ms(&s.picked_up_us, 0.50),
                "picked_up_p99_ms": ms(&s.picked_up_us, 0.99),
                "visible_p50_ms": ms(&s.visible_us, 0.50),
                "visible_p99_ms": ms(&s.visible_us, 0.99),
                "submit_p99_ms": ms(&s.response_us, 0.99),
                "baseline_sent": b.sent,
                "baseline_confirmed": b.confirmed_us.len(),
                "baseline_errors": b.errors,
                "baseline_unconfirmed": b.unconfirmed,
                "baseline_p50_ms": ms(&b.confirmed_us, 0.50),
                "baseline_p99_ms": ms(&b.confirmed_us, 0.99),
                "baseline_visible_p99_ms": ms(&b.visible_us, 0.99),
                "ratio_p50": ratio(0.50),
                "ratio_p99": ratio(0.99),
            })
        );
    }
}
