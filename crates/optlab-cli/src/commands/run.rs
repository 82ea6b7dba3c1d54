//! `optlab run [EXPERIMENT.toml] [--set key=value]... [--out DIR] [--quiet]`: runs an
//! experiment (problem × methods × seeds) and writes `metrics.csv`, `summary.json`,
//! `convergence.png` and `convergence.svg` (plus `contours.png`/`.svg` for 2D problems) into
//! `runs/<name>/` or `--out`. Without a file it runs the built-in logistic regression experiment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optlab::Scalar;
use optlab::dist::Communicator;
use optlab::experiment::RunDir;
use optlab::problem::Problem;
use optlab::runner::{self, ExperimentSpec, Precision, RunSummary, spec::parse_set};

/// The built-in experiment (the lecture's logistic regression).
pub const DEFAULT_EXPERIMENT: &str = include_str!("default_experiment.toml");

/// Arguments of `optlab run`.
#[derive(clap::Args)]
pub struct Args {
    /// Experiment file (TOML, schema in docs/experiments.md); default: the built-in logistic
    /// regression experiment.
    pub experiment: Option<PathBuf>,
    /// Override a field by dotted path (repeatable), e.g. `--set seeds=3 --set methods.0.lr=0.1`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory (default: runs/<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar and no summary on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the experiment and writes its outputs. Across MPI ranks (`comm`), the (method, seed)
/// runs are spread over the ranks and rank 0 writes the outputs of all of them.
pub fn run(args: Args, comm: Arc<dyn Communicator>) -> anyhow::Result<()> {
    let (text, source) = match &args.experiment {
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read experiment file {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            DEFAULT_EXPERIMENT.to_string(),
            "built-in experiment".to_string(),
        ),
    };
    let overrides = args
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = ExperimentSpec::from_toml(&text, &overrides)
        .with_context(|| format!("invalid experiment ({source})"))?;
    match spec.precision {
        Precision::F64 => run_typed::<f64>(&spec, &args, comm.as_ref()),
        Precision::F32 => run_typed::<f32>(&spec, &args, comm.as_ref()),
    }
}

fn run_typed<T: Scalar>(
    spec: &ExperimentSpec,
    args: &Args,
    comm: &dyn Communicator,
) -> anyhow::Result<()> {
    let problem: Box<dyn Problem<T>> = spec
        .problem
        .build::<T>()
        .with_context(|| format!("cannot build problem `{}`", spec.problem.kind()))?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&spec.common.name));
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} runs, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(spec.common.name.clone());
    let started = Instant::now();
    // only rank 0 talks and writes
    let quiet = args.quiet || !comm.is_root();
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        // only runs longer than a second get a bar (on stderr; stdout stays clean)
        if !quiet && bar.is_hidden() && started.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    };
    let out = runner::run_across(spec, problem.as_ref(), &progress, comm)?;
    bar.finish_and_clear();
    if !comm.is_root() {
        return Ok(());
    }

    let mut dir = RunDir::create(&out_dir)?;
    let summary = runner::write_outputs(&mut dir, spec, problem.as_ref(), &out)?;
    for f in &out.failures {
        eprintln!(
            "warning: method `{}`, seed {}: stopped at step {}: {}",
            f.method, f.seed, f.step, f.message
        );
    }
    if !quiet {
        print_summary(spec, problem.as_ref(), &out, &summary, started.elapsed())?;
        for p in dir.written() {
            println!("wrote {}", p.display());
        }
    }
    if out.records.rows.is_empty() {
        bail!("no run produced a record (see the warnings above)");
    }
    Ok(())
}

fn print_summary<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    out: &runner::RunOutput,
    summary: &RunSummary,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let metric = summary.metric.as_str();
    let c = problem.constants();
    let show = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.6e}"));
    println!("{}", problem.describe());
    println!(
        "  f* = {}   L = {}   μ = {}   m = {}   dimension = {}",
        show(c.f_star),
        show(c.l_smooth),
        show(c.mu),
        problem.num_samples(),
        problem.dim()
    );
    println!(
        "{} methods × {} seeds in {:.2} s; final {metric} over seeds:",
        out.plans.len(),
        spec.seeds(),
        elapsed.as_secs_f64()
    );
    let width = out
        .plans
        .iter()
        .map(|p| p.label.chars().count())
        .max()
        .unwrap_or(6);
    println!(
        "  {:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}",
        "method", "iterations", "mean", "q10", "q90", "time/run s"
    );
    for s in out.records.summary(metric)? {
        let its = s.iterations.map_or(0.0, |x| x.mean);
        let (mean, q10, q90) = s
            .last
            .map_or((f64::NAN, f64::NAN, f64::NAN), |l| (l.mean, l.q10, l.q90));
        let t = s.time_s.map_or(f64::NAN, |t| t.mean);
        println!(
            "  {:<width$}  {:>10.0}  {:>10.3e}  {:>10.3e}  {:>10.3e}  {:>10.4}",
            s.method, its, mean, q10, q90, t
        );
    }
    for m in &summary.methods {
        if let Some(t) = &m.target {
            let cmp = match t.direction {
                optlab::record::Direction::Above => "≥",
                optlab::record::Direction::Below => "≤",
            };
            let median = t.step.map_or("—".to_string(), |s| format!("{:.0}", s.q50));
            println!(
                "  target {} {cmp} {}: `{}` reached it in {}/{} runs (median iteration {median})",
                t.metric, t.threshold, m.name, t.reached, t.runs
            );
        }
    }
    Ok(())
}
