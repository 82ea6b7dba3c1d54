//! Records of iterative runs: fixed columns plus named metric columns, CSV input/output, summary
//! statistics over seeds and time-to-target.
//!
//! A [`Record`] is one logged point of one run: the run id (method, seed), the iteration, the
//! epoch (passes over the data), the per-sample gradient evaluations (samples seen), the wall time
//! and the learning rate, then one value per metric of the [`Records`] schema (`NaN` where a metric
//! is not available). Optimization runs log `loss`, `subopt` (f(x) − f*), `grad_norm`,
//! `dist_to_opt`, `subopt_avg`; a network trainer logs `train_loss`, `val_loss`, `val_acc` — the
//! same CSV, summaries and plots serve both. This module knows nothing about problems or oracles.
//!
//! CSV layout: a header `method,seed,iteration,epoch,grad_evals,time_s,lr,<metric>...`, then one
//! line per record; floats are written in Rust's shortest round-trip form, plain for
//! 1e-4 ≤ |v| < 1e15 and scientific (`1.3e-7`) otherwise (`NaN` for missing).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The fixed leading columns of every records CSV.
pub const FIXED_COLUMNS: [&str; 7] = [
    "method",
    "seed",
    "iteration",
    "epoch",
    "grad_evals",
    "time_s",
    "lr",
];

/// Errors of the records layer.
#[derive(Debug, Error)]
pub enum RecordError {
    /// A metric name that is not in the schema.
    #[error("unknown metric `{name}`; available: {valid}")]
    UnknownMetric {
        /// The name asked for.
        name: String,
        /// The schema's metrics, comma-separated.
        valid: String,
    },
    /// A metric name that repeats, or that is one of the fixed columns.
    #[error("metric column `{0}` appears twice (or is a fixed column)")]
    DuplicateColumn(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A records CSV that does not parse.
    #[error("records CSV line {line}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One logged point of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Method name (run id, with `seed`).
    pub method: String,
    /// Seed of the run.
    pub seed: u64,
    /// Iterations (optimizer steps) done.
    pub iteration: u64,
    /// Passes over the data: `grad_evals / m`.
    pub epoch: f64,
    /// Per-sample gradient evaluations so far (samples seen).
    pub grad_evals: u64,
    /// Wall time of the run's own work so far, in seconds (metric evaluation excluded).
    pub time_s: f64,
    /// Learning rate of the default group for the next step (the accepted step for line search).
    pub lr: f64,
    /// One value per metric of the schema (`NaN` where not available).
    pub values: Vec<f64>,
}

/// A run that stopped early (NaN/Inf, a refused step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// The 1-based step at which it stopped (0: before the first step).
    pub step: u64,
    /// What happened.
    pub message: String,
}

/// Which quantity goes on the x-axis of a curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XAxis {
    /// Iteration count.
    Iterations,
    /// Passes over the data.
    #[default]
    Epochs,
    /// Wall time in seconds.
    Seconds,
    /// Per-sample gradient evaluations.
    GradEvals,
}

impl XAxis {
    /// The axis value of a record.
    pub fn of(&self, r: &Record) -> f64 {
        match self {
            XAxis::Iterations => r.iteration as f64,
            XAxis::Epochs => r.epoch,
            XAxis::Seconds => r.time_s,
            XAxis::GradEvals => r.grad_evals as f64,
        }
    }

    /// Axis label for plots.
    pub fn label(&self) -> &'static str {
        match self {
            XAxis::Iterations => "iteration",
            XAxis::Epochs => "epoch (passes over the data)",
            XAxis::Seconds => "wall time (s)",
            XAxis::GradEvals => "per-sample gradient evaluations",
        }
    }
}

/// Whether a target is reached by going below or above the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Reached when the metric is ≤ the threshold (losses, suboptimality).
    Below,
    /// Reached when the metric is ≥ the threshold (accuracies).
    Above,
}

/// Mean and quantiles of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// 10% quantile.
    pub q10: f64,
    /// Median.
    pub q50: f64,
    /// 90% quantile.
    pub q90: f64,
}

impl Stats {
    /// Statistics of the finite values of `xs` (`None` if there is none). Quantiles interpolate
    /// linearly between order statistics (NumPy's default).
    pub fn of(xs: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let mut v: Vec<f64> = xs.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Stats {
            count: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            q10: quantile(&v, 0.1),
            q50: quantile(&v, 0.5),
            q90: quantile(&v, 0.9),
        })
    }
}

