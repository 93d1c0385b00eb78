//! Where a benchmark phase's CPU went: this process, the local Postgres,
//! the local NATS server, and the machine as a whole (from `/proc/stat`,
//! with the time the hypervisor stole). On a shared 2-core machine the
//! latency a bench prints is mostly queueing for these cores, so each
//! figure is printed beside how busy they were.

use std::time::Instant;

use super::server_process::{cpu_seconds, cpu_seconds_named};

/// The counters at one moment.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    own: Option<f64>,
    postgres: Option<f64>,
    nats: Option<f64>,
    machine: Option<MachineTicks>,
}

/// The first line of `/proc/stat`, in clock ticks summed over every core.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MachineTicks {
    /// user, nice, system, irq, softirq.
    busy: f64,
    idle: f64,
    steal: f64,
    /// The `cpuN` lines.
    cores: usize,
}

impl MachineTicks {
    fn total(&self) -> f64 {
        self.busy + self.idle + self.steal
    }
}

/// What a phase used, in cores (CPU seconds per second of the phase) and
/// shares of the machine's time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuUse {
    pub seconds: f64,
    pub own_cores: Option<f64>,
    pub postgres_cores: Option<f64>,
    pub nats_cores: Option<f64>,
    /// Of every core's time: busy (any process), stolen by the hypervisor.
    pub machine_busy_share: Option<f64>,
    pub machine_steal_share: Option<f64>,
    /// Busy cores of the whole machine (every process, the kernel's
    /// interrupt work included): what a process that starts and ends
    /// within the phase (a connection's backend) also counts in.
    pub machine_busy_cores: Option<f64>,
}

impl CpuSample {
    pub fn take() -> CpuSample {
        CpuSample {
            at: Instant::now(),
            own: cpu_seconds("self"),
            postgres: cpu_seconds_named("postgres"),
            nats: cpu_seconds_named("nats-server"),
            machine: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|s| parse_machine(&s)),
        }
    }

    /// What was used from `earlier` until now.
    pub fn since(earlier: &CpuSample) -> CpuUse {
        let now = CpuSample::take();
        let seconds = now.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let cores = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0) / seconds);
        let (busy, steal) = match (earlier.machine, now.machine) {
            (Some(a), Some(b)) if b.total() > a.total() => {
                let total = b.total() - a.total();
                (
                    Some((b.busy - a.busy) / total),
                    Some((b.steal - a.steal) / total),
                )
            }
            _ => (None, None),
        };
        let cores_of_machine = now.machine.map(|m| m.cores as f64);
        CpuUse {
            seconds,
            own_cores: cores(earlier.own, now.own),
            postgres_cores: cores(earlier.postgres, now.postgres),
            nats_cores: cores(earlier.nats, now.nats),
            machine_busy_share: busy,
            machine_steal_share: steal,
            machine_busy_cores: busy.zip(cores_of_machine).map(|(b, n)| b * n),
        }
    }
}

impl CpuUse {
    /// One line: `this process 1.02 cores, Postgres 0.61, NATS 0.12;
    /// machine 1.92 cores busy (96 %), 3 % stolen by the hypervisor`.
    pub fn describe(&self) -> String {
        let cores = |v: Option<f64>| v.map_or("n/a".to_owned(), |c| format!("{c:.2}"));
        let share = |v: Option<f64>| v.map_or("n/a".to_owned(), |s| format!("{:.0} %", s * 100.0));
        format!(
            "this process {} cores, Postgres {}, NATS {}; machine {} cores busy ({}), {} stolen by the hypervisor",
            cores(self.own_cores),
            cores(self.postgres_cores),
            cores(self.nats_cores),
            cores(self.machine_busy_cores),
            share(self.machine_busy_share),
            share(self.machine_steal_share),
        )
    }
}

fn parse_machine(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<f64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v.as_slice() else {
        return None;
    };
    let cores = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(MachineTicks {
        busy: user + nice + system + irq + softirq,
        idle: idle + iowait,
        steal: *steal,
        cores: cores.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_line_splits_into_busy_idle_and_stolen() {
        let stat = "cpu  100 5 50 800 20 3 2 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n\
                    cpu1 1 2 3 4 5 6 7 8 0 0\nintr 5\n";
        assert_eq!(
            parse_machine(stat),
            Some(MachineTicks {
                busy: 160.0,
                idle: 820.0,
                steal: 40.0,
                cores: 2,
            })
        );
        assert_eq!(parse_machine("intr 1 2 3"), None);
        assert_eq!(parse_machine("cpu 1 2"), None);
    }

    #[test]
    fn a_phase_reads_its_own_use() {
        let before = CpuSample::take();
        // Some work of this process, so its figure can move.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let used = CpuSample::since(&before);
        assert!(used.seconds > 0.0);
        if let Some(own) = used.own_cores {
            assert!(own >= 0.0);
        }
        if let (Some(busy), Some(steal)) = (used.machine_busy_share, used.machine_steal_share) {
            assert!((0.0..=1.0).contains(&busy) && (0.0..=1.0).contains(&steal));
        }
        assert!(used.describe().contains("Postgres"));
    }
}
