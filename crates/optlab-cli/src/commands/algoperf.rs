//! `optlab algoperf`: AlgoPerf-style benchmarking (library: `optlab::algoperf`).
//!
//! - `score DIR [--workloads FILE] [--out OUT] [--time-column COL]`: AlgoPerf v0.6 scores of
//!   the logs under DIR (optlab's or AlgoPerf's own), with tables, plots and an HTML page;
//! - `status DIR`: what is finished, started or pending in a results directory;
//! - `plan SUBMISSION... --workloads W,... [--studies S --trials T --seed N] [--shard i/n]
//!   [--out DIR]`: the deterministic trial list (or this shard's part of it);
//! - `check SUBMISSION... [--trials N]`: validates submission files and prints their points;
//! - `workloads`: the registered workloads, their budgets and targets;
//! - `run SUBMISSION... [--workloads W,...] [--studies S --trials T] [--shard i/n] --out DIR`
//!   (or `--quick`): trains the trials, logs them in AlgoPerf's layout, scores when complete;
//! - `targets --workloads W,... [--baselines ...] [--trials N --reruns R]`: AlgoPerf's target
//!   procedure, writing a `workloads.json`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use optlab::dist::Communicator;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optlab::algoperf::finite_sum::FiniteSum;
use optlab::algoperf::registry::{Registry, Workload};
use optlab::algoperf::report::score_results;
use optlab::algoperf::results::ResultsDir;
use optlab::algoperf::scoring::DEFAULT_TIME_COLUMN;
use optlab::algoperf::search::Point;
use optlab::algoperf::speedrun::{self, SpeedrunPlan};
use optlab::algoperf::study::{DEFAULT_STUDIES, DEFAULT_TRIALS, Plan, Shard};
use optlab::algoperf::submission::{BUILTIN, Submission, Tuning};
use optlab::algoperf::targets::{
    DERIVATION_FILE, TargetsPlan, derive, describe, merge_derivations,
};
use optlab::algoperf::trial::{Cadence, TrialEvent, WallClock, run_trials};
use optlab::algoperf::workloads::{WORKLOADS_FILE, WorkloadsFile};

/// Arguments of `optlab algoperf`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Score AlgoPerf-layout logs (DIR/<submission>/study_<k>/<workload>_<framework>/trial_<j>/).
    Score(ScoreArgs),
    /// Show what is finished, started (running or interrupted) and pending in a results directory.
    Status(StatusArgs),
    /// List the trials of a benchmark (or of one shard), optionally writing DIR/plan.json.
    Plan(PlanArgs),
    /// Validate submission files and print the hyperparameters of their first trials.
    Check(CheckArgs),
    /// List the workloads: metric, goal, target, step hint, budget, cadence.
    Workloads,
    /// Train the trials of a benchmark (or of one shard) and log them in AlgoPerf's layout.
    Run(RunArgs),
    /// Derive workload targets: tune baselines, rerun the best, median of best validation metrics.
    Targets(TargetsArgs),
    /// Speedrun comparison: fixed hyperparameters × seeds, steps/time to target, Welch's t-test.
    Speedrun(SpeedrunArgs),
}

