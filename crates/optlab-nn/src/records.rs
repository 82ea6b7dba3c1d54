//! Training records: one row per logged step with the lab's fixed columns (method, seed,
//! iteration, epoch, samples, time_s, lr) and named metric columns, written as CSV, plus a plot.
//!
//! TEMPORARY: this is a minimal stand-in for the lab's shared record/metrics/plot path (branch
//! `lab`), with the same column layout. When that lands in main, the training loop writes its
//! [`Record`]s through it and this module goes away.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::NnError;

/// Metric columns written by the training loop, in order.
pub const METRICS: [&str; 6] = [
    "loss",
    "grad_norm",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
];

/// One row: fixed columns and the metric values (`None` = not measured at this step).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Optimizer (method) name.
    pub method: String,
    /// Run seed.
    pub seed: u64,
    /// Steps completed.
    pub iteration: u64,
    /// Epochs completed (fractional).
    pub epoch: f64,
    /// Training examples (sequences) served.
    pub samples: u64,
    /// Wall time since the start of training, seconds.
    pub time_s: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Values of [`METRICS`].
    pub metrics: [Option<f64>; 6],
}

/// A plotted line: label, colour, points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// Writes `records` as CSV.
pub fn write_csv(path: &Path, records: &[Record]) -> Result<(), NnError> {
    let mut s = String::from("method,seed,iteration,epoch,samples,time_s,lr");
    for m in METRICS {
        s.push(',');
        s.push_str(m);
    }
    s.push('\n');
    for r in records {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{}",
            r.method, r.seed, r.iteration, r.epoch, r.samples, r.time_s, r.lr
        );
        for v in r.metrics {
            s.push(',');
            if let Some(v) = v {
                let _ = write!(s, "{v}");
            }
        }
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|e| NnError::io(path, e))
}

/// An SVG line plot of the minibatch loss and the train/validation losses against the step.
pub fn plot_losses(path: &Path, title: &str, records: &[Record]) -> Result<(), NnError> {
    let series: Vec<Series> = [
        (0, "minibatch loss", "#bbbbbb"),
        (2, "train loss", "#1f77b4"),
        (4, "validation loss", "#d62728"),
    ]
    .into_iter()
    .map(|(m, label, color)| {
        let pts = records
            .iter()
            .filter_map(|r| {
                r.metrics[m]
                    .filter(|v| v.is_finite())
                    .map(|v| (r.iteration as f64, v))
            })
            .collect();
        (label, color, pts)
    })
    .collect();
    let all = series.iter().flat_map(|s| s.2.iter());
    let (mut x1, mut y0, mut y1) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    let (w, h, l, r, t, b) = (720.0, 420.0, 60.0, 20.0, 30.0, 40.0);
    let sx = |x: f64| l + (w - l - r) * x / x1;
    let sy = |y: f64| t + (h - t - b) * (1.0 - (y - y0) / (y1 - y0));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{l}\" y=\"18\">{title}</text>\n\
         <rect x=\"{l}\" y=\"{t}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
        w - l - r,
        h - t - b
    );
    for i in 0..=4 {
        let y = y0 + (y1 - y0) * f64::from(i) / 4.0;
        let x = x1 * f64::from(i) / 4.0;
        let _ = writeln!(s, "<text x=\"4\" y=\"{:.1}\">{y:.3}</text>", sy(y) + 4.0);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x:.0}</text>",
            sx(x),
            h - b + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>",
        (w + l) / 2.0,
        h - 6.0
    );
    for (i, (label, color, pts)) in series.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let poly: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            poly.join(" ")
        );
        let ly = t + 16.0 + 16.0 * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{ly}\" fill=\"{color}\" text-anchor=\"end\">{label}</text>",
            w - r - 8.0
        );
    }
    s.push_str("</svg>\n");
    std::fs::write(path, s).map_err(|e| NnError::io(path, e))
}
