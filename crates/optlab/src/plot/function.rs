//! A scalar function y = f(x) with iterate paths drawn on its graph: each path's iterates x_k are
//! shown at (x_k, f(x_k)), joined in order, with the start filled and the last iterate ringed.
//! As a still image ([`function_plot`], `.png`/`.svg`) or an animated GIF ([`function_gif`])
//! where the paths advance frame by frame.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::gif::GifWriter;
use super::{FAMILY, PALETTE, PlotError, ensure_font, kind_of, legend, render, tick};

/// Layout of a function plot.
#[derive(Clone, Debug)]
pub struct FunctionOptions {
    /// Title.
    pub title: String,
    /// The x window (paths are drawn where they are inside it).
    pub x_range: (f64, f64),
    /// The y window (default: the range of f over the x window, 5% margin).
    pub y_range: Option<(f64, f64)>,
    /// Axis labels.
    pub x_label: String,
    /// Axis labels.
    pub y_label: String,
    /// Size in pixels.
    pub size: (u32, u32),
}

impl Default for FunctionOptions {
    fn default() -> Self {
        FunctionOptions {
            title: String::new(),
            x_range: (-1.0, 1.0),
            y_range: None,
            x_label: "x".into(),
            y_label: "f(x)".into(),
            size: (900, 560),
        }
    }
}

/// A path of iterates: legend label (empty: no legend entry), colour slot in the palette, the
/// iterates x₀, x₁, ... and whether consecutive iterates are joined by chords (clear for a few
/// large GD steps; for thousands of noisy SGD steps dots on the graph read better).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionPath {
    /// Legend label; paths with an empty label are drawn without a legend entry.
    pub label: String,
    /// Colour: index into the palette.
    pub color: usize,
    /// Iterates in order.
    pub xs: Vec<f64>,
    /// Join consecutive iterates with straight chords.
    pub joined: bool,
}

/// Draws f over `opts.x_range` and the paths to `path` (`.png` or `.svg`).
pub fn function_plot(
    path: &Path,
    f: &dyn Fn(f64) -> f64,
    paths: &[FunctionPath],
    opts: &FunctionOptions,
) -> Result<(), PlotError> {
    ensure_font()?;
    let file = path.display().to_string();
    kind_of(path)?;
    let scene = Scene::new(&file, f, paths, opts)?;
    render!(path, opts.size, |root| scene.draw(&root, paths))
}

/// An animated GIF of the paths advancing over the graph of f: `frames` frames (at least 2) of
/// `delay_ms` each; frame j shows every path up to the fraction j/(frames − 1) of its iterates.
pub fn function_gif(
    path: &Path,
    f: &dyn Fn(f64) -> f64,
    paths: &[FunctionPath],
    opts: &FunctionOptions,
    frames: usize,
    delay_ms: u32,
) -> Result<(), PlotError> {
    ensure_font()?;
    let file = path.display().to_string();
    let scene = Scene::new(&file, f, paths, opts)?;
    let be = |e: String| PlotError::Backend {
        file: file.clone(),
        message: e,
    };
    let mut writer = GifWriter::new(path, opts.size, delay_ms)?;
    let mut buf = vec![0u8; 3 * opts.size.0 as usize * opts.size.1 as usize];
    let frames = frames.max(2);
    for j in 0..frames {
        let t = j as f64 / (frames - 1) as f64;
        let partial: Vec<FunctionPath> = paths
            .iter()
            .map(|p| {
                let n = ((p.xs.len() as f64 - 1.0).max(0.0) * t).round() as usize + 1;
                FunctionPath {
                    xs: p.xs[..n.min(p.xs.len())].to_vec(),
                    ..p.clone()
                }
            })
            .collect();
        {
            let root = BitMapBackend::with_buffer(&mut buf, opts.size).into_drawing_area();
            scene.draw(&root, &partial).map_err(be)?;
            root.present().map_err(|e| be(e.to_string()))?;
        }
        writer.frame(&buf)?;
    }
    Ok(())
}

/// What stays the same from frame to frame: the windows and the sampled graph.
struct Scene<'a> {
    f: &'a dyn Fn(f64) -> f64,
    x: (f64, f64),
    y: (f64, f64),
    graph: Vec<(f64, f64)>,
    opts: &'a FunctionOptions,
}

