//! A picture of a benchmark's throughput over time beside its baseline's,
//! as SVG.

use std::path::Path;

use plotters::prelude::SeriesLabelPosition;

use super::svg_chart::{self, Axis, Line};

/// A run's progress: `(seconds since start, events done by then)`, in
/// order.
pub type Samples = Vec<(f64, u64)>;

/// Events done in each whole second of `samples` (the last second may be a
/// part one), as `(end of second, events/s)` points for a line.
pub fn per_second(samples: &[(f64, u64)]) -> Vec<(f64, f64)> {
    let Some(&(end, _)) = samples.last() else {
        return Vec::new();
    };
    // Events done at `t`: the last sample at or before it.
    let done_at = |t: f64| {
        let i = samples.partition_point(|(at, _)| *at <= t);
        if i == 0 { 0 } else { samples[i - 1].1 }
    };
    let mut points = vec![(0.0, 0.0)];
    let mut from = 0.0;
    while from < end {
        let to = (from + 1.0).min(end);
        let events = done_at(to).saturating_sub(done_at(from));
        points.push((to, events as f64 / (to - from).max(1e-9)));
        from = to;
    }
    points
}

/// Writes `lines` as events/s over seconds to `path`.
pub fn write(path: &Path, title: &str, lines: &[Line<'_>]) -> anyhow::Result<()> {
    let x_max = lines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.1;
    svg_chart::write(
        path,
        title,
        Axis {
            desc: "seconds",
            range: 0.0..x_max * 1.02,
            labels: 10,
            format: &|v| format!("{v}"),
        },
        Axis {
            desc: "events/s",
            range: 0.0..y_max,
            labels: 10,
            format: &|v| format!("{:.0}k", v / 1000.0),
        },
        lines,
        SeriesLabelPosition::UpperRight,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::{BLUE, RED};

    #[test]
    fn per_second_counts_the_events_of_each_second() {
        let samples = [(0.5, 100), (1.0, 300), (1.5, 300), (2.5, 900)];
        let points = per_second(&samples);
        assert_eq!(points[0], (0.0, 0.0));
        assert_eq!(points[1], (1.0, 300.0));
        assert_eq!(points[2], (2.0, 0.0));
        // The last, half second: 600 events in 0.5 s.
        assert_eq!(points[3], (2.5, 1200.0));
        assert!(per_second(&[]).is_empty());
    }

    #[test]
    fn writes_an_svg_with_every_series() {
        let dir = std::env::temp_dir().join(format!("orderflow-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("t.svg");
        let series = [
            Line {
                label: "rebuild",
                points: per_second(&[(1.0, 1000), (2.0, 3000)]),
                colour: BLUE,
            },
            Line {
                label: "baseline",
                points: vec![(0.0, 5000.0), (0.4, 5000.0)],
                colour: RED,
            },
        ];
        write(&path, "throughput", &series).unwrap_or_else(|e| panic!("{e}"));
        let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("rebuild") && svg.contains("baseline"));
        // Each series drawn in its own colour.
        let svg = svg.to_ascii_uppercase();
        assert!(svg.contains("#0000FF") && svg.contains("#FF0000"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
