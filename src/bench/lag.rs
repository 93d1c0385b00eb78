//! `orderflow bench lag`: commands at a fixed rate through the REST API,
//! with the relay and projector running; for each command, the time from
//! its response to its row (at that version) being visible in the `orders`
//! read model.
//!
//! The watcher sees a row by polling the read database, so its own delay is
//! part of every figure. The baseline measures exactly that delay: rows
//! written straight into a table of the read database at the same rate, seen
//! by the same watcher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use orderflow::{CommandApiService, EventStores, Pipeline, Services};
use orderflow_command_api::CommandApiConfig;
use orderflow_event_store::{PgEventStore, PgStoreConfig};
use orderflow_projections::{ProjectorConfig, connect_read_db};
use orderflow_relay::RelayConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::cpu_share::{CpuSample, CpuUse};
use super::lag_stages::{Stages, Tap};
use super::latency_svg::{self, Curve};
use super::load::{new_histogram, progress_bar};
use super::report;
use crate::cli::unreachable_hint;
use crate::rest_client::{OrderClient, SeenOrder};

#[derive(Debug, Args)]
pub struct LagArgs {
    /// Commands per second, sent on a fixed schedule (open loop).
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[command(flatten)]
    pub timing: super::Timing,
    #[command(flatten)]
    pub scratch: super::Scratch,
    #[arg(long, env = "NATS_URL", hide_env_values = true, default_value_t = orderflow_relay::RelayConfig::default().nats_url)]
    pub nats_url: String,
    /// Also split each lag where its event reached NATS (a tap on the
    /// subjects; one more delivery of every order event).
    #[arg(long)]
    pub stages: bool,
    /// Run only these projections (comma-separated; `orders` is always
    /// run, since its rows are what is watched). Shows what the others
    /// cost the lag on a shared machine.
    #[arg(long, value_delimiter = ',')]
    pub projections: Option<Vec<String>>,
    /// The read models' scratch database, dropped and recreated (default:
    /// `<database-url>_read`, on the same server). On a Postgres server of
    /// its own, the projections' transactions no longer hold back the
    /// store's watermark, which is per server.
    #[arg(long, value_name = "URL")]
    pub read_database_url: Option<String>,
}

/// Commands in flight beyond this are not sent (and counted): an open loop
/// must not queue without bound when the system falls behind.
const MAX_IN_FLIGHT: usize = 2048;

pub async fn run(args: LagArgs) -> anyhow::Result<()> {
    let url = args.scratch.database_url.clone();
    let read_url = args
        .read_database_url
        .clone()
        .unwrap_or_else(|| format!("{url}_read"));
    super::scratch::recreate_database(&url)
        .await
        .with_context(|| unreachable_hint(&url))?;
    super::scratch::recreate_database(&read_url).await?;
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(args.timing.seconds.max(1));
    let rate = args.rate.max(1);

    // Its own stream and subjects, so a running system is not disturbed.
    let tag = Uuid::now_v7().simple().to_string();
    let prefix = format!("benchlag{}", &tag[tag.len() - 8..]);
    let stream_name = prefix.to_uppercase();

    let store = PgEventStore::connect(PgStoreConfig::new(&url)).await?;
    let (verifier, tokens) = super::auth::bench_auth().await?;
    let running = Pipeline::start_on(
        EventStores::on_postgres(store.clone()),
        Services {
            relay: Some(RelayConfig {
                nats_url: args.nats_url.clone(),
                stream_name: stream_name.clone(),
                subject_prefix: prefix.clone(),
                ..RelayConfig::default()
            }),
            projector: Some(ProjectorConfig {
                read_database_url: read_url.clone(),
                nats_url: args.nats_url.clone(),
                stream_name: stream_name.clone(),
                subject_prefix: prefix.clone(),
                projections: args.projections.clone().map(with_orders),
                ..ProjectorConfig::default()
            }),
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
            fulfilment: None,
        },
    )
    .await?;
    let base = format!(
        "http://{}",
        running
            .command_api_addr()
            .context("the command API did not start")?
    );

    let read = connect_read_db(&read_url, 4).await?;
    let client = OrderClient::new(&base, tokens)?;
    let tap = if args.stages {
        Some(Tap::start(&args.nats_url, &prefix).await?)
    } else {
        None
    };
    wait_until_projecting(&client, &read).await?;

    let stages = tap.as_ref().map(Tap::stages);
    let cpu_before = CpuSample::take();
    let mut commands = drive_commands(&client, &read, rate, warmup, measure, stages).await?;
    commands.cpu = Some(CpuSample::since(&cpu_before));
    drop(tap);
    let baseline = drive_baseline(&read, rate, warmup, measure).await?;

    running.shutdown().await?;
    delete_stream(&args.nats_url, &stream_name).await;

    print(&args, rate, &commands, &baseline);
    latency_svg::write_if_asked(
        args.scratch.svg.as_deref(),
        &format!("bench lag: {rate} commands/s, response → row visible"),
        &[
            Curve {
                label: "commands → orders row".into(),
                latency_us: &commands.lag_us,
                colour: latency_svg::MEASURED[0],
            },
            Curve {
                label: "command responses".into(),
                latency_us: &commands.response_us,
                colour: latency_svg::MEASURED[1],
            },
            Curve {
                label: "baseline: direct INSERT".into(),
                latency_us: &baseline.lag_us,
                colour: latency_svg::BASELINE[0],
            },
        ],
    )?;
    read.close().await;
    store.pool().close().await;
    Ok(())
}

