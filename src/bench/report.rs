//! Printing benchmark results: a human table on stdout, and with `--json` a
//! last line holding one JSON object for scripts.

use super::load::LoadStats;
use super::peak_memory;

pub fn print_row(name: &str, unit: &str, s: &LoadStats) {
    println!(
        "{name:<28} {:>10.0} {unit}/s {:>10.0} events/s   p50 {:>7.2} ms   p99 {:>7.2} ms   p99.9 {:>7.2} ms   errors {}",
        s.ops_per_sec(),
        s.events_per_sec(),
        s.percentile_ms(0.50),
        s.percentile_ms(0.99),
        s.percentile_ms(0.999),
        s.errors,
    );
    if let Some(e) = &s.first_error {
        println!("{:<28} first error: {e}", "");
    }
}

pub fn print_header(title: &str) {
    println!("{title}");
    println!("{}", "-".repeat(title.len()));
}

/// Prints this process's peak resident memory over the whole run and
/// returns it for `--json`. The process holds the measured services and the
/// load generator alike; Postgres and NATS are processes of their own and
/// are not counted.
pub fn print_peak_memory() -> Option<u64> {
    let peak = peak_memory::peak_rss_bytes();
    println!(
        "peak resident memory of this process (services under test and load generator; \
         Postgres and NATS not counted): {}",
        peak_memory::describe(peak)
    );
    peak
}
