//! `optlab bench ...`: micro-benchmarks. Each kind of benchmark is a sub-subcommand.
//!
//! - `optlab bench optim`: optimizer steps on N parameters (see [`optlab::bench::optim`]).
//! - `optlab bench orthogonalize`: Newton–Schulz / Polar Express vs matmul and the SVD route
//!   (see [`optlab::bench::orthogonalize`]).
//! - `optlab bench problems`: gradient-descent iterations on dense and sparse logistic
//!   regression, and the lecture's SGD experiment (see [`optlab::bench::problems`]).

use std::time::Duration;

use anyhow::{Context, bail};
use optlab::NonFinitePolicy;
use optlab::bench::optim::{OptimBench, OptimBenchReport, run as run_optim};
use optlab::bench::orthogonalize::{self, OrthoBenchConfig};
use optlab::bench::problems::{self, Case};
use optlab::optim::registry::HyperMap;
use serde_json::Value;

use super::Precision;

/// Arguments of `optlab bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub kind: Kind,
}

/// What to benchmark.
#[derive(clap::Subcommand)]
pub enum Kind {
    /// Time optimizer steps on N parameters; the last line is `ms/step, Mparam/s, GB/s`.
    Optim(OptimArgs),
    /// Newton–Schulz (5 steps) and Polar Express (8 steps) on a ROWS × COLS f32 matrix, next to
    /// faer's matmul on the same product shapes and the thin-SVD polar factor.
    Orthogonalize(OrthogonalizeArgs),
    /// Time gradient-descent iterations on logistic regression with dense (20 000 × 100) or
    /// sparse (20 000 × 50 000, 50 non-zeros per row) data, or the lecture's whole experiment;
    /// the last line is JSON (docs/bench/problems.py compares it with numpy/scipy).
    Problems(ProblemsArgs),
}

/// Arguments of `optlab bench problems`.
#[derive(clap::Args)]
pub struct ProblemsArgs {
    /// dense, sparse or lecture.
    #[arg(long, value_enum)]
    case: CaseArg,
    /// Directory of the data files (written there when missing).
    #[arg(long, default_value = "runs/bench-data")]
    data: std::path::PathBuf,
    /// Timed repetitions (GD iterations; whole experiments for `lecture`).
    #[arg(long, default_value_t = 50)]
    reps: usize,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Only write the data files and exit.
    #[arg(long)]
    write_only: bool,
}

/// [`Case`] on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CaseArg {
    /// Dense logistic regression, 20 000 × 100.
    Dense,
    /// Sparse logistic regression, 20 000 × 50 000.
    Sparse,
    /// The lecture's experiment (10 seeds × 4 methods × 10⁴ iterations).
    Lecture,
}

/// Arguments of `optlab bench optim`.
#[derive(clap::Args)]
pub struct OptimArgs {
    /// Optimizer name or alias (`optlab list`), e.g. AdamW, momentum, Adagrad.
    #[arg(long)]
    pub optimizer: String,
    /// Number of parameters N (one tensor).
    #[arg(long)]
    pub params: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps (at least 1: the first step allocates the state).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Precision of parameters, gradients and state.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Hyperparameters as a JSON object with PyTorch's names, e.g. '{"lr": 1e-3}'.
    #[arg(long, default_value = "{}")]
    pub hyper: String,
    /// Non-finite gradient policy: error (default; screens g first), skip, or ignore (no screen).
    #[arg(long, value_enum, default_value_t = Policy::Error)]
    pub nonfinite: Policy,
}

/// Arguments of `optlab bench orthogonalize`.
#[derive(clap::Args)]
pub struct OrthogonalizeArgs {
    /// Rows of the matrix.
    #[arg(long, default_value_t = 1024)]
    rows: usize,
    /// Columns of the matrix.
    #[arg(long, default_value_t = 1024)]
    cols: usize,
    /// Seconds spent timing each entry (at least 3 repetitions each).
    #[arg(long, default_value_t = 2.0)]
    min_time: f64,
    /// Threads for the parallel products (0: all cores, or RAYON_NUM_THREADS).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// [`NonFinitePolicy`] on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Policy {
    /// Refuse a step with a non-finite gradient.
    Error,
    /// Skip such a step.
    Skip,
    /// Do not check.
    Ignore,
}

impl From<Policy> for NonFinitePolicy {
    fn from(p: Policy) -> Self {
        match p {
            Policy::Error => NonFinitePolicy::Error,
            Policy::Skip => NonFinitePolicy::Skip,
            Policy::Ignore => NonFinitePolicy::Ignore,
        }
    }
}

/// Runs `optlab bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.kind {
        Kind::Optim(a) => optim(a),
        Kind::Orthogonalize(a) => run_orthogonalize(a),
        Kind::Problems(a) => run_problems(a),
    }
}

