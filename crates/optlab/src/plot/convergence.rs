//! Convergence curves: for each band, the mean over seeds as a line and the 10–90% quantile range
//! as a shaded area; log-scale y by default (values ≤ 0 are clipped to the smallest positive
//! value shown), optionally log-scale x (points at x ≤ 0 are then left out).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{FAMILY, PALETTE, PlotError, ensure_font, kind_of, legend, render, tick};
use crate::record::{Band, BandPoint};

/// Labels and layout of a convergence plot.
#[derive(Clone, Debug)]
pub struct ConvergenceOptions {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic y-axis (default true).
    pub log_y: bool,
    /// Logarithmic x-axis (default false); points with x ≤ 0 (iteration 0) are not drawn.
    pub log_x: bool,
    /// Fixed y range (default: from the data), e.g. `(0, 1)` for fractions.
    pub y_range: Option<(f64, f64)>,
    /// Size in pixels.
    pub size: (u32, u32),
}

impl Default for ConvergenceOptions {
    fn default() -> Self {
        ConvergenceOptions {
            title: String::new(),
            x_label: "iteration".into(),
            y_label: "f(x) − f*".into(),
            log_y: true,
            log_x: false,
            y_range: None,
            size: (1000, 640),
        }
    }
}

/// Draws `bands` to `path` (`.png` or `.svg`).
pub fn convergence_plot(
    path: &Path,
    bands: &[Band],
    opts: &ConvergenceOptions,
) -> Result<(), PlotError> {
    ensure_font()?;
    kind_of(path)?;
    let mut ranges = ranges(bands, opts.log_x, opts.log_y).ok_or_else(|| PlotError::Empty {
        file: path.display().to_string(),
        message: "no finite values to plot".into(),
    })?;
    if let Some(y) = opts.y_range {
        ranges.y = y;
    }
    render!(path, opts.size, |root| draw(&root, bands, opts, ranges))
}

struct Ranges {
    x: (f64, f64),
    y: (f64, f64),
}

fn ranges(bands: &[Band], log_x: bool, log_y: bool) -> Option<Ranges> {
    let mut xs = (f64::INFINITY, f64::NEG_INFINITY);
    let mut ys = (f64::INFINITY, f64::NEG_INFINITY);
    for b in bands {
        for p in &b.points {
            if log_x && (p.x <= 0.0 || p.x.is_nan()) {
                continue;
            }
            xs = (xs.0.min(p.x), xs.1.max(p.x));
            for v in [p.stats.q10, p.stats.mean, p.stats.q90] {
                if v.is_finite() && (!log_y || v > 0.0) {
                    ys = (ys.0.min(v), ys.1.max(v));
                }
            }
        }
    }
    if !(xs.0.is_finite() && ys.0.is_finite()) {
        return None;
    }
    if log_x {
        let (lo, hi) = (xs.0.log10().floor(), xs.1.log10());
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        xs = (10f64.powf(lo), 10f64.powf(hi));
    } else if xs.1 <= xs.0 {
        xs.1 = xs.0 + 1.0;
    }
    if log_y {
        let (lo, hi) = (ys.0.log10().floor(), ys.1.log10().ceil());
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        ys = (10f64.powf(lo), 10f64.powf(hi));
    } else {
        let pad = 0.05 * (ys.1 - ys.0).max(1e-12);
        ys = (ys.0 - pad, ys.1 + pad);
    }
    Some(Ranges { x: xs, y: ys })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bands: &[Band],
    opts: &ConvergenceOptions,
    r: Ranges,
) -> Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(s)?;
    let floor = r.y.0;
    let clip = |v: f64| if opts.log_y { v.max(floor) } else { v };
    let mut builder = ChartBuilder::on(root);
    builder
        .margin(18)
        .x_label_area_size(52)
        .y_label_area_size(78);
    if !opts.title.is_empty() {
        builder.caption(&opts.title, (FAMILY, 22));
    }
    macro_rules! body {
        ($chart:ident) => {{
            $chart
                .configure_mesh()
                .light_line_style(RGBColor(236, 236, 236))
                .bold_line_style(RGBColor(210, 210, 210))
                .axis_style(RGBColor(90, 90, 90))
                .x_desc(&opts.x_label)
                .y_desc(&opts.y_label)
                .label_style((FAMILY, 15))
                .axis_desc_style((FAMILY, 17))
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .draw()
                .map_err(s)?;
            for (i, b) in bands.iter().enumerate() {
                let color = PALETTE[method_slot(bands, i) % PALETTE.len()];
                let points: Vec<&BandPoint> = b
                    .points
                    .iter()
                    .filter(|p| !opts.log_x || p.x > 0.0)
                    .collect();
                if points.is_empty() {
                    continue;
                }
                if !b.dashed && points.len() > 1 {
                    let mut poly: Vec<(f64, f64)> =
                        points.iter().map(|p| (p.x, clip(p.stats.q90))).collect();
                    poly.extend(points.iter().rev().map(|p| (p.x, clip(p.stats.q10))));
                    $chart
                        .draw_series(std::iter::once(Polygon::new(
                            poly,
                            color.mix(0.18).filled(),
                        )))
                        .map_err(s)?;
                }
                let line: Vec<(f64, f64)> =
                    points.iter().map(|p| (p.x, clip(p.stats.mean))).collect();
                let style = ShapeStyle::from(&color).stroke_width(if b.dashed { 2 } else { 3 });
                if b.dashed {
                    $chart
                        .draw_series(DashedLineSeries::new(line, 10, 6, style))
                        .map_err(s)?
                        .label(&b.label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], style));
                } else {
                    $chart
                        .draw_series(LineSeries::new(line, style))
                        .map_err(s)?
                        .label(&b.label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
                }
            }
            legend(
                &mut $chart,
                legend_position(bands, &r, opts.log_x, opts.log_y),
            )
            .draw()
            .map_err(s)?;
        }};
    }
    if opts.log_x && opts.log_y {
        let mut chart = builder
            .build_cartesian_2d((r.x.0..r.x.1).log_scale(), (r.y.0..r.y.1).log_scale())
            .map_err(s)?;
        body!(chart);
    } else if opts.log_x {
        let mut chart = builder
            .build_cartesian_2d((r.x.0..r.x.1).log_scale(), r.y.0..r.y.1)
            .map_err(s)?;
        body!(chart);
    } else if opts.log_y {
        let mut chart = builder
            .build_cartesian_2d(r.x.0..r.x.1, (r.y.0..r.y.1).log_scale())
            .map_err(s)?;
        body!(chart);
    } else {
        let mut chart = builder
            .build_cartesian_2d(r.x.0..r.x.1, r.y.0..r.y.1)
            .map_err(s)?;
        body!(chart);
    }
    Ok(())
}

