//! Plots (plotters): convergence curves from records, trajectories over contour lines, iterates
//! on the graph of a scalar function (the last two also as animated GIFs), and performance
//! profiles (AlgoPerf's leaderboard plot).
//!
//! The output format follows the file extension: `.png` (bitmap backend) or `.svg`; animations
//! are written by the `*_gif` functions (frames drawn by the bitmap backend, encoded with one
//! fixed palette so every method keeps its colour). Text is drawn
//! with the DejaVu Sans font embedded in the crate (`assets/fonts`, Bitstream Vera licence), so
//! PNGs render identically on machines without any system font.
//!
//! This module takes [`Band`]s (built from [`Records`]) and, for contours and function graphs, a
//! plain `Fn(x, y) -> f64` or `Fn(x) -> f64` with trajectories: it never sees a problem.

pub mod contour;
pub mod convergence;
pub mod function;
mod gif;
pub mod profile;

use std::path::Path;
use std::sync::OnceLock;

use plotters::style::{FontStyle, RGBColor};
use thiserror::Error;

use crate::record::{Band, Records, XAxis};

pub use contour::{
    ContourOptions, clip_polyline, contour_gif, contour_plot, log_levels, marching_squares,
};
pub use convergence::{ConvergenceOptions, convergence_plot};
pub use function::{FunctionOptions, FunctionPath, function_gif, function_plot};
pub use profile::{ProfileCurve, performance_profile_plot};

/// The embedded font.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Font family name registered for plots.
pub const FAMILY: &str = "sans-serif";

/// Errors while drawing or writing a plot.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The file name has no `.png` or `.svg` extension.
    #[error("plot file {0}: extension must be .png or .svg")]
    Format(String),
    /// Nothing to draw.
    #[error("plot {file}: {message}")]
    Empty {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// The backend failed (e.g. the file cannot be written).
    #[error("plot {file}: {message}")]
    Backend {
        /// The file.
        file: String,
        /// The backend's message.
        message: String,
    },
    /// Records could not provide the curves.
    #[error(transparent)]
    Records(#[from] crate::record::RecordError),
}

/// Registers the embedded font once (idempotent, thread-safe).
pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Backend {
            file: "(font)".into(),
            message: "the embedded font could not be loaded".into(),
        })
    }
}

/// Output kind from the extension.
pub(crate) enum Kind {
    Png,
    Svg,
}

pub(crate) fn kind_of(path: &Path) -> Result<Kind, PlotError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Kind::Png),
        Some("svg") => Ok(Kind::Svg),
        _ => Err(PlotError::Format(path.display().to_string())),
    }
}

/// Draws into `path` as a PNG or an SVG, by its extension, and writes the file. `$draw` is an
/// expression over the drawing area `$root` that returns `Result<(), String>`; it is expanded
/// once per backend (plotters' backends are distinct types). Errors become [`PlotError`]s naming
/// the file; an unknown extension is [`PlotError::Format`].
macro_rules! render {
    ($path:expr, $size:expr, |$root:ident| $draw:expr) => {{
        let path: &std::path::Path = $path;
        let be = |e: String| $crate::plot::PlotError::Backend {
            file: path.display().to_string(),
            message: e,
        };
        match $crate::plot::kind_of(path)? {
            $crate::plot::Kind::Png => {
                let $root = plotters::prelude::IntoDrawingArea::into_drawing_area(
                    plotters::prelude::BitMapBackend::new(path, $size),
                );
                $draw.map_err(be)?;
                $root.present().map_err(|e| be(e.to_string()))
            }
            $crate::plot::Kind::Svg => {
                let $root = plotters::prelude::IntoDrawingArea::into_drawing_area(
                    plotters::prelude::SVGBackend::new(path, $size),
                );
                $draw.map_err(be)?;
                $root.present().map_err(|e| be(e.to_string()))
            }
        }
    }};
}
pub(crate) use render;

/// The ten-colour qualitative palette (Tableau 10) used for methods, in order.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One band per method for `metric` (in method order), plus — when `averages` and the records
/// have `<metric>_avg` values for a method — a dashed band "method (avg)" right after it.
pub fn bands(
    records: &Records,
    metric: &str,
    axis: XAxis,
    averages: bool,
) -> Result<Vec<Band>, PlotError> {
    let avg = format!("{metric}_avg");
    let has_avg = averages && records.column(&avg).is_ok();
    let mut out = Vec::new();
    for m in records.methods() {
        out.push(records.band(&m, metric, axis)?);
        if has_avg {
            let mut b = records.band(&m, &avg, axis)?;
            if !b.points.is_empty() {
                b.label = format!("{m} (avg)");
                b.dashed = true;
                out.push(b);
            }
        }
    }
    Ok(out)
}

/// One band per metric of one method (a training run's losses, or its accuracies, in one plot),
/// each labelled by its declared [`Metric::label`](crate::record::Metric); metrics without finite
/// values give empty bands.
pub fn metric_bands(
    records: &Records,
    method: &str,
    metrics: &[&str],
    axis: XAxis,
) -> Result<Vec<Band>, PlotError> {
    metrics
        .iter()
        .map(|metric| {
            let c = records.column(metric)?;
            let mut b = records.band(method, metric, axis)?;
            b.label = records.schema.metric(c).label.clone();
            Ok(b)
        })
        .collect()
}

/// Formats a tick value compactly: `1e-4`, `0.5`, `120`, `2.5e6`.
/// The legend of every optlab plot (translucent white box, grey border) at `position`; the
/// caller draws it.
pub(crate) fn legend<'a, 'b, DB, CT>(
    chart: &'b mut plotters::chart::ChartContext<'a, DB, CT>,
    position: plotters::chart::SeriesLabelPosition,
) -> plotters::chart::SeriesLabelStyle<'a, 'b, DB, CT>
where
    DB: plotters::prelude::DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    use plotters::style::Color;
    let mut style = chart.configure_series_labels();
    style
        .position(position)
        .background_style(plotters::style::WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FAMILY, 15))
        .margin(12);
    style
}

pub(crate) fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Direction, Metric, Record, Schema};

    #[test]
    fn metric_bands_give_one_labelled_band_per_metric() {
        let schema = Schema::new(vec![
            Metric::new("loss", "minibatch loss", Direction::Below),
            Metric::new("val_loss", "validation loss", Direction::Below),
        ])
        .unwrap();
        let mut r = Records::new(schema);
        for it in 1..=4u64 {
            r.rows.push(Record {
                method: "AdamW".into(),
                seed: 0,
                iteration: it,
                epoch: it as f64 / 4.0,
                grad_evals: it * 8,
                time_s: it as f64,
                lr: 1e-3,
                // validation only every other step
                values: vec![1.0 / it as f64, if it % 2 == 0 { 0.5 } else { f64::NAN }],
            });
        }
        let b = metric_bands(&r, "AdamW", &["loss", "val_loss"], XAxis::Epochs).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].label, "minibatch loss");
        assert_eq!(b[0].points.len(), 4);
        assert_eq!(b[1].label, "validation loss");
        let xs: Vec<f64> = b[1].points.iter().map(|p| p.x).collect();
        assert_eq!(xs, [0.5, 1.0], "rows without a value are left out");
        let e = metric_bands(&r, "AdamW", &["acc"], XAxis::Epochs).unwrap_err();
        assert!(e.to_string().contains("loss, val_loss"), "{e}");
    }
}
