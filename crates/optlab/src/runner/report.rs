//! What `optlab run` writes into its run directory, through the shared
//! [`RunDir`](crate::experiment::RunDir): `metrics.csv`, `summary.json` (a [`RunSummary`]),
//! `convergence.{png,svg}` and, for 2D test functions, `contours.{png,svg}`.

use serde::{Deserialize, Serialize};

use super::{ExperimentSpec, MethodPlan, Precision, RunError, RunOutput};
use crate::experiment::{ExperimentError, RunDir, TargetSummary};
use crate::optim::wrap::Wrappers;
use crate::oracle::Sampling;
use crate::plot::{self, ContourOptions, ConvergenceOptions};
use crate::problem::Problem;
use crate::record::{Failure, Stats, XAxis};
use crate::scalar::Scalar;
use crate::schedule::ScheduleSpec;

/// `summary.json` of `optlab run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Experiment name.
    pub name: String,
    /// The problem and its constants.
    pub problem: ProblemReport,
    /// Runs per method.
    pub seeds: u64,
    /// Element type of the runs.
    pub precision: Precision,
    /// The metric summarized in `final` (the plot's metric).
    pub metric: String,
    /// One entry per method, in order.
    pub methods: Vec<MethodReport>,
}

/// The problem of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemReport {
    /// `kind` of `[problem]`.
    pub kind: String,
    /// One line, e.g. `"logistic regression (m = 200, n = 10, μ = 1)"`.
    pub description: String,
    /// f* when known.
    pub f_star: Option<f64>,
    /// Smoothness L of f.
    #[serde(rename = "L")]
    pub l: Option<f64>,
    /// Largest smoothness of the fᵢ.
    #[serde(rename = "L_max")]
    pub l_max: Option<f64>,
    /// Strong convexity μ.
    pub mu: Option<f64>,
    /// How f* (and L) were computed, with ‖∇f(x*)‖ as the certificate of f*.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<crate::problem::Reference>,
    /// Number of samples m.
    pub n: usize,
    /// Number of parameters.
    pub dimension: usize,
}

/// Batch size as written in the summary: `"full"` or a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchReport {
    /// `"full"`.
    Full(String),
    /// Samples per step.
    Samples(usize),
}

/// One method of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// Label.
    pub name: String,
    /// The optimizer as configured.
    pub optimizer: String,
    /// The resolved learning rate (`None`: the optimizer's default).
    pub lr: Option<f64>,
    /// The schedule.
    pub schedule: ScheduleSpec,
    /// `"full"` or samples per step.
    pub batch: BatchReport,
    /// Sampling with replacement.
    pub replacement: bool,
    /// Iterations per run.
    pub iterations: u64,
    /// Runs recorded.
    pub runs: usize,
    /// The last logged value of the metric of each run, over runs.
    #[serde(rename = "final")]
    pub last: Option<Stats>,
    /// `time_s` at the end of each run, over runs.
    pub wall_time_s: Option<Stats>,
    /// Runs that stopped early.
    pub failed: Vec<Failure>,
    /// The wrappers around the optimizer (absent when none).
    #[serde(default, skip_serializing_if = "Wrappers::is_empty", flatten)]
    pub wrappers: Wrappers,
    /// The last logged value of `<metric>_avg` (methods with averaging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_avg: Option<Option<Stats>>,
    /// Time to the `[target]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSummary>,
}