fn run_problems(a: ProblemsArgs) -> anyhow::Result<()> {
    if a.write_only {
        let (d, s) = problems::write_data(&a.data)?;
        println!("wrote {} and {}", d.display(), s.display());
        return Ok(());
    }
    if a.reps == 0 {
        bail!("--reps must be ≥ 1");
    }
    let case = match a.case {
        CaseArg::Dense => Case::Dense,
        CaseArg::Sparse => Case::Sparse,
        CaseArg::Lecture => Case::Lecture,
    };
    let r = problems::run(case, &a.data, a.warmup, a.reps).context("problem benchmark")?;
    println!("{}", r.problem);
    println!(
        "setup (read, L, f*) {:.2} s; {} threads; peak RSS {}",
        r.setup_s,
        r.threads,
        r.peak_rss_mb
            .map_or_else(|| "unknown".to_string(), |m| format!("{m:.0} MB"))
    );
    let unit = if case == Case::Lecture {
        "experiment"
    } else {
        "GD iteration"
    };
    println!(
        "{} timed: median {:.4} ms per {unit} (min {:.4})",
        r.reps,
        r.median_s * 1e3,
        r.min_s * 1e3
    );
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}

fn optim(a: OptimArgs) -> anyhow::Result<()> {
    if a.params == 0 {
        bail!("--params must be ≥ 1");
    }
    if a.steps == 0 {
        bail!("--steps must be ≥ 1");
    }
    let hyper: HyperMap = match serde_json::from_str::<Value>(&a.hyper)
        .with_context(|| format!("--hyper is not JSON: {}", a.hyper))?
    {
        Value::Object(m) => m,
        other => bail!("--hyper must be a JSON object, got {other}"),
    };
    let b = OptimBench {
        optimizer: a.optimizer,
        hyper,
        params: a.params,
        steps: a.steps,
        warmup: a.warmup,
        policy: a.nonfinite.into(),
    };
    let r: OptimBenchReport = match a.precision {
        Precision::F32 => run_optim::<f32>(&b)?,
        Precision::F64 => run_optim::<f64>(&b)?,
    };
    println!(
        "{} {}: N = {} parameters, {} state values per parameter, {} threads, non-finite policy {:?}",
        r.optimizer, r.precision, r.params, r.state_per_param, r.threads, r.policy
    );
    println!(
        "{} warm-up + {} timed steps; bytes per step {:.1} MB = N·{}·(3 + 2·{}) (x, g, state read; x, state written)",
        b.warmup.max(1),
        r.steps,
        r.bytes_per_step / 1e6,
        r.element_bytes,
        r.state_per_param
    );
    println!(
        "median {:.3} ms/step (min {:.3}), {:.1} Mparam/s, {:.2} GB/s",
        r.ms_per_step(),
        r.min_s * 1e3,
        r.mparams_per_s(),
        r.gb_per_s()
    );
    Ok(())
}

fn run_orthogonalize(a: OrthogonalizeArgs) -> anyhow::Result<()> {
    if a.rows == 0 || a.cols == 0 {
        bail!(
            "--rows and --cols must be ≥ 1 (got {} × {})",
            a.rows,
            a.cols
        );
    }
    if !(a.min_time.is_finite() && a.min_time >= 0.0) {
        bail!(
            "--min-time must be a finite number of seconds ≥ 0 (got {})",
            a.min_time
        );
    }
    let report = orthogonalize::run(&OrthoBenchConfig {
        rows: a.rows,
        cols: a.cols,
        min_time: Duration::from_secs_f64(a.min_time),
        threads: a.threads,
    })
    .context("orthogonalization benchmark")?;
    println!(
        "orthogonalize {} × {} f32, {} rayon threads (nominal flops: 2mkn per product, \
         4r²c + 2r³ per step, r = min, c = max)",
        report.rows, report.cols, report.threads
    );
    println!(
        "{:<32} {:>12} {:>12} {:>6} {:>10}",
        "entry", "median ms", "best ms", "reps", "GFLOP/s"
    );
    for e in &report.entries {
        let gf = e
            .gflops()
            .map_or_else(|| "-".to_string(), |g| format!("{g:.1}"));
        println!(
            "{:<32} {:>12.3} {:>12.3} {:>6} {:>10}",
            e.name,
            e.timing.median() * 1e3,
            e.timing.min() * 1e3,
            e.timing.len(),
            gf
        );
    }
    if let (Some(frac), Some(speedup)) =
        (report.ns_fraction_of_matmul(), report.ns_speedup_over_svd())
    {
        println!(
            "newton_schulz5: {:.0}% of the matmul rate (nominal), {speedup:.1}× faster than the SVD polar factor",
            frac * 100.0
        );
    }
    Ok(())
}