impl<'a> Scene<'a> {
    fn new(
        file: &str,
        f: &'a dyn Fn(f64) -> f64,
        paths: &[FunctionPath],
        opts: &'a FunctionOptions,
    ) -> Result<Self, PlotError> {
        let (x0, x1) = opts.x_range;
        if !(x0.is_finite() && x1.is_finite() && x1 > x0) || paths.is_empty() {
            return Err(PlotError::Empty {
                file: file.to_string(),
                message: format!(
                    "need a finite x range with x_min < x_max (got {x0}..{x1}) and at least one path"
                ),
            });
        }
        let n = 600;
        let graph: Vec<(f64, f64)> = (0..=n)
            .map(|i| {
                let x = x0 + (x1 - x0) * i as f64 / n as f64;
                (x, f(x))
            })
            .filter(|(_, y)| y.is_finite())
            .collect();
        let y = match opts.y_range {
            Some(r) => r,
            None => {
                let lo = graph.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                let hi = graph.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
                if !(lo.is_finite() && hi.is_finite()) {
                    return Err(PlotError::Empty {
                        file: file.to_string(),
                        message: "f has no finite value in the x range".into(),
                    });
                }
                let pad = 0.05 * (hi - lo).max(1e-12);
                (lo - pad, hi + pad)
            }
        };
        Ok(Scene {
            f,
            x: (x0, x1),
            y,
            graph,
            opts,
        })
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        paths: &[FunctionPath],
    ) -> Result<(), String> {
        let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(s)?;
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64);
        if !self.opts.title.is_empty() {
            builder.caption(&self.opts.title, (FAMILY, 22));
        }
        let mut chart = builder
            .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
            .map_err(s)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .axis_style(RGBColor(90, 90, 90))
            .x_desc(&self.opts.x_label)
            .y_desc(&self.opts.y_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(s)?;
        let inside =
            |&(x, y): &(f64, f64)| x >= self.x.0 && x <= self.x.1 && y >= self.y.0 && y <= self.y.1;
        let graph: Vec<(f64, f64)> = self.graph.iter().copied().filter(inside).collect();
        chart
            .draw_series(LineSeries::new(graph, BLACK.stroke_width(2)))
            .map_err(s)?;
        for p in paths {
            let color = PALETTE[p.color % PALETTE.len()];
            let pts: Vec<(f64, f64)> =
                p.xs.iter()
                    .map(|&x| (x, (self.f)(x)))
                    .filter(inside)
                    .collect();
            let style = color.mix(0.55).stroke_width(1);
            let chords = if p.joined { pts.clone() } else { Vec::new() };
            let series = chart
                .draw_series(LineSeries::new(chords, style))
                .map_err(s)?;
            if !p.label.is_empty() {
                let legend = color.stroke_width(3);
                series
                    .label(&p.label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], legend));
            }
            chart
                .draw_series(
                    pts.iter()
                        .map(|&q| Circle::new(q, 2, color.mix(0.6).filled())),
                )
                .map_err(s)?;
            if let (Some(&first), Some(&last)) = (pts.first(), pts.last()) {
                chart
                    .draw_series([
                        Circle::new(first, 5, color.filled()),
                        Circle::new(last, 7, WHITE.filled()),
                    ])
                    .map_err(s)?;
                chart
                    .draw_series([Circle::new(last, 7, color.stroke_width(3))])
                    .map_err(s)?;
            }
        }
        if paths.iter().any(|p| !p.label.is_empty()) {
            legend(&mut chart, SeriesLabelPosition::UpperMiddle)
                .draw()
                .map_err(s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_svg_and_gif() {
        let dir = std::env::temp_dir().join(format!("optlab-function-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = |x: f64| (x * x - 1.0).powi(2) + 0.3 * x;
        let paths = vec![
            FunctionPath {
                label: "GD".into(),
                color: 0,
                xs: vec![2.0, 1.5, 1.2, 1.0, 0.97],
                joined: true,
            },
            FunctionPath {
                label: String::new(),
                color: 1,
                xs: vec![-2.0, 5.0, -1.0],
                joined: false,
            },
        ];
        let opts = FunctionOptions {
            title: "double well".into(),
            x_range: (-2.2, 2.2),
            ..Default::default()
        };
        function_plot(&dir.join("f.svg"), &f, &paths, &opts).unwrap();
        let svg = std::fs::read_to_string(dir.join("f.svg")).unwrap();
        assert!(svg.contains("double well") && svg.contains("GD"));
        function_plot(&dir.join("f.png"), &f, &paths, &opts).unwrap();
        let small = FunctionOptions {
            size: (240, 160),
            ..opts.clone()
        };
        function_gif(&dir.join("f.gif"), &f, &paths, &small, 4, 40).unwrap();
        let gif = std::fs::read(dir.join("f.gif")).unwrap();
        assert_eq!(&gif[..6], b"GIF89a");
        let bad = FunctionOptions {
            x_range: (1.0, 1.0),
            ..opts
        };
        assert!(function_plot(&dir.join("g.png"), &f, &paths, &bad).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
