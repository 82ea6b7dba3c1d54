//! The runner: problem × methods × seeds → [`Records`].
//!
//! A method is an optimizer (built by name from the [registry](crate::optim::registry), or the
//! runner's own [Armijo line search](armijo)) with a learning rate (a number or an
//! [expression](expr) such as `"1/L"`), a schedule ([`ScheduleSpec`], driving
//! `opt.set_lrs(|base| s.lr(base, k))` before step k), an [oracle](crate::oracle) (batch size,
//! replacement) and optional [iterate averaging](averaging).
//!
//! Each (method, seed) pair is an independent run with its own random stream
//! [`run_rng`]`(seed, method index)`; runs execute in parallel on rayon and their records are
//! concatenated in (method, seed) order, so everything but the `time_s` column is identical
//! whatever the number of threads. Records are logged at a fixed cadence (every k iterations, or
//! log-spaced), always including the first (k = 0, the start point) and the last iteration. A run
//! whose loss, iterate or gradient becomes NaN/±Inf stops and is reported as a [`Failure`]
//! (method, seed, step) instead of producing garbage.
//!
//! Metrics (the records' schema): `loss` = f(x) and `grad_norm` = ‖∇f(x)‖ always; `subopt` =
//! f(x) − f* when f* is known; `dist_to_opt` = ‖x − x*‖ when x* is known; `loss_avg` and
//! `subopt_avg` (f at the averaged iterate) when some method averages; `grad_moment` =
//! (1/m) Σᵢ ‖∇fᵢ(x)‖² (+ d σ² with gradient noise), the second moment of the single-sample
//! stochastic gradient, when the experiment sets `grad_moment = true`. Metric evaluations use the
//! full objective and are not counted in `grad_evals` nor in `time_s`.

pub mod armijo;
pub mod averaging;
pub mod expr;
pub mod spec;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::{Value, json};
use thiserror::Error;

use crate::error::OptimError;
use crate::optim::Optimizer;
use crate::optim::registry::{self, HyperMap};
use crate::oracle::{BatchSize, Oracle, Sampling, run_rng};
use crate::param::Param;
use crate::problem::{Constants, Problem, ProblemError};
use crate::record::{Failure, MethodSummary, Record, Records};
use crate::scalar::Scalar;
use crate::schedule::{Schedule, ScheduleSpec};
use armijo::{ArmijoConfig, ArmijoGd};
use averaging::{Averager, Averaging};
pub use spec::{ExperimentSpec, LrValue, MethodSpec, PlotSpec, Precision};