#[derive(clap::Args)]
struct SpeedrunArgs {
    /// Submissions (files or built-in names); the first two are tested against each other.
    #[arg(default_values_t = ["muon_adamw".to_string(), "adamw".to_string()])]
    submissions: Vec<String>,
    /// The workload.
    #[arg(long, default_value = "shakespeare-gpt")]
    workload: String,
    /// Seeds per submission.
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// Seed of the training seeds.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Take each submission's hyperparameters from the fastest trial on the workload in these
    /// scored results (an `optlab algoperf score` output's scores.json); default: the
    /// submission's first point.
    #[arg(long, value_name = "SCORES_JSON")]
    from: Option<PathBuf>,
    /// Targets file (default: the built-in one).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Output directory (logs, speedrun.json, plots, index.html).
    #[arg(long, value_name = "DIR", default_value = "algoperf_speedrun")]
    out: PathBuf,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Submission files or built-in names (nadamw, adamw, sgd_nesterov, muon_adamw, shampoo,
    /// schedule_free_adamw).
    submissions: Vec<String>,
    /// Workloads, comma-separated (default: every workload with a target).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Studies per workload.
    #[arg(long, default_value_t = DEFAULT_STUDIES)]
    studies: u32,
    /// Trials per study.
    #[arg(long, default_value_t = DEFAULT_TRIALS)]
    trials: u32,
    /// Seed of the search's point order and of the training seeds.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// AlgoPerf's tuning ruleset: `external` (studies × trials of the search space) or
    /// `self` (self-tuning: one trial per study, at the submission's first point, 3× the budget).
    #[arg(long, default_value = "external", value_parser = ["external", "self"])]
    ruleset: String,
    /// Only this shard's trials: `i/n` (default: from SLURM_ARRAY_TASK_ID/COUNT, else all).
    #[arg(long, value_name = "i/n")]
    shard: Option<String>,
    /// Targets file (default: the committed algoperf/workloads.json, built in).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Results directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The tiny built-in suite: logreg and digits-mlp × adamw and sgd_nesterov × 1 study × 2
    /// trials (default --out algoperf_quick).
    #[arg(long, conflicts_with_all = ["submissions", "workloads", "studies", "trials", "ruleset"])]
    quick: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct TargetsArgs {
    /// Workloads, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    workloads: Vec<String>,
    /// Baseline submissions.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "nadamw,adamw,sgd_nesterov"
    )]
    baselines: Vec<String>,
    /// Tuning trials per baseline.
    #[arg(long, default_value_t = DEFAULT_TRIALS)]
    trials: u32,
    /// Reruns of the best configuration.
    #[arg(long, default_value_t = 3)]
    reruns: u32,
    /// Seed of the search and the training seeds.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Where the tuning and rerun logs go.
    #[arg(long, value_name = "DIR", default_value = "algoperf_targets")]
    logs: PathBuf,
    /// The targets file to update (other workloads are kept; default: a copy of the built-in
    /// targets written to DIR/workloads.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct ScoreArgs {
    /// The logs: one directory per submission.
    dir: PathBuf,
    /// Targets file (default DIR/workloads.json).
    #[arg(long, value_name = "FILE")]
    workloads: Option<PathBuf>,
    /// Output directory.
    #[arg(long, value_name = "OUT", default_value = "algoperf_scores")]
    out: PathBuf,
    /// Time column to score by (`score` = accumulated_submission_time; `global_step`: steps).
    #[arg(long, value_name = "COLUMN", default_value = DEFAULT_TIME_COLUMN)]
    time_column: String,
    /// No table on stdout.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct StatusArgs {
    /// The results directory.
    dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Submission files, or built-in submission names (nadamw, adamw, sgd_nesterov, muon_adamw,
    /// shampoo).
    #[arg(required = true)]
    submissions: Vec<String>,
    /// Workloads, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    workloads: Vec<String>,
    /// Studies per workload.
    #[arg(long, default_value_t = DEFAULT_STUDIES)]
    studies: u32,
    /// Trials per study.
    #[arg(long, default_value_t = DEFAULT_TRIALS)]
    trials: u32,
    /// Seed of the search's point order and of the training seeds.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Only this shard's trials: `i/n` with 0 ≤ i < n (default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT when set, else everything).
    #[arg(long, value_name = "i/n")]
    shard: Option<String>,
    /// Write DIR/plan.json (and the submission files) into this results directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the trials as JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Submission files or built-in names (none: every built-in submission).
    submissions: Vec<String>,
    /// Points to print.
    #[arg(long, default_value_t = DEFAULT_TRIALS)]
    trials: u32,
    /// Seed of the search's point order.
    #[arg(long, default_value_t = 0)]
    seed: u32,
}

/// Runs `optlab algoperf ...`; across MPI ranks (`comm`) only `run`, whose trials the ranks
/// share as `--shard rank/size` would.
pub fn run(args: Args, comm: Arc<dyn Communicator>) -> anyhow::Result<()> {
    if comm.size() > 1 && !matches!(args.command, Cmd::Run(_)) {
        bail!(
            "of the algoperf commands, only `run` runs across MPI ranks: launch it as one process"
        );
    }
    match args.command {
        Cmd::Score(a) => score(a),
        Cmd::Status(a) => status(a),
        Cmd::Plan(a) => plan(a),
        Cmd::Check(a) => check(a),
        Cmd::Workloads => workloads(),
        Cmd::Run(a) => run_benchmark(a, comm.as_ref()),
        Cmd::Targets(a) => targets(a),
        Cmd::Speedrun(a) => speedrun(a),
    }
}

/// The hyperparameters of `submission`'s fastest trial on `workload` in a scores.json.
fn fastest_point(scores: &serde_json::Value, submission: &str, workload: &str) -> Option<Point> {
    let studies = scores.get("studies")?.get(submission)?.get(workload)?;
    let best = studies
        .as_array()?
        .iter()
        .filter_map(|s| {
            let t = s.get("time")?.as_f64()?;
            Some((t, s.get("hparams")?))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))?;
    serde_json::from_value(best.1.clone()).ok()
}

fn speedrun(a: SpeedrunArgs) -> anyhow::Result<()> {
    let mut reg = registry()?;
    if let Some(f) = &a.targets {
        reg.set_targets(WorkloadsFile::read(f)?);
    }
    let scores: Option<serde_json::Value> = match &a.from {
        Some(f) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
            )
            .with_context(|| format!("{}: not JSON", f.display()))?,
        ),
        None => None,
    };
    let mut entries = Vec::new();
    for n in &a.submissions {
        let s = Submission::load(n)?;
        let p = match &scores {
            Some(sc) => fastest_point(sc, &s.name, &a.workload).with_context(|| {
                format!(
                    "{}: no trial of `{}` on `{}` reached the target (studies.{}.{}[].hparams)",
                    a.from
                        .as_deref()
                        .unwrap_or(std::path::Path::new(""))
                        .display(),
                    s.name,
                    a.workload,
                    s.name,
                    a.workload
                )
            })?,
            None => s.points(1, a.seed)?.into_iter().next().unwrap_or_default(),
        };
        entries.push((s, p));
    }
    let plan = SpeedrunPlan {
        workload: a.workload.clone(),
        entries,
        seeds: a.seeds,
        seed: a.seed,
    };
    let bars = Bars::new(plan.entries.len() * plan.seeds as usize, a.quiet);
    let started = std::time::Instant::now();
    let report = speedrun::run(
        &mut reg,
        &plan,
        &a.out.join("logs"),
        &WallClock::default(),
        &mut |e| bars.event(e),
    )?;
    bars.bar.finish_and_clear();
    let files = report.write(&a.out)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.verdict)?;
    writeln!(
        out,
        "wrote {} files to {} in {:.1} s (open {})",
        files.len(),
        a.out.display(),
        started.elapsed().as_secs_f64(),
        a.out.join("index.html").display()
    )?;
    Ok(())
}

