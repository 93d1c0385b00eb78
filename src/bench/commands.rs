//! `orderflow bench commands`: the whole HTTP command path — JSON, the
//! command handler, group commit — over loopback with keep-alive, against
//! plain single-row INSERT transactions at the same concurrency.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orderflow_command_api::{CommandApiConfig, conflict_retries_total};
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::append::run_baseline;
use super::auth::AuthMode;
use super::latency_svg::{self, Curve};
use super::load::{self, Worker};
use super::report;
use crate::cli::unreachable_hint;
use crate::rest_client::{OrderClient, SeenOrder};

#[derive(Debug, Args)]
pub struct CommandsArgs {
    /// Concurrent HTTP clients, and baseline writers.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Also run the HTTP side with the verifier's token cache off (every
    /// request pays the full signature check) and report both, with the
    /// per-call verification costs.
    #[arg(long)]
    pub auth: bool,
    #[command(flatten)]
    pub timing: super::Timing,
    #[command(flatten)]
    pub scratch: super::Scratch,
}

pub async fn run(args: CommandsArgs) -> anyhow::Result<()> {
    let url = args.scratch.database_url.clone();
    super::scratch::recreate_database(&url)
        .await
        .with_context(|| unreachable_hint(&url))?;
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(args.timing.seconds.max(1));

    let commands = http_side(&url, &args, AuthMode::Cached, warmup, measure).await?;
    let (uncached, costs) = if args.auth {
        // The database grows with each side; start the second as fresh.
        super::scratch::recreate_database(&url).await?;
        let side = http_side(&url, &args, AuthMode::Uncached, warmup, measure).await?;
        let hit = super::auth::verify_cost_micros(AuthMode::Cached, 20_000).await?;
        let full = super::auth::verify_cost_micros(AuthMode::Uncached, 2_000).await?;
        (Some(side), Some((hit, full)))
    } else {
        (None, None)
    };
    let retries = commands.retries;
    let commands = commands.stats;
    let baseline = run_baseline(&url, args.concurrency, warmup, measure).await?;

    let ratio = commands.ops_per_sec() / baseline.ops_per_sec().max(f64::MIN_POSITIVE);
    report::print_header(&format!(
        "bench commands: concurrency {}, {} s measured, 40% POST /orders, 60% follow-ups",
        args.concurrency, args.timing.seconds
    ));
    report::print_row("HTTP commands", "commands", &commands);
    if let Some(u) = &uncached {
        report::print_row("HTTP, token cache off", "commands", &u.stats);
    }
    report::print_row("baseline single INSERTs", "inserts", &baseline);
    println!("conflict retries: {retries}");
    println!("ratio (commands/s ÷ baseline inserts/s): {ratio:.2}");
    let peak_rss = report::print_peak_memory();
    let mut curves = vec![Curve {
        label: "HTTP commands".into(),
        latency_us: &commands.latency_us,
        colour: latency_svg::MEASURED[0],
    }];
    if let Some(u) = &uncached {
        curves.push(Curve {
            label: "HTTP, token cache off".into(),
            latency_us: &u.stats.latency_us,
            colour: latency_svg::MEASURED[1],
        });
    }
    curves.push(Curve {
        label: "baseline single INSERTs".into(),
        latency_us: &baseline.latency_us,
        colour: latency_svg::BASELINE[0],
    });
    latency_svg::write_if_asked(
        args.scratch.svg.as_deref(),
        &format!("bench commands: latency, concurrency {}", args.concurrency),
        &curves,
    )?;
    let auth_json = match (&uncached, costs) {
        (Some(u), Some((hit, full))) => {
            let cache_off_ratio =
                u.stats.ops_per_sec() / commands.ops_per_sec().max(f64::MIN_POSITIVE);
            // What verification takes of the CPU at the measured rate, as a
            // share of one core: the cached side's hit, the uncached side's
            // full check.
            let hit_share = hit * commands.ops_per_sec() / 1e6;
            let full_share = full * u.stats.ops_per_sec() / 1e6;
            println!(
                "auth: verify {hit:.2} µs on a cache hit, {full:.1} µs in full; \
                 token cache off ÷ on: {cache_off_ratio:.2}; \
                 verification's CPU at these rates: {:.2}% (cached) and {:.1}% (cache off) of one core",
                hit_share * 100.0,
                full_share * 100.0
            );
            serde_json::json!({
                "verify_hit_us": hit,
                "verify_full_us": full,
                "cache_off_commands_per_sec": u.stats.ops_per_sec(),
                "cache_off_p99_ms": u.stats.percentile_ms(0.99),
                "cache_off_ratio": cache_off_ratio,
                "verify_cpu_share_cached": hit_share,
                "verify_cpu_share_cache_off": full_share,
            })
        }
        _ => serde_json::Value::Null,
    };
    if args.scratch.json {
        let out = serde_json::json!({
            "bench": "commands",
                "peak_rss_bytes": peak_rss,
            "concurrency": args.concurrency,
            "seconds": args.timing.seconds,
            "commands_per_sec": commands.ops_per_sec(),
            "p50_ms": commands.percentile_ms(0.50),
            "p99_ms": commands.percentile_ms(0.99),
            "p999_ms": commands.percentile_ms(0.999),
            "errors": commands.errors,
            "conflict_retries": retries,
            "baseline_per_sec": baseline.ops_per_sec(),
            "baseline_p99_ms": baseline.percentile_ms(0.99),
            "ratio": ratio,
            "auth": auth_json,
        });
        println!("{out}");
    }
    Ok(())
}