/// The legend goes where the fewest curve points are: each of nine candidate boxes (corners,
/// edge middles, centre; about 45% of the width, a line per band high) is scored by the number of
/// mean/quantile points inside it, in axis-normalized coordinates.
fn legend_position(bands: &[Band], r: &Ranges, log_x: bool, log_y: bool) -> SeriesLabelPosition {
    let ny = |v: f64| {
        if log_y {
            let v = v.max(r.y.0);
            (v.log10() - r.y.0.log10()) / (r.y.1.log10() - r.y.0.log10())
        } else {
            (v - r.y.0) / (r.y.1 - r.y.0)
        }
    };
    let nx = |v: f64| {
        if log_x {
            (v.log10() - r.x.0.log10()) / (r.x.1.log10() - r.x.0.log10())
        } else {
            (v - r.x.0) / (r.x.1 - r.x.0)
        }
    };
    let h = (0.06 * bands.len() as f64 + 0.05).min(0.9);
    let w = 0.45;
    let pts: Vec<(f64, f64)> = bands
        .iter()
        .flat_map(|b| b.points.iter())
        .flat_map(|p| {
            [p.stats.mean, p.stats.q10, p.stats.q90]
                .into_iter()
                .map(move |v| (nx(p.x), ny(v)))
        })
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    use SeriesLabelPosition as P;
    let candidates = [
        (P::UpperRight, 1.0 - w, 1.0 - h),
        (P::UpperLeft, 0.0, 1.0 - h),
        (P::LowerLeft, 0.0, 0.0),
        (P::LowerRight, 1.0 - w, 0.0),
        (P::MiddleRight, 1.0 - w, 0.5 - h / 2.0),
        (P::MiddleLeft, 0.0, 0.5 - h / 2.0),
        (P::UpperMiddle, 0.5 - w / 2.0, 1.0 - h),
        (P::LowerMiddle, 0.5 - w / 2.0, 0.0),
        (P::MiddleMiddle, 0.5 - w / 2.0, 0.5 - h / 2.0),
    ];
    let mut best = (usize::MAX, P::UpperRight);
    for (pos, x0, y0) in candidates {
        let n = pts
            .iter()
            .filter(|(x, y)| *x >= x0 && *x <= x0 + w && *y >= y0 && *y <= y0 + h)
            .count();
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

/// Colour slot of band `i`: averaged bands share the colour of the method before them.
fn method_slot(bands: &[Band], i: usize) -> usize {
    bands[..=i]
        .iter()
        .filter(|b| !b.dashed)
        .count()
        .saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BandPoint, Stats};

    fn band(label: &str, rate: f64, dashed: bool) -> Band {
        Band {
            label: label.into(),
            dashed,
            points: (0..50)
                .map(|k| {
                    let v = rate.powi(k);
                    BandPoint {
                        x: k as f64,
                        stats: Stats {
                            count: 3,
                            mean: v,
                            q10: 0.5 * v,
                            q50: v,
                            q90: 2.0 * v,
                        },
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn writes_png_and_svg_with_text() {
        let dir = std::env::temp_dir().join(format!("optlab-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bands = vec![
            band("GD", 0.5, false),
            band("GD (avg)", 0.7, true),
            band("SGD", 0.9, false),
        ];
        let opts = ConvergenceOptions {
            title: "test".into(),
            ..Default::default()
        };
        let png = dir.join("c.png");
        convergence_plot(&png, &bands, &opts).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let loglog = ConvergenceOptions {
            log_x: true,
            ..opts.clone()
        };
        convergence_plot(&dir.join("loglog.png"), &bands, &loglog).unwrap();
        let r = ranges(&bands, true, true).unwrap();
        assert_eq!(r.x.0, 1.0, "x = 0 is left out on a log axis");
        let svg = dir.join("c.svg");
        convergence_plot(&svg, &bands, &opts).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.contains("SGD") && text.contains("iteration"));
        assert!(convergence_plot(&dir.join("c.pdf"), &bands, &opts).is_err());
        let empty = vec![Band {
            label: "x".into(),
            dashed: false,
            points: vec![],
        }];
        assert!(convergence_plot(&png, &empty, &opts).is_err());
        assert_eq!(method_slot(&bands, 1), 0);
        assert_eq!(method_slot(&bands, 2), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
