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
use super::load::{self, Worker};
use super::report;
use crate::cli::unreachable_hint;
use crate::rest_client::{OrderClient, SeenOrder};

#[derive(Debug, Args)]
pub struct CommandsArgs {
    /// Concurrent HTTP clients, and baseline writers.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
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

    // The service under test runs in this process on an ephemeral port.
    let store = PgEventStore::connect(PgStoreConfig::new(&url)).await?;
    let config = CommandApiConfig {
        addr: "127.0.0.1:0".parse()?,
        // Load from one address is what is measured, not the limiter.
        rate_limit: orderflow_auth::RateLimitConfig::disabled(),
        ..CommandApiConfig::default()
    };
    let listener = orderflow_command_api::bind(&config).await?;
    let (verifier, tokens) = super::auth::bench_auth().await?;
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

    let baseline = run_baseline(&url, args.concurrency, warmup, measure).await?;

    let ratio = commands.ops_per_sec() / baseline.ops_per_sec().max(f64::MIN_POSITIVE);
    report::print_header(&format!(
        "bench commands: concurrency {}, {} s measured, 40% POST /orders, 60% follow-ups",
        args.concurrency, args.timing.seconds
    ));
    report::print_row("HTTP commands", "commands", &commands);
    report::print_row("baseline single INSERTs", "inserts", &baseline);
    println!("conflict retries: {retries}");
    println!("ratio (commands/s ÷ baseline inserts/s): {ratio:.2}");
    if args.scratch.json {
        let out = serde_json::json!({
            "bench": "commands",
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
        });
        println!("{out}");
    }
    store.pool().close().await;
    Ok(())
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