/// Every workload of this build: the lab's finite-sum ones and (feature `nn`) the networks.
fn registry() -> anyhow::Result<Registry> {
    let finite: Vec<Box<dyn Workload>> = vec![
        Box::new(FiniteSum::logreg(None)?),
        Box::new(FiniteSum::heavy_tail_softmax()?),
    ];
    let r = Registry::new()?.with(finite);
    #[cfg(feature = "nn")]
    let r = r.with(optlab_nn::algoperf::workloads()?);
    Ok(r)
}

fn workloads() -> anyhow::Result<()> {
    let r = registry()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<18}  {:<25}  {:>10}  {:>9}  {:>15}  {:>8}  description",
        "workload", "metric", "target", "step hint", "budget", "eval"
    )?;
    for w in r.workloads() {
        let s = w.spec();
        let target = r
            .targets()
            .workloads
            .get(&s.name)
            .map_or("none".to_string(), |t| format!("{:.4}", t.target));
        let budget = format!(
            "{} st / {} s",
            s.budget.max_steps.map_or("-".into(), |v| v.to_string()),
            s.budget.max_seconds.map_or("-".into(), |v| v.to_string())
        );
        let eval = match s.cadence {
            Cadence::Steps(n) => format!("{n} st"),
            Cadence::Seconds(x) => format!("{x} s"),
        };
        writeln!(
            out,
            "{:<18}  {:<25}  {:>10}  {:>9}  {:>15}  {:>8}  {}",
            s.name,
            format!("{} ({})", s.metric, if s.minimize { "min" } else { "max" }),
            target,
            s.step_hint,
            budget,
            eval,
            s.description
        )?;
    }
    if let Some(doc) = &r.targets().doc {
        writeln!(out, "targets: {doc}")?;
    }
    Ok(())
}

/// Progress bars over trials (done/total) with the current trial's last evaluation.
struct Bars {
    bar: ProgressBar,
}

