//! Deriving the workloads' validation targets, AlgoPerf's procedure at our scale
//! (`optlab algoperf targets`).
//!
//! AlgoPerf (Dahl et al. 2023, §4.2) sets each workload's target by tuning the baseline training
//! algorithms under a budget, taking the best configuration, rerunning it with fresh seeds and
//! taking the **median of the best validation metric** over the reruns. Here, per workload:
//!
//! 1. **tune**: every baseline submission × `trials` quasi-random points (one study), each trial
//!    trained for the workload's whole budget (the target never stops it); a trial's value is its
//!    best validation metric over its evaluations;
//! 2. **select**: the best trial over all baselines (smallest value for a minimized metric);
//! 3. **rerun**: that baseline at that point with `reruns` fresh seeds (studies 1, 2, ... of the
//!    rerun directory);
//! 4. **target**: the median of the reruns' best validation metrics — unless the reruns' median
//!    metric at their *first* evaluation already meets it (the baselines did not improve on
//!    the start within the budget): then no target is set, and the derivation says why.
//!
//! Everything is logged in AlgoPerf's layout (`DIR/tune/…`, `DIR/rerun/…`) and idempotent like
//! `optlab algoperf run` (finished trials are skipped), so an interrupted derivation continues.

use std::path::Path;

use serde::Serialize;

use super::logs::{EvalMeasurements, MEASUREMENTS_FILE};
use super::registry::Registry;
use super::results::ResultsDir;
use super::scoring::median;
use super::search::Point;
use super::study::{Plan, Trial, trial_seed};
use super::submission::Submission;
use super::trial::{Clock, TrialEvent, run_trials};
use super::workloads::{WorkloadTarget, WorkloadsFile};
use super::{AlgoPerfError, read_json, write_json};

/// What to derive.
#[derive(Clone, Debug)]
pub struct TargetsPlan {
    /// The baseline submissions (AlgoPerf: its baselines; optlab's defaults: `nadamw`,
    /// `adamw`, `sgd_nesterov`).
    pub baselines: Vec<Submission>,
    /// Workloads.
    pub workloads: Vec<String>,
    /// Tuning trials per baseline (≥ 1).
    pub trials: u32,
    /// Reruns of the best configuration (≥ 1).
    pub reruns: u32,
    /// Seed of the search and the training seeds.
    pub seed: u32,
}

/// One tuning trial's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct TunedTrial {
    /// Baseline submission.
    pub submission: String,
    /// Trial number.
    pub trial: u32,
    /// Its hyperparameters.
    pub hyperparameters: Point,
    /// Best validation metric over its evaluations (NaN: none finite).
    pub best: f64,
}

/// How a workload's target was derived.
#[derive(Clone, Debug, Serialize)]
pub struct Derivation {
    /// Workload.
    pub workload: String,
    /// Metric and goal.
    pub metric: String,
    /// Whether it is minimized.
    pub minimize: bool,
    /// Every tuning trial.
    pub tuning: Vec<TunedTrial>,
    /// The selected trial (the best of `tuning`).
    pub selected: TunedTrial,
    /// Best validation metric of each rerun.
    pub reruns: Vec<f64>,
    /// Their median: the target.
    pub target: f64,
    /// The first evaluation's metric of each rerun.
    pub first_evaluation: Vec<f64>,
    /// Why no target was set: the median rerun met it at its first evaluation, i.e. the tuned
    /// baselines did not improve the metric beyond where training starts (a target every
    /// submission meets at once would rank nothing). `None`: the target was set.
    pub refused: Option<String>,
}

/// A trial's value of `metric` at its first evaluation (NaN: none, or not finite).
fn first_of(dir: &Path, metric: &str) -> Result<f64, AlgoPerfError> {
    let path = dir.join(MEASUREMENTS_FILE);
    if !path.is_file() {
        return Ok(f64::NAN);
    }
    let m = EvalMeasurements::read(&path)?;
    Ok(m.column(metric)
        .unwrap_or_default()
        .first()
        .copied()
        .unwrap_or(f64::NAN))
}

/// Whether `value` meets `target`.
fn meets(value: f64, target: f64, minimize: bool) -> bool {
    if minimize {
        value <= target
    } else {
        value >= target
    }
}

/// The derivations file written beside a targets file (and in the logs directory).
pub const DERIVATION_FILE: &str = "derivation.json";

