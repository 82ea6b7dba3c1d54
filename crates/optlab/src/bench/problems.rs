//! Finite-sum problem benchmarks (`optlab bench problems`): the time of one gradient-descent
//! iteration (full gradient + update) on logistic regression with data at LIBSVM-benchmark
//! scale, and the lecture's whole SGD experiment.
//!
//! - **dense**: m = 20 000 samples, n = 100 features (the synthetic generator of
//!   [`logistic::synthetic`], seed 1), read from a CSV file — held dense;
//! - **sparse**: m = 20 000, n = 50 000, 50 non-zeros per row ([`logistic::synthetic_sparse`],
//!   seed 42), read from a LIBSVM file — held as sparse rows;
//! - **lecture**: the experiment of `../shared/bench/numpy_logreg_notebook.py` — m = 200,
//!   n = 10, μ = 1; GD (α = 1/L), SGD (α = 0.05), SGD (α_k = (2k+1)/(2μ(k+1)²)), mini-batch 10
//!   (α = 0.05), 10 seeds × 10⁴ iterations, a record every 10 iterations — run by the runner
//!   ([`LECTURE_EXPERIMENT`]); timed like the notebook, after the problem and L are set up.
//!
//! The data files are written by [`write_data`] so that numpy/scipy can time the same data
//! (`docs/bench/problems.py` runs both, interleaved). The problem build (file parsing, L, f*)
//! is reported separately as setup time; the peak resident memory is the process's (Linux
//! `VmHWM`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{Timings, measure};
use crate::problem::logistic::{self, LogisticSpec};
use crate::problem::{Problem, ProblemError, Reference, libsvm};
use crate::runner::{self, ExperimentSpec, RunError};

/// The notebook's experiment as an optlab experiment (problem: optlab's own generator).
pub const LECTURE_EXPERIMENT: &str = r#"
name = "lecture-notebook"
seeds = 10
iterations = 10000
log_every = 10

[problem]
kind = "logistic"
m = 200
n = 10
mu = 1.0

[[methods]]
name = "GD, α = 1/L"
optimizer = "SGD"
lr = "1/L"

[[methods]]
name = "SGD, α = 0.05"
optimizer = "SGD"
lr = 0.05
batch_size = 1

[[methods]]
name = "SGD, α_k = (2k+1)/(2μ(k+1)²)"
optimizer = "SGD"
batch_size = 1
schedule = { kind = "StronglyConvex", mu = "mu" }

[[methods]]
name = "mini-batch 10, α = 0.05"
optimizer = "SGD"
lr = 0.05
batch_size = 10
"#;

/// Which benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// Dense 20 000 × 100 logistic regression, GD iterations.
    Dense,
    /// Sparse 20 000 × 50 000 logistic regression, GD iterations.
    Sparse,
    /// The lecture's experiment, whole runs.
    Lecture,
}

