//! `orderflow bench queries`: `order(id)` and `orders(first: 50, filter:
//! {status})` over HTTP, against the same SQL run directly through sqlx at
//! the same concurrency, on whatever the read model holds.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::oneshot;
use uuid::Uuid;

use anyhow::Context;
use clap::Args;

use super::auth::AuthMode;
use super::latency_svg::{self, Curve};
use super::load::new_histogram;
use super::peak_memory;
use super::server_process::{ServerProcess, cpu_seconds, cpu_seconds_named};
use orderflow_query_api::db::{OrderFilter, PageQuery, ReadDb, SortKey};
use orderflow_query_api::{ChangeFeed, QueryApi, QueryApiConfig, serve_api};

use crate::config::default_read_database_url;

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Requests in flight, for GraphQL and for the SQL baseline.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds per phase (by id, list; each over GraphQL and SQL).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
    /// A seeded read model (`orderflow seed`, or `bench rebuild`'s `<db>_read`).
    #[arg(long, env = "READ_DATABASE_URL", hide_env_values = true,
        default_value_t = default_read_database_url())]
    pub read_database_url: String,
    /// A running query API's /graphql URL; by default one is started here.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The token for `--endpoint` (by default minted with the development
    /// key); an in-process API trusts a key of the run's own.
    #[command(flatten)]
    pub auth: crate::rest_client::ClientAuthArgs,
    /// Run the phases again with the in-process API's token cache off
    /// (every request pays the full signature check) and report both.
    #[arg(long = "auth", conflicts_with = "endpoint")]
    pub compare_auth: bool,
    /// Serve GraphQL from this process, beside the load generator, instead
    /// of from an `orderflow query-api` child process.
    #[arg(long, conflicts_with = "endpoint")]
    pub in_process: bool,
    /// Also draw the four latency distributions as an SVG file here.
    #[arg(long)]
    pub svg: Option<std::path::PathBuf>,
}

pub async fn run(args: QueriesArgs) -> anyhow::Result<()> {
    let tokens = match &args.endpoint {
        Some(_) => Some(crate::rest_client::Tokens::from_args(&args.auth)?),
        None => None,
    };
    let server = match (&args.endpoint, args.in_process || args.compare_auth) {
        (Some(_), _) => Server::Endpoint,
        (None, true) => Server::InProcess,
        (None, false) => Server::Child,
    };
    let config = BenchConfig {
        server,
        endpoint: args.endpoint.clone(),
        tokens,
        read_database_url: args.read_database_url.clone(),
        concurrency: args.concurrency,
        phase: Duration::from_secs(args.seconds.max(1)),
        ..BenchConfig::default()
    };
    let report = bench_queries(&config).await?;
    println!("{report}");
    latency_svg::write_if_asked(
        args.svg.as_deref(),
        &format!(
            "bench queries: latency, concurrency {}, GraphQL {}",
            report.concurrency,
            report.server.describe()
        ),
        &[
            Curve {
                label: "order(id) GraphQL".into(),
                latency_us: &report.by_id.latency_us,
                colour: latency_svg::MEASURED[0],
            },
            Curve {
                label: "orders(first:50) GraphQL".into(),
                latency_us: &report.list.latency_us,
                colour: latency_svg::MEASURED[1],
            },
            Curve {
                label: "order(id) SQL".into(),
                latency_us: &report.by_id_sql.latency_us,
                colour: latency_svg::BASELINE[0],
            },
            Curve {
                label: "orders(first:50) SQL".into(),
                latency_us: &report.list_sql.latency_us,
                colour: latency_svg::BASELINE[1],
            },
        ],
    )?;
    if args.compare_auth {
        let uncached = bench_queries(&BenchConfig {
            auth: AuthMode::Uncached,
            ..config.clone()
        })
        .await?;
        println!("with the token cache off (every request's signature checked in full):");
        println!("{uncached}");
        if args.json {
            println!(
                "{}",
                serde_json::json!({ "cached": report.to_json(), "cache_off": uncached.to_json() })
            );
        }
    } else if args.json {
        println!("{}", report.to_json());
    }
    Ok(())
}

