//! Performance profiles (Dolan & Moré 2002): for each method, the fraction of problems ρ(τ) it
//! solves within a factor τ of the best method, against τ (AlgoPerf's leaderboard plot).
//!
//! Each curve is drawn as the polyline through its (τ, ρ) points: with AlgoPerf's 100-point τ
//! grid that is exactly the function whose trapezoid integral is the score, so the area under a
//! drawn curve is the score times the grid's length.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{FAMILY, PALETTE, PlotError, ensure_font, kind_of, legend, render, tick};

/// One method's profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileCurve {
    /// Legend label (e.g. `"muon (score 0.944)"`).
    pub label: String,
    /// (τ, ρ(τ)) points, τ increasing, ρ in [0, 1].
    pub points: Vec<(f64, f64)>,
}

/// Labels and layout of a profile plot.
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Size in pixels.
    pub size: (u32, u32),
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            title: String::new(),
            x_label: "τ (time to target / best time to target)".into(),
            y_label: "ρ(τ): fraction of workloads".into(),
            size: (1000, 640),
        }
    }
}

/// Draws `curves` to `path` (`.png` or `.svg`).
pub fn performance_profile_plot(
    path: &Path,
    curves: &[ProfileCurve],
    opts: &ProfileOptions,
) -> Result<(), PlotError> {
    ensure_font()?;
    kind_of(path)?;
    let (lo, hi) = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !(lo.is_finite() && hi > lo) {
        return Err(PlotError::Empty {
            file: path.display().to_string(),
            message: "a profile needs at least two distinct τ values".into(),
        });
    }
    render!(path, opts.size, |root| draw(&root, curves, opts, (lo, hi)))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &[ProfileCurve],
    opts: &ProfileOptions,
    x: (f64, f64),
) -> Result<(), String> {
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(s)?;
    let mut builder = ChartBuilder::on(root);
    builder
        .margin(18)
        .x_label_area_size(52)
        .y_label_area_size(78);
    if !opts.title.is_empty() {
        builder.caption(&opts.title, (FAMILY, 22));
    }
    let mut chart = builder
        .build_cartesian_2d(x.0..x.1, -0.02..1.05)
        .map_err(s)?;
    chart
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
    for (i, c) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // later curves thinner, so that coinciding profiles stay visible
        let width = (4u32.saturating_sub(i as u32 / 2)).max(2);
        let style = ShapeStyle::from(&color).stroke_width(width);
        chart
            .draw_series(LineSeries::new(c.points.iter().copied(), style))
            .map_err(s)?
            .label(&c.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("optlab-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curves = vec![
            ProfileCurve {
                label: "a (score 1.000)".into(),
                points: vec![(1.0, 1.0), (4.0, 1.0)],
            },
            ProfileCurve {
                label: "b (score 0.500)".into(),
                points: vec![(1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (4.0, 1.0)],
            },
        ];
        let opts = ProfileOptions::default();
        performance_profile_plot(&dir.join("p.png"), &curves, &opts).unwrap();
        assert_eq!(&std::fs::read(dir.join("p.png")).unwrap()[1..4], b"PNG");
        performance_profile_plot(&dir.join("p.svg"), &curves, &opts).unwrap();
        let svg = std::fs::read_to_string(dir.join("p.svg")).unwrap();
        assert!(svg.contains("b (score 0.500)") && svg.contains("fraction of workloads"));
        let flat = vec![ProfileCurve {
            label: "x".into(),
            points: vec![(1.0, 0.0)],
        }];
        assert!(performance_profile_plot(&dir.join("q.png"), &flat, &opts).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