/// Quantile `q ∈ [0, 1]` of sorted values, linear interpolation.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let t = pos - lo as f64;
    sorted[lo] * (1.0 - t) + sorted[hi] * t
}

/// One point of a band over seeds: x and the statistics of the metric at that logged iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    /// Axis value (mean over the seeds for epochs/seconds/evaluations).
    pub x: f64,
    /// Statistics of the metric over the seeds logged at this iteration.
    pub stats: Stats,
}

/// A metric of one method as a curve over seeds (what plots draw).
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// Legend label.
    pub label: String,
    /// Points in increasing iteration order.
    pub points: Vec<BandPoint>,
    /// Draw dashed (e.g. averaged iterates).
    pub dashed: bool,
}

/// Summary of one method: final value of a metric and wall time, over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    /// Method name.
    pub method: String,
    /// Runs recorded.
    pub runs: usize,
    /// Final value of the metric over the runs (last logged finite value of each run).
    pub last: Option<Stats>,
    /// Wall time of each run (its last record's `time_s`).
    pub time_s: Option<Stats>,
    /// Iterations of each run (its last record).
    pub iterations: Option<Stats>,
}

/// First point at which one run reached a target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetHit {
    /// Method.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// The axis value at the first record reaching the target (`None`: never reached).
    pub at: Option<f64>,
}

/// A metric column as its producer declares it: the name (CSV header), a label for axes and
/// legends, and which way is better — the direction in which a target on it is reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Column name, e.g. `"val_acc"`.
    pub name: String,
    /// Axis and legend label, e.g. `"validation accuracy"`.
    pub label: String,
    /// `Below` for losses and distances, `Above` for accuracies; `None` for a column read from
    /// a file without its declaration.
    pub direction: Option<Direction>,
}

impl Metric {
    /// A declared metric.
    pub fn new(name: impl Into<String>, label: impl Into<String>, direction: Direction) -> Self {
        Metric {
            name: name.into(),
            label: label.into(),
            direction: Some(direction),
        }
    }

    /// A column known only by its name (labelled by it, no direction).
    pub fn undeclared(name: impl Into<String>) -> Self {
        let name = name.into();
        Metric {
            label: name.clone(),
            name,
            direction: None,
        }
    }
}

/// A typed handle on a metric column of a [`Schema`]: obtained by name once
/// ([`Schema::column`]), then used to read and write values ([`Record::get`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Column(usize);

impl Column {
    /// Position among the metric columns (0 = the first after the fixed columns).
    pub fn index(self) -> usize {
        self.0
    }
}

/// The metric columns of a records table, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    metrics: Vec<Metric>,
}

impl Schema {
    /// A schema of these metrics; an error if a name repeats or is a fixed column.
    pub fn new(metrics: Vec<Metric>) -> Result<Self, RecordError> {
        for (i, m) in metrics.iter().enumerate() {
            if FIXED_COLUMNS.contains(&m.name.as_str())
                || metrics[..i].iter().any(|o| o.name == m.name)
            {
                return Err(RecordError::DuplicateColumn(m.name.clone()));
            }
        }
        Ok(Schema { metrics })
    }

    /// The column `name`, or an error listing the metrics there are.
    pub fn column(&self, name: &str) -> Result<Column, RecordError> {
        self.metrics
            .iter()
            .position(|m| m.name == name)
            .map(Column)
            .ok_or_else(|| RecordError::UnknownMetric {
                name: name.to_string(),
                valid: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    /// The declaration of a column.
    pub fn metric(&self, c: Column) -> &Metric {
        &self.metrics[c.0]
    }

    /// The metrics in order.
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    /// The metric names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().map(|m| m.name.as_str())
    }

    /// Number of metric columns.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// Whether there is no metric column.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// A row of NaN values for this schema.
    pub fn empty_values(&self) -> Vec<f64> {
        vec![f64::NAN; self.metrics.len()]
    }
}

impl Record {
    /// The value of a metric column.
    pub fn get(&self, c: Column) -> f64 {
        self.values.get(c.0).copied().unwrap_or(f64::NAN)
    }

    /// Sets the value of a metric column.
    pub fn set(&mut self, c: Column, v: f64) {
        if let Some(x) = self.values.get_mut(c.0) {
            *x = v;
        }
    }
}

/// A table of records with a metric schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Records {
    /// The metric columns.
    pub schema: Schema,
    /// The rows.
    pub rows: Vec<Record>,
}

impl Records {
    /// An empty table with these metric columns.
    pub fn new(schema: Schema) -> Self {
        Records {
            schema,
            rows: Vec::new(),
        }
    }