/// `names` and `orders`, whose rows the watcher reads.
fn with_orders(mut names: Vec<String>) -> Vec<String> {
    if !names.iter().any(|n| n == "orders") {
        names.push("orders".into());
    }
    names
}

/// One side's figures.
struct LagStats {
    /// Response (or commit) to visible, in microseconds.
    lag_us: Histogram<u64>,
    /// Command response latency (unused by the baseline).
    response_us: Histogram<u64>,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
    /// Ticks skipped because `MAX_IN_FLIGHT` commands were outstanding.
    skipped: u64,
    /// Seen by the watcher only after the measured span (counted as unseen).
    unseen: u64,
    elapsed: Duration,
    /// Each lag cut where its event reached NATS (`--stages`).
    stages: Option<Stages>,
    /// The machine's CPU over the phase (commands only).
    cpu: Option<CpuUse>,
}

impl LagStats {
    fn ms(h: &Histogram<u64>, q: f64) -> f64 {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// A row to wait for: visible once its version reaches `version`.
struct Expect {
    id: Uuid,
    version: i64,
    since: Instant,
    measured: bool,
}

/// Which table the watcher polls; both have `(uuid, bigint version)`.
#[derive(Clone, Copy)]
enum Watched {
    Orders,
    Baseline,
}

impl Watched {
    fn query(self) -> &'static str {
        match self {
            Watched::Orders => {
                "SELECT order_id, stream_version FROM orders WHERE order_id = ANY($1)"
            }
            Watched::Baseline => "SELECT id, version FROM bench_lag_baseline WHERE id = ANY($1)",
        }
    }
}

/// Polls for the pending rows about every millisecond (one indexed query
/// each time), records each one's lag when it shows, and returns when the
/// senders are gone and nothing is pending (or `give_up` passed since).
async fn watch_rows(
    read: PgPool,
    table: Watched,
    mut incoming: mpsc::UnboundedReceiver<Expect>,
    give_up: Duration,
    mut stages: Option<Stages>,
) -> anyhow::Result<(Histogram<u64>, u64, Option<Stages>)> {
    let mut lag = new_histogram();
    // Several versions of one order may be awaited at once.
    let mut pending: HashMap<Uuid, Vec<Expect>> = HashMap::new();
    let mut closed_at: Option<Instant> = None;
    let mut polls = tokio::time::interval(Duration::from_millis(1));
    polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if pending.is_empty() && closed_at.is_none() {
            match incoming.recv().await {
                Some(e) => pending.entry(e.id).or_default().push(e),
                None => closed_at = Some(Instant::now()),
            }
        }
        loop {
            match incoming.try_recv() {
                Ok(e) => pending.entry(e.id).or_default().push(e),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        if pending.is_empty() || closed_at.is_some_and(|at| at.elapsed() > give_up) {
            if closed_at.is_some() {
                break;
            }
            continue;
        }
        polls.tick().await;
        let ids: Vec<Uuid> = pending.keys().copied().collect();
        // Planned for each poll's ids: a prepared statement's generic plan,
        // chosen while the new table was tiny, scans the whole table on
        // every poll (a thousand a second) as it grows.
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(table.query())
            .bind(&ids)
            .persistent(false)
            .fetch_all(&read)
            .await?;
        let now = Instant::now();
        for (id, version) in rows {
            let Some(waits) = pending.get_mut(&id) else {
                continue;
            };
            waits.retain(|e| {
                if version < e.version {
                    return true;
                }
                if e.measured {
                    let us = now.saturating_duration_since(e.since).as_micros().max(1);
                    let _ = lag.record(u64::try_from(us).unwrap_or(u64::MAX));
                    if let Some(s) = stages.as_mut() {
                        s.record(id, e.version, e.since, now);
                    }
                }
                false
            });
            if waits.is_empty() {
                pending.remove(&id);
            }
        }
    }
    let unseen = pending.values().flatten().filter(|e| e.measured).count() as u64;
    Ok((lag, unseen, stages))
}

/// One order created and seen in the read model: relay, NATS consumer and
/// projector are all running before measuring starts.
async fn wait_until_projecting(client: &OrderClient, read: &PgPool) -> anyhow::Result<()> {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let order = client
        .create(&OrderClient::new_order_body(&mut rng, 100))
        .await?;
    let id: Uuid = order.id.parse()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The projector creates the table; until then the query fails.
        // Not prepared either: sqlx looks a statement up in a connection's
        // cache before `persistent(false)` counts, so one prepared here
        // would give the watcher's polls on this connection its generic plan.
        let seen: Option<(Uuid, i64)> = sqlx::query_as(Watched::Orders.query())
            .bind(vec![id])
            .persistent(false)
            .fetch_optional(read)
            .await
            .unwrap_or_default();
        if seen.is_some() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the projector did not show a new order within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Orders this run created and may advance; taken out while a command on
/// one is in flight, so two commands never race on the same order.
type Pool = Arc<Mutex<Vec<SeenOrder>>>;

async fn drive_commands(
    client: &OrderClient,
    read: &PgPool,
    rate: u32,
    warmup: Duration,
    measure: Duration,
    stages: Option<Stages>,
) -> anyhow::Result<LagStats> {
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch_rows(
        read.clone(),
        Watched::Orders,
        rx,
        Duration::from_secs(10),
        stages,
    ));
    let pool: Pool = Arc::default();
    let responses = Arc::new(Mutex::new((new_histogram(), 0u64, None::<String>)));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));

    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + measure;
    let bar = progress_bar("lag", warmup + measure);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut skipped) = (0u64, 0u64);
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let tick = ticks.tick().await;
        let now = tick.into_std();
        if now >= end {
            break;
        }
        bar.set_position(started.elapsed().as_millis() as u64);
        let measured = now >= measure_from;
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            skipped += u64::from(measured);
            continue;
        };
        sent += u64::from(measured);
        let (client, pool, responses, tx) = (
            client.clone(),
            Arc::clone(&pool),
            Arc::clone(&responses),
            tx.clone(),
        );
        let seed: u64 = rng.random();
        tasks.spawn(async move {
            let _permit = permit;
            let mut rng = StdRng::seed_from_u64(seed);
            let t = Instant::now();
            let result = one_command(&client, &pool, &mut rng).await;
            let done = Instant::now();
            let mut r = responses.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(order) => {
                    if measured {
                        let us = done.duration_since(t).as_micros().max(1);
                        let _ = r.0.record(u64::try_from(us).unwrap_or(u64::MAX));
                    }
                    if let Ok(id) = order.id.parse() {
                        let _ = tx.send(Expect {
                            id,
                            version: i64::try_from(order.version).unwrap_or(i64::MAX),
                            since: done,
                            measured,
                        });
                    }
                }
                Err(e) if measured => {
                    r.1 += 1;
                    r.2.get_or_insert_with(|| format!("{e:#}"));
                }
                Err(_) => {}
            }
        });
        // Reap finished tasks so the set does not grow for the whole run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    drop(tx);
    bar.finish_and_clear();
    let elapsed = measure_from.elapsed().max(measure);
    let (lag_us, unseen, stages) = watcher.await.context("watcher task")??;
    let (response_us, errors, first_error) = {
        let mut r = responses.lock().unwrap_or_else(|p| p.into_inner());
        (r.0.clone(), r.1, r.2.take())
    };
    Ok(LagStats {
        lag_us,
        response_us,
        sent,
        errors,
        first_error,
        skipped,
        unseen,
        elapsed,
        stages,
        cpu: None,
    })
}

