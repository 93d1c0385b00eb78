//! Benchmarks. Each one runs its workload and, in the same process and run,
//! a baseline, and reports both with their ratio: these machines are noisy,
//! so absolute numbers mean little and ratios mean more.

use clap::Args;

pub mod append;
mod auth;
pub mod checkout;
pub mod commands;
mod cpu_share;
pub mod lag;
mod lag_stages;
mod latency_svg;
mod load;
mod peak_memory;
pub mod queries;
pub mod rebuild;
mod report;
mod scratch;
mod server_process;
mod svg_chart;
mod throughput_svg;

/// The benchmarks' scratch database, on a local Postgres with trust
/// authentication.
const DEFAULT_BENCH_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/orderflow_bench";

/// How long a benchmark measures.
#[derive(Debug, Clone, Args)]
pub struct Timing {
    /// Measured seconds per side (after a 2 s warm-up each).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
}

/// Where a benchmark works and how it reports: every benchmark takes these.
#[derive(Debug, Clone, Args)]
pub struct Scratch {
    /// End with one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
    /// A scratch database, dropped and recreated (read models, where a
    /// benchmark has them, go to the same server's `<name>_read`).
    #[arg(long, env = "BENCH_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_BENCH_DATABASE_URL)]
    pub database_url: String,
    /// Also draw the benchmark's figures beside its baseline's as an SVG
    /// file here: latency distributions (`rebuild`: events/s over time).
    #[arg(long, value_name = "PATH")]
    pub svg: Option<std::path::PathBuf>,
}