    /// The column `name`, or an error listing the available ones.
    pub fn column(&self, name: &str) -> Result<Column, RecordError> {
        self.schema.column(name)
    }

    /// Whether the schema has the metric and some row has a finite value for it.
    pub fn has_values(&self, name: &str) -> bool {
        self.column(name)
            .is_ok_and(|c| self.rows.iter().any(|r| r.get(c).is_finite()))
    }

    /// Method names in order of first appearance.
    pub fn methods(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.rows {
            if !out.iter().any(|m| m == &r.method) {
                out.push(r.method.clone());
            }
        }
        out
    }

    /// The rows of each run (method, seed), each in logging order.
    pub fn runs(&self) -> Vec<((String, u64), Vec<&Record>)> {
        let mut out: Vec<((String, u64), Vec<&Record>)> = Vec::new();
        for r in &self.rows {
            match out
                .iter_mut()
                .find(|((m, s), _)| m == &r.method && *s == r.seed)
            {
                Some((_, rows)) => rows.push(r),
                None => out.push(((r.method.clone(), r.seed), vec![r])),
            }
        }
        out
    }

    /// Writes the CSV (header, then one line per record).
    pub fn write_csv(&self, mut w: impl Write) -> Result<(), RecordError> {
        let mut header: Vec<&str> = FIXED_COLUMNS.to_vec();
        header.extend(self.schema.names());
        writeln!(w, "{}", header.join(","))?;
        for r in &self.rows {
            write!(
                w,
                "{},{},{},{},{},{},{}",
                csv_field(&r.method),
                r.seed,
                r.iteration,
                Num(r.epoch),
                r.grad_evals,
                Num(r.time_s),
                Num(r.lr)
            )?;
            for v in &r.values {
                write!(w, ",{}", Num(*v))?;
            }
            writeln!(w)?;
        }
        Ok(())
    }

    /// Reads a CSV written by [`write_csv`](Records::write_csv).
    pub fn read_csv(r: impl BufRead) -> Result<Records, RecordError> {
        let mut lines = r.lines();
        let header = lines.next().ok_or(RecordError::Parse {
            line: 1,
            message: "empty file".into(),
        })??;
        let cols: Vec<&str> = header.split(',').collect();
        if cols.len() < FIXED_COLUMNS.len() || cols[..FIXED_COLUMNS.len()] != FIXED_COLUMNS {
            return Err(RecordError::Parse {
                line: 1,
                message: format!("header must start with {}", FIXED_COLUMNS.join(",")),
            });
        }
        let schema = Schema::new(
            cols[FIXED_COLUMNS.len()..]
                .iter()
                .map(|s| Metric::undeclared(*s))
                .collect(),
        )
        .map_err(|e| RecordError::Parse {
            line: 1,
            message: e.to_string(),
        })?;
        let mut out = Records::new(schema);
        for (k, line) in lines.enumerate() {
            let line = line?;
            let n = k + 2;
            let f = split_csv(&line);
            if f.len() != cols.len() {
                return Err(RecordError::Parse {
                    line: n,
                    message: format!("{} fields, header has {}", f.len(), cols.len()),
                });
            }
            let num = |i: usize| -> Result<f64, RecordError> {
                f[i].parse::<f64>().map_err(|_| RecordError::Parse {
                    line: n,
                    message: format!("`{}` in column {} is not a number", f[i], cols[i]),
                })
            };
            let int = |i: usize| -> Result<u64, RecordError> {
                f[i].parse::<u64>().map_err(|_| RecordError::Parse {
                    line: n,
                    message: format!("`{}` in column {} is not an integer", f[i], cols[i]),
                })
            };
            out.rows.push(Record {
                method: f[0].clone(),
                seed: int(1)?,
                iteration: int(2)?,
                epoch: num(3)?,
                grad_evals: int(4)?,
                time_s: num(5)?,
                lr: num(6)?,
                values: (FIXED_COLUMNS.len()..cols.len())
                    .map(num)
                    .collect::<Result<_, _>>()?,
            });
        }
        Ok(out)
    }

