//! A picture of latency distributions, a benchmark's beside its baseline's,
//! as SVG: latency over percentile, with the
//! percentile axis stretched toward the tail (`x = -log10(1 - q)`) so that
//! p90, p99 and p99.9 sit one step apart, and latency on a log scale.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::{BLUE, RED, RGBColor, SeriesLabelPosition};

use super::svg_chart::{self, Axis, Line};

/// The tail the picture reaches: p99.9.
const TAIL_NINES: f64 = 3.0;

/// One distribution drawn in the picture.
pub struct Curve<'a> {
    pub label: String,
    pub latency_us: &'a Histogram<u64>,
    pub colour: RGBColor,
}

/// `(nines, milliseconds)` points of `h` from p0 to p99.9; none for an
/// empty histogram.
pub fn points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=300)
        .map(|i| {
            let nines = f64::from(i) / 100.0;
            let q = 1.0 - 10f64.powf(-nines);
            (nines, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// `"p99.9"` for 3 nines, `"p50"` for 0.3.
fn percentile_label(nines: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    let p = (p * 10.0).round() / 10.0;
    format!("p{p}")
}

/// Writes `curves` to `path`. Latency goes on the chart as its log10, on a
/// linear axis labelled in milliseconds.
pub fn write(path: &Path, title: &str, curves: &[Curve<'_>]) -> anyhow::Result<()> {
    let lines: Vec<Line<'_>> = curves
        .iter()
        .map(|c| Line {
            label: c.label.as_str(),
            points: points(c.latency_us)
                .into_iter()
                .map(|(x, ms)| (x, ms.max(MIN_MS).log10()))
                .collect(),
            colour: c.colour,
        })
        .collect();
    let values = || lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let y_min = values().fold(f64::MAX, f64::min);
    let y_min = if y_min == f64::MAX { 0.0 } else { y_min - 0.2 };
    let y_max = values().fold(y_min + 1.0, f64::max) + 0.2;
    svg_chart::write(
        path,
        title,
        Axis {
            desc: "percentile",
            range: 0.0..TAIL_NINES,
            labels: 4,
            format: &|x| percentile_label(*x),
        },
        Axis {
            desc: "latency, ms (log scale)",
            range: y_min..y_max,
            labels: 8,
            format: &|v| milliseconds(10f64.powf(*v)),
        },
        &lines,
        SeriesLabelPosition::LowerRight,
    )
}

/// The smallest latency drawn (a zero would have no logarithm).
const MIN_MS: f64 = 0.001;

/// `"120"`, `"3.2"`, `"0.45"`: two or three significant digits.
fn milliseconds(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// [`write`] when the benchmark was given `--svg`, saying where it went.
pub fn write_if_asked(
    path: Option<&Path>,
    title: &str,
    curves: &[Curve<'_>],
) -> anyhow::Result<()> {
    if let Some(path) = path {
        write(path, title, curves)?;
        println!("latency picture: {}", path.display());
    }
    Ok(())
}

/// The colours of a picture's curves, in order: the measured side first
/// (blue shades), baselines after (red shades).
pub const MEASURED: [RGBColor; 2] = [BLUE, RGBColor(0, 150, 200)];
pub const BASELINE: [RGBColor; 2] = [RED, RGBColor(230, 140, 0)];

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|e| panic!("{e}"));
        for v in values_us {
            h.record(v).unwrap_or_else(|e| panic!("{e}"));
        }
        h
    }

    #[test]
    fn points_climb_to_the_tail() {
        // 1..=1000 ms, one sample each.
        let h = histogram((1..=1000).map(|ms| ms * 1000));
        let p = points(&h);
        assert_eq!(p.len(), 301);
        assert!(p.windows(2).all(|w| w[0].1 <= w[1].1), "non-decreasing");
        let at = |nines: f64| p[(nines * 100.0).round() as usize].1;
        assert!((at(0.0) - 1.0).abs() < 0.01, "{}", at(0.0));
        assert!((at(1.0) - 900.0).abs() < 1.0, "p90 {}", at(1.0));
        assert!((at(2.0) - 990.0).abs() < 1.0, "p99 {}", at(2.0));
        assert!(points(&histogram([])).is_empty());
        assert_eq!(percentile_label(2.0), "p99");
        assert_eq!(percentile_label(3.0), "p99.9");
        assert_eq!(percentile_label(0.0), "p0");
        assert_eq!(milliseconds(123.4), "123");
        assert_eq!(milliseconds(3.16), "3.2");
        assert_eq!(milliseconds(0.316), "0.32");
    }

    #[test]
    fn writes_an_svg_with_every_curve() {
        let dir = std::env::temp_dir().join(format!("orderflow-lsvg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("t.svg");
        let (fast, slow) = (
            histogram((1..100).map(|i| i * 10)),
            histogram((1..100).map(|i| i * 1000)),
        );
        let curves = [
            Curve {
                label: "commands".into(),
                latency_us: &slow,
                colour: MEASURED[0],
            },
            Curve {
                label: "baseline".into(),
                latency_us: &fast,
                colour: BASELINE[0],
            },
        ];
        write(&path, "latency", &curves).unwrap_or_else(|e| panic!("{e}"));
        let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("commands") && svg.contains("baseline") && svg.contains("p99"));
        let svg = svg.to_ascii_uppercase();
        assert!(svg.contains("#0000FF") && svg.contains("#FF0000"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