const BY_ID: &str = "query($id: UUID!) { order(id: $id) { id status customerId \
    total { amountMinor currency formatted } placedAt updatedAt version } }";
const LIST: &str = "query($status: OrderStatus!) { orders(first: 50, filter: { status: [$status] }) \
    { edges { node { id status customerId total { amountMinor currency formatted } placedAt } } \
    pageInfo { hasNextPage endCursor } } }";

/// Where the GraphQL side is served.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Server {
    /// An `orderflow query-api` child process (the default): the load
    /// generator and the server do not share a process.
    Child,
    /// This process, beside the load generator.
    InProcess,
    /// A running query API named by `--endpoint`.
    Endpoint,
}

impl Server {
    fn describe(self) -> &'static str {
        match self {
            Server::Child => "served by a child process",
            Server::InProcess => "served in the load generator's process",
            Server::Endpoint => "served by --endpoint",
        }
    }
}

#[derive(Debug, Clone)]
struct BenchConfig {
    pub server: Server,
    /// A running query API's `/graphql` URL. `None` starts one in this
    /// process (on a free port, over `read_database_url`).
    pub endpoint: Option<String>,
    /// The tokens for `endpoint`; an in-process API gets its own.
    pub tokens: Option<crate::rest_client::Tokens>,
    pub read_database_url: String,
    /// Requests in flight, for GraphQL and SQL alike.
    pub concurrency: usize,
    /// Length of each of the four phases.
    pub phase: Duration,
    /// Connections of the direct-SQL baseline's pool (the service's
    /// default is 16; same number, same footing).
    pub sql_connections: u32,
    /// Status the list filters on (stored form, e.g. `paid`).
    pub status: String,
    /// The in-process API's token cache.
    pub auth: AuthMode,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            server: Server::InProcess,
            endpoint: None,
            tokens: None,
            read_database_url: QueryApiConfig::default().read_database_url,
            concurrency: 64,
            phase: Duration::from_secs(5),
            sql_connections: QueryApiConfig::default().max_connections,
            status: "paid".into(),
            auth: AuthMode::Cached,
        }
    }
}

/// One phase's throughput, latency and CPU time.
#[derive(Debug, Clone, Serialize)]
struct BenchResult {
    pub requests: u64,
    pub errors: u64,
    pub qps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU seconds the child query API used in the phase (GraphQL phases
    /// with a child server only).
    pub server_cpu_s: Option<f64>,
    /// CPU seconds this process used in the phase: the load generator, and
    /// the server too when it runs in process.
    pub bench_cpu_s: Option<f64>,
    /// CPU seconds the local Postgres used in the phase (every process
    /// named `postgres`; `None` when it runs elsewhere).
    pub postgres_cpu_s: Option<f64>,
    #[serde(skip)]
    pub latency_us: Histogram<u64>,
}

#[derive(Debug, Clone, Serialize)]
struct BenchReport {
    pub server: Server,
    pub orders: i64,
    pub concurrency: usize,
    pub phase_seconds: f64,
    pub by_id: BenchResult,
    pub by_id_sql: BenchResult,
    pub list: BenchResult,
    pub list_sql: BenchResult,
    /// Peak resident memory of the child query API.
    pub server_peak_rss_bytes: Option<u64>,
    /// Peak resident memory of this process.
    pub bench_peak_rss_bytes: Option<u64>,
}

impl BenchResult {
    /// CPU per query over every process measured (server, this process,
    /// Postgres), in microseconds: what a query costs the machine.
    fn cpu_micros_per_query(&self) -> Option<f64> {
        let total = self.server_cpu_s.unwrap_or(0.0) + self.bench_cpu_s? + self.postgres_cpu_s?;
        (self.requests > 0).then(|| total * 1e6 / self.requests as f64)
    }
}

fn ratio(a: &BenchResult, b: &BenchResult) -> f64 {
    if b.qps > 0.0 { a.qps / b.qps } else { 0.0 }
}

impl BenchReport {
    fn by_id_ratio(&self) -> f64 {
        ratio(&self.by_id, &self.by_id_sql)
    }