/// Everything that can stop an experiment before it runs.
#[derive(Debug, Error)]
pub enum RunError {
    /// An invalid experiment description; the message names the field.
    #[error("{0}")]
    Config(String),
    /// The problem could not be built.
    #[error(transparent)]
    Problem(#[from] ProblemError),
    /// A method's optimizer could not be built.
    #[error("methods[{index}] (`{method}`): {source}")]
    Optimizer {
        /// Position in `methods`.
        index: usize,
        /// Method name.
        method: String,
        /// The optimizer's error (boxed: it is large and this path is cold).
        source: Box<OptimError>,
    },
}

/// What a method is, resolved against a problem.
#[derive(Clone, Debug)]
pub enum MethodKind {
    /// A registry optimizer with its hyperparameter map (`lr` resolved).
    Optimizer {
        /// Registry name.
        name: String,
        /// Hyperparameters.
        hyper: HyperMap,
    },
    /// Gradient descent with Armijo backtracking.
    Armijo(ArmijoConfig),
}

/// A method ready to run: resolved learning rate, schedule, sampling, budget and log points.
#[derive(Clone, Debug)]
pub struct MethodPlan {
    /// Label in records.
    pub label: String,
    /// Optimizer or line search.
    pub kind: MethodKind,
    /// The resolved base learning rate (`None`: the optimizer's default).
    pub lr: Option<f64>,
    /// The schedule.
    pub schedule: ScheduleSpec,
    /// Oracle sampling.
    pub sampling: Sampling,
    /// Iterate averaging.
    pub averaging: Averaging,
    /// Iterations to run.
    pub iterations: u64,
    /// Iterations at which a record is logged (sorted, first 0, last `iterations`).
    pub log_at: Vec<u64>,
}

/// The constants an `lr` expression may use.
pub fn expr_vars(c: &Constants, m: usize, dim: usize) -> expr::Vars {
    expr::Vars {
        l: c.l_smooth,
        l_max: c.l_max,
        mu: c.mu,
        m: m as f64,
        d: dim as f64,
    }
}

/// Resolves every method of `spec` against a problem's constants (validating optimizer names,
/// hyperparameters, schedules and expressions by building each method once).
pub fn plan<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
) -> Result<Vec<MethodPlan>, RunError> {
    let m = problem.num_samples();
    let vars = expr_vars(problem.constants(), m, problem.dim());
    let mut plans = Vec::with_capacity(spec.methods.len());
    for (i, ms) in spec.methods.iter().enumerate() {
        let label = ms.label();
        let cfg = |msg: String| RunError::Config(format!("methods[{i}] (`{label}`): {msg}"));
        let lr = match &ms.lr {
            None => None,
            Some(LrValue::Number(v)) => Some(*v),
            Some(LrValue::Expr(e)) => {
                Some(expr::eval(e, &vars).map_err(|msg| cfg(format!("lr = \"{e}\": {msg}")))?)
            }
        };
        if let Some(v) = lr
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(cfg(format!("lr = {v}: must be finite and ≥ 0")));
        }
        let schedule = match &ms.schedule {
            None => ScheduleSpec::Constant,
            Some(v) => {
                let v = eval_schedule_args(v.clone(), &vars)
                    .map_err(|msg| cfg(format!("schedule.{msg}")))?;
                serde_json::from_value::<ScheduleSpec>(v)
                    .map_err(|e| cfg(format!("schedule: {e}")))?
            }
        };
        schedule
            .build()
            .map_err(|e| cfg(format!("schedule: {e}")))?;
        let mut hyper = ms.hyper.clone();
        if let Some(v) = lr {
            if hyper.contains_key("lr") {
                return Err(cfg(
                    "`lr` given both in the method and in `hyper`: keep one".into(),
                ));
            }
            hyper.insert("lr".into(), Value::from(v));
        }
        let kind = if spec::is_armijo(&ms.optimizer) {
            if ms.batch_size != BatchSize::Full {
                return Err(cfg(
                    "ArmijoGD needs the full gradient: remove `batch_size` (or set it to \"full\")"
                        .into(),
                ));
            }
            let c: ArmijoConfig = serde_json::from_value(Value::Object(hyper))
                .map_err(|e| cfg(format!("hyper: {e}")))?;
            c.validate().map_err(|e| cfg(format!("hyper: {e}")))?;
            MethodKind::Armijo(c)
        } else {
            match registry::build::<T>(&ms.optimizer, &hyper) {
                Ok(_) => {}
                Err(OptimError::UnknownOptimizer { name, valid }) => {
                    return Err(cfg(format!(
                        "unknown optimizer `{name}`; valid names: {valid}, {}",
                        spec::RUNNER_METHODS.join(", ")
                    )));
                }
                Err(source) => {
                    return Err(RunError::Optimizer {
                        index: i,
                        method: label,
                        source: Box::new(source),
                    });
                }
            }
            MethodKind::Optimizer {
                name: ms.optimizer.clone(),
                hyper,
            }
        };
        let sampling = Sampling::new(ms.batch_size, ms.replacement);
        let (it, ep) = if ms.iterations.is_some() || ms.epochs.is_some() {
            (ms.iterations, ms.epochs)
        } else {
            (spec.iterations, spec.epochs)
        };
        let iterations = match (it, ep) {
            (Some(k), _) => k,
            (None, Some(e)) => {
                let per_epoch = match sampling {
                    Sampling::Full => 1.0,
                    Sampling::WithReplacement(b) => m as f64 / b as f64,
                    Sampling::WithoutReplacement(b) => m.div_ceil(b.clamp(1, m.max(1))) as f64,
                };
                ((e * per_epoch) - 1e-9).ceil().max(1.0) as u64
            }
            (None, None) => 1000,
        };
        plans.push(MethodPlan {
            label,
            kind,
            lr,
            schedule,
            sampling,
            averaging: ms.averaging,
            iterations,
            log_at: log_schedule(iterations, spec.log_every, spec.log_points),
        });
    }
    Ok(plans)
}

