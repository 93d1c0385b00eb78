//! `orderflow seed`: realistic demo orders through the REST API, so every
//! event goes the way a client's would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::rest_client::{ClientAuthArgs, OrderClient, SeenOrder, Tokens};

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many orders to create.
    #[arg(long, default_value_t = 100)]
    pub orders: u64,
    /// The command API to send them to.
    #[arg(long, env = "COMMAND_API_URL", hide_env_values = true, default_value_t = format!("http://{}", orderflow_command_api::CommandApiConfig::default().addr))]
    pub api: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u64,
    /// Distinct customers the orders are spread over.
    #[arg(long, default_value_t = 50)]
    pub customers: u32,
    #[command(flatten)]
    pub auth: ClientAuthArgs,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let client = OrderClient::new(&args.api, Tokens::from_args(&args.auth)?)?;
    // Enough for every line of every order (at most 3 lines of 3 units):
    // where the fulfilment saga runs, it reserves stock and confirms.
    client
        .stock_catalogue(args.orders.saturating_mul(9).max(1))
        .await?;
    let bar = ProgressBar::new(args.orders);
    if let Ok(style) =
        ProgressStyle::with_template("seeding [{bar:30}] {pos}/{len} orders  {per_sec}  eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (client, next, bar) = (client.clone(), next.clone(), bar.clone());
            let (total, customers) = (args.orders, args.customers);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    one_order(&client, customers).await?;
                    bar.inc(1);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    bar.finish();
    println!("seeded {} orders through {}", args.orders, args.api);
    Ok(())
}

/// One order's life: most are delivered, some stop early, some are
/// cancelled or rejected, some refunded.
async fn one_order(client: &OrderClient, customers: u32) -> anyhow::Result<()> {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let body = OrderClient::new_order_body(&mut rng, customers);
    let mut order = client.create(&body).await?;
    // How far this order gets: 0 = stays a draft … 6 = delivered.
    let (stop_at, cancel, reject, refund) = (
        rng.random_range(0..=12).min(6),
        rng.random_bool(0.08),
        rng.random_bool(0.05),
        rng.random_bool(0.1),
    );
    for _ in 0..stop_at + 3 {
        if order.status == "submitted" {
            // Where the fulfilment saga runs, it confirms (or rejects) a
            // submitted order itself; the back office only steps in when
            // nothing did.
            order = settled_by_saga(client, order).await?;
        }
        if order.status == "submitted" && reject {
            client
                .act(&order, "reject", Some(json!({ "reason": "out of stock" })))
                .await?;
            return Ok(());
        }
        if order.status == "confirmed" && cancel {
            client
                .act(
                    &order,
                    "cancel",
                    Some(json!({ "reason": "customer request" })),
                )
                .await?;
            return Ok(());
        }
        if stage(&order.status) >= stop_at {
            break;
        }
        let next = client.advance(&order, &mut rng).await?;
        match next {
            Some(o) => order = o,
            None => break,
        }
    }
    if order.status == "shipped" {
        order = client.act(&order, "deliver", None).await?;
    }
    if refund && matches!(order.status.as_str(), "paid" | "shipped" | "delivered") {
        let amount = json!({ "amount_minor": (order.total_minor / 2).max(1), "currency": "EUR" });
        client
            .act(
                &order,
                "refunds",
                Some(json!({ "refund_id": "refund-1", "amount": amount, "reason": "damaged" })),
            )
            .await?;
    }
    Ok(())
}

/// The order once the saga moved it on, or as it was after a short wait.
async fn settled_by_saga(client: &OrderClient, order: SeenOrder) -> anyhow::Result<SeenOrder> {
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = client.reload(&order).await?;
        if now.status != "submitted" {
            return Ok(now);
        }
    }
    Ok(order)
}

fn stage(status: &str) -> u32 {
    match status {
        "draft" => 0,
        "submitted" => 2,
        "confirmed" => 3,
        "paid" => 4,
        "shipped" => 5,
        _ => 6,
    }
}
