//! Trajectories over contour lines of a 2D function.
//!
//! The function is sampled on a grid; [`marching_squares`] extracts each level set as line
//! segments (linear interpolation along cell edges; a saddle cell is resolved by the value at its
//! centre). Levels are log-spaced in `f − min f` between the 1% and 99% quantiles of the grid
//! values, so valleys (Rosenbrock) and flat regions both get lines.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::gif::GifWriter;
use super::{FAMILY, PALETTE, PlotError, ensure_font, kind_of, legend, render, tick};

/// Layout of a contour plot.
#[derive(Clone, Debug)]
pub struct ContourOptions {
    /// Title.
    pub title: String,
    /// A point to mark (the minimizer), if known.
    pub optimum: Option<(f64, f64)>,
    /// Plot window `[x_min, x_max, y_min, y_max]`; default: the trajectories and the optimum
    /// with a 15% margin.
    pub bounds: Option<[f64; 4]>,
    /// Grid cells per side (default 160).
    pub grid: usize,
    /// Number of contour levels (default 18).
    pub levels: usize,
    /// Size in pixels.
    pub size: (u32, u32),
}

impl Default for ContourOptions {
    fn default() -> Self {
        ContourOptions {
            title: String::new(),
            optimum: None,
            bounds: None,
            grid: 160,
            levels: 18,
            size: (900, 760),
        }
    }
}

/// A segment between two points.
pub type Segment = ((f64, f64), (f64, f64));

/// The segments of the level set `{f = level}` of grid values `z` (row-major, `ys.len()` rows of
/// `xs.len()` values; `z[j * xs.len() + i] = f(xs[i], ys[j])`).
pub fn marching_squares(z: &[f64], xs: &[f64], ys: &[f64], level: f64) -> Vec<Segment> {
    let nx = xs.len();
    let mut out = Vec::new();
    if nx < 2 || ys.len() < 2 || z.len() < nx * ys.len() {
        return out;
    }
    let interp = |p: (f64, f64), q: (f64, f64), a: f64, b: f64| -> (f64, f64) {
        let t = if (b - a).abs() > 0.0 {
            (level - a) / (b - a)
        } else {
            0.5
        };
        (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))
    };
    for j in 0..ys.len() - 1 {
        for i in 0..nx - 1 {
            // corners counter-clockwise from bottom-left
            let v = [
                z[j * nx + i],
                z[j * nx + i + 1],
                z[(j + 1) * nx + i + 1],
                z[(j + 1) * nx + i],
            ];
            if v.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let p = [
                (xs[i], ys[j]),
                (xs[i + 1], ys[j]),
                (xs[i + 1], ys[j + 1]),
                (xs[i], ys[j + 1]),
            ];
            let case = v
                .iter()
                .enumerate()
                .fold(0u8, |c, (k, &val)| c | (u8::from(val > level) << k));
            // edge e joins corner e and corner e+1
            let e = |k: usize| interp(p[k], p[(k + 1) % 4], v[k], v[(k + 1) % 4]);
            let centre_above = v.iter().sum::<f64>() / 4.0 > level;
            let pairs: &[(usize, usize)] = match case {
                0 | 15 => &[],
                1 | 14 => &[(3, 0)],
                2 | 13 => &[(0, 1)],
                3 | 12 => &[(3, 1)],
                4 | 11 => &[(1, 2)],
                6 | 9 => &[(0, 2)],
                7 | 8 => &[(2, 3)],
                5 if centre_above => &[(0, 1), (2, 3)],
                5 => &[(3, 0), (1, 2)],
                10 if centre_above => &[(3, 0), (1, 2)],
                _ => &[(0, 1), (2, 3)],
            };
            for &(a, b) in pairs {
                out.push((e(a), e(b)));
            }
        }
    }
    out
}

/// Draws contour lines of `f` and the `trajectories` (label, points) to `path` (`.png`/`.svg`).
/// Trajectories are clipped to the plot window (a diverging path is drawn up to where it leaves).
pub fn contour_plot(
    path: &Path,
    f: &dyn Fn(f64, f64) -> f64,
    trajectories: &[(String, Vec<(f64, f64)>)],
    opts: &ContourOptions,
) -> Result<(), PlotError> {
    ensure_font()?;
    let file = path.display().to_string();
    kind_of(path)?;
    let (bounds, levels, lines) = level_sets(&file, f, trajectories, opts)?;
    let scene = Scene {
        bounds,
        lines: &lines,
        levels,
        trajectories,
        opts,
    };
    render!(path, opts.size, |root| scene.draw(&root))
}

