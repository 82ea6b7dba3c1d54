//! Replay of PyTorch reference traces (`optlab verify`).
//!
//! A trace file (format of `optim_traces.json`) gives parameter shapes, a start point `x0` and
//! arrays `c`, `d` defining the deterministic gradient
//! `g_i = d_i (x_i − c_i) + 0.5 sin(3 x_i)` of the loss
//! `f(x) = Σ_i ½ d_i (x_i − c_i)² − cos(3 x_i)/6` over the flattened parameters, and cases: a
//! PyTorch optimizer name, its hyperparameters under PyTorch's names, `trace[k]` = the flattened
//! parameters after step k+1 and `losses[k]` = the loss before step k+1. A case may also carry
//! (`parity_traces.json`):
//!
//! - `"closure": true` and `evals[k]`: the reference called `optimizer.step(closure)` (L-BFGS),
//!   and the closure ran `evals[k]` times during step k+1; the replay steps through
//!   [`Optimizer::step_with_closure`] with a closure evaluating the trace problem, counts the
//!   calls, and requires the same count at every step;
//! - `eval_trace[k]`: the evaluation-mode parameters after step k+1 (schedule-free's x, where
//!   `trace` holds the training point y); compared with [`Optimizer::eval_params`].
//!
//! [`replay`] runs each case through optlab's optimizer of that name and reports the largest
//! normwise relative error over steps: `max_k ‖x_k − x_k^ref‖∞ / ‖x_k^ref‖∞`.
//!
//! A schedule file (format of `schedules.json`, `parity_schedules.json`: `cases` maps a name to
//! a `spec` in optlab's [`ScheduleSpec`] form and `lrs[k]`, the lr of step k for a base lr of
//! 1.0; metric-driven cases add `metrics[k]`, passed to `scheduler.step()` after step k) is
//! replayed by [`replay_schedules`]: the largest relative error over steps,
//! `max_k |α_k − α_k^ref| / |α_k^ref|` (absolute where the reference is 0).
//!
//! Unknown fields, optimizer names, schedule kinds and hyperparameters are errors, never
//! ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::optim::registry::{self, HyperMap};
use crate::optim::{Closure, Eval};
use crate::param::Param;
use crate::scalar::Scalar;
use crate::schedule::ScheduleSpec;
use crate::{OptimError, Optimizer};

/// PyTorch constructor flags that select an implementation (foreach/fused kernels, CUDA graphs,
/// autograd through the step) without changing the mathematics; they are accepted and reported.
pub const IMPLEMENTATION_FLAGS: &[&str] = &["foreach", "fused", "capturable", "differentiable"];

/// A trace file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    /// Free text describing the gradient (informative).
    #[serde(default)]
    pub gradient: Option<String>,
    /// Steps per case (checked against every case's `trace` when given).
    #[serde(default)]
    pub steps: Option<usize>,
    /// The deterministic test problem.
    pub problem: TraceProblem,
    /// The cases.
    pub cases: Vec<TraceCase>,
}

/// Shapes, start point and the arrays of the gradient.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceProblem {
    /// Parameter shapes, in order.
    pub shapes: Vec<Vec<usize>>,
    /// Flattened start point.
    pub x0: Vec<f64>,
    /// Centres `c_i`.
    pub c: Vec<f64>,
    /// Curvatures `d_i`.
    pub d: Vec<f64>,
}

/// One optimizer run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceCase {
    /// Case name.
    pub name: String,
    /// PyTorch optimizer class name.
    pub optimizer: String,
    /// Constructor arguments under PyTorch's names.
    #[serde(default)]
    pub hyper: HyperMap,
    /// Flattened parameters after each step.
    pub trace: Vec<Vec<f64>>,
    /// Loss before each step.
    #[serde(default)]
    pub losses: Vec<f64>,
    /// The reference stepped with `optimizer.step(closure)` (L-BFGS).
    #[serde(default)]
    pub closure: bool,
    /// Closure calls made by each step (with `closure`).
    #[serde(default)]
    pub evals: Option<Vec<u64>>,
    /// Flattened evaluation-mode parameters after each step (schedule-free's x).
    #[serde(default)]
    pub eval_trace: Option<Vec<Vec<f64>>>,
}

/// Why a trace could not be replayed.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The file is not a trace file.
    #[error("not a trace file: {0}")]
    Format(String),
    /// A case names an optimizer or hyperparameter optlab does not have.
    #[error("case `{case}`: {source}")]
    Optimizer {
        /// Case name.
        case: String,
        /// The underlying error.
        source: OptimError,
    },
}

