//! `optlab algoperf`: AlgoPerf-style benchmarking (library: `optlab::algoperf`).
//!
//! - `score DIR [--workloads FILE] [--out OUT] [--time-column COL]`: AlgoPerf v0.6 scores of
//!   the logs under DIR (optlab's or AlgoPerf's own), with tables, plots and an HTML page;
//! - `status DIR`: what is finished, started or pending in a results directory;
//! - `plan SUBMISSION... --workloads W,... [--studies S --trials T --seed N] [--shard i/n]
//!   [--out DIR]`: the deterministic trial list (or this shard's part of it);
//! - `check SUBMISSION... [--trials N]`: validates submission files and prints their points.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use optlab::algoperf::report::score_results;
use optlab::algoperf::results::{PlanFile, ResultsDir};
use optlab::algoperf::scoring::DEFAULT_TIME_COLUMN;
use optlab::algoperf::study::{DEFAULT_STUDIES, DEFAULT_TRIALS, Plan, Shard};
use optlab::algoperf::submission::{BUILTIN, Submission, Tuning};

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

/// Runs `optlab algoperf ...`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Cmd::Score(a) => score(a),
        Cmd::Status(a) => status(a),
        Cmd::Plan(a) => plan(a),
        Cmd::Check(a) => check(a),
    }
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
    let shard = match &a.shard {
        Some(s) => s.parse::<Shard>()?,
        None => Shard::from_env()?.unwrap_or_default(),
    };
    if let Some(dir) = &a.out {
        let results = ResultsDir::create(dir)?;
        let file = PlanFile {
            studies: plan.studies,
            trials_per_study: plan.trials,
            seed: plan.seed,
            submissions: plan.submissions.iter().map(|s| s.name.clone()).collect(),
            workloads: plan.workloads.clone(),
            trials: trials.clone(),
        };
        let sources: Vec<(String, String)> = plan
            .submissions
            .iter()
            .map(|s| (s.name.clone(), s.source.clone()))
            .collect();
        results.write_plan(&file, &sources)?;
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
