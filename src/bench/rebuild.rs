//! `orderflow bench rebuild`: seed N realistic events straight into a
//! scratch event store, rebuild every read model from them, and compare
//! with the set-based baseline — one `INSERT … SELECT … GROUP BY` over the
//! same events into an unlogged table.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration as Days, TimeZone, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use orderflow_domain::{
    Channel, Currency, CustomerId, Money, NewItem, OrderCommand, OrderId, OrderState, PaymentId,
    RefundId, ShippingAddress, Sku, decide, evolve,
};
use orderflow_event_store::pg_admin::{self, UncheckedEvent};
use orderflow_event_store::{
    EventMetadata, EventStore, NewEvent, PgEventStore, PgStoreConfig, StreamId,
};
use orderflow_projections::{ProjectorConfig, connect_read_db, rebuild_with};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::cpu_share::CpuSample;
use super::{peak_memory, svg_chart, throughput_svg};
use crate::cli::unreachable_hint;

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Events to seed and rebuild from.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Store ranges the rebuild reads at once.
    #[arg(long, default_value_t = ProjectorConfig::default().rebuild_read_parallel)]
    pub read_parallel: usize,
    #[command(flatten)]
    pub scratch: super::Scratch,
}

pub async fn run(args: RebuildArgs) -> anyhow::Result<()> {
    let url = args.scratch.database_url.clone();
    let read_url = format!("{url}_read");
    super::scratch::recreate_database(&url)
        .await
        .with_context(|| unreachable_hint(&url))?;
    super::scratch::recreate_database(&read_url).await?;
    let store = PgEventStore::connect(PgStoreConfig::new(&url)).await?;
    let pool = store.pool().clone();

    let started = Instant::now();
    let seeded = seed(&store, args.events, !args.scratch.json).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    if !args.scratch.json {
        println!("seeded {seeded} events in {seed_secs:.1} s");
    }
    // Let the watermark pass the seed before reading.
    let head = store.head().await?;
    while store.head().await? < head {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let read = connect_read_db(&read_url, 8).await?;
    let config = ProjectorConfig {
        read_database_url: read_url.clone(),
        rebuild_read_parallel: args.read_parallel,
        ..ProjectorConfig::default()
    };
    let bar = bar(seeded as u64, "rebuild", !args.scratch.json);
    // The peak of the rebuild alone, not of the seeding before it.
    let peak_from_here = peak_memory::reset_peak();
    let mut samples: throughput_svg::Samples = vec![(0.0, 0)];
    let cpu_before = CpuSample::take();
    let report = rebuild_with(Arc::new(store.clone()), &read, "all", &config, &mut |p| {
        bar.set_position(p.events);
        bar.set_message(format!("{:.0} events/s", p.events_per_sec));
        samples.push((p.elapsed.as_secs_f64(), p.events));
    })
    .await?;
    let cpu = CpuSample::since(&cpu_before);
    let peak = peak_memory::peak_rss_bytes();
    bar.finish_and_clear();
    samples.push((report.seconds, report.events));

    let cpu_before = CpuSample::take();
    let baseline_secs = pg_admin::group_by_baseline(&store).await?.as_secs_f64();
    let baseline_cpu = CpuSample::since(&cpu_before);
    let baseline_per_sec = seeded as f64 / baseline_secs;
    let ratio = report.events_per_sec / baseline_per_sec;
    println!(
        "bench rebuild: {} events, every read model ({})",
        report.events,
        report.projections.join(", ")
    );
    println!(
        "rebuild                     {:>10.0} events/s   {:.2} s (read {:.2} s, fold {:.2} s, write {:.2} s)",
        report.events_per_sec,
        report.seconds,
        report.read_wait_seconds,
        report.fold_seconds,
        report.write_seconds
    );
    println!(
        "  reads, summed over {} at once: fetch {:.2} s, decode {:.2} s",
        config.rebuild_read_parallel, report.fetch_seconds, report.decode_seconds
    );
    // The writers' connections end within the phase, and their backends'
    // time with them: the machine's figure counts it, Postgres' may not.
    println!("  CPU: {}", cpu.describe());
    println!(
        "  peak resident memory of this process{}: {}",
        if peak_from_here {
            " during the rebuild"
        } else {
            ""
        },
        peak_memory::describe(peak)
    );
    println!(
        "baseline INSERT…GROUP BY    {baseline_per_sec:>10.0} events/s   {baseline_secs:.2} s"
    );
    println!("  CPU: {}", baseline_cpu.describe());
    println!("ratio (rebuild ÷ baseline): {ratio:.2}");
    if let Some(path) = &args.scratch.svg {
        throughput_svg::write(
            path,
            &format!(
                "bench rebuild, {} events: events/s in each second",
                report.events
            ),
            &[
                svg_chart::Line {
                    label: "rebuild (0 while writing the tables)",
                    points: throughput_svg::per_second(&samples),
                    colour: plotters::style::BLUE,
                },
                svg_chart::Line {
                    label: "baseline INSERT … SELECT … GROUP BY (average)",
                    points: vec![(0.0, baseline_per_sec), (baseline_secs, baseline_per_sec)],
                    colour: plotters::style::RED,
                },
            ],
        )?;
        println!("wrote {}", path.display());
    }
    if args.scratch.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "rebuild",
                "events": report.events,
                "events_per_sec": report.events_per_sec,
                "seconds": report.seconds,
                "baseline_per_sec": baseline_per_sec,
                "baseline_seconds": baseline_secs,
                "ratio": ratio,
                "read_seconds": report.read_wait_seconds,
                "fold_seconds": report.fold_seconds,
                "write_seconds": report.write_seconds,
                "fetch_seconds": report.fetch_seconds,
                "decode_seconds": report.decode_seconds,
                "peak_rss_bytes": peak,
                "cpu": cpu,
                "baseline_cpu": baseline_cpu,
            })
        );
    }
    read.close().await;
    pool.close().await;
    Ok(())
}