/// Result of replaying one case.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// Case name.
    pub name: String,
    /// Optimizer name as given.
    pub optimizer: String,
    /// Steps replayed.
    pub steps: usize,
    /// `max_k ‖x_k − x_k^ref‖∞ / ‖x_k^ref‖∞`.
    pub max_rel_err: f64,
    /// Step (1-based) where it is reached.
    pub worst_step: usize,
    /// Same measure for the losses (0 if the file has none).
    pub loss_rel_err: f64,
    /// Same measure for the evaluation-mode parameters, and the step where it is reached (when
    /// the case has an `eval_trace`).
    pub eval_rel_err: Option<(f64, usize)>,
    /// Closure calls made by each step (when the case was replayed through a closure).
    pub evals: Option<Vec<u64>>,
    /// The first step (1-based) whose closure calls differ from the case's `evals`, with the
    /// reference's count and ours.
    pub evals_mismatch: Option<(usize, u64, u64)>,
    /// Implementation flags that were present and have no effect here.
    pub ignored_flags: Vec<String>,
}

impl CaseReport {
    /// What the case checks besides the parameters and losses, for a report line:
    /// `"  eval-mode rel err E at step K"` and `"  closure calls match"` / `"  closure calls
    /// differ at step K: N (reference M)"` where they apply (empty otherwise).
    pub fn details(&self) -> String {
        let mut out = String::new();
        if let Some((e, k)) = self.eval_rel_err {
            out.push_str(&format!("  eval-mode rel err {e:.3e} at step {k}"));
        }
        match (&self.evals, self.evals_mismatch) {
            (Some(_), None) => out.push_str("  closure calls match"),
            (Some(_), Some((k, want, got))) => out.push_str(&format!(
                "  closure calls differ at step {k}: {got} (reference {want})"
            )),
            (None, _) => {}
        }
        out
    }

    /// Whether every error is within `tolerance` (NaN fails) and the closure calls match.
    pub fn passes(&self, tolerance: f64) -> bool {
        self.max_rel_err <= tolerance
            && self.loss_rel_err <= tolerance
            && self.eval_rel_err.is_none_or(|(e, _)| e <= tolerance)
            && self.evals_mismatch.is_none()
    }
}

impl TraceFile {
    /// Parses a trace file from JSON text, checking the problem's arrays against the shapes.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        let file: TraceFile =
            serde_json::from_str(text).map_err(|e| VerifyError::Format(e.to_string()))?;
        // element counts with overflow checks: a product that wraps would make absurd shapes
        // look consistent with short arrays (seen while writing the fuzz target)
        let n = file
            .problem
            .shapes
            .iter()
            .try_fold(0usize, |n, s| {
                s.iter()
                    .try_fold(1usize, |m, &d| m.checked_mul(d))
                    .and_then(|m| n.checked_add(m))
            })
            .ok_or_else(|| {
                VerifyError::Format(format!(
                    "problem.shapes {:?} hold more elements than a usize counts",
                    file.problem.shapes
                ))
            })?;
        let p = &file.problem;
        for (what, len) in [("x0", p.x0.len()), ("c", p.c.len()), ("d", p.d.len())] {
            if len != n {
                return Err(VerifyError::Format(format!(
                    "problem.{what} has {len} values, the shapes {:?} have {n}",
                    p.shapes
                )));
            }
        }
        for case in &file.cases {
            let bad = |what: String| VerifyError::Format(format!("case `{}`: {what}", case.name));
            let traces = std::iter::once(("trace", &case.trace))
                .chain(case.eval_trace.as_ref().map(|t| ("eval_trace", t)));
            for (what, trace) in traces {
                if let Some(k) = trace.iter().position(|x| x.len() != n) {
                    return Err(bad(format!(
                        "{what}[{k}] has {} values, expected {n}",
                        trace[k].len()
                    )));
                }
                if trace.len() != case.trace.len() {
                    return Err(bad(format!(
                        "{what} has {} steps, trace has {}",
                        trace.len(),
                        case.trace.len()
                    )));
                }
            }
            if let Some(steps) = file.steps.filter(|&s| s != case.trace.len()) {
                return Err(bad(format!(
                    "trace has {} steps, the file says `steps` = {steps}",
                    case.trace.len()
                )));
            }
            if let Some(evals) = &case.evals {
                if !case.closure {
                    return Err(bad("`evals` needs `\"closure\": true`".into()));
                }
                if evals.len() != case.trace.len() {
                    return Err(bad(format!(
                        "evals has {} steps, trace has {}",
                        evals.len(),
                        case.trace.len()
                    )));
                }
            }
        }
        Ok(file)
    }
}