    fn list_ratio(&self) -> f64 {
        ratio(&self.list, &self.list_sql)
    }

    /// The `--json` summary: everything, ending with the six headline keys.
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "server": self.server,
            "server_peak_rss_bytes": self.server_peak_rss_bytes,
            "bench_peak_rss_bytes": self.bench_peak_rss_bytes,
            "orders": self.orders,
            "concurrency": self.concurrency,
            "phase_seconds": self.phase_seconds,
            "by_id": self.by_id,
            "by_id_sql": self.by_id_sql,
            "list": self.list,
            "list_sql": self.list_sql,
            "by_id_cpu_us_per_query": self.by_id.cpu_micros_per_query(),
            "by_id_sql_cpu_us_per_query": self.by_id_sql.cpu_micros_per_query(),
            "list_cpu_us_per_query": self.list.cpu_micros_per_query(),
            "list_sql_cpu_us_per_query": self.list_sql.cpu_micros_per_query(),
            "by_id_qps": self.by_id.qps,
            "by_id_ratio": self.by_id_ratio(),
            "by_id_p99_ms": self.by_id.p99_ms,
            "list_qps": self.list.qps,
            "list_ratio": self.list_ratio(),
            "list_p99_ms": self.list.p99_ms,
        })
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} orders in the read model, concurrency {}, {:.0} s per phase, GraphQL {}",
            self.orders,
            self.concurrency,
            self.phase_seconds,
            self.server.describe()
        )?;
        writeln!(
            f,
            "{:<24} {:>10} {:>9} {:>9} {:>7} {:>13} {:>12} {:>15} {:>14}",
            "",
            "queries/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "server CPU s",
            "bench CPU s",
            "Postgres CPU s",
            "CPU µs/query"
        )?;
        let cpu = |s: Option<f64>| s.map_or_else(|| "—".to_owned(), |s| format!("{s:.1}"));
        for (name, r) in [
            ("order(id) GraphQL", &self.by_id),
            ("order(id) SQL", &self.by_id_sql),
            ("orders(first:50) GraphQL", &self.list),
            ("orders(first:50) SQL", &self.list_sql),
        ] {
            writeln!(
                f,
                "{name:<24} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>13} {:>12} {:>15} {:>14}",
                r.qps,
                r.p50_ms,
                r.p99_ms,
                r.errors,
                cpu(r.server_cpu_s),
                cpu(r.bench_cpu_s),
                cpu(r.postgres_cpu_s),
                r.cpu_micros_per_query()
                    .map_or_else(|| "—".to_owned(), |us| format!("{us:.0}"))
            )?;
        }
        if self.server_peak_rss_bytes.is_some() {
            writeln!(
                f,
                "peak resident memory: query API {}, load generator and SQL baseline {}",
                peak_memory::describe(self.server_peak_rss_bytes),
                peak_memory::describe(self.bench_peak_rss_bytes)
            )?;
        } else {
            writeln!(
                f,
                "peak resident memory of this process (load generator, SQL baseline{}): {}",
                if matches!(self.server, Server::InProcess) {
                    ", query API"
                } else {
                    ""
                },
                peak_memory::describe(self.bench_peak_rss_bytes)
            )?;
        }
        writeln!(
            f,
            "ratios (GraphQL / SQL): by id {:.2}, list {:.2}",
            self.by_id_ratio(),
            self.list_ratio()
        )
    }
}