/// Merges `new` into the derivations file at `path` and writes it: entries of other workloads
/// are kept in their order, a re-derived workload's entry is replaced (so a targets file
/// updated workload by workload keeps every workload's provenance, once). Returns the merged
/// entries.
///
/// # Errors
/// The file exists but is not a JSON array of derivations; it cannot be written.
pub fn merge_derivations(
    path: &Path,
    new: &[Derivation],
) -> Result<Vec<serde_json::Value>, AlgoPerfError> {
    let mut all: Vec<serde_json::Value> = if path.is_file() {
        read_json(path)?
    } else {
        Vec::new()
    };
    let fresh = new
        .iter()
        .map(|d| {
            serde_json::to_value(d).map_err(|e| AlgoPerfError::Format {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    all.retain(|v| !new.iter().any(|d| v["workload"] == d.workload.as_str()));
    all.extend(fresh);
    write_json(path, &all)?;
    Ok(all)
}

/// One line on a derivation (an entry of [`merge_derivations`]): the target and where it came
/// from, or why there is none.
pub fn describe(v: &serde_json::Value) -> String {
    let w = v["workload"].as_str().unwrap_or("?");
    if let Some(why) = v["refused"].as_str() {
        return format!("{w}: no target ({why}); reruns {}", v["reruns"]);
    }
    format!(
        "{w}: {} {} from {} trial {} (best {}); reruns {}",
        v["metric"].as_str().unwrap_or("?"),
        v["target"],
        v["selected"]["submission"].as_str().unwrap_or("?"),
        v["selected"]["trial"],
        v["selected"]["best"],
        v["reruns"]
    )
}

/// Best value of `metric` in a trial's log (NaN when it has none finite).
fn best_of(dir: &Path, metric: &str, minimize: bool) -> Result<f64, AlgoPerfError> {
    let path = dir.join(MEASUREMENTS_FILE);
    if !path.is_file() {
        // A trial that diverged before its first evaluation.
        return Ok(f64::NAN);
    }
    let m = EvalMeasurements::read(&path)?;
    let values = m.column(metric).unwrap_or_default();
    Ok(values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(f64::NAN, |b, v| {
            if b.is_nan() || (minimize && v < b) || (!minimize && v > b) {
                v
            } else {
                b
            }
        }))
}

fn better(a: f64, b: f64, minimize: bool) -> bool {
    !a.is_nan() && (b.is_nan() || if minimize { a < b } else { a > b })
}

/// Runs the procedure into `root` (`root/tune`, `root/rerun`) and returns the targets of
/// `plan.workloads` (merged into `base`, whose other workloads are kept) with their derivations;
/// also writes `root/derivation.json`.
///
/// # Errors
/// An invalid plan, a workload the registry lacks, a trial that fails, or a workload on which no
/// tuning trial produced a finite metric.
pub fn derive(
    registry: &mut Registry,
    plan: &TargetsPlan,
    base: &WorkloadsFile,
    root: &Path,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&TrialEvent<'_>),
) -> Result<(WorkloadsFile, Vec<Derivation>), AlgoPerfError> {
    if plan.reruns == 0 {
        return Err(AlgoPerfError::Invalid("--reruns must be at least 1".into()));
    }
    for w in &plan.workloads {
        registry.get(w)?;
    }
    registry.run_full_budget();
    let tune = Plan {
        submissions: plan.baselines.clone(),
        workloads: plan.workloads.clone(),
        studies: 1,
        trials: plan.trials,
        seed: plan.seed,
    };
    let trials = tune.trials()?;
    let tune_dir = ResultsDir::create(&root.join("tune"))?;
    run_trials(
        &tune_dir,
        &plan.baselines,
        &trials,
        registry,
        clock,
        progress,
    )?;
    let rerun_dir = ResultsDir::create(&root.join("rerun"))?;
    let mut out = base.clone();
    let mut derivations = Vec::new();
    for w in &plan.workloads {
        let spec = registry.get(w)?.spec().clone();
        let mut tuning = Vec::new();
        for t in trials.iter().filter(|t| &t.workload == w) {
            tuning.push(TunedTrial {
                submission: t.submission.clone(),
                trial: t.trial,
                hyperparameters: t.hyperparameters.clone(),
                best: best_of(&tune_dir.trial_dir(t), &spec.metric, spec.minimize)?,
            });
        }
        let selected = tuning
            .iter()
            .fold(None::<&TunedTrial>, |b, t| match b {
                Some(b) if !better(t.best, b.best, spec.minimize) => Some(b),
                _ if t.best.is_nan() => b,
                _ => Some(t),
            })
            .cloned()
            .ok_or_else(|| {
                AlgoPerfError::Empty(format!(
                    "workload `{w}`: no tuning trial reached a finite {}",
                    spec.metric
                ))
            })?;
        let reruns: Vec<Trial> = (1..=plan.reruns)
            .map(|r| Trial {
                index: r as usize - 1,
                submission: selected.submission.clone(),
                workload: w.clone(),
                study: r,
                trial: 1,
                hyperparameters: selected.hyperparameters.clone(),
                seed: trial_seed(plan.seed, w, r, 0),
            })
            .collect();
        run_trials(
            &rerun_dir,
            &plan.baselines,
            &reruns,
            registry,
            clock,
            progress,
        )?;
        let values = reruns
            .iter()
            .map(|t| best_of(&rerun_dir.trial_dir(t), &spec.metric, spec.minimize))
            .collect::<Result<Vec<_>, _>>()?;
        let target = median(&values);
        if !target.is_finite() {
            return Err(AlgoPerfError::Empty(format!(
                "workload `{w}`: the reruns' median best {} is {target}",
                spec.metric
            )));
        }
        let first_evaluation = reruns
            .iter()
            .map(|t| first_of(&rerun_dir.trial_dir(t), &spec.metric))
            .collect::<Result<Vec<_>, _>>()?;
        let first = median(&first_evaluation);
        let refused = meets(first, target, spec.minimize).then(|| {
            format!(
                "the reruns' median {} at their first evaluation ({first}) already meets the \
                 derived target ({target}): the tuned baselines did not improve on the start \
                 within the budget, so no target is set",
                spec.metric
            )
        });
        if refused.is_none() {
            out.workloads.insert(
                w.clone(),
                WorkloadTarget {
                    metric: spec.metric.clone(),
                    target,
                    minimize: Some(spec.minimize),
                },
            );
        }
        derivations.push(Derivation {
            workload: w.clone(),
            metric: spec.metric,
            minimize: spec.minimize,
            tuning,
            selected,
            reruns: values,
            target,
            first_evaluation,
            refused,
        });
    }
    write_json(&root.join(DERIVATION_FILE), &derivations)?;
    Ok((out, derivations))
}
