//! `optlab reproduce`: the lecture's figures, each with its claim checked numerically (the
//! network figures live in `optlab-nn::reproduce` on the same mechanism).
//!
//! A [`Figure`] runs experiments through the [runner](crate::runner) on [problems](crate::problem),
//! draws them with [`plot`](crate::plot), and turns its records into a [`Verdict`]: the claim
//! from the lecture, the numbers checked (each [`Check`] states its inequality, the measured
//! values and the bound) and whether it holds. [`Figure::run`] writes everything into
//! `DIR/<figure>/` (PNG, SVG, GIF, `metrics.csv`, `verdict.json`); [`write_index`] gathers the
//! figures into one self-contained `DIR/index.html` (images embedded as base64, no external
//! resources).
//!
//! | figure | claim |
//! |---|---|
//! | [`sgd-strongly-convex`](sgd_strongly_convex) | constant step: linear rate to a noise floor; (2k+1)/(2μ(k+1)²): O(1/k); the bounds hold |
//! | [`sgd-convex`](sgd_convex) | averaged iterates: ‖x₀−x*‖²/(2αk) + ασ²/2 and O(log k/√k) |
//! | [`minibatch`](minibatch) | the noise floor falls with the batch size, the cost per epoch does not |
//! | [`sgd-divergence`](sgd_divergence) | GD diverges above 2/L, converges below |
//! | [`rosenbrock-methods`](rosenbrock_methods) | many methods on Rosenbrock, at lr 0.003 and tuned |
//! | [`scalar-stories`](scalar_stories) | GD converges / GD stuck in a local minimum / SGD noise escapes it |
//! | [`stochastic-acceleration`](stochastic_acceleration) | α_k ∝ 1/k: SGD, momentum, Nesterov, L-BFGS all O(1/k); deterministic Nesterov beats GD |
//! | [`heavy-tail-classes`](heavy_tail_classes) | heavy-tailed classes: Adam fits rare classes, GD only frequent ones |
//! | [`double-descent`](double_descent) | random ReLU features, min-norm fit: test error peaks at p ≈ n, falls on both sides |
//!
//! Every figure has a [`Size`]: `Full` (the report) and `Quick` (fewer seeds and iterations,
//! same claims; what the tests run). Everything is seeded: a figure's numbers are the same on
//! every run and for any number of threads.

pub mod double_descent;
pub mod heavy_tail_classes;
pub mod minibatch;
pub mod rosenbrock_methods;
pub mod scalar_stories;
pub mod sgd_convex;
pub mod sgd_divergence;
pub mod sgd_strongly_convex;
pub mod stochastic_acceleration;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::plot::{self, ConvergenceOptions, PlotError};
use crate::problem::ProblemError;
use crate::record::{Band, BandPoint, RecordError, Records, Stats, XAxis};
use crate::runner::RunError;

/// Everything that can stop a reproduction.
#[derive(Debug, Error)]
pub enum ReproError {
    /// A figure name that does not exist.
    #[error("unknown figure `{name}`; valid figures: {valid}")]
    UnknownFigure {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// An experiment could not be set up.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A problem could not be built.
    #[error(transparent)]
    Problem(#[from] ProblemError),
    /// A plot could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Records could not provide a curve.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A file could not be written.
    #[error("cannot write {path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// The system's message.
        message: String,
    },
    /// An error of a crate that defines figures outside this one (e.g. a network's training).
    #[error("figure `{figure}`: {source}")]
    External {
        /// The figure.
        figure: &'static str,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The experiments ran but cannot support the figure (e.g. every run failed).
    #[error("figure `{figure}`: {message}")]
    Figure {
        /// The figure.
        figure: &'static str,
        /// What is missing.
        message: String,
    },
}

/// An [`ReproError::Io`] for `path`.
pub fn io_err(path: &Path, e: impl std::fmt::Display) -> ReproError {
    ReproError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// How much work a figure does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// The report's settings (≥ 50 seeds where the claim is about expectations).
    Full,
    /// Fewer seeds and iterations, smaller animations: the same claims, for tests.
    Quick,
}

impl Size {
    /// `full` when the size is `Full`, else `quick`.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        match self {
            Size::Full => full,
            Size::Quick => quick,
        }
    }
}

