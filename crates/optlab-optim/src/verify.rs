//! Replay of PyTorch reference traces (`optlab verify`).
//!
//! A trace file (format of `optim_traces.json`) gives parameter shapes, a start point `x0` and
//! arrays `c`, `d` defining the deterministic gradient
//! `g_i = d_i (x_i − c_i) + 0.5 sin(3 x_i)` of the loss
//! `f(x) = Σ_i ½ d_i (x_i − c_i)² − cos(3 x_i)/6` over the flattened parameters, and cases: a
//! PyTorch optimizer name, its hyperparameters under PyTorch's names, `trace[k]` = the flattened
//! parameters after step k+1 and `losses[k]` = the loss before step k+1.
//!
//! [`replay`] runs each case through optlab's optimizer of that name and reports the largest
//! normwise relative error over steps: `max_k ‖x_k − x_k^ref‖∞ / ‖x_k^ref‖∞`.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::optim::registry::{self, HyperMap};
use crate::param::Param;
use crate::scalar::Scalar;
use crate::{OptimError, Optimizer};

/// PyTorch constructor flags that select an implementation (foreach/fused kernels, CUDA graphs,
/// autograd through the step) without changing the mathematics; they are accepted and reported.
pub const IMPLEMENTATION_FLAGS: &[&str] = &["foreach", "fused", "capturable", "differentiable"];

/// A trace file.
#[derive(Clone, Debug, Deserialize)]
pub struct TraceFile {
    /// Free text describing the gradient (informative).
    #[serde(default)]
    pub gradient: Option<String>,
    /// The deterministic test problem.
    pub problem: TraceProblem,
    /// The cases.
    pub cases: Vec<TraceCase>,
}

/// Shapes, start point and the arrays of the gradient.
#[derive(Clone, Debug, Deserialize)]
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
    /// Implementation flags that were present and have no effect here.
    pub ignored_flags: Vec<String>,
}

impl TraceFile {
    /// Parses a trace file from JSON text, checking the problem's arrays against the shapes.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        let file: TraceFile =
            serde_json::from_str(text).map_err(|e| VerifyError::Format(e.to_string()))?;
        let n: usize = file
            .problem
            .shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum();
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
            if let Some(k) = case.trace.iter().position(|x| x.len() != n) {
                return Err(VerifyError::Format(format!(
                    "case `{}`: trace[{k}] has {} values, expected {n}",
                    case.name,
                    case.trace[k].len()
                )));
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
    let n = problem.x0.len();
    let mut x = vec![T::zero(); n];
    let mut g = vec![T::zero(); n];
    let (mut max_rel_err, mut worst_step, mut loss_rel_err) = (0.0f64, 0usize, 0.0f64);
    for (k, reference) in case.trace.iter().enumerate() {
        flatten(&params, &mut x);
        let loss = loss_and_grad(problem, &x, &mut g);
        if let Some(&ref_loss) = case.losses.get(k) {
            loss_rel_err = loss_rel_err.max(rel_err(&[loss], &[ref_loss]));
        }
        unflatten_grad(&mut params, &g);
        opt.step(&mut params).map_err(wrap)?;
        flatten(&params, &mut x);
        let xf: Vec<f64> = x.iter().map(|v| v.as_f64()).collect();
        let e = rel_err(&xf, reference);
        if worst_step == 0 || e > max_rel_err || e.is_nan() {
            max_rel_err = e;
            worst_step = k + 1;
        }
    }
    Ok(CaseReport {
        name: case.name.clone(),
        optimizer: case.optimizer.clone(),
        steps: case.trace.len(),
        max_rel_err,
        worst_step,
        loss_rel_err,
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