/// An animated GIF of the `trajectories` being drawn over the contour lines of `f`: `frames`
/// frames (at least 2) of `delay_ms` each; frame j shows every path up to the fraction
/// j/(frames − 1) of its points, the last frame the whole paths (then the animation loops).
pub fn contour_gif(
    path: &Path,
    f: &dyn Fn(f64, f64) -> f64,
    trajectories: &[(String, Vec<(f64, f64)>)],
    opts: &ContourOptions,
    frames: usize,
    delay_ms: u32,
) -> Result<(), PlotError> {
    ensure_font()?;
    let file = path.display().to_string();
    let (bounds, levels, lines) = level_sets(&file, f, trajectories, opts)?;
    let be = |e: String| PlotError::Backend {
        file: file.clone(),
        message: e,
    };
    let mut writer = GifWriter::new(path, opts.size, delay_ms)?;
    let mut buf = vec![0u8; 3 * opts.size.0 as usize * opts.size.1 as usize];
    let frames = frames.max(2);
    for j in 0..frames {
        let t = j as f64 / (frames - 1) as f64;
        let partial: Vec<(String, Vec<(f64, f64)>)> = trajectories
            .iter()
            .map(|(label, pts)| {
                let n = ((pts.len() as f64 - 1.0) * t).round() as usize + 1;
                (label.clone(), pts[..n.min(pts.len())].to_vec())
            })
            .collect();
        let scene = Scene {
            bounds,
            lines: &lines,
            levels,
            trajectories: &partial,
            opts,
        };
        {
            let root = BitMapBackend::with_buffer(&mut buf, opts.size).into_drawing_area();
            scene.draw(&root).map_err(be)?;
            root.present().map_err(|e| be(e.to_string()))?;
        }
        writer.frame(&buf)?;
    }
    Ok(())
}

/// The plot window and the contour segments of each level.
type LevelSets = ([f64; 4], usize, Vec<(usize, Vec<Segment>)>);

fn level_sets(
    file: &str,
    f: &dyn Fn(f64, f64) -> f64,
    trajectories: &[(String, Vec<(f64, f64)>)],
    opts: &ContourOptions,
) -> Result<LevelSets, PlotError> {
    let bounds = opts
        .bounds
        .or_else(|| auto_bounds(trajectories, opts.optimum))
        .ok_or_else(|| PlotError::Empty {
            file: file.to_string(),
            message: "no finite trajectory points and no bounds".into(),
        })?;
    let n = opts.grid.clamp(8, 1000);
    let xs: Vec<f64> = (0..=n)
        .map(|i| bounds[0] + (bounds[1] - bounds[0]) * i as f64 / n as f64)
        .collect();
    let ys: Vec<f64> = (0..=n)
        .map(|j| bounds[2] + (bounds[3] - bounds[2]) * j as f64 / n as f64)
        .collect();
    let z: Vec<f64> = ys
        .iter()
        .flat_map(|&y| xs.iter().map(move |&x| f(x, y)))
        .collect();
    let levels = log_levels(&z, opts.levels.max(2));
    let lines: Vec<(usize, Vec<Segment>)> = levels
        .iter()
        .enumerate()
        .map(|(k, &c)| (k, marching_squares(&z, &xs, &ys, c)))
        .collect();
    Ok((bounds, levels.len(), lines))
}