    /// Reads a CSV written by [`write_csv`](Records::write_csv) whose metric columns must be
    /// those of `schema` (in order); the records keep `schema`'s declarations.
    pub fn read_csv_as(r: impl BufRead, schema: &Schema) -> Result<Records, RecordError> {
        let mut out = Records::read_csv(r)?;
        let found: Vec<&str> = out.schema.names().collect();
        let expected: Vec<&str> = schema.names().collect();
        if found != expected {
            return Err(RecordError::Parse {
                line: 1,
                message: format!(
                    "metric columns {}, expected {}",
                    found.join(","),
                    expected.join(",")
                ),
            });
        }
        out.schema = schema.clone();
        Ok(out)
    }

    /// Per method (in order): the statistics over seeds of the last finite value of `metric`
    /// in each run, of the run's wall time and of its iteration count.
    pub fn summary(&self, metric: &str) -> Result<Vec<MethodSummary>, RecordError> {
        let c = self.column(metric)?;
        let runs = self.runs();
        Ok(self
            .methods()
            .into_iter()
            .map(|method| {
                let mine: Vec<&Vec<&Record>> = runs
                    .iter()
                    .filter(|((m, _), _)| m == &method)
                    .map(|(_, rows)| rows)
                    .collect();
                let last = |rows: &&Vec<&Record>| {
                    rows.iter()
                        .rev()
                        .map(|r| r.get(c))
                        .find(|v| v.is_finite())
                        .unwrap_or(f64::NAN)
                };
                MethodSummary {
                    runs: mine.len(),
                    last: Stats::of(mine.iter().map(last)),
                    time_s: Stats::of(mine.iter().filter_map(|r| r.last()).map(|r| r.time_s)),
                    iterations: Stats::of(
                        mine.iter()
                            .filter_map(|r| r.last())
                            .map(|r| r.iteration as f64),
                    ),
                    method,
                }
            })
            .collect())
    }

    /// The curve of `metric` for `method`: at each logged iteration, statistics over the seeds
    /// that logged it; x is the iteration or the mean of the chosen axis over those seeds.
    pub fn band(&self, method: &str, metric: &str, axis: XAxis) -> Result<Band, RecordError> {
        let c = self.column(metric)?;
        let mut at: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for r in self.rows.iter().filter(|r| r.method == method) {
            let e = at.entry(r.iteration).or_default();
            e.0.push(axis.of(r));
            e.1.push(r.get(c));
        }
        let points = at
            .into_values()
            .filter_map(|(xs, vs)| {
                let stats = Stats::of(vs)?;
                Some(BandPoint {
                    x: xs.iter().sum::<f64>() / xs.len() as f64,
                    stats,
                })
            })
            .collect();
        Ok(Band {
            label: method.to_string(),
            points,
            dashed: false,
        })
    }