/// Runs `concurrency` workers for `phase`, each calling `op(worker, i)`.
async fn run_phase<F, Fut>(concurrency: usize, phase: Duration, op: F) -> BenchResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + phase;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut h = new_histogram();
                let (mut n, mut errors) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if !op(w, n).await {
                        errors += 1;
                    }
                    n += 1;
                    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                    // Past the bounds (a minute) it saturates, not errs.
                    h.saturating_record(us.max(1));
                }
                (h, n, errors)
            })
        })
        .collect();
    let mut all = new_histogram();
    let (mut requests, mut errors) = (0u64, 0u64);
    for w in workers {
        if let Ok((h, n, e)) = w.await {
            requests += n;
            errors += e;
            // Same bounds on both sides: the add cannot fail.
            let _ = all.add(&h);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let q = |p: f64| all.value_at_quantile(p) as f64 / 1000.0;
    BenchResult {
        requests,
        errors,
        qps: requests as f64 / secs.max(1e-9),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        server_cpu_s: None,
        bench_cpu_s: None,
        postgres_cpu_s: None,
        latency_us: all,
    }
}

/// `phase`, with the CPU seconds that the child `server` (if any) and this
/// process used while it ran.
async fn with_cpu(
    server: Option<&ServerProcess>,
    phase: impl std::future::Future<Output = BenchResult>,
) -> BenchResult {
    let sample = || {
        (
            server.and_then(ServerProcess::cpu_seconds),
            cpu_seconds("self"),
            cpu_seconds_named("postgres"),
        )
    };
    let before = sample();
    let mut result = phase.await;
    let after = sample();
    result.server_cpu_s = before.0.zip(after.0).map(|(b, a)| a - b);
    result.bench_cpu_s = before.1.zip(after.1).map(|(b, a)| a - b);
    result.postgres_cpu_s = before.2.zip(after.2).map(|(b, a)| a - b);
    result
}

/// One request; `body` is serialized once up front and the answer is
/// scanned rather than parsed, so the load generator (on the same cores)
/// takes as little as it can from the service it measures.
/// Spreads workers over the sampled ids.
fn pick_index(len: usize, worker: usize, n: u64) -> usize {
    let i = (worker as u64)
        .wrapping_mul(7919)
        .wrapping_add(n.wrapping_mul(104_729));
    usize::try_from(i % (len.max(1) as u64)).unwrap_or(0)
}

async fn graphql_ok(client: &reqwest::Client, url: &str, body: Bytes) -> bool {
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let Ok(resp) = sent else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    match resp.bytes().await {
        Ok(b) => !b.windows(ERRORS_KEY.len()).any(|w| w == ERRORS_KEY),
        Err(_) => false,
    }
}

const ERRORS_KEY: &[u8] = b"\"errors\"";

fn body(query: &str, variables: serde_json::Value) -> Bytes {
    Bytes::from(
        serde_json::json!({ "query": query, "variables": variables })
            .to_string()
            .into_bytes(),
    )
}

/// Runs the four phases: `order(id)` over HTTP, the same by SQL,
/// `orders(first: 50, filter: {status})` over HTTP, the same by SQL.
async fn bench_queries(config: &BenchConfig) -> anyhow::Result<BenchReport> {
    let sql = ReadDb::connect_lazy(
        &config.read_database_url,
        config.sql_connections,
        Duration::from_secs(30),
    )?;
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(sql.pool())
        .await?;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT order_id FROM orders ORDER BY random() LIMIT 10000")
            .fetch_all(sql.pool())
            .await?;
    anyhow::ensure!(
        !ids.is_empty(),
        "the read model has no orders; seed some first"
    );
    let status_enum = config.status.to_uppercase();

    // An in-process server unless one was named.
    let mut stop = None;
    let mut child = None;
    let (endpoint, tokens) = match (config.server, &config.endpoint, &config.tokens) {
        (Server::Endpoint, Some(e), Some(tokens)) => (e.clone(), tokens.clone()),
        (Server::Child, _, _) => {
            let (server, tokens) = ServerProcess::start(&config.read_database_url).await?;
            let endpoint = server.endpoint.clone();
            child = Some(server);
            (endpoint, tokens)
        }
        _ => {
            let (verifier, tokens) = super::auth::bench_auth_as(config.auth).await?;
            let mut c = QueryApiConfig {
                read_database_url: config.read_database_url.clone(),
                // Load from one address is what is measured, not the limiter.
                rate_limit: orderflow_auth::RateLimitConfig::disabled(),
                ..QueryApiConfig::default()
            };
            c.addr = ([127, 0, 0, 1], 0).into();
            let db = ReadDb::connect_lazy(
                &c.read_database_url,
                c.max_connections,
                c.limits.request_timeout,
            )?;
            let feed = ChangeFeed::disconnected(&c.subject_prefix).await;
            let api = QueryApi::from_parts(db, feed, None, c.clone(), verifier);
            let listener = orderflow_query_api::bind(&c)
                .await
                .with_context(|| format!("cannot listen on {}", c.addr))?;
            let addr = listener.local_addr()?;
            let (tx, rx) = oneshot::channel::<()>();
            tokio::spawn(serve_api(listener, api, async {
                let _ = rx.await;
            }));
            stop = Some(tx);
            (format!("http://{addr}/graphql"), tokens)
        }
    };
    // Minted once: verification (cached by the service) is part of what
    // is measured, minting is not.
    let mut auth =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", tokens.back_office()?))?;
    auth.set_sensitive(true);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.concurrency.max(1))
        .default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::AUTHORIZATION,
            auth,
        )]))
        .build()?;
    let ids = Arc::new(ids);
    let pick = {
        let ids = Arc::clone(&ids);
        move |w: usize, n: u64| ids[pick_index(ids.len(), w, n)]
    };

    let by_id = {
        let (client, endpoint) = (client.clone(), endpoint.clone());
        let bodies: Arc<Vec<Bytes>> = Arc::new(
            ids.iter()
                .map(|id| body(BY_ID, serde_json::json!({ "id": id })))
                .collect(),
        );
        let phase = run_phase(config.concurrency, config.phase, move |w, n| {
            let (client, endpoint) = (client.clone(), endpoint.clone());
            let body = bodies[pick_index(bodies.len(), w, n)].clone();
            async move { graphql_ok(&client, &endpoint, body).await }
        });
        with_cpu(child.as_ref(), phase).await
    };
    let by_id_sql = {
        let (sql, pick) = (sql.clone(), pick.clone());
        let phase = run_phase(config.concurrency, config.phase, move |w, n| {
            let sql = sql.clone();
            let id = pick(w, n);
            async move { sql.orders_by_ids(&[id]).await.is_ok_and(|r| r.len() == 1) }
        });
        with_cpu(None, phase).await
    };
    let list = {
        let (client, endpoint) = (client.clone(), endpoint.clone());
        let body = body(LIST, serde_json::json!({ "status": status_enum }));
        let phase = run_phase(config.concurrency, config.phase, move |_, _| {
            let (client, endpoint, body) = (client.clone(), endpoint.clone(), body.clone());
            async move { graphql_ok(&client, &endpoint, body).await }
        });
        with_cpu(child.as_ref(), phase).await
    };
    let list_sql = {
        let sql = sql.clone();
        let q = PageQuery {
            filter: OrderFilter {
                statuses: Some(vec![config.status.clone()]),
                ..OrderFilter::default()
            },
            key: SortKey::PlacedAt,
            descending: true,
            after: None,
            before: None,
            limit: 51,
            from_end: false,
        };
        let phase = run_phase(config.concurrency, config.phase, move |_, _| {
            let (sql, q) = (sql.clone(), q.clone());
            async move { sql.orders_page(&q).await.is_ok() }
        });
        with_cpu(None, phase).await
    };
    if let Some(tx) = stop {
        let _ = tx.send(());
    }
    let server_peak_rss_bytes = child.as_ref().and_then(ServerProcess::peak_rss_bytes);
    if let Some(child) = child {
        child.stop().await;
    }
    Ok(BenchReport {
        server: config.server,
        server_peak_rss_bytes,
        bench_peak_rss_bytes: peak_memory::peak_rss_bytes(),
        orders,
        concurrency: config.concurrency,
        phase_seconds: config.phase.as_secs_f64(),
        by_id,
        by_id_sql,
        list,
        list_sql,
    })
}