/// The trace problem's loss and gradient at the flattened point `x`.
pub fn loss_and_grad<T: Scalar>(p: &TraceProblem, x: &[T], grad: &mut [T]) -> f64 {
    let mut loss = 0.0;
    for i in 0..x.len() {
        let xi = x[i].as_f64();
        let (c, d) = (p.c[i], p.d[i]);
        loss += 0.5 * d * (xi - c) * (xi - c) - (3.0 * xi).cos() / 6.0;
        grad[i] = T::of(d * (xi - c) + 0.5 * (3.0 * xi).sin());
    }
    loss
}

/// Builds the parameters of a trace problem at `x0` (named `p0`, `p1`, ...).
pub fn trace_params<T: Scalar>(p: &TraceProblem) -> Result<Vec<Param<T>>, OptimError> {
    let mut offset = 0;
    let mut params = Vec::with_capacity(p.shapes.len());
    for (k, shape) in p.shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        let data = p.x0[offset..offset + n].iter().map(|&v| T::of(v)).collect();
        params.push(Param::new(format!("p{k}"), shape.clone(), data)?);
        offset += n;
    }
    Ok(params)
}

/// A case's optimizer and the implementation flags that were dropped.
pub type CaseOptimizer<T> = (Box<dyn Optimizer<T>>, Vec<String>);

/// Builds the optimizer of a case: PyTorch implementation flags are removed (and reported),
/// everything else must be a known hyperparameter.
pub fn case_optimizer<T: Scalar>(case: &TraceCase) -> Result<CaseOptimizer<T>, VerifyError> {
    let mut hyper = case.hyper.clone();
    let mut ignored = Vec::new();
    for flag in IMPLEMENTATION_FLAGS {
        if let Some(v) = hyper.remove(*flag) {
            ignored.push(format!("{flag}={v}"));
        }
    }
    // PyTorch writes lr = tensor(...) as a number too; nothing else to normalise.
    let opt =
        registry::build::<T>(&case.optimizer, &hyper).map_err(|source| VerifyError::Optimizer {
            case: case.name.clone(),
            source,
        })?;
    Ok((opt, ignored))
}

/// The trace problem as an objective ([`Closure`]): loss and gradient at the parameters'
/// current values, counting its calls.
pub struct TraceObjective<'a, T> {
    problem: &'a TraceProblem,
    x: Vec<T>,
    g: Vec<T>,
    /// Calls so far.
    pub calls: u64,
}

impl<'a, T: Scalar> TraceObjective<'a, T> {
    /// The objective of `problem`, with no call made yet.
    pub fn new(problem: &'a TraceProblem) -> Self {
        let n = problem.x0.len();
        TraceObjective {
            problem,
            x: vec![T::zero(); n],
            g: vec![T::zero(); n],
            calls: 0,
        }
    }
}

impl<T: Scalar> Closure<T> for TraceObjective<'_, T> {
    fn evaluate(&mut self, params: &mut [Param<T>], eval: Eval) -> Result<f64, OptimError> {
        self.calls += 1;
        flatten(params, &mut self.x);
        let loss = loss_and_grad(self.problem, &self.x, &mut self.g);
        if eval == Eval::ValueAndGrad {
            unflatten_grad(params, &self.g);
        }
        Ok(loss)
    }
}

/// The largest error over steps and the (1-based) step where it is reached (NaN wins).
#[derive(Clone, Copy, Debug, Default)]
struct Worst {
    err: f64,
    step: usize,
}

impl Worst {
    fn update(&mut self, e: f64, step: usize) {
        if self.step == 0 || e > self.err || (e.is_nan() && !self.err.is_nan()) {
            *self = Worst { err: e, step };
        }
    }
}

