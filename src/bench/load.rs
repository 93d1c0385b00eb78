//! A closed-loop load driver: N workers, each issuing its next operation as
//! soon as the previous one finished, for a warm-up and then a measured span.

use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

/// One worker's view of the workload.
pub trait Worker: Send + 'static {
    /// Performs one operation and returns how many events it wrote.
    fn step(&mut self) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

/// What a measured span produced.
#[derive(Debug)]
pub struct LoadStats {
    pub ops: u64,
    pub events: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Latency of successful operations, in microseconds.
    pub latency_us: Histogram<u64>,
    pub elapsed: Duration,
}

impl LoadStats {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

#[allow(clippy::expect_used)]
pub(super) fn new_histogram() -> Histogram<u64> {
    // Invariant: constant bounds (1 µs .. 60 s, 3 significant digits) that
    // hdrhistogram accepts; it only refuses low < 1, high < 2*low or sigfig > 5.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid constant histogram bounds")
}

/// Runs `workers` concurrently: `warmup` unmeasured, then `measure` measured.
pub async fn drive<W: Worker>(
    label: &str,
    workers: Vec<W>,
    warmup: Duration,
    measure: Duration,
) -> LoadStats {
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + measure;
    let progress = progress_bar(label, warmup + measure);

    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut w| {
            tokio::spawn(async move {
                let mut hist = new_histogram();
                let (mut ops, mut events, mut errors) = (0u64, 0u64, 0u64);
                let mut first_error = None;
                loop {
                    let t = Instant::now();
                    if t >= end {
                        break;
                    }
                    let result = w.step().await;
                    if t < measure_from {
                        continue;
                    }
                    match result {
                        Ok(n) => {
                            ops += 1;
                            events += n;
                            let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                (hist, ops, events, errors, first_error)
            })
        })
        .collect();

    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                progress.set_position(started.elapsed().as_millis() as u64);
            }
        })
    };

    let mut stats = LoadStats {
        ops: 0,
        events: 0,
        errors: 0,
        first_error: None,
        latency_us: new_histogram(),
        elapsed: measure,
    };
    for task in tasks {
        // A worker task only ends by returning; a panic there is a bug in the
        // benchmark itself and is reported as an error, not hidden.
        match task.await {
            Ok((hist, ops, events, errors, first_error)) => {
                let _ = stats.latency_us.add(&hist);
                stats.ops += ops;
                stats.events += events;
                stats.errors += errors;
                if stats.first_error.is_none() {
                    stats.first_error = first_error;
                }
            }
            Err(e) => {
                stats.errors += 1;
                stats.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    ticker.abort();
    progress.finish_and_clear();
    // Workers stop at `end`, but the last operations may finish a little later.
    stats.elapsed = measure_from.elapsed().max(measure);
    stats
}

pub(super) fn progress_bar(label: &str, total: Duration) -> ProgressBar {
    let bar = ProgressBar::new(total.as_millis() as u64);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {elapsed}/{duration}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    bar
}