/// One HTTP side: the command API in this process, its clients, the load.
struct HttpSide {
    stats: load::LoadStats,
    retries: u64,
}

async fn http_side(
    url: &str,
    args: &CommandsArgs,
    auth: AuthMode,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<HttpSide> {
    // The service under test runs in this process on an ephemeral port.
    let store = PgEventStore::connect(PgStoreConfig::new(url)).await?;
    let config = CommandApiConfig {
        addr: "127.0.0.1:0".parse()?,
        // Load from one address is what is measured, not the limiter.
        rate_limit: orderflow_auth::RateLimitConfig::disabled(),
        ..CommandApiConfig::default()
    };
    let listener = orderflow_command_api::bind(&config).await?;
    let (verifier, tokens) = super::auth::bench_auth_as(auth).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server_store: Arc<dyn EventStore> = Arc::new(store.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(orderflow_command_api::serve_on(
        listener,
        server_store,
        config,
        verifier,
        async {
            let _ = stopped.await;
        },
    ));

    let client = OrderClient::new(&base, tokens)?;
    let retries_before = conflict_retries_total();
    let workers = (0..args.concurrency)
        .map(|_| CommandWorker {
            client: client.clone(),
            orders: Vec::new(),
            rng: StdRng::from_rng(&mut rand::rng()),
        })
        .collect();
    let commands = load::drive("commands", workers, warmup, measure).await;
    let retries = conflict_retries_total() - retries_before;
    let _ = stop.send(());
    let _ = server.await;

    store.pool().close().await;
    Ok(HttpSide {
        stats: commands,
        retries,
    })
}

/// 40% new orders, 60% the next step of one of this worker's orders.
struct CommandWorker {
    client: OrderClient,
    orders: Vec<SeenOrder>,
    rng: StdRng,
}

impl Worker for CommandWorker {
    async fn step(&mut self) -> anyhow::Result<u64> {
        let create = self.orders.is_empty() || self.rng.random_bool(0.4);
        if create {
            let body = OrderClient::new_order_body(&mut self.rng, 1000);
            let order = self.client.create(&body).await?;
            self.orders.push(order);
            return Ok(1);
        }
        let index = self.rng.random_range(0..self.orders.len());
        let order = self.orders.swap_remove(index);
        let next = self.client.advance(&order, &mut self.rng).await?;
        // Shipped orders leave the pool; the rest go on.
        if let Some(next) = next
            && next.status != "shipped"
        {
            self.orders.push(next);
        }
        Ok(1)
    }
}