impl Bars {
    fn new(total: usize, quiet: bool) -> Bars {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} trials, {elapsed}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bars { bar }
    }

    fn event(&self, e: &TrialEvent<'_>) {
        match e {
            TrialEvent::Skipped(_) => self.bar.inc(1),
            TrialEvent::Started { trial, restarted } => self.bar.set_message(format!(
                "{}{}",
                trial.label(),
                if *restarted { " (restarted)" } else { "" }
            )),
            TrialEvent::Evaluated {
                trial,
                evals,
                global_step,
                value,
            } => self.bar.set_message(format!(
                "{}: eval {evals} at step {global_step}: {value:.4}",
                trial.label()
            )),
            TrialEvent::Finished { .. } => self.bar.inc(1),
        }
    }
}

fn run_benchmark(a: RunArgs, comm: &dyn Communicator) -> anyhow::Result<()> {
    let mut reg = registry()?;
    if let Some(f) = &a.targets {
        reg.set_targets(WorkloadsFile::read(f)?);
    }
    let (names, workloads, studies, trials) = if a.quick {
        (
            vec!["adamw".to_string(), "sgd_nesterov".to_string()],
            vec!["logreg".to_string(), "digits-mlp".to_string()],
            1,
            2,
        )
    } else {
        if a.submissions.is_empty() {
            bail!(
                "name at least one submission (file or built-in: {}), or use --quick",
                builtin_names()
            );
        }
        let workloads = if a.workloads.is_empty() {
            reg.workloads()
                .map(|w| w.spec().name.clone())
                .filter(|n| reg.targets().workloads.contains_key(n))
                .collect()
        } else {
            a.workloads.clone()
        };
        (a.submissions.clone(), workloads, a.studies, a.trials)
    };
    for w in &workloads {
        reg.target(w)?;
    }
    let self_tuning = a.ruleset == "self";
    let mut submissions = load_all(&names)?;
    let trials = if self_tuning {
        reg.scale_budgets(3.0);
        for s in &mut submissions {
            s.tuning = Tuning::Points(s.points(1, a.seed)?);
        }
        1
    } else {
        trials
    };
    let out = match (&a.out, a.quick) {
        (Some(d), _) => d.clone(),
        (None, true) => PathBuf::from("algoperf_quick"),
        (None, false) => bail!("--out DIR is required (the results directory)"),
    };
    let plan = Plan {
        submissions,
        workloads: workloads.clone(),
        studies,
        trials,
        seed: a.seed,
    };
    let all = plan.trials()?;
    let (root, ranks) = (comm.is_root(), comm.size());
    let shard = if ranks > 1 {
        if a.shard.is_some() {
            bail!("--shard and MPI ranks both split the trials: use one (the ranks are shards)");
        }
        // the ranks are the shards: trial t on rank t mod R
        Shard::new(comm.rank(), ranks)?
    } else {
        shard_arg(a.shard.as_deref())?
    };
    // rank 0 writes the plan; the others start once it is there
    if root {
        let results = ResultsDir::create(&out)?;
        results.write_plan_of(&plan, &all)?;
        reg.targets_file(&workloads)?
            .write(&out.join(WORKLOADS_FILE))?;
    }
    comm.barrier();
    let results = ResultsDir::create(&out)?;
    let mine = shard.select(&all);
    let bars = Bars::new(mine.len(), a.quiet || !root);
    let started = std::time::Instant::now();
    let report = run_trials(
        &results,
        &plan.submissions,
        &mine,
        &mut reg,
        &WallClock::default(),
        &mut |e| bars.event(e),
    )?;
    bars.bar.finish_and_clear();
    let mut stdout = std::io::stdout().lock();
    if ranks > 1 {
        // every rank's trials are logged before rank 0 looks at the status
        comm.barrier();
        if !root {
            return Ok(());
        }
    }
    writeln!(
        stdout,
        "shard {shard}: {} trial(s) run ({} reached the target, {} restarted), {} already finished, in {:.1} s",
        report.ran.len(),
        report.ran.iter().filter(|(_, d)| d.reached_target).count(),
        report.restarted.len(),
        report.skipped.len(),
        started.elapsed().as_secs_f64()
    )?;
    let status = results.status()?;
    let pending: usize = status.rows.iter().map(|r| r.pending() + r.started).sum();
    if pending > 0 {
        writeln!(
            stdout,
            "{pending} trial(s) of the plan not finished (other shards): `optlab algoperf status {}`, then `optlab algoperf score {}`",
            out.display(),
            out.display()
        )?;
        return Ok(());
    }
    let scores = out.join("scores");
    let sr = score_results(&out, None, DEFAULT_TIME_COLUMN)?;
    sr.write(&scores)
        .with_context(|| format!("writing {}", scores.display()))?;
    if !a.quiet {
        for v in sr.all_views() {
            writeln!(stdout, "{}", optlab::algoperf::report::markdown_table(v))?;
        }
    }
    writeln!(
        stdout,
        "scores: {} (open {})",
        scores.join("scores.json").display(),
        scores.join("index.html").display()
    )?;
    Ok(())
}