/// Progress of the runs of a figure: `(done, total)` of the current experiment.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// The function that runs a figure: its size, the figure's own directory (created) and the
/// progress callback; it writes its files there and returns what the verdict is made of.
pub type FigureFn = fn(Size, &Path, Progress<'_>) -> Result<Output, ReproError>;

/// A figure of the lecture that can be reproduced.
pub struct Figure {
    /// Name on the command line, e.g. `"sgd-strongly-convex"`.
    pub name: &'static str,
    /// Title in the report.
    pub title: &'static str,
    /// The lecture's claim, in words.
    pub claim: &'static str,
    run: FigureFn,
}

impl Figure {
    /// A figure defined outside this module (e.g. the network figures of `optlab-nn`).
    pub const fn new(
        name: &'static str,
        title: &'static str,
        claim: &'static str,
        run: FigureFn,
    ) -> Self {
        Figure {
            name,
            title,
            claim,
            run,
        }
    }
}

/// Every figure, in report order.
pub const FIGURES: &[Figure] = &[
    sgd_strongly_convex::FIGURE,
    sgd_convex::FIGURE,
    minibatch::FIGURE,
    sgd_divergence::FIGURE,
    rosenbrock_methods::FIGURE,
    scalar_stories::FIGURE,
    stochastic_acceleration::FIGURE,
    heavy_tail_classes::FIGURE,
    double_descent::FIGURE,
];

/// The figure called `name`, or an error listing the valid names.
pub fn figure(name: &str) -> Result<&'static Figure, ReproError> {
    figure_in(FIGURES.iter(), name)
}

/// The figure called `name` among `figures` (e.g. this crate's [`FIGURES`] followed by another
/// crate's), or an error listing the valid names.
pub fn figure_in<'a>(
    figures: impl Iterator<Item = &'a Figure> + Clone,
    name: &str,
) -> Result<&'a Figure, ReproError> {
    figures
        .clone()
        .find(|f| f.name == name)
        .ok_or_else(|| ReproError::UnknownFigure {
            name: name.to_string(),
            valid: figures.map(|f| f.name).collect::<Vec<_>>().join(", "),
        })
}

/// A named number of a check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantity {
    /// What it is, e.g. `"max over k of mean/bound"`.
    pub name: String,
    /// Its value (`null` in JSON when not finite).
    pub value: f64,
}

/// One checked inequality (or set of them) of a verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// Short name.
    pub name: String,
    /// Exactly what is checked.
    pub statement: String,
    /// The numbers the check is decided on.
    pub numbers: Vec<Quantity>,
    /// Whether it holds.
    pub holds: bool,
}

impl Check {
    /// A check with its numbers given as `(name, value)` pairs.
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        statement: impl Into<String>,
        numbers: impl IntoIterator<Item = (S, f64)>,
        holds: bool,
    ) -> Self {
        Check {
            name: name.into(),
            statement: statement.into(),
            numbers: quantities(numbers),
            holds,
        }
    }
}

/// `(name, value)` pairs as [`Quantity`]s.
fn quantities<S: Into<String>>(numbers: impl IntoIterator<Item = (S, f64)>) -> Vec<Quantity> {
    numbers
        .into_iter()
        .map(|(n, v)| Quantity {
            name: n.into(),
            value: v,
        })
        .collect()
}

/// What `verdict.json` holds: the claim, the checks, whether all hold, and the exact settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Figure name.
    pub figure: String,
    /// Title.
    pub title: String,
    /// The lecture's claim.
    pub claim: String,
    /// `full` or `quick`.
    pub size: Size,
    /// Whether every check holds.
    pub holds: bool,
    /// The checks.
    pub checks: Vec<Check>,
    /// Problem, methods, seeds, budgets, constants and estimated quantities.
    pub settings: Value,
    /// Remarks (e.g. methods not available in this build).
    pub notes: Vec<String>,
    /// Other measured numbers shown with the figure (not part of the verdict).
    pub measured: Vec<Quantity>,
}

/// An image of a figure, with its caption.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Image {
    /// File name inside the figure's directory.
    pub file: String,
    /// Caption in the report.
    pub caption: String,
}