/// Evaluates string arguments of a schedule table (except `kind`) that parse as expressions.
fn eval_schedule_args(v: Value, vars: &expr::Vars) -> Result<Value, String> {
    let Value::Object(mut map) = v else {
        return Err(" must be a table such as { kind = \"StepLR\", step_size = 10 }".into());
    };
    for (k, val) in map.iter_mut() {
        if k == "kind" {
            continue;
        }
        if let Value::String(s) = val
            && let Ok(x) = expr::eval(s, vars)
        {
            *val = Value::from(x);
        }
    }
    Ok(Value::Object(map))
}

/// Iterations at which to log: `0, every, 2·every, ..., total`, or about `points` log-spaced
/// iterations (default 200) — always including 0 and `total`.
pub fn log_schedule(total: u64, every: Option<u64>, points: Option<u64>) -> Vec<u64> {
    let mut out: Vec<u64> = match every {
        Some(e) => (0..=total).step_by(e.max(1) as usize).collect(),
        None => {
            let p = points.unwrap_or(200).max(2);
            if total < p {
                (0..=total).collect()
            } else {
                let lt = (total as f64).ln();
                (0..p)
                    .map(|j| (j as f64 / (p - 1) as f64 * lt).exp().round() as u64)
                    .collect()
            }
        }
    };
    out.push(0);
    out.push(total);
    out.sort_unstable();
    out.dedup();
    out
}

/// The metric columns for a problem with these constants (`grad_moment` last when asked for).
pub fn metric_schema(c: &Constants, averaging: bool, grad_moment: bool) -> Vec<String> {
    let mut s = vec!["loss".to_string()];
    if c.f_star.is_some() {
        s.push("subopt".into());
    }
    s.push("grad_norm".into());
    if c.x_star.is_some() {
        s.push("dist_to_opt".into());
    }
    if averaging {
        s.push("loss_avg".into());
        if c.f_star.is_some() {
            s.push("subopt_avg".into());
        }
    }
    if grad_moment {
        s.push("grad_moment".into());
    }
    s
}

/// The iterates of one run of a 1D or 2D problem (for trajectory plots; the second coordinate
/// is 0 for 1D problems).
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// Method.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// (x, y) points, at most about 2000, including the first and the last iterate.
    pub points: Vec<(f64, f64)>,
}

/// What an experiment produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// All records, in (method, seed, iteration) order.
    pub records: Records,
    /// Runs that stopped early.
    pub failures: Vec<Failure>,
    /// Iterate paths (1D and 2D problems only).
    pub trajectories: Vec<Trajectory>,
    /// The resolved methods.
    pub plans: Vec<MethodPlan>,
}

struct RunResult {
    records: Vec<Record>,
    failure: Option<Failure>,
    trajectory: Option<Trajectory>,
}

/// A method instantiated for one run.
enum Stepper<T: Scalar> {
    Opt {
        opt: Box<dyn Optimizer<T>>,
        schedule: Box<dyn Schedule>,
    },
    Armijo {
        ls: ArmijoGd<T>,
        base: f64,
        schedule: Box<dyn Schedule>,
    },
}

impl<T: Scalar> Stepper<T> {
    fn new(plan: &MethodPlan, dim: usize) -> Result<Self, String> {
        let schedule = plan.schedule.build().map_err(|e| e.to_string())?;
        Ok(match &plan.kind {
            MethodKind::Optimizer { name, hyper } => Stepper::Opt {
                opt: registry::build::<T>(name, hyper).map_err(|e| e.to_string())?,
                schedule,
            },
            MethodKind::Armijo(c) => Stepper::Armijo {
                ls: ArmijoGd::new(c.clone(), dim),
                base: c.lr,
                schedule,
            },
        })
    }