/// Replays one case in precision `T`.
pub fn replay_case<T: Scalar>(
    problem: &TraceProblem,
    case: &TraceCase,
) -> Result<CaseReport, VerifyError> {
    let wrap = |source| VerifyError::Optimizer {
        case: case.name.clone(),
        source,
    };
    let (mut opt, ignored_flags) = case_optimizer::<T>(case)?;
    let mut params = trace_params::<T>(problem).map_err(wrap)?;
    let mut eval_point = params.clone();
    let n = problem.x0.len();
    let mut objective = TraceObjective::<T>::new(problem);
    let through_closure = case.closure || opt.requires_closure();
    let mut evals = Vec::with_capacity(if through_closure { case.trace.len() } else { 0 });
    let mut x = vec![0.0f64; n];
    let (mut worst, mut worst_eval) = (Worst::default(), Worst::default());
    let mut loss_rel_err = 0.0f64;
    for (k, reference) in case.trace.iter().enumerate() {
        let loss = if through_closure {
            let before = objective.calls;
            let out = opt
                .step_with_closure(&mut params, &mut objective)
                .map_err(wrap)?;
            evals.push(objective.calls - before);
            out.loss
        } else {
            let loss = objective
                .evaluate(&mut params, Eval::ValueAndGrad)
                .map_err(wrap)?;
            opt.step(&mut params).map_err(wrap)?;
            loss
        };
        if let Some(&ref_loss) = case.losses.get(k) {
            loss_rel_err = loss_rel_err.max(rel_err(&[loss], &[ref_loss]));
        }
        flatten_f64(&params, &mut x);
        worst.update(rel_err(&x, reference), k + 1);
        if let Some(eval_trace) = &case.eval_trace {
            let at = if opt.eval_params(&params, &mut eval_point).map_err(wrap)? {
                &eval_point
            } else {
                &params
            };
            flatten_f64(at, &mut x);
            worst_eval.update(rel_err(&x, &eval_trace[k]), k + 1);
        }
    }
    let evals_mismatch = case.evals.as_ref().and_then(|reference| {
        reference
            .iter()
            .zip(&evals)
            .position(|(a, b)| a != b)
            .map(|k| (k + 1, reference[k], evals[k]))
    });
    Ok(CaseReport {
        name: case.name.clone(),
        optimizer: case.optimizer.clone(),
        steps: case.trace.len(),
        max_rel_err: worst.err,
        worst_step: worst.step,
        loss_rel_err,
        eval_rel_err: case
            .eval_trace
            .as_ref()
            .map(|_| (worst_eval.err, worst_eval.step)),
        evals: through_closure.then_some(evals),
        evals_mismatch,
        ignored_flags,
    })
}

/// Replays every case of a file in precision `T`.
pub fn replay<T: Scalar>(file: &TraceFile) -> Vec<Result<CaseReport, VerifyError>> {
    file.cases
        .iter()
        .map(|case| replay_case::<T>(&file.problem, case))
        .collect()
}

/// `‖a − b‖∞ / ‖b‖∞` (absolute error when `b = 0`; NaN if `a` has a NaN).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let mut diff = 0.0f64;
    let mut scale = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        diff = diff.max(d);
        scale = scale.max(y.abs());
    }
    if scale > 0.0 { diff / scale } else { diff }
}

fn flatten<T: Scalar>(params: &[Param<T>], out: &mut [T]) {
    let mut o = 0;
    for p in params {
        out[o..o + p.numel()].copy_from_slice(&p.data);
        o += p.numel();
    }
}

fn flatten_f64<T: Scalar>(params: &[Param<T>], out: &mut [f64]) {
    for (o, x) in out.iter_mut().zip(params.iter().flat_map(|p| &p.data)) {
        *o = x.as_f64();
    }
}

fn unflatten_grad<T: Scalar>(params: &mut [Param<T>], g: &[T]) {
    let mut o = 0;
    for p in params {
        let n = p.numel();
        p.grad.copy_from_slice(&g[o..o + n]);
        o += n;
    }
}

/// Reads a JSON value as a trace file if it looks like one (has `problem` and `cases`).
pub fn looks_like_trace(v: &Value) -> bool {
    v.get("problem").is_some() && v.get("cases").is_some_and(Value::is_array)
}

/// Whether a JSON value looks like a schedule file (`cases` is a map of named cases).
pub fn looks_like_schedules(v: &Value) -> bool {
    v.get("problem").is_none() && v.get("cases").is_some_and(Value::is_object)
}

/// The base lr of schedule files: their `lrs` are those of an optimizer configured with lr 1.0.
pub const SCHEDULE_BASE_LR: f64 = 1.0;

/// A schedule reference file (`schedules.json`, `parity_schedules.json`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// Free text describing the file (informative).
    #[serde(default)]
    pub doc: Option<String>,
    /// The cases, by name.
    pub cases: BTreeMap<String, ScheduleCase>,
}