/// What a figure's function returns: checks, settings, images and files.
pub struct Output {
    /// The checks of the verdict (the verdict holds when there is at least one and all hold).
    pub checks: Vec<Check>,
    /// Problem, methods, seeds, budgets: the exact settings, as JSON.
    pub settings: Value,
    /// Remarks shown with the verdict.
    pub notes: Vec<String>,
    /// Other measured numbers shown with the figure (not part of the verdict).
    pub measured: Vec<Quantity>,
    /// Images shown in the report, in order (files inside the figure's directory).
    pub images: Vec<Image>,
    /// Every file the figure wrote into its directory.
    pub files: Vec<String>,
}

/// A reproduced figure: its verdict, images and files.
#[derive(Clone, Debug, Serialize)]
pub struct FigureReport {
    /// The verdict (also written as `verdict.json`).
    pub verdict: Verdict,
    /// Images shown in the report (PNG or GIF), in order.
    pub images: Vec<Image>,
    /// Every file written into the figure's directory.
    pub files: Vec<String>,
    /// The figure's directory.
    pub dir: PathBuf,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl Figure {
    /// Runs the figure, writing into `out/<name>/` (created), and returns its report; the
    /// verdict is also written as `out/<name>/verdict.json`.
    pub fn run(
        &self,
        size: Size,
        out: &Path,
        progress: Progress<'_>,
    ) -> Result<FigureReport, ReproError> {
        let started = Instant::now();
        let dir = out.join(self.name);
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let o = (self.run)(size, &dir, progress)?;
        let verdict = Verdict {
            figure: self.name.into(),
            title: self.title.into(),
            claim: self.claim.into(),
            size,
            holds: !o.checks.is_empty() && o.checks.iter().all(|c| c.holds),
            checks: o.checks,
            settings: o.settings,
            notes: o.notes,
            measured: o.measured,
        };
        let vj = dir.join("verdict.json");
        let text = serde_json::to_string_pretty(&verdict).map_err(|e| io_err(&vj, e))?;
        std::fs::write(&vj, text + "\n").map_err(|e| io_err(&vj, e))?;
        let mut files = o.files;
        files.push("verdict.json".into());
        Ok(FigureReport {
            verdict,
            images: o.images,
            files,
            dir,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the figures.

/// Writes `records` as `dir/<stem>.csv`; returns the file name.
pub fn write_csv(dir: &Path, stem: &str, records: &Records) -> Result<String, ReproError> {
    let name = format!("{stem}.csv");
    let path = dir.join(&name);
    let f = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
    records.write_csv(std::io::BufWriter::new(f))?;
    Ok(name)
}

/// Draws a convergence plot as `dir/<stem>.png` and `.svg`; returns the file names.
pub fn convergence(
    dir: &Path,
    stem: &str,
    bands: &[Band],
    opts: &ConvergenceOptions,
) -> Result<Vec<String>, ReproError> {
    let mut out = Vec::new();
    for ext in ["png", "svg"] {
        let name = format!("{stem}.{ext}");
        plot::convergence_plot(&dir.join(&name), bands, opts)?;
        out.push(name);
    }
    Ok(out)
}

/// A dashed curve through `(x, value)` points (a bound), drawn in the colour of the band before
/// it.
fn dashed(label: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Band {
    Band {
        label: label.into(),
        dashed: true,
        points: points
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(x, v)| BandPoint {
                x,
                stats: Stats {
                    count: 1,
                    mean: v,
                    q10: v,
                    q50: v,
                    q90: v,
                },
            })
            .collect(),
    }
}

/// The curve of `metric` for `method` against iterations, with the label replaced.
fn band(
    records: &Records,
    method: &str,
    metric: &str,
    label: impl Into<String>,
) -> Result<Band, ReproError> {
    let mut b = records.band(method, metric, XAxis::Iterations)?;
    b.label = label.into();
    Ok(b)
}

/// Largest value of `metric` over every record of `method`.
fn max_metric(records: &Records, method: &str, metric: &str) -> Result<f64, ReproError> {
    let j = records.column(metric)?;
    Ok(records
        .rows
        .iter()
        .filter(|r| r.method == method)
        .map(|r| r.get(j))
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max))
}

/// Result of comparing a mean curve with a bound at every logged iteration.
#[derive(Clone, Copy, Debug)]
struct BelowBound {
    holds: bool,
    /// Largest mean/bound ratio over the compared points.
    worst_ratio: f64,
    /// Iteration of that ratio.
    worst_k: f64,
    /// Points compared.
    points: usize,
}

/// Checks `mean(k) ≤ bound(k)` at every point of `band` with `x ≥ from` (x = iteration).
fn below_bound(band: &Band, from: f64, bound: impl Fn(f64) -> f64) -> BelowBound {
    let mut out = BelowBound {
        holds: true,
        worst_ratio: f64::NEG_INFINITY,
        worst_k: f64::NAN,
        points: 0,
    };
    for p in band.points.iter().filter(|p| p.x >= from) {
        let b = bound(p.x);
        let ratio = p.stats.mean / b;
        out.points += 1;
        if p.stats.mean > b || p.stats.mean.is_nan() || b.is_nan() {
            out.holds = false;
        }
        if ratio > out.worst_ratio || ratio.is_nan() {
            out.worst_ratio = ratio;
            out.worst_k = p.x;
        }
    }
    out.holds &= out.points > 0;
    out
}

/// The mean of `band` at its last point.
fn last_mean(band: &Band) -> f64 {
    band.points.last().map_or(f64::NAN, |p| p.stats.mean)
}

/// Mean of the band's means over the points with `x ≥ from` (a plateau level).
fn mean_from(band: &Band, from: f64) -> f64 {
    let v: Vec<f64> = band
        .points
        .iter()
        .filter(|p| p.x >= from)
        .map(|p| p.stats.mean)
        .collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

// ---------------------------------------------------------------------------------------------
// The report page.

/// Writes `dir/index.html`: for each figure, the claim, the verdict (checks with their numbers),
/// the images (embedded as base64: the page needs no other file) and the exact settings.
pub fn write_index(dir: &Path, reports: &[FigureReport]) -> Result<PathBuf, ReproError> {
    let mut h = String::new();
    let all = reports.iter().all(|r| r.verdict.holds);
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>optlab reproduce — the lecture's claims, checked</title>\n<style>\n",
    );
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n<main>\n");
    h.push_str("<h1>optlab reproduce — the lecture's claims, checked</h1>\n");
    let _ = writeln!(
        h,
        "<p class=\"meta\">optlab {} · {} figure(s) · {}</p>",
        env!("CARGO_PKG_VERSION"),
        reports.len(),
        if all {
            "<span class=\"ok\">every verdict holds</span>"
        } else {
            "<span class=\"bad\">some verdicts do not hold</span>"
        }
    );
    h.push_str(
        "<table class=\"summary\">\n<tr><th>figure</th><th>claim</th><th>verdict</th>\
         <th>checks</th><th>size</th><th>time</th></tr>\n",
    );
    for r in reports {
        let v = &r.verdict;
        let passed = v.checks.iter().filter(|c| c.holds).count();
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{n}\">{n}</a></td><td>{c}</td><td>{verdict}</td>\
             <td>{passed}/{total}</td><td>{size}</td><td>{t:.1} s</td></tr>",
            n = esc(&v.figure),
            c = esc(&v.claim),
            verdict = holds_badge(v.holds),
            total = v.checks.len(),
            size = if v.size == Size::Full {
                "full"
            } else {
                "quick"
            },
            t = r.seconds,
        );
    }
    h.push_str("</table>\n");
    for r in reports {
        section(&mut h, r)?;
    }
    h.push_str("</main>\n</body>\n</html>\n");
    let path = dir.join("index.html");
    std::fs::write(&path, h).map_err(|e| io_err(&path, e))?;
    Ok(path)
}

fn section(h: &mut String, r: &FigureReport) -> Result<(), ReproError> {
    let v = &r.verdict;
    let _ = writeln!(
        h,
        "<section id=\"{n}\">\n<h2>{t} <code>{n}</code> {b}</h2>\n<p class=\"claim\"><b>Claim.</b> {c}</p>",
        n = esc(&v.figure),
        t = esc(&v.title),
        b = holds_badge(v.holds),
        c = esc(&v.claim)
    );
    h.push_str("<table class=\"checks\">\n<tr><th>check</th><th>what is checked</th><th>numbers</th><th></th></tr>\n");
    for c in &v.checks {
        let mut nums = String::new();
        for q in &c.numbers {
            let _ = write!(
                nums,
                "<div>{} = <b>{}</b></div>",
                esc(&q.name),
                esc(&fmt_num(q.value))
            );
        }
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"nums\">{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.statement),
            nums,
            holds_badge(c.holds)
        );
    }
    h.push_str("</table>\n");
    for img in &r.images {
        let path = r.dir.join(&img.file);
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        let mime = if img.file.ends_with(".gif") {
            "image/gif"
        } else {
            "image/png"
        };
        let _ = writeln!(
            h,
            "<figure><img alt=\"{cap}\" src=\"data:{mime};base64,{data}\"><figcaption>{cap}</figcaption></figure>",
            cap = esc(&img.caption),
            data = base64(&bytes)
        );
    }
    if !v.measured.is_empty() {
        h.push_str("<table class=\"checks\">\n<tr><th colspan=\"2\">other measurements (not part of the verdict)</th></tr>\n");
        for q in &v.measured {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"nums\">{}</td></tr>",
                esc(&q.name),
                esc(&fmt_num(q.value))
            );
        }
        h.push_str("</table>\n");
    }
    if !v.notes.is_empty() {
        h.push_str("<ul class=\"notes\">\n");
        for n in &v.notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
    let settings = serde_json::to_string_pretty(&v.settings).unwrap_or_else(|e| e.to_string());
    let _ = writeln!(
        h,
        "<details><summary>Exact settings</summary><pre>{}</pre></details>",
        esc(&settings)
    );
    let _ = writeln!(
        h,
        "<p class=\"files\">Files in <code>{}/</code>: {}</p>\n</section>",
        esc(&v.figure),
        r.files
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

pub(crate) const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#fafafa;color:#222}\n\
main{max-width:1100px;margin:0 auto;padding:24px}\n\
h1{font-size:1.6em}h2{margin-top:0;font-size:1.3em}\n\
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:20px;margin:28px 0}\n\
table{border-collapse:collapse;width:100%;margin:12px 0;font-size:.92em}\n\
th,td{border:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}\n\
th{background:#f0f0f0}.nums div{white-space:nowrap}\n\
.ok{color:#116611;font-weight:bold}.bad{color:#aa1111;font-weight:bold}\n\
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:.8em;font-weight:bold}\n\
.badge.ok{background:#dff3df}.badge.bad{background:#f8dcdc}\n\
figure{margin:16px 0}img{max-width:100%;border:1px solid #eee}\n\
figcaption{font-size:.9em;color:#555}.claim{font-size:1.05em}.meta,.files{color:#666;font-size:.9em}\n\
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:.85em}\n";

fn holds_badge(holds: bool) -> &'static str {
    if holds {
        "<span class=\"badge ok\">✔ holds</span>"
    } else {
        "<span class=\"badge bad\">✘ does not hold</span>"
    }
}

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for the report: 4 significant digits, scientific outside [1e-3, 1e5).
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e9 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(fmt_num(0.012345), "0.01235");
        assert_eq!(fmt_num(123.456), "123.5");
        assert_eq!(fmt_num(2.5e-7), "2.500e-7");
        assert_eq!(fmt_num(50.0), "50");
        assert_eq!(fmt_num(f64::INFINITY), "inf");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }

    #[test]
    fn unknown_figures_list_the_valid_ones() {
        let e = figure("sgd-strongly").err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("sgd-strongly") && e.contains("scalar-stories"),
            "{e}"
        );
        assert!(figure("minibatch").is_ok());
        let names: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(names.len(), 9);
        assert_eq!(dedup.len(), 9);
    }

    #[test]
    fn bound_checks_report_the_worst_point() {
        let b = dashed("x", [(0.0, 5.0), (1.0, 1.0), (2.0, 0.5), (4.0, 0.3)]);
        let r = below_bound(&b, 1.0, |k| 1.0 / k);
        assert!(!r.holds);
        assert_eq!((r.worst_k, r.points), (4.0, 3));
        assert!((r.worst_ratio - 1.2).abs() < 1e-12);
        let r = below_bound(&b, 1.0, |k| 1.5 / k);
        assert!(r.holds && r.worst_ratio < 1.0);
        assert!(!below_bound(&b, 10.0, |_| 1.0).holds, "no point compared");
        assert!((mean_from(&b, 2.0) - 0.4).abs() < 1e-15);
        assert_eq!(last_mean(&b), 0.3);
    }
}