fn bar(len: u64, what: &str, visible: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what:>8} [{{bar:30}}] {{pos}}/{{len}} events  {{msg}}  eta {{eta}}"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    if !visible {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// Writes about `n` events of realistic order lives, 2 000 orders at a
/// time interleaved, with multi-row inserts (the store's append path is
/// measured by `bench append`, not here).
async fn seed(store: &PgEventStore, n: usize, visible: bool) -> anyhow::Result<usize> {
    let bar = bar(n as u64, "seed", visible);
    let mut rng = StdRng::seed_from_u64(42);
    let mut open: Vec<Life> = Vec::new();
    let mut rows = Rows::default();
    let mut total = 0;
    let epoch = Utc
        .with_ymd_and_hms(2026, 9, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    while total < n {
        while open.len() < 2000 {
            open.extend(Life::new(&mut rng, epoch));
        }
        let i = rng.random_range(0..open.len());
        let life = &mut open[i];
        match life.next(&mut rng) {
            Some(events) => {
                for e in events {
                    life.state = evolve(std::mem::take(&mut life.state), &e);
                    rows.push(life.id, life.state.version, &e)?;
                    total += 1;
                }
            }
            None => {
                open.swap_remove(i);
            }
        }
        if rows.len() >= 5000 {
            rows.insert(store).await?;
            bar.set_position(total as u64);
        }
    }
    rows.insert(store).await?;
    bar.finish_and_clear();
    Ok(total)
}

/// One order's scripted life: the commands it will receive, in order.
struct Life {
    id: OrderId,
    state: OrderState,
    script: std::vec::IntoIter<OrderCommand>,
    at: DateTime<Utc>,
}

impl Life {
    /// `None` only if a literal id failed validation, which they do not.
    fn new(rng: &mut StdRng, epoch: DateTime<Utc>) -> Option<Life> {
        let id = OrderId::new(Uuid::now_v7());
        let eur = |m| Money::new(m, Currency::EUR);
        let sku = |s: String| Sku::new(s).ok();
        let items: Vec<NewItem> = (0..rng.random_range(1..=3))
            .filter_map(|k| {
                Some(NewItem {
                    sku: sku(format!(
                        "SKU-{:03}",
                        (k * 97 + rng.random_range(0..500)) % 500
                    ))?,
                    name: "Catalogue item".into(),
                    quantity: rng.random_range(1..=3),
                    unit_price: eur(rng.random_range(100..10_000)),
                })
            })
            .collect();
        let mut script = vec![OrderCommand::CreateOrder {
            order_id: id,
            customer_id: CustomerId::new(format!("customer-{}", rng.random_range(0..20_000)))
                .ok()?,
            currency: Currency::EUR,
            channel: Channel::Web,
            items,
            shipping_address: Some(ShippingAddress {
                name: "Bench Customer".into(),
                line1: "1 Main Street".into(),
                line2: None,
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            }),
        }];
        let end = rng.random_range(0..10);
        script.push(OrderCommand::SubmitOrder);
        if end == 0 {
            script.push(OrderCommand::RejectOrder {
                reason: "out of stock".into(),
            });
        } else if end >= 2 {
            script.push(OrderCommand::ConfirmOrder);
            // The payment amount is filled in when it is due (it needs the total).
            script.push(OrderCommand::RecordPayment {
                payment_id: PaymentId::new(format!("pay-{}", id.as_uuid().simple())).ok()?,
                amount: eur(0),
            });
            if end == 2 {
                script.push(OrderCommand::CancelOrder {
                    reason: "changed mind".into(),
                });
            } else {
                script.push(OrderCommand::ShipOrder {
                    carrier: "DHL".into(),
                    tracking_number: "JD01".into(),
                });
                script.push(OrderCommand::MarkDelivered);
                if end == 9 {
                    script.push(OrderCommand::IssueRefund {
                        refund_id: RefundId::new("r-1").ok()?,
                        amount: eur(50),
                        reason: "damaged".into(),
                    });
                }
            }
        }
        Some(Life {
            id,
            state: OrderState::default(),
            script: script.into_iter(),
            at: epoch + Days::minutes(rng.random_range(0..60 * 24 * 60)),
        })
    }

    fn next(&mut self, rng: &mut StdRng) -> Option<Vec<orderflow_domain::OrderEvent>> {
        let mut command = self.script.next()?;
        if let OrderCommand::RecordPayment { amount, .. } = &mut command {
            amount.amount_minor = self.state.total_minor();
        }
        self.at += Days::minutes(rng.random_range(1..600));
        decide(&self.state, &command, self.at).ok()
    }
}

/// Seed rows waiting for the next multi-row insert.
#[derive(Default)]
struct Rows(Vec<UncheckedEvent>);

impl Rows {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn push(
        &mut self,
        order: OrderId,
        version: u64,
        e: &orderflow_domain::OrderEvent,
    ) -> anyhow::Result<()> {
        self.0.push(UncheckedEvent {
            stream_id: StreamId::new(order.stream_id())?,
            stream_version: version,
            event: NewEvent {
                event_id: Uuid::now_v7(),
                event_type: e.event_type().to_owned(),
                schema_version: 1,
                payload: e.payload(),
                metadata: EventMetadata::default(),
            },
        });
        Ok(())
    }

    async fn insert(&mut self, store: &PgEventStore) -> anyhow::Result<()> {
        let rows = std::mem::take(&mut self.0);
        if !rows.is_empty() {
            pg_admin::insert(store, &rows).await?;
        }
        Ok(())
    }
}