/// File names and shapes of the benchmark data.
pub const DENSE_FILE: &str = "dense_20000x100.csv";
/// See [`DENSE_FILE`].
pub const SPARSE_FILE: &str = "sparse_20000x50000.svm";
const DENSE_SHAPE: (usize, usize, u64) = (20_000, 100, 1);
const SPARSE_SHAPE: (usize, usize, usize, u64) = (20_000, 50_000, 50, 42);
/// ℓ2 coefficient of the dense and sparse problems (μ = 1/m, LIBSVM's C = 1).
pub const MU: f64 = 5e-5;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Writing the data files.
    #[error("cannot write {file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// The system's message.
        message: String,
    },
    /// Building the problem.
    #[error(transparent)]
    Problem(#[from] ProblemError),
    /// The lecture experiment.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Writes the dense CSV (header `x0,…,x99,y`, labels ±1) and the sparse LIBSVM file into `dir`
/// unless they exist; returns their paths.
pub fn write_data(dir: &Path) -> Result<(PathBuf, PathBuf), BenchError> {
    let io = |file: &Path, e: std::io::Error| BenchError::Io {
        file: file.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let dense = dir.join(DENSE_FILE);
    if !dense.is_file() {
        let (m, n, seed) = DENSE_SHAPE;
        let (a, y) = logistic::synthetic(m, n, seed);
        let tmp = dense.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut out = BufWriter::new(f);
        let write = |out: &mut BufWriter<std::fs::File>| -> std::io::Result<()> {
            let header: Vec<String> = (0..n).map(|j| format!("x{j}")).collect();
            writeln!(out, "{},y", header.join(","))?;
            for i in 0..m {
                for v in &a[i * n..(i + 1) * n] {
                    write!(out, "{v},")?;
                }
                writeln!(out, "{}", y[i])?;
            }
            out.flush()
        };
        write(&mut out).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &dense).map_err(|e| io(&dense, e))?;
    }
    let sparse = dir.join(SPARSE_FILE);
    if !sparse.is_file() {
        let (m, n, nnz, seed) = SPARSE_SHAPE;
        let (ptr, idx, val, y) = logistic::synthetic_sparse(m, n, nnz, seed);
        let tmp = sparse.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut out = BufWriter::new(f);
        libsvm::write(&mut out, &ptr, &idx, &val, &y)
            .and_then(|_| out.flush())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &sparse).map_err(|e| io(&sparse, e))?;
    }
    Ok((dense, sparse))
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct ProblemBenchReport {
    /// Which benchmark.
    pub case: Case,
    /// The problem's description.
    pub problem: String,
    /// Samples, features, stored values.
    pub m: usize,
    /// Features.
    pub n: usize,
    /// Stored values of the data matrix.
    pub nnz: usize,
    /// Rayon threads.
    pub threads: usize,
    /// Seconds to build the problem (read the file, L, f*).
    pub setup_s: f64,
    /// Timed repetitions (GD iterations, or whole lecture experiments).
    pub reps: usize,
    /// Median seconds per repetition.
    pub median_s: f64,
    /// Fastest repetition, seconds.
    pub min_s: f64,
    /// Peak resident memory of the process, MB (None off Linux).
    pub peak_rss_mb: Option<f64>,
    /// f* of the problem and how it was certified.
    pub f_star: Option<f64>,
    /// See [`Reference`].
    pub reference: Option<Reference>,
    /// Lecture: records written per experiment.
    pub records: Option<usize>,
}

/// Peak resident set size of this process in MB (Linux `VmHWM`; `None` elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs one benchmark: `warmup` untimed and `reps` timed repetitions, data in `dir` (written
/// there first when missing).
pub fn run(
    case: Case,
    dir: &Path,
    warmup: usize,
    reps: usize,
) -> Result<ProblemBenchReport, BenchError> {
    let start = Instant::now();
    let (problem, spec, nnz) = match case {
        Case::Lecture => {
            let spec = ExperimentSpec::from_toml(LECTURE_EXPERIMENT, &[])?;
            let p = spec.problem.build::<f64>()?;
            let nnz = p.num_samples() * p.dim();
            (p, Some(spec), nnz)
        }
        Case::Dense | Case::Sparse => {
            let (dense, sparse) = write_data(dir)?;
            let file = if case == Case::Dense { dense } else { sparse };
            let p = LogisticSpec {
                data: Some(file.display().to_string()),
                mu: MU,
                ..Default::default()
            }
            .build::<f64>()?;
            let nnz = p.design().nnz();
            (Box::new(p) as Box<dyn Problem<f64>>, None, nnz)
        }
    };
    let setup_s = start.elapsed().as_secs_f64();
    let (timings, records): (Timings, Option<usize>) = match &spec {
        Some(spec) => {
            let mut rows = 0;
            let t = measure(warmup, reps, |_| -> Result<(), RunError> {
                let out = runner::run(spec, problem.as_ref(), &|_, _| {})?;
                rows = out.records.rows.len();
                Ok(())
            })?;
            (t, Some(rows))
        }
        None => {
            let n = problem.dim();
            let alpha = 1.0 / problem.constants().l_smooth.unwrap_or(1.0);
            let mut x = vec![0.0; n];
            let mut g = vec![0.0; n];
            let t = measure(warmup, reps, |_| -> Result<(), BenchError> {
                problem.grad(&x, &mut g);
                x.iter_mut().zip(&g).for_each(|(x, g)| *x -= alpha * g);
                Ok(())
            })?;
            (t, None)
        }
    };
    let c = problem.constants();
    Ok(ProblemBenchReport {
        case,
        problem: problem.describe(),
        m: problem.num_samples(),
        n: problem.dim(),
        nnz,
        threads: rayon::current_num_threads(),
        setup_s,
        reps: timings.len(),
        median_s: timings.median(),
        min_s: timings.min(),
        peak_rss_mb: peak_rss_mb(),
        f_star: c.f_star,
        reference: c.reference.clone(),
        records,
    })
}
