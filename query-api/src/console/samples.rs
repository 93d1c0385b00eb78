//! Lag of each subscriber over the last minutes, kept in memory (a ring
//! per subscriber), and the sparkline drawn from it server-side.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How often a sample is kept.
pub(crate) const EVERY: Duration = Duration::from_secs(5);
/// How far back the chart goes.
pub(crate) const SPAN: Duration = Duration::from_secs(10 * 60);
const CAPACITY: usize = (SPAN.as_secs() / EVERY.as_secs()) as usize;

#[derive(Debug, Default)]
pub(crate) struct Samples {
    by_subscriber: HashMap<String, VecDeque<(Instant, u64)>>,
}

impl Samples {
    /// Keeps `lag` for `name` unless a sample is younger than about
    /// [`EVERY`] (pages and the live feed ask more often).
    pub fn record(&mut self, name: &str, lag: u64, now: Instant) {
        let ring = self.by_subscriber.entry(name.to_owned()).or_default();
        if ring
            .back()
            .is_some_and(|(at, _)| now.duration_since(*at) < EVERY.mul_f32(0.8))
        {
            return;
        }
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back((now, lag));
    }

    /// The polyline points (`x,y …`) of `name`'s lag in a 120×24 box, time
    /// running left to right over [`SPAN`], and the largest lag shown.
    pub fn sparkline(&self, name: &str, now: Instant) -> (String, u64) {
        let Some(ring) = self.by_subscriber.get(name) else {
            return (String::new(), 0);
        };
        let max = ring.iter().map(|(_, l)| *l).max().unwrap_or(0);
        let span = SPAN.as_secs_f64();
        let mut points: Vec<(f64, f64)> = ring
            .iter()
            .map(|(at, lag)| {
                let age = now.duration_since(*at).as_secs_f64().min(span);
                let x = 120.0 * (1.0 - age / span);
                let y = 23.0 - 22.0 * (*lag as f64 / max.max(1) as f64);
                (x, y)
            })
            .collect();
        // One sample is a point, which a polyline does not draw: a short
        // level stroke instead.
        if let [(x, y)] = points[..] {
            points.insert(0, ((x - 3.0).max(0.0), y));
        }
        let points: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        (points.join(" "), max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_spaced_bounded_and_scaled() {
        let mut s = Samples::default();
        let t0 = Instant::now();
        s.record("a", 10, t0);
        s.record("a", 99, t0 + Duration::from_secs(1));
        let (points, max) = s.sparkline("a", t0 + Duration::from_secs(1));
        assert_eq!(
            points.split(' ').count(),
            2,
            "one sample, a short stroke: {points}"
        );
        assert_eq!(max, 10);
        for i in 1..=(CAPACITY as u64 + 10) {
            s.record("a", i, t0 + EVERY * i as u32);
        }
        let now = t0 + EVERY * (CAPACITY as u32 + 10);
        let (points, max) = s.sparkline("a", now);
        assert_eq!(points.split(' ').count(), CAPACITY);
        assert_eq!(max, CAPACITY as u64 + 10);
        // The newest, largest sample is at the right edge and the top.
        assert!(points.ends_with("120.0,1.0"), "{points}");
        assert_eq!(s.sparkline("b", now), (String::new(), 0));
    }
}