/// 40% new orders, 60% the next step of an order this run created.
async fn one_command(
    client: &OrderClient,
    pool: &Pool,
    rng: &mut StdRng,
) -> anyhow::Result<SeenOrder> {
    let taken = {
        let mut p = pool.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_empty() || rng.random_bool(0.4) {
            None
        } else {
            let i = rng.random_range(0..p.len());
            Some(p.swap_remove(i))
        }
    };
    let next = match taken {
        None => Some(
            client
                .create(&OrderClient::new_order_body(rng, 1000))
                .await?,
        ),
        Some(order) => match client.advance(&order, rng).await {
            Ok(next) => next,
            Err(e) => {
                // Keep the order for another try; the error is still counted.
                pool.lock().unwrap_or_else(|p| p.into_inner()).push(order);
                return Err(e);
            }
        },
    };
    match next {
        Some(order) => {
            if order.status != "shipped" {
                pool.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(order.clone());
            }
            Ok(order)
        }
        // A finished order: create a fresh one instead, so every tick is
        // one command.
        None => client.create(&OrderClient::new_order_body(rng, 1000)).await,
    }
}

/// The watcher's own delay: rows committed straight into the read database
/// at the same rate, each seen by the same polling as the orders.
async fn drive_baseline(
    read: &PgPool,
    rate: u32,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<LagStats> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_lag_baseline (id uuid PRIMARY KEY, version bigint NOT NULL)",
    )
    .execute(read)
    .await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch_rows(
        read.clone(),
        Watched::Baseline,
        rx,
        Duration::from_secs(10),
        None,
    ));
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + measure;
    let bar = progress_bar("baseline", warmup + measure);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    loop {
        let now = ticks.tick().await.into_std();
        if now >= end {
            break;
        }
        bar.set_position(started.elapsed().as_millis() as u64);
        let measured = now >= measure_from;
        sent += u64::from(measured);
        let (read, tx) = (read.clone(), tx.clone());
        tasks.spawn(async move {
            let id = Uuid::now_v7();
            let written =
                sqlx::query("INSERT INTO bench_lag_baseline (id, version) VALUES ($1, 1)")
                    .bind(id)
                    .execute(&read)
                    .await;
            if written.is_ok() {
                let _ = tx.send(Expect {
                    id,
                    version: 1,
                    since: Instant::now(),
                    measured,
                });
            }
            written.map(|_| ())
        });
        while tasks.try_join_next().is_some() {}
    }
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            errors += 1;
            first_error.get_or_insert_with(|| e.to_string());
        }
    }
    drop(tx);
    bar.finish_and_clear();
    let elapsed = measure_from.elapsed().max(measure);
    let (lag_us, unseen, _) = watcher.await.context("watcher task")??;
    Ok(LagStats {
        lag_us,
        response_us: new_histogram(),
        sent,
        errors,
        first_error,
        skipped: 0,
        unseen,
        elapsed,
        stages: None,
        cpu: None,
    })
}