/// The summary of an experiment's output: the problem's constants and, per method, the final
/// value of `metric` (mean and quantiles over seeds), wall time, failures and time to target.
pub fn summary<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    out: &RunOutput,
    metric: &str,
) -> Result<RunSummary, RunError> {
    let per_method = out.records.summary(metric)?;
    let avg_metric = format!("{metric}_avg");
    let avg_summary = out.records.summary(&avg_metric).unwrap_or_default();
    let c = problem.constants();
    let methods = out
        .plans
        .iter()
        .map(|p: &MethodPlan| {
            let s = per_method.iter().find(|s| s.method == p.label);
            let a = avg_summary.iter().find(|s| s.method == p.label);
            MethodReport {
                name: p.label.clone(),
                optimizer: p.optimizer.name.clone(),
                lr: p.lr,
                schedule: p.schedule.clone(),
                batch: match p.sampling {
                    Sampling::Full => BatchReport::Full("full".into()),
                    Sampling::WithReplacement(b) | Sampling::WithoutReplacement(b) => {
                        BatchReport::Samples(b)
                    }
                },
                replacement: !matches!(p.sampling, Sampling::WithoutReplacement(_)),
                iterations: p.iterations,
                runs: s.map_or(0, |s| s.runs),
                last: s.and_then(|s| s.last),
                wall_time_s: s.and_then(|s| s.time_s),
                failed: out
                    .failures
                    .iter()
                    .filter(|f| f.method == p.label)
                    .cloned()
                    .collect(),
                wrappers: p.optimizer.wrappers.clone(),
                final_avg: p.has_eval_point().then(|| a.and_then(|s| s.last)),
                target: out
                    .target
                    .as_ref()
                    .map(|t| t.summary(&out.records, &p.label)),
            }
        })
        .collect();
    Ok(RunSummary {
        name: spec.common.name.clone(),
        problem: ProblemReport {
            kind: spec.problem.kind().into(),
            description: problem.describe(),
            f_star: c.f_star,
            l: c.l_smooth,
            l_max: c.l_max,
            mu: c.mu,
            reference: c.reference.clone(),
            n: problem.num_samples(),
            dimension: problem.dim(),
        },
        seeds: spec.seeds(),
        precision: spec.precision,
        metric: metric.to_string(),
        methods,
    })
}

/// The metric of the summary and the convergence plot: `plot.metric`, else `subopt` when the
/// records have it, else `loss`.
pub fn plot_metric(spec: &ExperimentSpec, out: &RunOutput) -> Result<String, RunError> {
    Ok(match &spec.common.plot.metric {
        Some(m) => {
            out.records
                .column(m)
                .map_err(|e| ExperimentError::message(format!("invalid `plot.metric`: {e}")))?;
            m.clone()
        }
        None if out.records.has_values("subopt") => "subopt".into(),
        None => "loss".into(),
    })
}

/// Writes `metrics.csv`, `summary.json`, `convergence.{png,svg}` and, for a 2D function
/// (one sample), `contours.{png,svg}` of the first seed's trajectories; returns the summary.
pub fn write_outputs<T: Scalar>(
    dir: &mut RunDir,
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    out: &RunOutput,
) -> Result<RunSummary, RunError> {
    dir.records(&out.records)?;
    let metric = plot_metric(spec, out)?;
    let summary = summary(spec, problem, out, &metric)?;
    dir.summary(&summary)?;
    let axis = spec.common.plot.x_axis.unwrap_or(XAxis::Epochs);
    let bands = dir.bands(
        "convergence",
        &out.records,
        &metric,
        axis,
        spec.common.plot.averages,
    )?;
    let title = spec
        .common
        .plot
        .title
        .clone()
        .unwrap_or_else(|| problem.describe());
    let label = out
        .records
        .column(&metric)
        .map(|c| out.records.schema.metric(c).label.clone())
        .unwrap_or_else(|_| metric.clone());
    let opts = ConvergenceOptions {
        title: title.clone(),
        x_label: axis.label().into(),
        y_label: format!("{label}  (mean, 10–90% over {} seeds)", spec.seeds()),
        ..Default::default()
    };
    dir.curves("convergence", &bands, &opts)?;
    if problem.dim() == 2 && problem.num_samples() == 1 {
        let first_seed = spec.common.seed;
        let trajectories: Vec<(String, Vec<(f64, f64)>)> = out
            .trajectories
            .iter()
            .filter(|t| t.seed == first_seed)
            .map(|t| (t.method.clone(), t.points.clone()))
            .collect();
        let f = |x: f64, y: f64| problem.loss(&[T::of(x), T::of(y)]).as_f64();
        let optimum = problem
            .constants()
            .x_star
            .as_ref()
            .and_then(|x| Some((*x.first()?, *x.get(1)?)));
        let copts = ContourOptions {
            title: format!("{title} — seed {first_seed}"),
            optimum,
            ..Default::default()
        };
        dir.plot_pair("contours", |p| {
            plot::contour_plot(p, &f, &trajectories, &copts)
        })?;
    }
    Ok(summary)
}