    /// Sets the learning rate of step k from the schedule.
    fn prepare(&mut self, k: u64) {
        match self {
            Stepper::Opt { opt, schedule } => opt.set_lrs(&|b| schedule.lr(b, k)),
            Stepper::Armijo { ls, base, schedule } => ls.set_initial_step(schedule.lr(*base, k)),
        }
    }

    /// The learning rate of the next step (Armijo: the last accepted step).
    fn lr(&self) -> f64 {
        match self {
            Stepper::Opt { opt, .. } => opt.lr(),
            Stepper::Armijo { ls, .. } => ls.last_step(),
        }
    }

    /// One step; returns the step size taken.
    fn step(
        &mut self,
        problem: &dyn Problem<T>,
        oracle: &mut Oracle<'_, T>,
        params: &mut [Param<T>],
    ) -> Result<f64, String> {
        match self {
            Stepper::Opt { opt, .. } => {
                let p = &mut params[0];
                oracle.gradient(&p.data, &mut p.grad);
                let lr = opt.lr();
                opt.step(params).map_err(|e| e.to_string())?;
                Ok(lr)
            }
            Stepper::Armijo { ls, .. } => {
                let p = &mut params[0];
                ls.step(problem, oracle, &mut p.data, &mut p.grad)
            }
        }
    }
}

/// Runs every method of `spec` on `problem` for every seed. `progress(done, total)` is called
/// after each finished run (from worker threads).
pub fn run<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunOutput, RunError> {
    let plans = plan(spec, problem)?;
    let averaging = plans.iter().any(|p| p.averaging != Averaging::None);
    let schema = metric_schema(problem.constants(), averaging, spec.grad_moment);
    let tasks: Vec<(usize, u64)> = (0..plans.len())
        .flat_map(|mi| (0..spec.seeds).map(move |s| (mi, spec.seed + s)))
        .collect();
    let total = tasks.len();
    let done = AtomicUsize::new(0);
    let results: Vec<RunResult> = tasks
        .par_iter()
        .map(|&(mi, seed)| {
            let r = run_one(&plans[mi], mi as u64, seed, problem, &schema);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            r
        })
        .collect();
    let mut records = Records::new(schema);
    let mut failures = Vec::new();
    let mut trajectories = Vec::new();
    for r in results {
        records.rows.extend(r.records);
        failures.extend(r.failure);
        trajectories.extend(r.trajectory);
    }
    Ok(RunOutput {
        records,
        failures,
        trajectories,
        plans,
    })
}

