//! `optlab run [EXPERIMENT.toml] [--set key=value]... [--out DIR] [--quiet]`: runs an
//! experiment (problem × methods × seeds) and writes `metrics.csv`, `summary.json`,
//! `convergence.png` and `convergence.svg` (plus `contours.png`/`.svg` for 2D problems) into
//! `runs/<name>/` or `--out`. Without a file it runs the built-in logistic regression experiment.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optlab::Scalar;
use optlab::plot::{self, ContourOptions, ConvergenceOptions};
use optlab::problem::Problem;
use optlab::runner::{self, ExperimentSpec, Precision, spec::parse_set};

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

/// Runs the experiment and writes its outputs.
pub fn run(args: Args) -> anyhow::Result<()> {
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
        Precision::F64 => run_typed::<f64>(&spec, &args),
        Precision::F32 => run_typed::<f32>(&spec, &args),
    }
}

fn run_typed<T: Scalar>(spec: &ExperimentSpec, args: &Args) -> anyhow::Result<()> {
    let problem: Box<dyn Problem<T>> = spec
        .problem
        .build::<T>()
        .with_context(|| format!("cannot build problem `{}`", spec.problem.kind()))?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&spec.name));
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} runs, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(spec.name.clone());
    let started = Instant::now();
    let quiet = args.quiet;
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        // only runs longer than a second get a bar (on stderr; stdout stays clean)
        if !quiet && bar.is_hidden() && started.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    };
    let out = runner::run(spec, problem.as_ref(), &progress)?;
    bar.finish_and_clear();

    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let csv = out_dir.join("metrics.csv");
    let f = File::create(&csv).with_context(|| format!("cannot write {}", csv.display()))?;
    out.records
        .write_csv(BufWriter::new(f))
        .with_context(|| format!("cannot write {}", csv.display()))?;

    let metric = match &spec.plot.metric {
        Some(m) => {
            out.records
                .metric_index(m)
                .context("invalid `plot.metric`")?;
            m.clone()
        }
        None if out.records.has_values("subopt") => "subopt".into(),
        None => "loss".into(),
    };
    let constants = problem.constants();
    let summary = runner::summary(
        spec,
        &problem.describe(),
        constants,
        problem.num_samples(),
        problem.dim(),
        &out,
        &metric,
    );
    let sj = out_dir.join("summary.json");
    std::fs::write(&sj, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("cannot write {}", sj.display()))?;

    let mut written = vec![csv, sj];
    let bands = plot::bands(&out.records, &metric, spec.plot.x_axis, spec.plot.averages)?;
    let title = spec
        .plot
        .title
        .clone()
        .unwrap_or_else(|| problem.describe());
    let opts = ConvergenceOptions {
        title: title.clone(),
        x_label: spec.plot.x_axis.label().into(),
        y_label: format!(
            "{}  (mean, 10–90% over {} seeds)",
            plot::metric_label(&metric),
            spec.seeds
        ),
        ..Default::default()
    };
    if bands.iter().any(|b| !b.points.is_empty()) {
        for ext in ["png", "svg"] {
            let p = out_dir.join(format!("convergence.{ext}"));
            plot::convergence_plot(&p, &bands, &opts)?;
            written.push(p);
        }
    }
    if problem.dim() == 2 && problem.num_samples() == 1 {
        let first_seed = spec.seed;
        let trajectories: Vec<(String, Vec<(f64, f64)>)> = out
            .trajectories
            .iter()
            .filter(|t| t.seed == first_seed)
            .map(|t| (t.method.clone(), t.points.clone()))
            .collect();
        let f = |x: f64, y: f64| problem.loss(&[T::of(x), T::of(y)]).as_f64();
        let optimum = constants
            .x_star
            .as_ref()
            .and_then(|x| Some((*x.first()?, *x.get(1)?)));
        let copts = ContourOptions {
            title: format!("{title} — seed {first_seed}"),
            optimum,
            ..Default::default()
        };
        for ext in ["png", "svg"] {
            let p = out_dir.join(format!("contours.{ext}"));
            plot::contour_plot(&p, &f, &trajectories, &copts)?;
            written.push(p);
        }
    }

    for f in &out.failures {
        eprintln!(
            "warning: method `{}`, seed {}: stopped at step {}: {}",
            f.method, f.seed, f.step, f.message
        );
    }
    if !quiet {
        print_summary(spec, problem.as_ref(), &out, &metric, started.elapsed())?;
        for p in &written {
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
    metric: &str,
    elapsed: Duration,
) -> anyhow::Result<()> {
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
        spec.seeds,
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
    Ok(())
}