async fn delete_stream(nats_url: &str, name: &str) {
    if let Ok(client) = async_nats::connect(nats_url).await {
        let _ = async_nats::jetstream::new(client).delete_stream(name).await;
    }
}

fn print(args: &LagArgs, rate: u32, c: &LagStats, b: &LagStats) {
    let title = format!(
        "bench lag: {rate} commands/s for {} s, response → visible in the orders read model",
        args.timing.seconds
    );
    println!("{title}\n{}", "-".repeat(title.chars().count()));
    let projections = args.projections.clone().map(with_orders);
    if let Some(names) = &projections {
        println!("projections running: {} (no others)", names.join(", "));
    }
    let row = |name: &str, s: &LagStats| {
        println!(
            "{name:<26} {:>8.0} sent/s   lag p50 {:>7.2} ms   p99 {:>7.2} ms   p99.9 {:>7.2} ms   max {:>7.2} ms   unseen {}   errors {}",
            s.sent as f64 / s.elapsed.as_secs_f64(),
            LagStats::ms(&s.lag_us, 0.50),
            LagStats::ms(&s.lag_us, 0.99),
            LagStats::ms(&s.lag_us, 0.999),
            s.lag_us.max() as f64 / 1000.0,
            s.unseen,
            s.errors,
        );
        if let Some(e) = &s.first_error {
            println!("{:<26} first error: {e}", "");
        }
    };
    row("commands → orders row", c);
    row("baseline: direct INSERT", b);
    println!(
        "command responses: p50 {:.2} ms, p99 {:.2} ms; ticks skipped (>{MAX_IN_FLIGHT} in flight): {}",
        LagStats::ms(&c.response_us, 0.50),
        LagStats::ms(&c.response_us, 0.99),
        c.skipped
    );
    let over = |q| LagStats::ms(&c.lag_us, q) - LagStats::ms(&b.lag_us, q);
    println!(
        "pipeline over the watcher's own delay: p50 +{:.2} ms, p99 +{:.2} ms",
        over(0.50),
        over(0.99)
    );
    if let Some(cpu) = &c.cpu {
        println!("CPU while commands ran: {}", cpu.describe());
    }
    if let Some(s) = &c.stages {
        let part = |h: &Histogram<u64>| {
            format!(
                "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
                LagStats::ms(h, 0.50),
                LagStats::ms(h, 0.90),
                LagStats::ms(h, 0.99)
            )
        };
        println!("  response → on NATS:     {}", part(&s.to_nats_us));
        println!(
            "  on NATS → row visible:  {}   (not tapped: {})",
            part(&s.nats_to_row_us),
            s.untapped
        );
    }
    let peak_rss = report::print_peak_memory();
    if args.scratch.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "lag",
                "peak_rss_bytes": peak_rss,
                "seconds": args.timing.seconds,
                "sent": c.sent,
                "errors": c.errors,
                "unseen": c.unseen,
                "skipped": c.skipped,
                "response_p50_ms": LagStats::ms(&c.response_us, 0.50),
                "response_p99_ms": LagStats::ms(&c.response_us, 0.99),
                "baseline_p50_ms": LagStats::ms(&b.lag_us, 0.50),
                "baseline_p99_ms": LagStats::ms(&b.lag_us, 0.99),
                "p50_ms": LagStats::ms(&c.lag_us, 0.50),
                "p99_ms": LagStats::ms(&c.lag_us, 0.99),
                "rate": rate,
                "projections": projections,
                "cpu": c.cpu,
                "stages": c.stages.as_ref().map(|s| serde_json::json!({
                    "to_nats_p50_ms": LagStats::ms(&s.to_nats_us, 0.50),
                    "to_nats_p99_ms": LagStats::ms(&s.to_nats_us, 0.99),
                    "nats_to_row_p50_ms": LagStats::ms(&s.nats_to_row_us, 0.50),
                    "nats_to_row_p99_ms": LagStats::ms(&s.nats_to_row_us, 0.99),
                    "untapped": s.untapped,
                })),
            })
        );
    }
}