/// `--shard i/n`, else the Slurm array variables, else everything.
fn shard_arg(arg: Option<&str>) -> anyhow::Result<Shard> {
    Ok(match arg {
        Some(s) => s.parse::<Shard>()?,
        None => Shard::from_env()?.unwrap_or_default(),
    })
}

fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn targets(a: TargetsArgs) -> anyhow::Result<()> {
    let mut reg = registry()?;
    let base = match &a.out {
        Some(f) if f.exists() => WorkloadsFile::read(f)?,
        _ => reg.targets().clone(),
    };
    let plan = TargetsPlan {
        baselines: load_all(&a.baselines)?,
        workloads: a.workloads.clone(),
        trials: a.trials,
        reruns: a.reruns,
        seed: a.seed,
    };
    let total = plan.baselines.len() * plan.workloads.len() * plan.trials as usize
        + plan.workloads.len() * plan.reruns as usize;
    let bars = Bars::new(total, a.quiet);
    let started = std::time::Instant::now();
    let (mut file, derivations) = derive(
        &mut reg,
        &plan,
        &base,
        &a.logs,
        &WallClock::default(),
        &mut |e| bars.event(e),
    )?;
    bars.bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    for d in &derivations {
        if let Some(why) = &d.refused {
            writeln!(
                out,
                "{}: no target — {why}; reruns {:?}",
                d.workload, d.reruns
            )?;
        } else {
            writeln!(
                out,
                "{}: {} {} from {} trial {} (best {:.6}); reruns {:?}",
                d.workload,
                d.metric,
                d.target,
                d.selected.submission,
                d.selected.trial,
                d.selected.best,
                d.reruns
            )?;
        }
    }
    let path = a.out.clone().unwrap_or_else(|| a.logs.join(WORKLOADS_FILE));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // every workload's provenance, once: the derivations beside the targets file are merged
    // (earlier workloads kept, re-derived ones replaced), and the doc string lists them all
    let merged = merge_derivations(&path.with_file_name(DERIVATION_FILE), &derivations)?;
    file.doc = Some(format!(
        "Targets derived by `optlab algoperf targets` (optlab {}), AlgoPerf's procedure: per \
         workload, the baselines tuned with quasi-random trials over the whole budget, the best \
         trial's configuration rerun with fresh seeds, target = median of the reruns' best \
         validation metric (every trial, the selection and the reruns: {DERIVATION_FILE} beside \
         this file). Last run: baselines {}, {} trials each, {} reruns, seed {}. {}",
        env!("CARGO_PKG_VERSION"),
        a.baselines.join(", "),
        a.trials,
        a.reruns,
        a.seed,
        merged.iter().map(describe).collect::<Vec<_>>().join("; ")
    ));
    file.write(&path)?;
    writeln!(
        out,
        "wrote {} ({:.1} s; logs and derivation.json in {})",
        path.display(),
        started.elapsed().as_secs_f64(),
        a.logs.display()
    )?;
    Ok(())
}

