//! Line charts as SVG (`plotters`, SVG backend only) for the benchmarks'
//! pictures: this draws every one of them; callers choose the axes.

use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

/// One line of a chart.
pub struct Line<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
    pub colour: RGBColor,
}

/// One axis: its description, range, about how many labels, and how a
/// value is written.
pub struct Axis<'a> {
    pub desc: &'a str,
    pub range: Range<f64>,
    pub labels: usize,
    pub format: &'a dyn Fn(&f64) -> String,
}

/// Writes `lines` over the axes `x` and `y` to `path`, with their legend at
/// `legend`.
pub fn write(
    path: &Path,
    title: &str,
    x: Axis<'_>,
    y: Axis<'_>,
    lines: &[Line<'_>],
    legend: SeriesLabelPosition,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(x.range, y.range)?;
    chart
        .configure_mesh()
        .x_desc(x.desc)
        .y_desc(y.desc)
        .x_labels(x.labels)
        .y_labels(y.labels)
        .x_label_formatter(x.format)
        .y_label_formatter(y.format)
        .draw()?;
    for line in lines {
        let colour = line.colour;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
