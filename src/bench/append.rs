//! `orderflow bench append`: event store appends through group commit,
//! against the naive way of writing the same rows — one single-row INSERT
//! transaction each — at the same concurrency, in the same run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore,
    PgStoreConfig, StreamId,
};
use rand::Rng;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::latency_svg::{self, Curve};
use super::load::{self, Worker};
use super::report;
use crate::cli::unreachable_hint;

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Concurrent writers, for both the store and the baseline.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[command(flatten)]
    pub timing: super::Timing,
    /// Group-commit writer tasks.
    #[arg(long, default_value_t = 2)]
    pub writers: usize,
    #[command(flatten)]
    pub scratch: super::Scratch,
}

pub async fn run(args: AppendArgs) -> anyhow::Result<()> {
    let url = args.scratch.database_url.clone();
    super::scratch::recreate_database(&url)
        .await
        .with_context(|| unreachable_hint(&url))?;
    let synchronous_commit = super::scratch::synchronous_commit(&url).await?;
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(args.timing.seconds.max(1));

    let mut config = PgStoreConfig::new(&url);
    config.writers = args.writers.max(1);
    config.max_connections = (config.writers as u32 + 4).max(8);
    let store = Arc::new(PgEventStore::connect(config).await?);
    let workers = (0..args.concurrency)
        .map(|_| AppendWorker::new(store.clone()))
        .collect();
    let appends = load::drive("appends", workers, warmup, measure).await;

    let baseline = run_baseline(&url, args.concurrency, warmup, measure).await?;

    let ratio = appends.ops_per_sec() / baseline.ops_per_sec().max(f64::MIN_POSITIVE);
    report::print_header(&format!(
        "bench append: concurrency {}, {} s measured, synchronous_commit={synchronous_commit}, {} writer(s)",
        args.concurrency, args.timing.seconds, args.writers
    ));
    report::print_row("event store appends", "appends", &appends);
    report::print_row("baseline single INSERTs", "inserts", &baseline);
    println!("ratio (appends/s ÷ baseline inserts/s): {ratio:.2}");
    let peak_rss = report::print_peak_memory();
    latency_svg::write_if_asked(
        args.scratch.svg.as_deref(),
        &format!("bench append: latency, concurrency {}", args.concurrency),
        &[
            Curve {
                label: "event store appends".into(),
                latency_us: &appends.latency_us,
                colour: latency_svg::MEASURED[0],
            },
            Curve {
                label: "baseline single INSERTs".into(),
                latency_us: &baseline.latency_us,
                colour: latency_svg::BASELINE[0],
            },
        ],
    )?;
    if args.scratch.json {
        let out = serde_json::json!({
            "bench": "append",
            "peak_rss_bytes": peak_rss,
            "concurrency": args.concurrency,
            "seconds": args.timing.seconds,
            "synchronous_commit": synchronous_commit,
            "appends_per_sec": appends.ops_per_sec(),
            "events_per_sec": appends.events_per_sec(),
            "p50_ms": appends.percentile_ms(0.50),
            "p99_ms": appends.percentile_ms(0.99),
            "p999_ms": appends.percentile_ms(0.999),
            "errors": appends.errors,
            "baseline_per_sec": baseline.ops_per_sec(),
            "baseline_p50_ms": baseline.percentile_ms(0.50),
            "baseline_p99_ms": baseline.percentile_ms(0.99),
            "ratio": ratio,
        });
        println!("{out}");
    }
    store.pool().close().await;
    Ok(())
}

/// A realistic event body of about 300 bytes.
fn payload(rng: &mut impl Rng) -> serde_json::Value {
    serde_json::json!({
        "sku": format!("SKU-{:06}", rng.random_range(0..100_000)),
        "name": "Stainless steel water bottle, 750 ml, brushed finish",
        "quantity": rng.random_range(1..10),
        "unit_price": { "amount_minor": rng.random_range(100..100_000), "currency": "EUR" },
        "at": "2026-11-22T10:15:30.123456Z",
        "note": "gift wrap requested; deliver to reception desk"
    })
}

fn new_event(rng: &mut impl Rng) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "ItemAdded".into(),
        schema_version: 1,
        payload: payload(rng),
        metadata: EventMetadata {
            correlation_id: Some(Uuid::now_v7().to_string()),
            actor: Some("bench".into()),
            ..EventMetadata::default()
        },
    }
}

/// Appends one or two events, half the time to a new stream and half the
/// time to its current stream with an exact expected version.
struct AppendWorker {
    store: Arc<PgEventStore>,
    stream: Option<(StreamId, u64)>,
}

impl AppendWorker {
    fn new(store: Arc<PgEventStore>) -> Self {
        AppendWorker {
            store,
            stream: None,
        }
    }
}

impl Worker for AppendWorker {
    async fn step(&mut self) -> anyhow::Result<u64> {
        let (request, stream) = {
            let mut rng = rand::rng();
            let count = rng.random_range(1..=2u64);
            let events = (0..count).map(|_| new_event(&mut rng)).collect();
            let (stream, expected) = match &self.stream {
                Some((s, v)) if rng.random_bool(0.5) => (s.clone(), ExpectedVersion::Exact(*v)),
                _ => (
                    StreamId::new(format!("order-{}", Uuid::now_v7()))?,
                    ExpectedVersion::NoStream,
                ),
            };
            (AppendRequest::new(stream.clone(), expected, events), stream)
        };
        let count = request.events.len() as u64;
        let result = self.store.append(request).await?;
        self.stream = Some((stream, result.stream_version));
        Ok(count)
    }
}

/// The baseline both write benchmarks compare with: single-row INSERT
/// transactions into a table shaped like `events`, at the same concurrency.
pub(super) async fn run_baseline(
    url: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<load::LoadStats> {
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .connect(url)
        .await?;
    create_baseline_table(&pool).await?;
    let workers = (0..concurrency)
        .map(|_| BaselineWorker { pool: pool.clone() })
        .collect();
    let stats = load::drive("baseline", workers, warmup, measure).await;
    pool.close().await;
    Ok(stats)
}

async fn create_baseline_table(pool: &PgPool) -> anyhow::Result<()> {
    // Same columns, defaults, constraints and indexes as `events`.
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS baseline_events;
         CREATE TABLE baseline_events (LIKE events INCLUDING ALL);",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One autocommitted single-row INSERT per operation.
struct BaselineWorker {
    pool: PgPool,
}

impl Worker for BaselineWorker {
    async fn step(&mut self) -> anyhow::Result<u64> {
        let (payload, metadata) = {
            let mut rng = rand::rng();
            let e = new_event(&mut rng);
            (e.payload, serde_json::to_value(e.metadata)?)
        };
        sqlx::query(
            "INSERT INTO baseline_events (stream_id, stream_version, event_id, event_type, \
                                          schema_version, payload, metadata) \
             VALUES ($1, 1, $2, 'ItemAdded', 1, $3, $4)",
        )
        .bind(format!("order-{}", Uuid::now_v7()))
        .bind(Uuid::now_v7())
        .bind(payload)
        .bind(metadata)
        .execute(&self.pool)
        .await?;
        Ok(1)
    }
}