    /// For every run: the first axis value at which `metric` reached `threshold`.
    pub fn time_to_target(
        &self,
        metric: &str,
        threshold: f64,
        direction: Direction,
        axis: XAxis,
    ) -> Result<Vec<TargetHit>, RecordError> {
        let c = self.column(metric)?;
        Ok(self
            .runs()
            .into_iter()
            .map(|((method, seed), rows)| {
                let at = rows
                    .iter()
                    .find(|r| match direction {
                        Direction::Below => r.get(c) <= threshold,
                        Direction::Above => r.get(c) >= threshold,
                    })
                    .map(|r| axis.of(r));
                TargetHit { method, seed, at }
            })
            .collect())
    }
}

/// Shortest round-trip form: plain for 1e-4 ≤ |v| < 1e15 (and 0), scientific otherwise
/// (`1.3e-7`), `NaN`/`inf` as Rust writes them.
struct Num(f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0.abs();
        if self.0 == 0.0 || !self.0.is_finite() || (1e-4..1e15).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(method: &str, seed: u64, it: u64, v: f64) -> Record {
        Record {
            method: method.into(),
            seed,
            iteration: it,
            epoch: it as f64 / 2.0,
            grad_evals: it * 5,
            time_s: it as f64 * 0.1,
            lr: 0.5,
            values: vec![v, f64::NAN],
        }
    }

    fn table() -> Records {
        let schema = Schema::new(vec![
            Metric::new("subopt", "f(x) − f*", Direction::Below),
            Metric::new("val_acc", "validation accuracy", Direction::Above),
        ])
        .unwrap();
        let mut r = Records::new(schema);
        for seed in 0..5 {
            for it in 0..4u64 {
                r.rows.push(rec(
                    "GD, α=1/L",
                    seed,
                    it,
                    (seed + 1) as f64 / 10f64.powi(it as i32),
                ));
            }
            r.rows.push(rec("SGD", seed, 0, 1.0));
        }
        r
    }

    #[test]
    fn csv_roundtrip_is_exact() {
        let r = table();
        let mut buf = Vec::new();
        r.write_csv(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.starts_with("method,seed,iteration,epoch,grad_evals,time_s,lr,subopt,val_acc\n")
        );
        assert!(text.contains("\"GD, α=1/L\",0,0,0,0,0,0.5,1,NaN"));
        let back = Records::read_csv(buf.as_slice()).unwrap();
        assert!(back.schema.names().eq(r.schema.names()));
        assert_eq!(
            back.schema.metrics()[0].direction,
            None,
            "undeclared in a CSV"
        );
        let typed = Records::read_csv_as(buf.as_slice(), &r.schema).unwrap();
        assert_eq!(typed.schema, r.schema);
        assert!(
            Records::read_csv_as(
                "method,seed,iteration,epoch,grad_evals,time_s,lr,x\n".as_bytes(),
                &r.schema
            )
            .is_err()
        );
        assert_eq!(back.rows.len(), r.rows.len());
        for (a, b) in back.rows.iter().zip(&r.rows) {
            assert_eq!(a.method, b.method);
            assert_eq!(a.values[0].to_bits(), b.values[0].to_bits());
            assert!(a.values[1].is_nan());
        }
        assert!(Records::read_csv("a,b\n".as_bytes()).is_err());
        assert_eq!(Num(1.25e-7).to_string(), "1.25e-7");
        assert_eq!(Num(0.5).to_string(), "0.5");
        assert_eq!("1.25e-7".parse::<f64>(), Ok(1.25e-7));
    }

    #[test]
    fn summary_band_and_targets() {
        let r = table();
        let s = r.summary("subopt").unwrap();
        assert_eq!(s[0].method, "GD, α=1/L");
        assert_eq!(s[0].runs, 5);
        let last = s[0].last.unwrap();
        assert!((last.mean - 0.003).abs() < 1e-15);
        assert!((last.q50 - 0.003).abs() < 1e-15);
        assert!((last.q10 - 0.0014).abs() < 1e-15 && (last.q90 - 0.0046).abs() < 1e-15);
        let b = r.band("GD, α=1/L", "subopt", XAxis::Epochs).unwrap();
        assert_eq!(b.points.len(), 4);
        assert_eq!(b.points[1].x, 0.5);
        assert!((b.points[1].stats.mean - 0.3).abs() < 1e-15);
        let hits = r
            .time_to_target("subopt", 0.025, Direction::Below, XAxis::Iterations)
            .unwrap();
        let gd: Vec<Option<f64>> = hits
            .iter()
            .filter(|h| h.method != "SGD")
            .map(|h| h.at)
            .collect();
        assert_eq!(
            gd,
            vec![Some(2.0), Some(2.0), Some(3.0), Some(3.0), Some(3.0)]
        );
        assert!(
            hits.iter()
                .filter(|h| h.method == "SGD")
                .all(|h| h.at.is_none())
        );
        let e = r.summary("loss").unwrap_err().to_string();
        assert!(e.contains("subopt, val_acc"), "{e}");
        assert!(!r.has_values("val_acc"));
        let c = r.column("val_acc").unwrap();
        assert_eq!(r.schema.metric(c).direction, Some(Direction::Above));
        assert!(Schema::new(vec![Metric::undeclared("a"), Metric::undeclared("a")]).is_err());
        assert!(Schema::new(vec![Metric::undeclared("epoch")]).is_err());
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert!((quantile(&[0.0, 10.0], 0.1) - 1.0).abs() < 1e-15);
        assert!(Stats::of([f64::NAN]).is_none());
    }
}