/// One scheduler run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleCase {
    /// The scheduler as a [`ScheduleSpec`] (`kind` and PyTorch's argument names), kept as JSON so
    /// that an unknown kind or argument fails this case alone.
    pub spec: Value,
    /// The lr of each step k (before the k-th `scheduler.step()`), for a base lr of 1.0.
    pub lrs: Vec<f64>,
    /// The metric passed to `scheduler.step()` after each step (metric-driven schedules).
    #[serde(default)]
    pub metrics: Option<Vec<f64>>,
}

/// Result of replaying one schedule case.
#[derive(Clone, Debug)]
pub struct ScheduleReport {
    /// Case name.
    pub name: String,
    /// The schedule's canonical kind.
    pub kind: &'static str,
    /// Steps replayed.
    pub steps: usize,
    /// `max_k |α_k − α_k^ref| / |α_k^ref|` (absolute where the reference is 0).
    pub max_rel_err: f64,
    /// Step (0-based, as the file's `lrs`) where it is reached.
    pub worst_step: usize,
}

/// Why a schedule case could not be replayed.
#[derive(Debug, Error)]
pub enum ScheduleCaseError {
    /// The spec does not parse (unknown kind or argument, wrong type).
    #[error("case `{case}`: spec {spec}: {message}")]
    Spec {
        /// Case name.
        case: String,
        /// The spec as given.
        spec: Value,
        /// What is wrong.
        message: String,
    },
    /// The spec parses but its arguments are out of range.
    #[error("case `{case}`: {source}")]
    Build {
        /// Case name.
        case: String,
        /// The underlying error.
        source: OptimError,
    },
    /// The case's metrics do not fit its schedule or its steps.
    #[error("case `{case}`: {message}")]
    Metrics {
        /// Case name.
        case: String,
        /// What is wrong.
        message: String,
    },
}

impl ScheduleFile {
    /// Parses a schedule file from JSON text.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        serde_json::from_str(text).map_err(|e| VerifyError::Format(e.to_string()))
    }
}

/// Replays one schedule case: `lr(1.0, k)` for every step, feeding `metrics[k]` after step k.
pub fn replay_schedule_case(
    name: &str,
    case: &ScheduleCase,
) -> Result<ScheduleReport, ScheduleCaseError> {
    let spec: ScheduleSpec =
        serde_json::from_value(case.spec.clone()).map_err(|e| ScheduleCaseError::Spec {
            case: name.to_string(),
            spec: case.spec.clone(),
            message: e.to_string(),
        })?;
    let mut schedule = spec.build().map_err(|source| ScheduleCaseError::Build {
        case: name.to_string(),
        source,
    })?;
    let metrics_error = |message: String| ScheduleCaseError::Metrics {
        case: name.to_string(),
        message,
    };
    match &case.metrics {
        None if schedule.is_metric_driven() => {
            return Err(metrics_error(format!(
                "{} is driven by a metric: the case needs `metrics`",
                spec.kind()
            )));
        }
        Some(m) if m.len() + 1 < case.lrs.len() => {
            return Err(metrics_error(format!(
                "{} metrics for {} steps: the lr of step k needs the metrics of steps 0..k−1",
                m.len(),
                case.lrs.len()
            )));
        }
        _ => {}
    }
    let mut worst = Worst::default();
    for (k, &reference) in case.lrs.iter().enumerate() {
        let lr = schedule.lr(SCHEDULE_BASE_LR, k as u64);
        worst.update(rel_err(&[lr], &[reference]), k + 1);
        if let Some(&m) = case.metrics.as_ref().and_then(|m| m.get(k)) {
            schedule.observe(k as u64, m);
        }
    }
    Ok(ScheduleReport {
        name: name.to_string(),
        kind: spec.kind(),
        steps: case.lrs.len(),
        max_rel_err: worst.err,
        worst_step: worst.step.saturating_sub(1),
    })
}

/// Replays every case of a schedule file, in name order.
pub fn replay_schedules(file: &ScheduleFile) -> Vec<Result<ScheduleReport, ScheduleCaseError>> {
    file.cases
        .iter()
        .map(|(name, case)| replay_schedule_case(name, case))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzz/corpus/trace_json/overflow_shapes.json): shapes whose element count
    /// overflows are refused, not wrapped to a count that matches short arrays.
    #[test]
    fn shapes_whose_size_overflows_are_refused() {
        let text = r#"{"problem": {"shapes": [[4294967296, 4294967296], [1]],
            "x0": [1.0], "c": [0.0], "d": [1.0]}, "cases": []}"#;
        let e = TraceFile::from_json(text).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("more elements")),
            "{e:?}"
        );
    }
}