/// The parts of a polyline inside the window `[x_min, x_max, y_min, y_max]`: each segment is
/// clipped (Liang–Barsky); consecutive visible pieces are joined. Non-finite points break the
/// line.
pub fn clip_polyline(points: &[(f64, f64)], b: [f64; 4]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let inside = |(x, y): (f64, f64)| x >= b[0] && x <= b[1] && y >= b[2] && y <= b[3];
    if points.len() == 1 && inside(points[0]) {
        return vec![points.to_vec()];
    }
    for w in points.windows(2) {
        let (p, q) = (w[0], w[1]);
        let seg = if [p.0, p.1, q.0, q.1].iter().all(|v| v.is_finite()) {
            clip_segment(p, q, b)
        } else {
            None
        };
        match seg {
            Some((a, c)) => {
                if cur.last() != Some(&a) {
                    if cur.len() > 1 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(c);
            }
            None => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// The points of a polyline that are at least `min_step` (in x or in y) away from the previous
/// point kept; the last point is always kept (replacing a too-close predecessor).
fn thin_polyline(points: &[(f64, f64)], min_step: (f64, f64)) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for (i, &p) in points.iter().enumerate() {
        let far =
            |q: &(f64, f64)| (p.0 - q.0).abs() >= min_step.0 || (p.1 - q.1).abs() >= min_step.1;
        match out.last() {
            None => out.push(p),
            Some(q) if far(q) => out.push(p),
            Some(_) if i + 1 == points.len() && out.len() > 1 => {
                out.pop();
                if out.last().is_some_and(far) {
                    out.push(p);
                }
            }
            Some(_) => {}
        }
    }
    out
}

/// Liang–Barsky clipping of the segment p→q to the window.
fn clip_segment(p: (f64, f64), q: (f64, f64), b: [f64; 4]) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (pk, qk) in [
        (-dx, p.0 - b[0]),
        (dx, b[1] - p.0),
        (-dy, p.1 - b[2]),
        (dy, b[3] - p.1),
    ] {
        if pk == 0.0 {
            if qk < 0.0 {
                return None;
            }
        } else {
            let r = qk / pk;
            if pk < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| {
        if t == 0.0 {
            p
        } else if t == 1.0 {
            q
        } else {
            (p.0 + t * dx, p.1 + t * dy)
        }
    };
    Some((at(t0), at(t1)))
}

/// Window around the finite trajectory points (|v| < 1e6) and the optimum, 15% margin.
fn auto_bounds(
    trajectories: &[(String, Vec<(f64, f64)>)],
    optimum: Option<(f64, f64)>,
) -> Option<[f64; 4]> {
    let pts = trajectories
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .chain(optimum)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && x.abs() < 1e6 && y.abs() < 1e6);
    let mut b = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for (x, y) in pts {
        b = [b[0].min(x), b[1].max(x), b[2].min(y), b[3].max(y)];
    }
    if !b[0].is_finite() {
        return None;
    }
    let w = (b[1] - b[0]).max(0.5);
    let h = (b[3] - b[2]).max(0.5);
    let (cx, cy) = ((b[0] + b[1]) / 2.0, (b[2] + b[3]) / 2.0);
    Some([cx - 0.65 * w, cx + 0.65 * w, cy - 0.65 * h, cy + 0.65 * h])
}

/// `levels` values of f for contour lines of grid values `z`, log-spaced in f − min between the
/// 1% and 99% quantiles (empty when no value is finite).
pub fn log_levels(z: &[f64], levels: usize) -> Vec<f64> {
    let mut v: Vec<f64> = z.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    let min = v[0];
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] - min;
    let hi = q(0.99).max(1e-12);
    let lo = q(0.01).max(hi * 1e-6).min(hi / 10.0);
    (0..levels)
        .map(|k| min + lo * (hi / lo).powf(k as f64 / (levels - 1) as f64))
        .collect()
}

struct Scene<'a> {
    bounds: [f64; 4],
    lines: &'a [(usize, Vec<Segment>)],
    levels: usize,
    trajectories: &'a [(String, Vec<(f64, f64)>)],
    opts: &'a ContourOptions,
}

impl Scene<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(s)?;
        let b = self.bounds;
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64);
        if !self.opts.title.is_empty() {
            builder.caption(&self.opts.title, (FAMILY, 22));
        }
        let mut chart = builder
            .build_cartesian_2d(b[0]..b[1], b[2]..b[3])
            .map_err(s)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .axis_style(RGBColor(90, 90, 90))
            .x_desc("x")
            .y_desc("y")
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(s)?;
        for (k, segs) in self.lines {
            // low levels dark blue-grey, high levels light
            let t = *k as f64 / (self.levels.max(2) - 1) as f64;
            let c = |a: f64, b: f64| (a + (b - a) * t) as u8;
            let color = RGBColor(c(40.0, 200.0), c(70.0, 210.0), c(120.0, 225.0));
            chart
                .draw_series(
                    segs.iter()
                        .map(|&(p, q)| PathElement::new(vec![p, q], color.stroke_width(1))),
                )
                .map_err(s)?;
        }
        let inside = |&(x, y): &(f64, f64)| x >= b[0] && x <= b[1] && y >= b[2] && y <= b[3];
        for (i, (label, pts)) in self.trajectories.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let style = color.stroke_width(2);
            // Each visible piece is thinned to points at least ~2 pixels apart and drawn
            // segment by segment: plotters polygonizes a thick polyline with mitre joins, which
            // spike far out at the sharp turns of an oscillating path (and at repeated points).
            let (w, h) = self.opts.size;
            let min_step = (
                2.0 * (b[1] - b[0]) / f64::from(w.max(1)),
                2.0 * (b[3] - b[2]) / f64::from(h.max(1)),
            );
            let segments: Vec<[(f64, f64); 2]> = clip_polyline(pts, b)
                .iter()
                .flat_map(|piece| {
                    let thin = thin_polyline(piece, min_step);
                    thin.windows(2).map(|w| [w[0], w[1]]).collect::<Vec<_>>()
                })
                .collect();
            chart
                .draw_series(segments.into_iter().map(|p| PathElement::new(p, style)))
                .map_err(s)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
            let ends = (
                pts.first().filter(|p| inside(p)),
                pts.last().filter(|p| inside(p)),
            );
            if let (Some(&first), Some(&last)) = ends {
                chart
                    .draw_series([
                        Circle::new(first, 5, color.filled()),
                        Circle::new(last, 4, WHITE.filled()),
                    ])
                    .map_err(s)?;
                chart
                    .draw_series([Circle::new(last, 4, color.stroke_width(2))])
                    .map_err(s)?;
            }
        }
        if let Some(o) = self.opts.optimum {
            chart
                .draw_series([Cross::new(o, 7, BLACK.stroke_width(2))])
                .map_err(s)?
                .label("minimizer")
                .legend(|(x, y)| Cross::new((x + 11, y), 5, BLACK.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(s)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_level_set_lies_on_the_circle() {
        let xs: Vec<f64> = (0..=40).map(|i| -2.0 + i as f64 * 0.1).collect();
        let ys = xs.clone();
        let z: Vec<f64> = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| x * x + y * y))
            .collect();
        let segs = marching_squares(&z, &xs, &ys, 1.0);
        assert!(segs.len() > 30, "{}", segs.len());
        for (p, q) in &segs {
            for (x, y) in [p, q] {
                let r = (x * x + y * y).sqrt();
                assert!((r - 1.0).abs() < 0.01, "point at radius {r}");
            }
        }
        assert!(marching_squares(&z, &xs, &ys, 100.0).is_empty());
    }

    #[test]
    fn polylines_are_clipped_to_the_window() {
        let b = [0.0, 1.0, 0.0, 1.0];
        let pts = [
            (0.5, 0.5),
            (1.5, 0.5),
            (0.5, 0.25),
            (0.25, 0.25),
            (f64::NAN, 0.0),
        ];
        let parts = clip_polyline(&pts, b);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(parts[0], vec![(0.5, 0.5), (1.0, 0.5)]);
        assert_eq!(parts[1][0], (1.0, 0.375));
        assert_eq!(parts[1][1..], [(0.5, 0.25), (0.25, 0.25)]);
        assert!(clip_polyline(&[(2.0, 2.0), (3.0, 3.0)], b).is_empty());
        assert_eq!(clip_polyline(&[(0.5, 0.5)], b).len(), 1);
        let thin = thin_polyline(
            &[
                (0.0, 0.0),
                (0.001, 0.0),
                (0.5, 0.0),
                (0.5, 0.0),
                (0.501, 0.0),
            ],
            (0.01, 0.01),
        );
        assert_eq!(thin, vec![(0.0, 0.0), (0.501, 0.0)]);
        assert_eq!(
            thin_polyline(&[(0.0, 0.0), (0.001, 0.0)], (0.01, 0.01)),
            vec![(0.0, 0.0)]
        );
    }

    #[test]
    fn levels_are_increasing_and_plot_writes() {
        let z: Vec<f64> = (0..100).map(|i| (i * i) as f64).collect();
        let l = log_levels(&z, 10);
        assert_eq!(l.len(), 10);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
        let dir = std::env::temp_dir().join(format!("optlab-contour-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = |x: f64, y: f64| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
        let traj = vec![(
            "GD".to_string(),
            vec![(-1.5, 2.0), (-1.0, 1.0), (0.5, 0.3), (1.0, 1.0)],
        )];
        let opts = ContourOptions {
            optimum: Some((1.0, 1.0)),
            grid: 40,
            ..Default::default()
        };
        contour_plot(&dir.join("c.svg"), &f, &traj, &opts).unwrap();
        let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
        assert!(svg.contains("minimizer") && svg.contains("GD"));
        let small = ContourOptions {
            size: (200, 160),
            ..opts.clone()
        };
        contour_gif(&dir.join("c.gif"), &f, &traj, &small, 3, 50).unwrap();
        let gif = std::fs::read(dir.join("c.gif")).unwrap();
        assert_eq!(&gif[..6], b"GIF89a");
        assert!(
            gif.windows(11).any(|w| w == b"NETSCAPE2.0"),
            "looping animation"
        );
        assert_eq!(gif.last(), Some(&0x3B), "GIF trailer");
        assert!(contour_plot(&dir.join("c.png"), &f, &[], &ContourOptions::default()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