fn run_one<T: Scalar>(
    plan: &MethodPlan,
    stream: u64,
    seed: u64,
    problem: &dyn Problem<T>,
    schema: &[String],
) -> RunResult {
    let dim = problem.dim();
    let mut out = RunResult {
        records: Vec::with_capacity(plan.log_at.len()),
        failure: None,
        trajectory: None,
    };
    let fail = |step: u64, message: String| Failure {
        method: plan.label.clone(),
        seed,
        step,
        message,
    };
    let x0 = problem.x0();
    let mut params = match Param::new("x", problem.shape(), x0.clone()) {
        Ok(p) => vec![p],
        Err(e) => {
            out.failure = Some(fail(0, e.to_string()));
            return out;
        }
    };
    let mut stepper = match Stepper::<T>::new(plan, dim) {
        Ok(s) => s,
        Err(e) => {
            out.failure = Some(fail(0, e));
            return out;
        }
    };
    let mut oracle = Oracle::new(problem, plan.sampling, run_rng(seed, stream));
    let mut avg = Averager::new(plan.averaging, dim);
    let c = problem.constants();
    let col = |name: &str| schema.iter().position(|s| s == name);
    let cols = [
        col("loss"),
        col("subopt"),
        col("grad_norm"),
        col("dist_to_opt"),
        col("loss_avg"),
        col("subopt_avg"),
        col("grad_moment"),
    ];
    let mut scratch = vec![T::zero(); dim];
    let mut xbar = vec![T::zero(); dim];
    let mut prev = vec![T::zero(); if avg.enabled() { dim } else { 0 }];
    let stride = (plan.iterations / 2000).max(1);
    let mut path = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut next_log = 0usize;
    for k in 0..=plan.iterations {
        stepper.prepare(k);
        let x = &params[0].data;
        if dim <= 2 && (k % stride == 0 || k == plan.iterations) {
            let y = if dim == 2 { x[1].as_f64() } else { 0.0 };
            path.push((x[0].as_f64(), y));
        }
        if plan.log_at.get(next_log) == Some(&k) {
            next_log += 1;
            let loss = problem.loss(x).as_f64();
            problem.grad(x, &mut scratch);
            let gnorm = crate::kernels::norm2(&scratch).as_f64();
            if !loss.is_finite() || !gnorm.is_finite() {
                out.failure = Some(fail(
                    k,
                    format!("non-finite f(x) = {loss} or ‖∇f(x)‖ = {gnorm} after {k} steps"),
                ));
                break;
            }
            let mut values = vec![f64::NAN; schema.len()];
            let mut put = |j: Option<usize>, v: f64| {
                if let Some(j) = j {
                    values[j] = v;
                }
            };
            put(cols[0], loss);
            put(cols[2], gnorm);
            if let Some(fs) = c.f_star {
                put(cols[1], loss - fs);
            }
            if let Some(xs) = &c.x_star {
                let d: f64 = x
                    .iter()
                    .zip(xs)
                    .map(|(a, b)| (a.as_f64() - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
                put(cols[3], d);
            }
            if avg.enabled() {
                avg.current(&x0, &mut xbar);
                let la = problem.loss(&xbar).as_f64();
                put(cols[4], la);
                if let Some(fs) = c.f_star {
                    put(cols[5], la - fs);
                }
            }
            if let Some(j) = cols[6] {
                values[j] = grad_moment(problem, x, &mut scratch);
            }
            out.records.push(Record {
                method: plan.label.clone(),
                seed,
                iteration: k,
                epoch: oracle.epochs(),
                grad_evals: oracle.evals(),
                time_s: elapsed.as_secs_f64(),
                lr: stepper.lr(),
                values,
            });
        }
        if k == plan.iterations {
            break;
        }
        let t0 = Instant::now();
        if avg.enabled() {
            prev.copy_from_slice(&params[0].data);
        }
        match stepper.step(problem, &mut oracle, &mut params) {
            Ok(alpha) => {
                if avg.enabled() {
                    avg.add(&prev, alpha);
                }
            }
            Err(e) => {
                out.failure = Some(fail(k + 1, e));
                break;
            }
        }
        elapsed += t0.elapsed();
        if let Some((i, v)) = crate::kernels::first_non_finite(&params[0].data) {
            out.failure = Some(fail(
                k + 1,
                format!("iterate became non-finite (x[{i}] = {v}) at step {}", k + 1),
            ));
            break;
        }
    }
    if dim <= 2 {
        out.trajectory = Some(Trajectory {
            method: plan.label.clone(),
            seed,
            points: path,
        });
    }
    out
}

/// E‖g‖² of the single-sample oracle at x: (1/m) Σᵢ ‖∇fᵢ(x)‖² + d σ² (σ: gradient noise).
fn grad_moment<T: Scalar>(problem: &dyn Problem<T>, x: &[T], scratch: &mut [T]) -> f64 {
    let m = problem.num_samples();
    let mut s = 0.0;
    for i in 0..m {
        problem.sample_grad(x, i, scratch);
        s += crate::kernels::norm2_sq(scratch).as_f64();
    }
    let sigma = problem.grad_noise();
    s / m.max(1) as f64 + problem.dim() as f64 * sigma * sigma
}

/// The summary written next to the records: the problem's constants and, per method, the final
/// value of `metric` (mean and quantiles over seeds), wall time and failures.
pub fn summary(
    spec: &ExperimentSpec,
    description: &str,
    constants: &Constants,
    samples: usize,
    dim: usize,
    out: &RunOutput,
    metric: &str,
) -> Value {
    let per_method: Vec<MethodSummary> = out.records.summary(metric).unwrap_or_default();
    let avg_metric = format!("{metric}_avg");
    let avg_summary: Vec<MethodSummary> = out.records.summary(&avg_metric).unwrap_or_default();
    let methods: Vec<Value> = out
        .plans
        .iter()
        .map(|p| {
            let s = per_method.iter().find(|s| s.method == p.label);
            let a = avg_summary.iter().find(|s| s.method == p.label);
            let failures: Vec<&Failure> = out
                .failures
                .iter()
                .filter(|f| f.method == p.label)
                .collect();
            let optimizer = match &p.kind {
                MethodKind::Optimizer { name, .. } => name.clone(),
                MethodKind::Armijo(_) => "ArmijoGD".into(),
            };
            let mut v = json!({
                "name": p.label,
                "optimizer": optimizer,
                "lr": p.lr,
                "schedule": p.schedule,
                "batch": match p.sampling {
                    Sampling::Full => json!("full"),
                    Sampling::WithReplacement(b) | Sampling::WithoutReplacement(b) => json!(b),
                },
                "replacement": !matches!(p.sampling, Sampling::WithoutReplacement(_)),
                "iterations": p.iterations,
                "runs": s.map_or(0, |s| s.runs),
                "final": s.and_then(|s| s.last),
                "wall_time_s": s.and_then(|s| s.time_s),
                "failed": failures,
            });
            if p.averaging != Averaging::None {
                v["averaging"] = json!(p.averaging);
                v["final_avg"] = json!(a.and_then(|s| s.last));
            }
            v
        })
        .collect();
    json!({
        "name": spec.name,
        "problem": {
            "kind": spec.problem.kind(),
            "description": description,
            "f_star": constants.f_star,
            // how f* (and L) were computed, with ‖∇f(x*)‖ as the certificate of f*
            "reference": constants.reference,
            "L": constants.l_smooth,
            "L_max": constants.l_max,
            "mu": constants.mu,
            "n": samples,
            "dimension": dim,
        },
        "seeds": spec.seeds,
        "precision": spec.precision,
        "metric": metric,
        "methods": methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ProblemSpec;

    const TOML: &str = r#"
name = "t"
seeds = 3
epochs = 5
log_every = 50

[problem]
kind = "logistic"
m = 60
n = 4

[[methods]]
name = "GD"
optimizer = "SGD"
lr = "1/L"

[[methods]]
name = "SGD"
optimizer = "SGD"
lr = "0.5/Lmax"
batch_size = 1
averaging = "step_weighted"

[[methods]]
name = "minibatch"
optimizer = "SGD"
lr = 0.1
batch_size = 8
replacement = false
hyper = { momentum = 0.5 }

[[methods]]
name = "Armijo"
optimizer = "ArmijoGD"
lr = "4/L"
"#;

    fn setup(text: &str, sets: &[(&str, &str)]) -> (ExperimentSpec, Box<dyn Problem<f64>>) {
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let spec = ExperimentSpec::from_toml(text, &sets).unwrap();
        let p = spec.problem.build::<f64>().unwrap();
        (spec, p)
    }

    #[test]
    fn runs_all_methods_with_budgets_and_schema() {
        let (spec, p) = setup(TOML, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(
            out.records.metrics,
            [
                "loss",
                "subopt",
                "grad_norm",
                "dist_to_opt",
                "loss_avg",
                "subopt_avg"
            ]
        );
        let its: Vec<u64> = out.plans.iter().map(|p| p.iterations).collect();
        assert_eq!(its, vec![5, 300, 40, 5]);
        let s = out.records.summary("subopt").unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.iter().all(|m| m.runs == 3));
        // GD with 1/L: monotone decrease; the averaged SGD iterate beats the start
        let gd = out
            .records
            .band("GD", "subopt", crate::record::XAxis::Iterations)
            .unwrap();
        assert!(
            gd.points
                .windows(2)
                .all(|w| w[1].stats.mean <= w[0].stats.mean)
        );
        let sgd_rows: Vec<&Record> = out
            .records
            .rows
            .iter()
            .filter(|r| r.method == "SGD")
            .collect();
        assert_eq!(sgd_rows.first().map(|r| r.iteration), Some(0));
        assert!(sgd_rows.iter().any(|r| r.iteration == 300));
        assert_eq!(sgd_rows.iter().filter(|r| r.seed == 0).count(), 7); // 0, 50, ..., 300
        let last = sgd_rows.last().unwrap();
        assert!((last.epoch - 5.0).abs() < 1e-12 && last.grad_evals == 300);
        assert!(last.values[5] < sgd_rows[0].values[1]);
        // Armijo charges function evaluations: more than one pass per iteration
        let arm = out
            .records
            .rows
            .iter()
            .rfind(|r| r.method == "Armijo")
            .unwrap();
        assert!(arm.grad_evals >= 5 * 60 * 3);
        let sum = summary(&spec, &p.describe(), p.constants(), 60, 4, &out, "subopt");
        assert_eq!(sum["problem"]["n"], 60);
        assert_eq!(sum["methods"][1]["averaging"], "step_weighted");
        assert!(sum["methods"][0]["final"]["mean"].as_f64().unwrap() >= 0.0);
    }

    #[test]
    fn records_do_not_depend_on_the_thread_count() {
        let (spec, p) = setup(TOML, &[("seeds", "4")]);
        let go = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run(&spec, p.as_ref(), &|_, _| {}).unwrap())
        };
        let (a, b) = (go(1), go(2));
        assert_eq!(a.records.rows.len(), b.records.rows.len());
        for (x, y) in a.records.rows.iter().zip(&b.records.rows) {
            assert_eq!(
                (&x.method, x.seed, x.iteration, x.grad_evals),
                (&y.method, y.seed, y.iteration, y.grad_evals)
            );
            assert_eq!(x.epoch.to_bits(), y.epoch.to_bits());
            assert_eq!(x.lr.to_bits(), y.lr.to_bits());
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x.values), bits(&y.values));
        }
    }

    #[test]
    fn grad_moment_is_the_mean_squared_sample_gradient() {
        let (spec, p) = setup(TOML, &[("grad_moment", "true"), ("seeds", "1")]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        let j = out.records.metric_index("grad_moment").unwrap();
        assert_eq!(j + 1, out.records.metrics.len());
        // at x₀ = 0 every method logs the same value: (1/m) Σᵢ ‖∇fᵢ(0)‖²
        let x0 = vec![0.0; 4];
        let mut g = vec![0.0; 4];
        let m = p.num_samples();
        let direct = (0..m)
            .map(|i| {
                p.sample_grad(&x0, i, &mut g);
                g.iter().map(|v| v * v).sum::<f64>()
            })
            .sum::<f64>()
            / m as f64;
        let firsts: Vec<f64> = out
            .records
            .rows
            .iter()
            .filter(|r| r.iteration == 0)
            .map(|r| r.values[j])
            .collect();
        assert_eq!(firsts.len(), 4);
        assert!(firsts.iter().all(|v| (v - direct).abs() <= 1e-14 * direct));
        // E‖g‖² = ‖∇f‖² + Var ≥ ‖∇f‖² at every logged point
        let gn = out.records.metric_index("grad_norm").unwrap();
        assert!(
            out.records
                .rows
                .iter()
                .all(|r| r.values[j] >= r.values[gn].powi(2) * (1.0 - 1e-12))
        );
    }

    #[test]
    fn one_dimensional_problems_have_trajectories() {
        let text = r#"
seeds = 1
iterations = 30
[problem]
kind = "least_squares"
m = 20
n = 1
[[methods]]
optimizer = "SGD"
lr = "1/L"
"#;
        let (spec, p) = setup(text, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        let t = &out.trajectories[0];
        assert_eq!(t.points.len(), 31);
        assert!(t.points.iter().all(|&(_, y)| y == 0.0));
        let xs = p.constants().x_star.clone().unwrap();
        assert!((t.points[30].0 - xs[0]).abs() < 1e-10);
    }

    #[test]
    fn divergence_is_reported_not_recorded() {
        let text = r#"
seeds = 2
iterations = 400
[problem]
kind = "quadratic"
kappa = 10.0
[[methods]]
optimizer = "SGD"
lr = "30/L"
"#;
        let (spec, p) = setup(text, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert_eq!(out.failures.len(), 2);
        let f = &out.failures[0];
        assert_eq!((f.method.as_str(), f.seed), ("SGD", 0));
        assert!(f.step > 100 && f.step <= 400, "{f:?}");
        assert!(out.records.rows.iter().all(|r| r.values[0].is_finite()));
        assert_eq!(out.trajectories.len(), 2);
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = |text: &str, sets: &[(&str, &str)]| -> String {
            let sets: Vec<(String, String)> = sets
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            match ExperimentSpec::from_toml(text, &sets) {
                Err(e) => e.to_string(),
                Ok(spec) => {
                    let p = spec.problem.build::<f64>();
                    match p {
                        Err(e) => e.to_string(),
                        Ok(p) => plan(&spec, p.as_ref())
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default(),
                    }
                }
            }
        };
        let e = err("seedz = 3\n[[methods]]\noptimizer = \"SGD\"\n", &[]);
        assert!(
            e.contains("unknown field `seedz`") && e.contains("seeds"),
            "{e}"
        );
        let e = err(TOML, &[("methods.0.optimizer", "Adamz")]);
        assert!(
            e.contains("unknown optimizer `Adamz`")
                && e.contains("ArmijoGD")
                && e.contains("AdamW"),
            "{e}"
        );
        let e = err(TOML, &[("methods.0.lr", "\"1/Lx\"")]);
        assert!(
            e.contains("methods[0] (`GD`): lr = \"1/Lx\": unknown variable"),
            "{e}"
        );
        let e = err(TOML, &[("methods.3.batch_size", "4")]);
        assert!(e.contains("full gradient"), "{e}");
        let e = err(TOML, &[("problem.kind", "logistik")]);
        assert!(e.contains("logistik") && e.contains("least_squares"), "{e}");
        let e = err(TOML, &[("problem.mu", "-1")]);
        assert!(e.contains("`mu`"), "{e}");
        let e = err(TOML, &[("methods.2.hyper.momentun", "0.9")]);
        assert!(e.contains("momentun") && e.contains("momentum"), "{e}");
        let e = err(TOML, &[("methods.9.lr", "1")]);
        assert!(e.contains("4 elements"), "{e}");
        let e = err(TOML, &[("iterations", "10")]);
        assert!(e.contains("only one of `iterations` and `epochs`"), "{e}");
        let e = err(TOML, &[("methods.1.name", "GD")]);
        assert!(e.contains("duplicate"), "{e}");
        let e = err(TOML, &[("methods.0.schedule", "{ kind = \"Nope\" }")]);
        assert!(e.contains("schedule") && e.contains("Nope"), "{e}");
    }

    #[test]
    fn overrides_and_schedule_expressions() {
        let (spec, p) = setup(
            TOML,
            &[
                ("seeds", "2"),
                ("methods.1.schedule", "{ kind = \"Constant\" }"),
                ("plot.x_axis", "iterations"),
                ("name", "renamed"),
            ],
        );
        assert_eq!(spec.seeds, 2);
        assert_eq!(spec.name, "renamed");
        assert_eq!(spec.plot.x_axis, crate::record::XAxis::Iterations);
        let plans = plan(&spec, p.as_ref()).unwrap();
        let l = p.constants().l_smooth.unwrap();
        assert_eq!(plans[0].lr, Some(1.0 / l));
        assert!(matches!(spec.problem, ProblemSpec::Logistic(_)));
    }

    #[test]
    fn log_schedules_include_first_and_last() {
        assert_eq!(log_schedule(10, Some(4), None), vec![0, 4, 8, 10]);
        assert_eq!(log_schedule(3, None, Some(10)), vec![0, 1, 2, 3]);
        let l = log_schedule(1_000_000, None, Some(50));
        assert_eq!((l[0], l[1], *l.last().unwrap()), (0, 1, 1_000_000));
        assert!(l.len() <= 51 && l.len() > 30);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
    }
}