fn score(a: ScoreArgs) -> anyhow::Result<()> {
    let report = score_results(&a.dir, a.workloads.as_deref(), &a.time_column)?;
    let files = report
        .write(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    if a.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for v in report.all_views() {
        writeln!(out, "{}", optlab::algoperf::report::markdown_table(v))?;
    }
    for n in &report.notes {
        writeln!(out, "note: {n}")?;
    }
    for (s, ws) in &report.primary.ignored_workloads {
        writeln!(
            out,
            "note: {s}: not in the targets file, ignored: {}",
            ws.join(", ")
        )?;
    }
    writeln!(
        out,
        "wrote {} files to {} (open {})",
        files.len(),
        a.out.display(),
        a.out.join("index.html").display()
    )?;
    Ok(())
}

fn status(a: StatusArgs) -> anyhow::Result<()> {
    let (dir, marker) = ResultsDir::open(&a.dir)?;
    let st = dir.status()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&st.rows)?);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match (&marker, &st.plan) {
        (_, Some(p)) => writeln!(
            out,
            "{}: plan of {} trials ({} submission(s) × {} workload(s) × {} studies × {} trials, seed {})",
            a.dir.display(),
            p.trials.len(),
            p.submissions.len(),
            p.workloads.len(),
            p.studies,
            p.trials_per_study,
            p.seed
        )?,
        (Some(m), None) => writeln!(
            out,
            "{}: optlab results (format version {}), no plan.json",
            a.dir.display(),
            m.version
        )?,
        (None, None) => writeln!(
            out,
            "{}: no optlab marker (AlgoPerf logs?): counting trial directories",
            a.dir.display()
        )?,
    }
    if st.rows.is_empty() {
        writeln!(out, "no trials")?;
        return Ok(());
    }
    let w = st
        .rows
        .iter()
        .map(|r| r.submission.len() + r.workload.len() + 1)
        .max()
        .unwrap_or(10)
        .max(20);
    writeln!(
        out,
        "{:<w$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>7}",
        "submission/workload", "finished", "reached", "started", "pending", "planned"
    )?;
    let mut tot = [0usize; 5];
    for r in &st.rows {
        let name = format!("{}/{}", r.submission, r.workload);
        let planned = if st.plan.is_some() {
            r.planned.to_string()
        } else {
            "-".into()
        };
        writeln!(
            out,
            "{name:<w$}  {:>8}  {:>8}  {:>8}  {:>8}  {planned:>7}",
            r.finished,
            r.reached_target,
            r.started,
            r.pending()
        )?;
        for (t, v) in tot.iter_mut().zip([
            r.finished,
            r.reached_target,
            r.started,
            r.pending(),
            r.planned,
        ]) {
            *t += v;
        }
    }
    writeln!(
        out,
        "{:<w$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>7}",
        "total",
        tot[0],
        tot[1],
        tot[2],
        tot[3],
        if st.plan.is_some() {
            tot[4].to_string()
        } else {
            "-".into()
        }
    )?;
    if tot[2] > 0 {
        writeln!(
            out,
            "started = running in another process, or interrupted (restarted from scratch by the \
             next run of its shard)"
        )?;
    }
    Ok(())
}

fn load_all(names: &[String]) -> anyhow::Result<Vec<Submission>> {
    names
        .iter()
        .map(|n| Submission::load(n).map_err(anyhow::Error::from))
        .collect()
}

fn plan(a: PlanArgs) -> anyhow::Result<()> {
    let plan = Plan {
        submissions: load_all(&a.submissions)?,
        workloads: a.workloads.clone(),
        studies: a.studies,
        trials: a.trials,
        seed: a.seed,
    };
    let trials = plan.trials()?;
    let shard = shard_arg(a.shard.as_deref())?;
    if let Some(dir) = &a.out {
        ResultsDir::create(dir)?.write_plan_of(&plan, &trials)?;
    }
    let mine = shard.select(&trials);
    let mut out = std::io::stdout().lock();
    if a.json {
        for t in &mine {
            writeln!(out, "{}", serde_json::to_string(t)?)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "shard {shard}: {} of {} trials",
        mine.len(),
        trials.len()
    )?;
    for t in &mine {
        writeln!(
            out,
            "{:>5}  {:<44}  seed {:>20}  {}",
            t.index,
            t.label(),
            t.seed,
            serde_json::to_string(&t.hyperparameters)?
        )?;
    }
    Ok(())
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let names: Vec<String> = if a.submissions.is_empty() {
        BUILTIN.iter().map(|(n, _)| n.to_string()).collect()
    } else {
        a.submissions.clone()
    };
    let mut out = std::io::stdout().lock();
    for n in &names {
        let s = Submission::load(n)?;
        let kind = match &s.tuning {
            Tuning::Space(sp) => format!("search space of {} dimension(s)", sp.dims.len()),
            Tuning::Points(p) => format!("{} fixed point(s)", p.len()),
            Tuning::Fixed => "no tuned hyperparameters".into(),
        };
        writeln!(
            out,
            "{}: ok — {} ({}); optimizer {}",
            s.name, s.description, kind, s.optimizer.name
        )?;
        let trials = match &s.tuning {
            Tuning::Points(p) => a.trials.min(p.len() as u32),
            _ => a.trials,
        };
        if trials == 0 {
            bail!("--trials must be at least 1");
        }
        for (j, p) in s.points(trials as usize, a.seed)?.iter().enumerate() {
            writeln!(out, "  trial {}: {}", j + 1, serde_json::to_string(p)?)?;
        }
    }
    Ok(())
}
